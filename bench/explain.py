"""Explainability benchmark: do random-init, supervised and SimCLR-pretrained ResNet-18s look at the tumour?

For each encoder we build a classifier (a linear head fitted on the training patients' embeddings, or for the
supervised encoder the head it was trained with), compute Grad-CAM, Grad-CAM++ and occlusion maps of the tumour class
on tumour slices of held-out patients, and score them against the expert masks (pointing game, energy inside the mask,
IoU of the map thresholded at half its maximum; chance = mask share of the image). The SSL encoder is also explained
without a head, by the cosine similarity of its embedding to the tumour-class centroid. Finally the Adebayo et al.
(2018) cascading model-randomisation check is run on a few slices per classifier.

Data: LGG segmentation set (Buda et al. 2019, TCGA-LGG; ../shared/data/lgg-mri-segmentation/kaggle_3m), FLAIR channel
only (the masks outline the FLAIR abnormality, and the SimCLR encoder takes one channel), resized to 64 px, split by
patient (70 / 30). Then the same on brainssl's synthetic default data (T1-CE, 4 classes, tumour masks).

Run from the repository root (about 20 minutes on 1 CPU thread of a busy 2-core machine):

    nice -n 10 .venv/bin/python bench/explain.py

Writes bench/results/explain.{md,json}. Nothing is cached; every number is recomputed from the seeds.
"""
from __future__ import annotations
import sys, time
from pathlib import Path

import numpy as np
import torch
import torchvision
import lightning as L

from _common import command, log, mean_sem, parser, provenance, set_threads, write_text
from brainssl.core import quiet_lightning, make_loader, save_json, TensorMRIDataset
from brainssl.encoder import Encoder, embed, load_encoder
from brainssl.eval.finetune import FineTuner, default_augment, finetune_trainer_kwargs
from brainssl.eval.metrics import classification_metrics
from brainssl.explain.attribution import (ATTRIBUTION_METHODS, EmbeddingSimilarity, attribution_maps, class_centroids,
                                          default_target_layer, layer_name)
from brainssl.explain.classifier import Classifier, linear_head
from brainssl.explain.localisation import localisation_scores, summarise_localisation
from brainssl.explain.sanity import model_randomisation_check
from brainssl.data.synthetic import synthetic_splits


def load_lgg(root: Path, image_size: int):
    "All LGG slices (FLAIR) as an `LGGSlices` set with `.patients`, via `brainssl.data.lgg`."
    from brainssl.data.lgg import LGGSlices
    return LGGSlices(root, image_size=image_size, modalities=("flair",), slices="all", progress=False)


def patient_halves(patients, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from brainssl.data.splits import patient_split
    s = patient_split(patients, (0.7, 0.3), seed=seed, names=("train", "test"))
    return s["train"], s["test"]


def train_supervised(x, y, n_classes, epochs, lr, seed, small_images, min_steps=300) -> Classifier:
    "A ResNet-18 from scratch plus a linear head, trained end to end (`brainssl.eval.finetune.FineTuner`) on (x, y)."
    L.seed_everything(seed, verbose=False)
    epochs = max(int(epochs), -(-min_steps // max(1, len(x) // 64)))  # at least `min_steps` steps, as `finetune_proba` does
    ds = TensorMRIDataset((x * 255).round().to(torch.uint8), y)
    enc = Encoder(in_channels=x.shape[1], small_images=small_images, seed=seed)
    module = FineTuner(enc, n_classes, lr=lr, epochs=epochs, augment=default_augment(x.shape[-1]))
    with quiet_lightning():
        trainer = L.Trainer(**finetune_trainer_kwargs("cpu", False, epochs))
        trainer.fit(module, make_loader(ds, 64, shuffle=True, seed=seed, drop_last=True))
    return Classifier(module.encoder, module.head).eval()


@torch.no_grad()
def proba_of(model, x, bs=256) -> np.ndarray:
    model.eval()
    return torch.cat([torch.softmax(model(x[i:i + bs]), 1) for i in range(0, len(x), bs)]).double().numpy()


def classifiers(encoders: dict, xtr, ytr, n_classes, sup_kw) -> dict:
    "{name: Classifier}: linear heads (C by CV) on the frozen encoders, plus the supervised network."
    out = {}
    for name, enc in encoders.items():
        H = embed(enc, xtr, progress=False)
        out[name] = Classifier(enc, linear_head(H, ytr, n_classes=n_classes, C=None)).eval()
        log(f"  linear head on {name}")
    out["supervised"] = train_supervised(xtr, torch.as_tensor(ytr), n_classes, **sup_kw)
    log("  supervised network trained")
    return out


def localise(models: dict, x, masks, cls, occ) -> dict:
    "{model: {method: summary}} of the localisation scores of every method's maps on (x, masks), class `cls`."
    res = {}
    for name, model in models.items():
        res[name] = {}
        finer = next(r for r in model.modules() if isinstance(r, torchvision.models.ResNet)).layer2[-1]
        for m in (*ATTRIBUTION_METHODS, "gradcam-layer2"):
            t = time.time()
            if m == "gradcam-layer2": maps = attribution_maps(model, x, "gradcam", class_idx=cls, layer=finer)
            else: maps = attribution_maps(model, x, m, class_idx=cls, **(occ if m == "occlusion" else {}))
            res[name][m] = summarise_localisation(localisation_scores(maps, masks))
            res[name][m]["seconds"] = round(time.time() - t, 1)
        log(f"  maps of {name}: " + ", ".join(f"{m} pointing {res[name][m]['pointing']['mean']:.2f}" for m in ATTRIBUTION_METHODS))
    return res


def sanity(models: dict, x, occ, seed) -> dict:
    out = {}
    for name, model in models.items():
        out[name] = model_randomisation_check(model, x, ATTRIBUTION_METHODS, cascade=True, seed=seed, **occ)
        log(f"  randomisation check of {name}: flagged {[m for m, r in out[name]['methods'].items() if r['flagged']]}")
    return out


def experiment(name, xtr, ytr, xte, yte, mte, classes, encoders, sup_kw, explain_idx, cls, occ, n_sanity, seed) -> dict:
    log(f"{name}: {len(xtr)} training and {len(xte)} test slices; explaining {len(explain_idx)}")
    models = classifiers(encoders, xtr, ytr, len(classes), sup_kw)
    clf = {}
    for k, model in models.items():
        met = classification_metrics(yte, proba_of(model, xte), classes, n_boot=200, seed=seed)
        clf[k] = {"accuracy": met["accuracy"]["value"], "auc": met["auc"]["value"]}
    x, masks = xte[explain_idx], mte[explain_idx]
    c = cls if np.isscalar(cls) else torch.as_tensor(np.asarray(cls)[explain_idx])
    pred = {k: float((proba_of(m, x).argmax(1) == np.asarray(c)).mean()) for k, m in models.items()}
    scorers = dict(models)
    if "ssl" in encoders:  # the SSL encoder without a head: similarity to the centroid of the explained class(es)
        cent = class_centroids(encoders["ssl"], xtr, ytr, n_classes=len(classes))
        tumour_classes = np.unique(np.asarray(c))
        ref = torch.nanmean(cent[torch.as_tensor(tumour_classes)], 0)
        scorers["ssl-similarity"] = EmbeddingSimilarity(encoders["ssl"], ref).eval()
    cls_for = {k: (0 if k == "ssl-similarity" else c) for k in scorers}
    loc = {}
    for k, model in scorers.items():
        loc.update(localise({k: model}, x, masks, cls_for[k], occ))
    layer = default_target_layer(models["supervised"], x)
    sub = x[:n_sanity]
    checks = sanity({k: models[k] for k in models}, sub, occ, seed)
    return {"n_train": len(xtr), "n_test": len(xte), "n_explained": len(explain_idx), "classes": list(classes),
            "classification": clf, "explained_class_predicted": pred, "localisation": loc,
            "cam_layer": layer_name(models["supervised"], layer).replace("encoder.", ""), "randomisation": checks,
            "n_sanity": len(sub)}


def lgg_data(args):
    ds = load_lgg(args.data, args.image_size)
    tr, te = patient_halves(ds.patients, args.seed)
    x = ds.images.float() / 255  # (N, 1, H, W) FLAIR
    y, m = np.asarray(ds.labels), ds.masks
    tum = te[y[te] == 1]
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(tum), size=min(args.n_explain, len(tum)), replace=False))
    info = {"n_patients": len(set(ds.patients)), "n_train_patients": len(set(ds.patients[tr])),
            "n_test_patients": len(set(ds.patients[te])), "n_slices": len(ds), "n_tumour_slices": int(y.sum())}
    te_local = {int(j): k for k, j in enumerate(te)}
    explain_idx = np.array([te_local[int(tum[p])] for p in pick])
    return x[tr], y[tr], x[te], y[te], m[te], ds.classes, explain_idx, info


def synthetic_data(args):
    sp = synthetic_splits(n_train=args.synthetic_train, n_test=args.synthetic_test, image_size=args.image_size, seed=args.seed)
    tr, te = sp["Training"], sp["Testing"]
    xtr, xte = tr.images.float() / 255, te.images.float() / 255
    yte = np.asarray(te.labels)
    tum = np.flatnonzero((yte != 2) & (te.masks.flatten(1).sum(1).numpy() > 0))  # 2 = notumor
    rng = np.random.default_rng(args.seed)
    explain_idx = np.sort(rng.choice(tum, size=min(args.n_explain_synthetic, len(tum)), replace=False))
    return xtr, np.asarray(tr.labels), xte, yte, te.masks, tr.classes, explain_idx, yte


def md_section(title, r, note) -> list[str]:
    out = [f"## {title}", "", note, "",
           f"{r['n_train']} training / {r['n_test']} test slices; {r['n_explained']} test tumour slices explained "
           f"for the tumour class. Grad-CAM layer: `{r['cam_layer']}` (the last block with a map of at least 4 x 4); "
           "`gradcam-layer2` takes it from the last block of layer2 instead (8 x 8 map). "
           "Mean ± standard error over slices.", "",
           "| encoder | test accuracy | test AUC | explained class predicted |", "|---|---|---|---|"]
    for k, c in r["classification"].items():
        out.append(f"| {k} | {c['accuracy']:.3f} | {c['auc']:.3f} | {r['explained_class_predicted'][k]:.0%} |")
    out += ["", "| encoder | method | pointing game | energy in mask | IoU (map ≥ 0.5 max) | flat maps |", "|---|---|---|---|---|---|"]
    chance = None
    for k, ms in r["localisation"].items():
        for m, s in ms.items():
            chance = s["chance"]
            out.append(f"| {k} | {m} | {mean_sem(s['pointing'])} | {mean_sem(s['energy'])} | {mean_sem(s['iou'])} | {s['flat']['mean']:.0%} |")
    out += [f"| chance (mask share of the image) | | {chance:.2f} | {chance:.2f} | – | |", "",
            "A flat map (constant, e.g. a Grad-CAM whose weighted activations are negative everywhere) scores the chance "
            "level on the pointing game and energy, by construction.", "",
            f"Model randomisation (Adebayo et al. 2018), cascading from the head down to the stem, {r['n_sanity']} slices: "
            "mean Spearman correlation of the maps with the trained model's maps (first → after each stage). "
            "Flagged = still ≥ 0.5 after every stage is randomised.", "",
            "| encoder | method | Spearman: head → layer4 → layer3 → layer2 → layer1 → stem | SSIM after all | flagged |",
            "|---|---|---|---|---|"]
    for k, chk in r["randomisation"].items():
        for m, q in chk["methods"].items():
            out.append(f"| {k} | {m} | {' → '.join(f'{v:.2f}' for v in q['spearman'])} | {q['ssim'][-1]:.2f} | "
                       f"{'**yes**' if q['flagged'] else 'no'} |")
    return out + [""]


def main():
    ap = parser(__doc__, "../shared/data/lgg-mri-segmentation/kaggle_3m", "image-size", "seed", "threads", threads=1)
    ap.add_argument("--ssl", type=Path, default=Path("bench/work/methods/simclr/encoder.safetensors"))
    ap.add_argument("--n-explain", type=int, default=100, help="LGG test tumour slices to explain")
    ap.add_argument("--n-explain-synthetic", type=int, default=50)
    ap.add_argument("--n-sanity", type=int, default=8, help="slices for the model-randomisation check")
    ap.add_argument("--epochs", type=int, default=12, help="supervised training epochs (at least 300 steps of batch 64)")
    ap.add_argument("--lr", type=float, default=1e-3, help="supervised AdamW learning rate")
    ap.add_argument("--mask-size", type=int, default=8, help="occlusion patch side (px)")
    ap.add_argument("--stride", type=int, default=4, help="occlusion stride (px)")
    ap.add_argument("--synthetic-train", type=int, default=400)
    ap.add_argument("--synthetic-test", type=int, default=200)
    ap.add_argument("--no-synthetic", action="store_true")
    args = ap.parse_args()
    set_threads(args.threads)
    t0 = time.time()
    occ = dict(mask_size=args.mask_size, stride=args.stride, b_box="foreground")
    if not args.data.is_dir(): sys.exit(f"LGG data not found at {args.data}")
    if not args.ssl.is_file(): sys.exit(f"SSL encoder not found at {args.ssl} (run bench/methods.py first)")
    ssl = load_encoder(args.ssl)
    if ssl.in_channels != 1: sys.exit(f"{args.ssl} takes {ssl.in_channels} channels; this benchmark feeds one (FLAIR)")
    arch = dict(arch=ssl.config["arch"], in_channels=1, small_images=ssl.config["small_images"])
    sup_kw = dict(epochs=args.epochs, lr=args.lr, seed=args.seed, small_images=arch["small_images"])
    encoders = lambda: {"random": Encoder(**arch, seed=args.seed).eval(), "ssl": load_encoder(args.ssl)}
    out = {"command": command(),
           "args": {k: str(v) for k, v in vars(args).items()}, "encoder_config": arch, "occlusion": occ,
           "ssl_encoder": str(args.ssl), **provenance()}

    xtr, ytr, xte, yte, mte, classes, idx, info = lgg_data(args)
    out["lgg"] = {**info, **experiment("LGG", xtr, ytr, xte, yte, mte, classes, encoders(), sup_kw, idx, 1, occ,
                                       args.n_sanity, args.seed)}
    if not args.no_synthetic:
        xtr, ytr, xte, yte, mte, classes, idx, cls = synthetic_data(args)
        out["synthetic"] = experiment("synthetic", xtr, ytr, xte, yte, mte, classes, encoders(), sup_kw, idx, cls, occ,
                                      args.n_sanity, args.seed)
    out["minutes"] = round((time.time() - t0) / 60, 1)
    args.results.mkdir(parents=True, exist_ok=True)
    save_json(out, args.results / "explain.json")
    write_text(args.results / "explain.md", report(out))
    log(f"done in {out['minutes']} min: {args.results / 'explain.md'}")


def report(out) -> str:
    lgg = out["lgg"]
    lines = ["# Explainability: do the encoders look at the tumour?", "",
             "Produced by `bench/explain.py` (see its docstring) with", "", "```bash", f"nice -n 10 {out['command']}", "```", "",
             f"in {out['minutes']} min on {out['machine']['cpu_cores']} shared CPU cores, {out['machine']['torch_threads']} torch "
             f"thread(s). Encoders: ResNet-18 ({'3x3 stem' if out['encoder_config']['small_images'] else '7x7 stride-2 stem'}, "
             "1 input channel) with random weights, trained supervised from scratch (end to end with its head), and "
             f"SimCLR-pretrained on brain-tumor-mri at 64 px (`{out['ssl_encoder']}`). Random and SimCLR get a linear head "
             "(standardised logistic regression, C by 5-fold CV) fitted on the training split; the supervised network is "
             f"trained with AdamW (lr {out['args']['lr']}, cosine schedule, at least {out['args']['epochs']} epochs and 300 "
             "steps of batch 64, light `mri_views` augmentation). `ssl-similarity` is the "
             "SimCLR encoder without a head, explained by the cosine similarity of its embedding to the centroid of the "
             f"explained class. Occlusion: {out['occlusion']['mask_size']} px patches filled with the image mean, stride "
             f"{out['occlusion']['stride']} px, inside the head's bounding box.", "",
             "brainssl is for learning and research, not clinical use.", ""]
    lines += md_section("LGG tumour slices (real MRI, expert masks)", lgg,
                        f"TCGA-LGG (Buda et al. 2019) as stored in `../shared/data/lgg-mri-segmentation`: {lgg['n_patients']} "
                        f"patients, {lgg['n_slices']} slices ({lgg['n_tumour_slices']} with tumour), FLAIR channel only, 64 px; "
                        f"split by patient, {lgg['n_train_patients']} training / {lgg['n_test_patients']} test patients. "
                        "Task: tumour present in the slice or not.")
    if "synthetic" in out:
        lines += md_section("Synthetic default data", out["synthetic"],
                            "`brainssl.data.synthetic.synthetic_splits` (T1-CE, 64 px, 4 balanced classes); explained: test slices "
                            "with a tumour, for their true class; masks cover the tumour without oedema.")
    lines += ["## Findings (computed from the tables above)", ""]
    for key, r in (("LGG", lgg), ("synthetic", out.get("synthetic"))):
        if r is not None: lines += findings(key, r)
    return "\n".join(lines)


def findings(key, r) -> list[str]:
    "Plain sentences derived from one section's numbers: best encoder per method, above chance or not, flagged methods."
    out = []
    loc = r["localisation"]
    chance = next(iter(next(iter(loc.values())).values()))["chance"]
    for m in (*ATTRIBUTION_METHODS, "gradcam-layer2"):
        ranked = sorted(loc, key=lambda k: -(loc[k][m]["pointing"]["mean"] or 0))
        above = [k for k in ranked if (loc[k][m]["pointing"]["mean"] or 0) - 2 * (loc[k][m]["pointing"]["sem"] or 0) > chance]
        out.append(f"- {key}, {m}: pointing game highest for **{ranked[0]}** "
                   f"({loc[ranked[0]][m]['pointing']['mean']:.2f}, chance {chance:.2f}); more than 2 standard errors "
                   f"above chance: {', '.join(above) if above else 'none'}.")
    flagged = [f"{k}/{m}" for k, chk in r["randomisation"].items() for m, q in chk["methods"].items() if q["flagged"]]
    out.append(f"- {key}, model randomisation: flagged (maps survive randomising every weight): "
               f"{', '.join(flagged) if flagged else 'none'}.")
    return out + [""]


if __name__ == "__main__":
    main()
