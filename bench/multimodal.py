"""Multi-modal benchmark on the real TCGA-LGG slices (T1, FLAIR, T1-CE), patient-level split:

1. tumour present vs absent per slice: each sequence alone, early fusion and late fusion (concatenation or attention,
   with and without modality dropout), accuracy and AUC with bootstrap 95% CIs;
2. the missing-sequence table: accuracy of each fused model with each sequence removed in turn;
3. segmentation Dice and HD95: U-Net with the SSL encoder vs random initialisation, 25% and 100% of training patients;
4. cross-modal (CLIP-style) pretraining on the unlabelled training slices: retrieval across sequences and the fused
   accuracy with its encoder.

The classifiers are fusion heads on *frozen* features of the SimCLR encoder pretrained on the Kaggle brain-tumour set
(1 channel, 64 px, bench/methods.py); its stem is averaged over the three channels for early fusion
(`brainssl.fusion.inflate_stem`). The U-Nets are trained end to end for a fixed number of steps.

Run from the repository root (about 15 CPU-minutes on 2 shared cores with one thread):

    nice -n 10 .venv/bin/python bench/multimodal.py --threads 1

Writes bench/results/multimodal.{md,json}; the cross-modal checkpoints go to bench/work/multimodal/ (git-ignored).
`--render-only` rewrites the .md from the .json.
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path

import numpy as np
import torch

from _common import command, log, parser, provenance, set_threads, value_ci, write_text
from brainssl.core import save_json
from brainssl.encoder import Encoder, load_encoder
from brainssl.eval.metrics import classification_metrics
from brainssl.fusion import (FusionHead, cross_modal_retrieval, inflate_stem, missing_modality_table, modality_features, modality_presence,
                             predict_fusion, train_fusion)
from brainssl.methods.base import pretrain
from brainssl.methods.crossmodal import CrossModal
from brainssl.data.lgg import LGGSlices
from brainssl.data.splits import patient_overlap, patient_split
from brainssl.segment import (SSLUNet, patient_subset, predict_masks, segmentation_metrics, segmenter_from_encoder,
                              train_segmenter)


def classify(a, lgg, split, enc, times) -> tuple[dict, dict, dict]:
    "Fusion heads on frozen features: single sequences, early fusion, late fusion; and the missing-sequence tables."
    tr, te = split["train"], split["test"]
    y, pres, mods, classes = lgg.labels, modality_presence(lgg), lgg.modalities, lgg.classes
    t0 = time.process_time()
    H = modality_features(enc, lgg, batch_size=128, device=a.device, progress=False)  # (N, 3, D) per-sequence features
    early = inflate_stem(enc, len(mods))
    x3 = lgg.images.float().div(255)  # (N, 3, H, W), missing channels already zeroed by LGGSlices
    E = _embed(early, x3, a.device)  # (N, D) early-fusion features
    E_without = {m: _embed(early, _zero(x3[te], k), a.device) for k, m in enumerate(mods)}  # test slices with sequence m zeroed
    times["features_cpu_s"] = round(time.process_time() - t0, 1)
    log(f"features: {times['features_cpu_s']} CPU-s")
    fit = dict(epochs=a.head_epochs, lr=1e-3, batch_size=64, seed=a.seed, device=a.device, progress=False)
    res, tables = {}, {}

    def score(name, proba):
        m = classification_metrics(y[te], proba, classes, n_boot=a.n_boot, seed=a.seed)
        res[name] = {"accuracy": m["accuracy"]["value"], "accuracy_ci": m["accuracy"]["ci"], "auc": m["auc"]["value"],
                     "auc_ci": m["auc"]["ci"], "n_test": m["n"]}
        log(f"  {name}: acc {value_ci(res[name]['accuracy'], res[name]['accuracy_ci'])}, AUC {value_ci(res[name]['auc'], res[name]['auc_ci'])}")

    for k, m in enumerate(mods):  # each sequence alone; slices where it is missing keep a zero image's features
        head = FusionHead(enc.dim, 1, 2, "concat", seed=a.seed)
        train_fusion(head, H[tr][:, [k]], y[tr], **fit)
        score(f"single {m}", predict_fusion(head, H[te][:, [k]], device=a.device))
    head = FusionHead(enc.dim, 1, 2, "concat", seed=a.seed)
    train_fusion(head, E[tr][:, None], y[tr], **fit)
    score("early fusion", predict_fusion(head, E[te][:, None], device=a.device))
    rows = [{"condition": "all", "removed": None, **res["early fusion"]}]
    for m in mods:
        p = predict_fusion(head, E_without[m][:, None], device=a.device)
        mm = classification_metrics(y[te], p, classes, n_boot=a.n_boot, seed=a.seed)
        rows.append({"condition": f"without {m}", "removed": m, "accuracy": mm["accuracy"]["value"],
                     "accuracy_ci": mm["accuracy"]["ci"], "auc": mm["auc"]["value"], "auc_ci": mm["auc"]["ci"]})
    for r in rows: r["accuracy_lost"] = rows[0]["accuracy"] - r["accuracy"]
    tables["early fusion"] = rows
    def late(tag, Hx, combos):
        for mode, p_drop in combos:
            name = f"late {mode}" + (f" + dropout {p_drop}" if p_drop else "") + tag
            head = FusionHead(Hx.shape[-1], len(mods), 2, mode, seed=a.seed)
            train_fusion(head, Hx[tr], y[tr], pres[tr], p_drop=p_drop, **fit)
            score(name, predict_fusion(head, Hx[te], pres[te], device=a.device))
            tables[name] = missing_modality_table(head, Hx[te], y[te], mods, classes, pres[te], singles=False,
                                                  n_boot=a.n_boot, seed=a.seed, device=a.device)

    late("", H, [(m, p) for m in ("concat", "attention") for p in (0.0, a.p_drop)])
    t0 = time.process_time()
    H_rand = modality_features(Encoder(**enc.config, seed=a.seed), lgg, batch_size=128, device=a.device, progress=False)
    late(" · random encoder", H_rand, [("concat", a.p_drop)])
    extra = {"retrieval_test": {"simclr": _retrieval(H[te], mods), "random": _retrieval(H_rand[te], mods)}}
    if a.crossmodal_epochs > 0:
        cm = CrossModal(in_channels=len(mods), image_size=a.image_size, lr=a.crossmodal_lr, warmup_epochs=0.5,
                        temperature=0.1, view_strength=0.5)
        cm.backbone.load_state_dict(enc.state_dict())  # start from the SimCLR encoder
        log(f"cross-modal pretraining on the {len(tr)} unlabelled training slices, {a.crossmodal_epochs} epochs")
        pretrain(cm, lgg.subset(tr), a.work / "crossmodal", epochs=a.crossmodal_epochs, batch_size=32, seed=a.seed,
                 device=a.device, resume=False, progress=False)
        H_cm = modality_features(cm.encoder, lgg, batch_size=128, device=a.device, progress=False)
        extra["retrieval_test"]["crossmodal"] = _retrieval(H_cm[te], mods)
        for k, m in enumerate(mods):
            head = FusionHead(enc.dim, 1, 2, "concat", seed=a.seed)
            train_fusion(head, H_cm[tr][:, [k]], y[tr], **fit)
            score(f"single {m} · cross-modal SSL", predict_fusion(head, H_cm[te][:, [k]], device=a.device))
        late(" · cross-modal SSL", H_cm, [("concat", 0.0), ("concat", a.p_drop), ("attention", a.p_drop)])
    times["other_encoders_cpu_s"] = round(time.process_time() - t0, 1)
    log(f"retrieval (test, query -> gallery, top-1): {extra['retrieval_test']}")
    return res, tables, extra


def _retrieval(H, mods) -> dict:
    "Top-1 cross-modal retrieval among the test slices, for every ordered pair of sequences."
    r = cross_modal_retrieval(H)
    return {f"{a}->{b}": float(r[i, j]) for i, a in enumerate(mods) for j, b in enumerate(mods) if i != j}


@torch.no_grad()
def _embed(enc, x, device, bs=128) -> np.ndarray:
    enc.eval()
    return torch.cat([enc(x[i:i + bs]) for i in range(0, len(x), bs)]).numpy()


def _zero(x, k):
    x = x.clone(); x[:, k] = 0; return x


def segment(a, lgg, split, times) -> dict:
    "U-Net from the SSL encoder vs from random weights, on 25% and 100% of the training patients, for each seed."
    out = {}
    te = split["test"]
    for frac in a.fractions:
        for init in ("ssl", "random"):
            key, runs = f"{init} {frac:.0%}", []
            for seed in a.seg_seeds:
                idx = patient_subset(lgg, split["train"], frac, seed=seed)  # a different quarter of the patients per seed
                t0 = time.process_time()
                net = segmenter_from_encoder(a.encoder, 3, seed=seed) if init == "ssl" else SSLUNet(in_channels=3, seed=seed)
                losses = train_segmenter(net, lgg.subset(idx), steps=a.seg_steps, lr=a.seg_lr, batch_size=a.seg_batch,
                                         seed=seed, device=a.device, progress=False)
                pred = predict_masks(net, lgg.subset(te), device=a.device)
                m = segmentation_metrics(pred, lgg.masks[te], lgg.patients[te], n_boot=a.n_boot, seed=seed)
                runs.append({"seed": seed, "train_patients": int(len(set(lgg.patients[idx]))), "train_slices": int(len(idx)),
                             "final_loss": float(np.mean(losses[-10:])), "cpu_s": round(time.process_time() - t0, 1), **m})
                log(f"  seg {key} seed {seed}: Dice/patient {value_ci(m['dice_patient'], m['dice_patient_ci'])}, Dice/slice "
                    f"{m['dice_slice']:.3f}, HD95 median {m['hd95_slice_median']}, missed {m['missed_tumour_slices']}/"
                    f"{m['n_tumour_slices']} ({runs[-1]['cpu_s']} CPU-s)")
            mean = lambda k: float(np.mean([r[k] for r in runs if r[k] is not None])) if any(r[k] is not None for r in runs) else None
            out[key] = {"init": init, "fraction": frac, "steps": a.seg_steps, "runs": runs,
                        **{f"mean_{k}": mean(k) for k in ("dice_patient", "dice_slice", "hd95_slice_median",
                                                          "missed_tumour_slices", "false_positive_share", "train_patients", "cpu_s")}}
    return out


def report(a, cmd, data, res, tables, extra, seg, times, machine) -> list[str]:
    "The markdown page, as lines: `a` holds the run's arguments, the rest is what `main` saves in multimodal.json."
    mods = data["modalities"]
    L = ["# Multi-modal LGG benchmark", "",
         f"Real TCGA-LGG slices (Buda et al. 2019; {data['n_patients']} patients, {data['n_slices']} slices, T1 / FLAIR / T1-CE, FLAIR-copy channels marked missing), "
         f"{a.image_size} px, one patient-level split (train {data['train_patients']} patients / {data['train_slices']} slices, "
         f"test {data['test_patients']} patients / {data['test_slices']} slices, no patient in both: "
         f"overlap = {data['overlap']}). Classification: seed {a.seed}, one run per model; segmentation: seeds {a.seg_seeds}.", "",
         "Produced by:", "", f"```bash\n{cmd}\n```", "",
         "## 1. Tumour present vs absent per slice", "",
         f"Frozen features of the SimCLR encoder (`{a.encoder}`, 1 channel, pretrained on the Kaggle brain-tumour set), "
         f"then a fusion head (`brainssl.fusion.FusionHead`: LayerNorm + linear, {a.head_epochs} epochs of AdamW). "
         "Single sequence: the head sees one sequence's features. Early fusion: the three sequences as channels of the "
         "encoder with its stem filter averaged over them (`inflate_stem`). Late fusion: features of each sequence "
         f"from the shared encoder, concatenated or attention-pooled; dropout = modality dropout p = {a.p_drop} in training. "
         "`· random encoder`: the same network with random weights. `· cross-modal SSL`: the SimCLR encoder pretrained "
         f"further with `brainssl.methods.crossmodal.CrossModal` (CLIP-style: two sequences of one slice are a positive pair, shared "
         f"encoder, NT-Xent τ = 0.1) on the *unlabelled training* slices for {a.crossmodal_epochs} epochs. "
         f"Test: {data['test_slices']} slices, {data['test_tumour_share']:.1%} with tumour. "
         f"Bootstrap 95% CIs ({a.n_boot} resamples) resample *slices*, which are correlated within a patient, so they are too narrow.", "",
         "| model | accuracy [95% CI] | AUC [95% CI] |", "|---|---|---|"]
    L += [f"| {k} | {value_ci(v['accuracy'], v['accuracy_ci'])} | {value_ci(v['auc'], v['auc_ci'])} |" for k, v in res.items()]
    rt = extra["retrieval_test"]
    pairs = list(next(iter(rt.values())))
    L += ["", "Cross-modal retrieval on the test slices (top-1: the query sequence's features find the same slice's "
          f"features of the other sequence by cosine similarity; chance = 1/{data['test_slices']}):", "",
          "| encoder | " + " | ".join(pairs) + " |", "|---|" + "---|" * len(pairs)]
    L += [f"| {k} | " + " | ".join(f"{v[p]:.3f}" for p in pairs) + " |" for k, v in rt.items()]
    L += ["", "## 2. Missing sequences", "",
          "Accuracy of each fused model on the test slices with one sequence removed (late fusion: left out of the "
          "concatenation / softmax; early fusion: its channel zeroed), and the accuracy lost against all sequences. "
          f"Sequences already missing in the data (FLAIR copies: {data['flair_copy_patients']} patient(s) in this data) stay missing.", "",
          "| model | all | " + " | ".join(f"without {m} (lost)" for m in mods) + " |", "|---|---|" + "---|" * len(mods)]
    for name, rows in tables.items():
        r = {x["condition"]: x for x in rows}
        L.append(f"| {name} | {r['all']['accuracy']:.3f} | " + " | ".join(
            f"{r[f'without {m}']['accuracy']:.3f} ({r[f'without {m}']['accuracy_lost']:+.3f})" for m in mods) + " |")
    L += ["", "## 3. Segmentation", "",
          f"U-Net (`brainssl.segment.SSLUNet`: ResNet-18 encoder, MONAI `UNetDecoder`), three channels, trained for "
          f"{a.seg_steps} steps of {a.seg_batch} slices (Dice + cross-entropy, AdamW lr {a.seg_lr}, flips) on every slice of "
          f"{' and '.join(f'{f:.0%}' for f in a.fractions)} of the training patients; SSL = the SimCLR encoder with its "
          "stem averaged over the three channels, random = the same network from random weights. Dice per patient: the "
          "patient's slices as one volume, mean over test patients with tumour, bootstrap CI over patients. Dice per "
          f"slice and HD95 (pixels at {a.image_size} px; 95th-percentile Hausdorff) over test slices with tumour; missed = tumour "
          "slices with an empty prediction (no HD95); FP = share of tumour-free slices with any predicted pixel.", "",
          f"Each setting is run with seeds {a.seg_seeds} (a different draw of the 25% of patients per seed); the table "
          "gives the mean over seeds, then each seed's Dice per patient with its bootstrap 95% CI over the test patients.", "",
          "| init · patients | train patients | Dice per patient (mean) | per seed [95% CI] | Dice per slice | HD95 median | missed | FP share | CPU-s per run |",
          "|---|---|---|---|---|---|---|---|---|"]
    for k, v in seg.items():
        f = lambda x, d=3: "n/a" if x is None else f"{x:.{d}f}"
        seeds = "; ".join(value_ci(r["dice_patient"], r["dice_patient_ci"]) for r in v["runs"])
        L.append(f"| {v['init']} · {v['fraction']:.0%} | {f(v['mean_train_patients'], 1)} | {f(v['mean_dice_patient'])} | {seeds} | "
                 f"{f(v['mean_dice_slice'])} | {f(v['mean_hd95_slice_median'], 1)} | {f(v['mean_missed_tumour_slices'], 1)}/"
                 f"{v['runs'][0]['n_tumour_slices']} | {f(v['mean_false_positive_share'])} | {f(v['mean_cpu_s'], 0)} |")
    L += ["", "## Notes", "",
          "- The classifiers are deliberately cheap (frozen encoder, linear head) to fit the CPU budget; end-to-end "
          "fine-tuning (`brainssl.fusion.train_fusion` on `EarlyFusion` / `LateFusion`) was not run here.",
          "- The SSL encoder saw only single-channel Kaggle slices and never LGG data.",
          f"- Segmentation runs are short ({a.seg_steps} steps, {len(a.seg_seeds)} seeds) and the test set has "
          f"{data['test_patients']} patients: compare the per-seed values and the CIs before reading a difference.",
          "- Retrieval needs a baseline: neighbouring sequences of one slice share the head outline, so even random "
          "features match them well above chance.",
          f"- Times (CPU seconds of this process): {times}. Machine: {machine}.", ""]
    return L


def render(results: Path) -> None:
    "Rewrite multimodal.md from multimodal.json alone."
    r = json.loads((results / "multimodal.json").read_text())
    meta = r["meta"]
    a = argparse.Namespace(**meta["args"])
    extra = {"retrieval_test": r["cross_modal_retrieval"]}
    lines = report(a, meta["command"], meta["data"], r["classification"], r["missing_modality"], extra, r["segmentation"],
                   meta["times"], meta["machine"])
    write_text(results / "multimodal.md", "\n".join(lines))


def main():
    ap = parser(__doc__, "../shared/data/lgg-mri-segmentation", "image-size", "seed", "threads", "device", threads=None)
    ap.add_argument("--encoder", type=Path, default=Path("bench/work/methods/simclr/encoder.safetensors"))
    ap.add_argument("--head-epochs", type=int, default=30)
    ap.add_argument("--p-drop", type=float, default=0.3)
    ap.add_argument("--seg-steps", type=int, default=200)
    ap.add_argument("--seg-seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--crossmodal-epochs", type=int, default=4, help="0 skips the cross-modal pretraining")
    ap.add_argument("--crossmodal-lr", type=float, default=5e-4)
    ap.add_argument("--work", type=Path, default=Path("bench/work/multimodal"))
    ap.add_argument("--seg-batch", type=int, default=16)
    ap.add_argument("--seg-lr", type=float, default=2e-3)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.25, 1.0])
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--skip-segmentation", action="store_true")
    ap.add_argument("--render-only", action="store_true", help="only rewrite multimodal.md from the saved multimodal.json")
    a = ap.parse_args()
    if a.render_only: return render(a.results)
    set_threads(a.threads)
    cmd = command(drop=("--render-only",), prefix="nice -n 10")
    if not a.data.exists(): sys.exit(f"LGG data not found at {a.data}")
    times, t_all = {}, time.process_time()
    t0 = time.process_time()
    lgg = LGGSlices(a.data, image_size=a.image_size, progress=False)
    times["read_cpu_s"] = round(time.process_time() - t0, 1)
    split = patient_split(lgg, (0.7, 0.3), seed=a.seed, stratify=lgg.site_names)
    overlap = patient_overlap(split, lgg)
    assert overlap == {}, overlap
    tr, te = split["train"], split["test"]
    data = {"n_slices": len(lgg), "n_patients": len(set(lgg.patients)), "modalities": list(lgg.modalities),
            "train_patients": len(set(lgg.patients[tr])), "train_slices": len(tr), "test_patients": len(set(lgg.patients[te])),
            "test_slices": len(te), "test_tumour_share": float(lgg.labels[te].mean()), "overlap": {},
            "flair_copy_patients": len(lgg.flair_copies), "flair_copies": lgg.report["flair_copies"]}
    log(f"LGG: {data['n_slices']} slices, {data['n_patients']} patients; split {data['train_patients']}/{data['test_patients']} patients")
    enc = load_encoder(a.encoder)
    res, tables, extra = classify(a, lgg, split, enc, times)
    times["classification_cpu_s"] = round(time.process_time() - t0 - times["read_cpu_s"], 1)
    seg = {}
    if not a.skip_segmentation:
        t1 = time.process_time()
        seg = segment(a, lgg, split, times)
        times["segmentation_cpu_s"] = round(time.process_time() - t1, 1)
    times["total_cpu_s"] = round(time.process_time() - t_all, 1)
    a.results.mkdir(parents=True, exist_ok=True)
    prov = provenance()
    save_json({"meta": {"command": cmd, "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
                        **prov, "times": times, "data": data},
               "classification": res, "missing_modality": tables, "cross_modal_retrieval": extra["retrieval_test"],
               "segmentation": seg}, a.results / "multimodal.json")
    write_text(a.results / "multimodal.md", "\n".join(report(a, cmd, data, res, tables, extra, seg, times, prov["machine"])))
    log(f"done: {times}")


if __name__ == "__main__":
    main()
