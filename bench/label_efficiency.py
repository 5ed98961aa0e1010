"""Label-efficiency benchmark on real MRI: random init vs SimCLR (linear probe, kNN, fine-tuning) and supervised
from scratch, at 1%, 10% and 100% labels, on raw and de-duplicated Testing; the linear probe also on the multi-scale
read-out layer3 + layer4 (`--multiscale`).

Run from the repository root (about 60 minutes on 2 CPU cores: 30 of pretraining in bf16, 16 of probes, 14 of
fine-tuning):

    .venv/bin/python bench/label_efficiency.py --data ../shared/data/brain-tumor-mri

Writes bench/results/label_efficiency.{md,json}, bench/results/label_efficiency.html and the audit of the data in
bench/results/audit/. Intermediate files (decoded-image cache, checkpoints) go to bench/work/ (git-ignored); a killed
run resumes its pretraining from the last checkpoint when started again. `--render-only` rewrites the markdown from
the saved JSON.
"""
from __future__ import annotations
import json, time
from pathlib import Path

import torch

from _common import command, mean_std_ci, parser, provenance, write_text
from brainssl.cli import audit_job, load_splits, write_figure
from brainssl.core import save_json
from brainssl.encoder import Encoder
from brainssl.eval.protocol import evaluate_encoder, label_efficiency_figure
from brainssl.methods.base import pretrain


# Settings tuned for MRI at 64 px within ~30 minutes of pretraining on 2 CPU cores (see the results file for the tuning
# notes). They depart from the SimCLR paper: AdamW instead of LARS, batch 256 instead of 4096, temperature 0.2.
SIMCLR = dict(temperature=0.2, lr=2e-3, weight_decay=1e-4, warmup_epochs=2, small_images=False, view_strength=1.0)


def table(rows, fractions, test, metric="accuracy") -> list[str]:
    out = [f"| encoder · protocol | " + " | ".join(f"{f:.0%} labels" for f in fractions) + " |",
           "|---|" + "---|" * len(fractions)]
    for name, res, probe in rows:
        cells = [mean_std_ci(res[probe][str(float(f))][test], metric) if str(float(f)) in res.get(probe, {}) else "–" for f in fractions]
        out.append(f"| {name} · {probe} | " + " | ".join(cells) + " |")
    return out


def four_metrics(rows, fraction="0.1", test="dedup") -> list[str]:
    "Table of accuracy, sensitivity, specificity and AUC (macro) at one label fraction."
    return ["| encoder · protocol | accuracy | sensitivity | specificity | AUC |", "|---|---|---|---|---|",
            *[f"| {n} · {p} | " + " | ".join(mean_std_ci(res[p][fraction][test], m) for m in ("accuracy", "sensitivity", "specificity", "auc")) + " |"
              for n, res, p in rows if fraction in res.get(p, {})]]


def cv_prefers(results: dict, a: str, b: str, fraction="0.1") -> list[bool]:
    "Per seed: is the best cross-validated log-loss (inside the labelled subset) of probe run `a` lower than that of `b`?"
    def best(name, seed): return min(results[name]["linear"][fraction]["seeds"][seed]["info"]["cv_log_loss"].values())
    return [best(a, s) < best(b, s) for s in results[a]["linear"][fraction]["seeds"]]


def render(data: dict) -> list[str]:
    "The markdown report, from the saved results JSON alone."
    meta, results = data["meta"], data["results"]
    args, pre_log, summary, times, m = meta["args"], meta["pretrain"], meta["audit_summary"], meta["times"], meta["machine"]
    fractions, seeds = json.loads(args["fractions"]), json.loads(args["seeds"])
    r0 = results["simclr"]
    rows = [("random init", results["random_init"], "linear"), ("SimCLR", results["simclr"], "linear"),
            ("random init", results["random_init"], "knn"), ("SimCLR", results["simclr"], "knn"),
            ("SimCLR", results["simclr_finetuned"], "finetune"), ("supervised from scratch", results["supervised_scratch"], "finetune")]
    ms_rows, ms_text = [], []
    if "simclr_multiscale" in results:
        layers = results["simclr_multiscale"]["readout"]
        ms = " + ".join(layers)
        ms_rows = [(f"random init ({ms})", results["random_init_multiscale"], "linear"),
                   (f"SimCLR ({ms})", results["simclr_multiscale"], "linear")]
        prefer = {n: cv_prefers(results, n + "_multiscale", n) for n in ("random_init", "simclr")}
        ms_text = [f"## Multi-scale read-out: linear probe on {ms}", "",
                   f"The same linear probe on the global averages of {ms} concatenated (`Encoder.pooled({layers})`), for "
                   "both encoders; every other step is identical. Which read-out to use can be decided without test data: "
                   "the cross-validated log-loss inside the labelled subset (the same CV that picks C) is lower with "
                   f"{ms} for {sum(prefer['simclr'])} of {len(prefer['simclr'])} seeds with SimCLR and "
                   f"{sum(prefer['random_init'])} of {len(prefer['random_init'])} with random init, at 10% labels.", "",
                   "De-duplicated Testing:", "", *table(ms_rows, fractions, "dedup"), "",
                   "Raw Testing:", "", *table(ms_rows, fractions, "raw"), "",
                   "All four metrics at 10% labels, de-duplicated Testing (macro over classes):", "", *four_metrics(ms_rows), "",
                   "Accuracy per labelled-subset seed at 10% labels, de-duplicated Testing:", "",
                   "| encoder · read-out | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---|" * len(seeds),
                   *[f"| {n} · {ro} | " + " | ".join(f"{res['linear']['0.1']['seeds'][str(s)]['dedup']['accuracy']['value']:.3f}" for s in seeds) + " |"
                     for n, res, ro in [("random init", results["random_init"], "layer4"), ("SimCLR", results["simclr"], "layer4"),
                                        ("random init", results["random_init_multiscale"], ms), ("SimCLR", results["simclr_multiscale"], ms)]], ""]
    loss = pre_log.get("train_loss_last_epoch")
    wall = pre_log.get("wall_seconds_all_calls", pre_log.get("wall_seconds_this_call"))
    return [
        "# Label efficiency on real MRI: SimCLR vs random init",
        "",
        f"Data: `{args['data']}` (Kaggle brain-tumour MRI, 4 classes) at {args['image_size']} px, one grey channel. "
        f"Pretraining uses the {r0['n_train']} Training images without labels. Labelled subsets are stratified "
        f"and seeded ({', '.join(f'{f:.0%}' for f in fractions)} of each class), drawn from Training only.",
        "",
        f"**De-duplicated Testing** removes every Testing image with an exact or perceptual-hash near duplicate in Training: "
        f"{r0['n_removed']} of {r0['n_test_raw']} removed, {r0['n_test_dedup']} kept. "
        f"The audit found {summary.get('n_exact_groups_cross_split')} exact-duplicate groups crossing the split "
        f"(details in [audit/audit.md](audit/audit.md)).",
        "",
        "Cells: accuracy, mean ± std over labelled-subset seeds "
        f"{seeds} (probes) or seed {args['seed']} (fine-tuning), then the bootstrap 95% CI of seed {seeds[0]}.",
        "",
        "## Accuracy, de-duplicated Testing", "", *table(rows, fractions, "dedup"), "",
        "## Accuracy, raw Testing", "", *table(rows, fractions, "raw"), "",
        "## All four metrics at 10% labels, de-duplicated Testing (macro over classes)", "",
        *four_metrics(rows),
        "",
        *ms_text,
        "## Protocol",
        "",
        "- Linear probe: features standardised on the labelled subset; scikit-learn logistic regression whose C is chosen "
        "by stratified cross-validation inside the labelled subset only; identical for every encoder. Read-out: the "
        "encoder output (global average of layer4) unless the row names another.",
        "- kNN: cosine, distance-weighted, k = 20 (clipped to the subset size).",
        f"- Fine-tuning: encoder + linear head, all weights trained with cross-entropy for {args['finetune_epochs']} epochs with "
        "light augmentation. Supervised from scratch is the same procedure from random weights.",
        f"- SimCLR: ResNet-18 (standard stem), {pre_log['epochs_done']} epochs, batch {args['batch_size']}, "
        f"precision {pre_log.get('precision', args.get('precision'))}, settings "
        f"`{json.dumps(meta['simclr_settings'])}`; final epoch loss "
        + (f"{loss:.3f}" if isinstance(loss, (int, float)) else "n/a") + ".",
        *([f"- Note: {meta['note']}"] if meta.get("note") else []),
        "",
        "## Reproduce",
        "",
        f"```bash\n{meta['command']}\n```",
        "",
        f"Machine: {m['cpu']}, {m['cpu_cores']} cores, {m['memory_gib']} GiB, "
        f"GPU: {m['gpu']}. torch {meta['versions']['torch']}, lightning {meta['versions']['lightning']}, "
        f"lightly {meta['versions']['lightly']}, scikit-learn {meta['versions']['scikit-learn']}.",
        "",
        "Wall time (seconds): " + ", ".join(f"{k} {v}" for k, v in times.items()) +
        f"; pretraining wall time over all its calls: {wall} s.",
    ]


def main():
    ap = parser(__doc__, "../shared/data/brain-tumor-mri", "image-size", "seed", "device", device="auto")
    ap.add_argument("--work", type=Path, default=Path("bench/work/label_efficiency"))
    ap.add_argument("--epochs", type=int, default=70)
    ap.add_argument("--precision", default="bf16-mixed",
                    help="Lightning precision for pretraining; bf16-mixed is 1.8x faster here (CPU with AVX512-BF16, see pretrain_speed.md)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--finetune-epochs", type=int, default=15)
    ap.add_argument("--multiscale", nargs="*", default=["layer3", "layer4"],
                    help="also run the linear probe on this multi-scale read-out (Encoder.pooled); none to skip")
    ap.add_argument("--render-only", action="store_true",
                    help="only rewrite label_efficiency.md from the saved label_efficiency.json (no computation)")
    a = ap.parse_args()
    if a.render_only:
        lines = render(json.loads((a.results / "label_efficiency.json").read_text()))
        write_text(a.results / "label_efficiency.md", lines)
        print("\n".join(lines)); return
    cmd = command()
    t_all, times = time.time(), {}

    t = time.time()
    splits = load_splits(a.data, image_size=a.image_size, cache_dir=a.work / "cache")
    times["load_seconds"] = round(time.time() - t, 1)
    t = time.time()
    report, keep = audit_job(splits, a.results / "audit")
    times["audit_seconds"] = round(time.time() - t, 1)
    summary = report.summary()
    print("audit:", json.dumps(summary))

    t = time.time()
    model = pretrain("simclr", splits["Training"], a.work / "simclr", epochs=a.epochs, batch_size=a.batch_size,
                     seed=a.seed, device=a.device, image_size=a.image_size, precision=a.precision, **SIMCLR)
    times["pretrain_seconds_this_run"] = round(time.time() - t, 1)
    pre_log = json.loads((a.work / "simclr" / "pretrain.json").read_text())
    simclr = model.encoder
    torch.manual_seed(a.seed)
    random_init = Encoder(in_channels=1, small_images=SIMCLR["small_images"])

    results, t = {}, time.time()
    common = dict(label_fractions=a.fractions, keep_mask=keep, device=a.device)
    for name, enc in (("random_init", random_init), ("simclr", simclr)):
        results[name] = evaluate_encoder(enc, splits["Training"], splits["Testing"], probes=("linear", "knn"), seeds=a.seeds, **common)
    if a.multiscale:
        for name, enc in (("random_init", random_init), ("simclr", simclr)):
            results[name + "_multiscale"] = evaluate_encoder(enc, splits["Training"], splits["Testing"], probes=("linear",),
                                                             seeds=a.seeds, layers=a.multiscale, **common)
    times["probe_seconds"] = round(time.time() - t, 1); t = time.time()
    ft = dict(probes=(), seeds=(a.seed,), finetune_fractions=a.fractions, finetune_epochs=a.finetune_epochs, **common)
    results["simclr_finetuned"] = evaluate_encoder(simclr, splits["Training"], splits["Testing"], **ft)
    results["supervised_scratch"] = evaluate_encoder(random_init, splits["Training"], splits["Testing"], **ft)
    times["finetune_seconds"] = round(time.time() - t, 1)
    times["total_seconds_this_run"] = round(time.time() - t_all, 1)

    meta = {"command": cmd, **provenance(), "times": times,
            "pretrain": pre_log, "simclr_settings": SIMCLR, "audit_summary": summary, "args": {k: str(v) for k, v in vars(a).items()}}
    save_json({"meta": meta, "results": results}, a.results / "label_efficiency.json")
    # plotly.js from its CDN keeps the committed page small; the figure data itself is in the file
    write_figure(label_efficiency_figure(results), a.results / "label_efficiency.html", include_plotlyjs="cdn")

    lines = render({"meta": meta, "results": results})
    write_text(a.results / "label_efficiency.md", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
