"""Every SSL method in brainssl, compared on real MRI under one CPU-time budget.

Each method pretrains a ResNet-18 (standard stem) on the Training images of the Kaggle brain-tumour MRI set at 64 px,
without labels, for the same budget of process CPU time. Each encoder is then scored with the identical protocol: linear
probe at 1%, 10% (3 seeds) and 100% labels (1 seed), fine-tuning at 10% labels, on raw and de-duplicated Testing.
Reference rows: random init (probes) and supervised from scratch (fine-tuning the random encoder). Extra rows: SimCLR
followed by FixMatch semi-supervised fine-tuning, and the GAN used as synthetic augmentation for a supervised classifier.

A representation monitor follows each run: leave-one-out kNN accuracy on `--monitor-size` labelled Training images that
are held apart from pretraining (they never reach the SSL loss), before the first step and after every epoch; its curve
is saved per row. Rows checkpoint every `--ckpt-minutes` of wall time, so a killed run resumes where it stopped (the
CPU-time budget used so far is in the checkpoint).

Run from the repository root (about 20 CPU-minutes per method and 5 more for its evaluation; 2 rows at a time):

    .venv/bin/python bench/methods.py --data ../shared/data/brain-tumor-mri

Every method runs in its own process (`--jobs` at a time, one thread each), so its peak memory is its own and a crash
or kill loses only that method: finished methods keep their `result.json` in bench/work/methods/ (git-ignored) and are
not re-run. Results: bench/results/methods.{md,json,html}.
"""
from __future__ import annotations
import argparse, json, subprocess, sys, time
from pathlib import Path

import numpy as np

from _common import command, mean_std_ci, parser, peak_rss_mib, provenance, set_threads, write_text

# The review's Table 2 (accuracy; other data sets, no confidence intervals). Keys are brainssl method names.
REVIEW = {"simclr": "92.5% (AUC 0.98)", "byol": "90.3%", "gan": "91.0%", "deepcluster": "88.4%", "autoencoder": "89.7%"}
FAMILY_ORDER = ("Contrastive", "Redundancy reduction", "Clustering", "Generative", "Pretext")
F10 = str(0.1)


def load(a):
    from brainssl.cli import load_splits
    splits = load_splits(a.data, image_size=a.image_size, cache_dir=a.cache, progress=False)
    return splits["Training"], splits["Testing"], np.load(a.work / "keep_mask.npy")


def monitor_split(tr, a):
    "(pretraining set, monitor set): a stratified `a.monitor_size` of Training, seeded, held apart from pretraining."
    from brainssl.data.splits import label_fraction_indices
    y = np.asarray(tr.labels)
    idx = label_fraction_indices(y, min(1.0, a.monitor_size / len(y)), seed=1000 + a.seed)   # not a probe seed
    rest = np.setdiff1d(np.arange(len(y)), idx)
    return tr.subset(rest), tr.subset(idx)


def beats_random(row: dict, ref: dict, frac: str = F10) -> tuple[float, bool]:
    "(Δ accuracy vs random init, verdict): the linear probe at `frac` on de-duplicated Testing beats random init by more than 0.01 and more than twice the larger seed std."
    m, r = row["metrics"]["linear"][frac]["dedup"]["accuracy"], ref["metrics"]["linear"][frac]["dedup"]["accuracy"]
    d = m["mean"] - r["mean"]
    return d, bool(d > 0.01 and d > 2 * max(m.get("std", 0.0), r.get("std", 0.0)))


def score_encoder(enc, tr, te, keep, a) -> dict:
    "Linear probe at every fraction (3 seeds below 100%, 1 at 100%) and fine-tuning at 10%, merged into one dict."
    from brainssl.eval.protocol import evaluate_encoder
    common = dict(keep_mask=keep, device="cpu", progress=False)
    few = [f for f in a.fractions if f < 1]
    res = evaluate_encoder(enc, tr, te, label_fractions=few, probes=("linear",), seeds=a.seeds, **common)
    if 1.0 in a.fractions:
        full = evaluate_encoder(enc, tr, te, label_fractions=(1.0,), probes=("linear",), seeds=a.seeds[:1], **common)
        res["linear"].update(full["linear"])
    ft = evaluate_encoder(enc, tr, te, label_fractions=(), probes=(), seeds=a.seeds[:1], finetune_fractions=(0.1,),
                          finetune_epochs=a.finetune_epochs, finetune_kwargs={"min_steps": a.finetune_steps}, **common)
    res["finetune"] = ft["finetune"]; res["probes"] = ["linear", "finetune"]
    return res


def worker(name: str, a) -> dict:
    "One row of the table, in this process. `name` is a method, 'random_init', 'simclr_fixmatch' or 'gan_augmentation'."
    from brainssl.encoder import Encoder, load_encoder
    from brainssl.methods.base import get_method, pretrain
    set_threads(a.threads)
    tr, te, keep = load(a)
    out = {"name": name}
    if name == "random_init":
        enc = Encoder(in_channels=1, seed=a.seed)
        out.update(kind="reference", family="Reference", description="ResNet-18 with random weights; its fine-tuning row is supervised from scratch")
        out["metrics"] = score_encoder(enc, tr, te, keep, a)
    elif name == "random_init_vit":
        enc = get_method("mae")(image_size=a.image_size).random_init_encoder(seed=a.seed)   # MAE's ViT and weight setup
        out.update(kind="reference", family="Reference", description="MAE's ViT with random weights: the reference of the ViT methods")
        out["metrics"] = score_encoder(enc, tr, te, keep, a)
    elif name == "simclr_fixmatch":
        from brainssl.data.splits import label_fraction_indices
        from brainssl.eval.protocol import score_raw_dedup, summarize_seeds
        from brainssl.eval.semisupervised import fixmatch_finetune_proba
        enc = load_encoder(a.work / "simclr" / "encoder.safetensors")
        y = np.asarray(tr.labels); idx = label_fraction_indices(y, 0.1, seed=a.seed)
        rest = np.setdiff1d(np.arange(len(tr)), idx)
        t = time.time()
        proba = fixmatch_finetune_proba(enc, tr.subset(idx), tr.subset(rest), te, epochs=a.finetune_epochs,
                                        min_steps=a.finetune_steps, seed=a.seed, device="cpu", progress=False)
        seeds = {str(a.seed): {**score_raw_dedup(np.asarray(te.labels), proba, keep, list(tr.classes), 1000, a.seed), "info": {"seconds": round(time.time() - t)}}}
        out.update(kind="hybrid", family="Hybrid", description="SimCLR encoder, then FixMatch fine-tuning on 10% labels + the unlabelled rest")
        out["metrics"] = {"fixmatch": {F10: {"fraction": 0.1, "n_labelled": len(idx), "seeds": seeds,
                                             "raw": summarize_seeds(seeds, "raw"), "dedup": summarize_seeds(seeds, "dedup")}}}
    elif name == "gan_augmentation":
        from brainssl.data.splits import label_fraction_indices
        from brainssl.eval.protocol import score_raw_dedup, summarize_seeds, supervised_baseline
        from brainssl.methods.gan import GAN, gan_augmented_dataset
        gan = GAN.load_from_checkpoint(a.work / "gan" / "checkpoints" / "last.ckpt", map_location="cpu").eval()
        y, rows = np.asarray(tr.labels), {}
        for frac in (0.01, 0.1):
            idx = label_fraction_indices(y, frac, seed=a.seed); lab = tr.subset(idx)
            for variant in ("real", "real+generated"):
                ds = lab if variant == "real" else gan_augmented_dataset(gan, lab, n_generated=a.gan_generated, seed=a.seed)
                proba = supervised_baseline(ds, te, small_images=False, seed=a.seed, epochs=a.finetune_epochs,
                                            min_steps=a.finetune_steps, device="cpu", progress=False)
                seeds = {str(a.seed): {**score_raw_dedup(np.asarray(te.labels), proba, keep, list(tr.classes), 1000, a.seed),
                                       "info": {"n_train": len(ds)}}}
                rows.setdefault(variant, {})[str(float(frac))] = {"fraction": frac, "n_labelled": len(idx), "seeds": seeds,
                                                                   "raw": summarize_seeds(seeds, "raw"), "dedup": summarize_seeds(seeds, "dedup")}
        out.update(kind="augmentation", family="Generative", description="supervised from scratch on real labels, with and without GAN images")
        out["metrics"] = rows
    else:
        cls = get_method(name)
        out.update(kind="ssl", family=cls.description.split(" (")[0], description=cls.description)
        kw = dict(image_size=a.image_size, warmup_epochs=a.warmup_epochs)
        t = time.time()
        unlabelled, monitor = monitor_split(tr, a)
        model = pretrain(name, unlabelled, a.work / name, epochs=10_000, batch_size=a.batch_size, seed=a.seed, device="cpu",
                         progress=False, max_minutes=a.budget_minutes, budget_clock="cpu", monitor=monitor,
                         ckpt_every_minutes=a.ckpt_minutes, **kw)
        log = json.loads((a.work / name / "pretrain.json").read_text())
        n_img = model.trainer.fit_loop.epoch_loop.total_batch_idx + 1
        out["pretrain"] = {"epochs_done": log["epochs_done"], "batches": n_img, "images_seen": n_img * a.batch_size,
                           "budget": log["budget"], "wall_seconds": log["wall_seconds_this_call"],
                           "train_loss_last_epoch": log["train_loss_last_epoch"], "hparams": log["hparams"],
                           "peak_rss_mib": round(peak_rss_mib()),
                           "images_per_cpu_second": round(n_img * a.batch_size / (60 * log["budget"]["used_minutes"]), 1),
                           "images_per_wall_second": round(n_img * a.batch_size / max(1e-9, time.time() - t), 1),
                           "n_pretrain_images": len(unlabelled), "monitor": log.get("monitor")}
        out["metrics"] = score_encoder(model.encoder, tr, te, keep, a)
    out["peak_rss_mib_total"] = round(peak_rss_mib())
    return out


def run_jobs(names: list[str], a, deps: dict[str, str]) -> None:
    "Run each missing row in a subprocess, `a.jobs` at a time; a row waits for the row it depends on."
    todo = [n for n in names if not (a.work / n / "result.json").exists()]
    running: dict[str, subprocess.Popen] = {}
    env = {**set_threads(a.threads), "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, __file__, *sys.argv[1:]]
    while todo or running:
        for n, p in list(running.items()):
            if p.poll() is not None:
                del running[n]
                print(f"[{time.strftime('%H:%M:%S')}] {n}: {'done' if p.returncode == 0 else f'FAILED ({p.returncode}), see {a.work / n}/worker.log'}", flush=True)
        ready = [n for n in todo if deps.get(n) is None or (a.work / deps[n] / "result.json").exists()
                 or deps[n] not in names]
        while ready and len(running) < a.jobs:
            n = ready.pop(0); todo.remove(n)
            (a.work / n).mkdir(parents=True, exist_ok=True)
            log = open(a.work / n / "worker.log", "w")
            running[n] = subprocess.Popen([*argv, "--worker", n], stdout=log, stderr=subprocess.STDOUT, env=env)
            print(f"[{time.strftime('%H:%M:%S')}] {n}: started", flush=True)
        if todo and not ready and not running:
            print(f"cannot run {todo}: their dependencies failed", flush=True); break
        time.sleep(2)


def acc(m: dict, probe: str, frac: str, test="dedup", metric="accuracy") -> str:
    return mean_std_ci(m[probe][frac][test], metric) if frac in m.get(probe, {}) else "–"


def report(rows: dict, a, meta: dict) -> list[str]:
    ssl = sorted((r for r in rows.values() if r["kind"] == "ssl"),
                 key=lambda r: (FAMILY_ORDER.index(r["family"]) if r["family"] in FAMILY_ORDER else 99, r["name"]))
    ref, ref_vit = rows.get("random_init"), rows.get("random_init_vit")
    refs = [r for r in (ref, ref_vit) if r]

    def ref_of(r):
        "The random-init row of the same backbone family: the ViT reference for ViT methods."
        from brainssl.vit import is_vit_arch
        return ref_vit if is_vit_arch(((r.get("pretrain") or {}).get("hparams") or {}).get("arch", "")) else ref
    fr = [str(float(f)) for f in a.fractions]
    rand10 = ref["metrics"]["linear"][F10]["dedup"]["accuracy"]["mean"] if ref else None

    def line(r, test):
        m, p = r["metrics"], r.get("pretrain", {})
        beats = ""
        if r["kind"] == "ssl" and ref_of(r) is not None and F10 in m.get("linear", {}):
            d, ok = beats_random(r, ref_of(r))
            beats = f"{d:+.3f} {'**yes**' if ok else 'no'}"
        elif r in refs: beats = "+0.000"
        cells = [acc(m, "linear", f, test) for f in fr] + [acc(m, "finetune", F10, test)]
        thr = f"{p['images_per_cpu_second']}" if p else "–"
        mem = f"{p['peak_rss_mib']}" if p else "–"
        return f"| {r['name']} | {r['family']} | " + " | ".join(cells) + f" | {beats if test == 'dedup' else ''} | {thr} | {mem} | {REVIEW.get(r['name'], '')} |"

    head = ("| method | family | " + " | ".join(f"linear {float(f):.0%}" for f in fr) +
            " | fine-tune 10% | Δ vs random (linear 10%), beats it? | train images / CPU-s | peak MiB | review Table 2 (other data) |")
    sep = "|---|---|" + "---|" * (len(fr) + 5)
    lines = ["# Every SSL method on real MRI, one CPU-time budget", "",
             f"Data: `{a.data}` at {a.image_size} px, one grey channel. Each method pretrains a ResNet-18 (standard stem) on the "
             f"{meta['n_train']} Training images **without labels** for **{a.budget_minutes:g} minutes of process CPU time** "
             f"({a.threads} thread{'s' if a.threads > 1 else ''}, batch {a.batch_size}, each method's own defaults otherwise; "
             f"warm-up {a.warmup_epochs} epochs; MAE pretrains its own small ViT, compared with the same ViT at random init), then every encoder is scored with the same protocol.",
             "",
             f"**De-duplicated Testing** drops every Testing image with an exact or near duplicate in Training "
             f"({meta['n_test_dedup']} of {meta['n_test_raw']} kept; audit in [audit/audit.md](audit/audit.md)).",
             "",
             f"Cells: accuracy, mean ± std over label-subset seeds {a.seeds} (linear probe at 1% and 10%) or one seed "
             f"(100%, fine-tuning), then the bootstrap 95% CI of the first seed. The review's numbers come from other data "
             "sets, other image sizes and far longer training, and carry no CIs: they are context, not a target.",
             "", "## De-duplicated Testing", "", head, sep, *[line(r, "dedup") for r in refs + ssl], "",
             "\"Beats it\" means by more than 0.01 and by more than twice the larger of the two seed standard deviations "
             f"(linear probe at 10% labels, de-duplicated Testing): {sum(beats_random(r, ref_of(r))[1] for r in ssl if ref_of(r)) if refs else '–'} of {len(ssl)} methods do "
             "(ViT methods are compared with `random_init_vit`, the others with `random_init`).", "",
             "## Raw Testing", "", head, sep, *[line(r, "raw") for r in refs + ssl], "",
             "## All four metrics: linear probe at 10% labels, de-duplicated Testing (macro over classes)", "",
             "| method | accuracy | sensitivity | specificity | AUC |", "|---|---|---|---|---|",
             *[f"| {r['name']} | " + " | ".join(acc(r["metrics"], "linear", F10, "dedup", k) for k in ("accuracy", "sensitivity", "specificity", "auc")) + " |"
               for r in refs + ssl]]
    mon = [r for r in ssl if (r.get("pretrain") or {}).get("monitor")]
    if mon:
        lines += ["", "## Learning curves: the representation monitor", "",
                  f"Leave-one-out kNN accuracy (k = 10) on {a.monitor_size} labelled Training images held apart from pretraining, "
                  "at step 0 (the random-init level of the very network) and after each epoch. Full curves: `methods.json`, "
                  "`rows.<method>.pretrain.monitor.history`.", "", "| method | step 0 | best | last | epochs measured |", "|---|---|---|---|---|"]
        for r in mon:
            h = [q["knn_accuracy"] for q in r["pretrain"]["monitor"]["history"]]
            lines.append(f"| {r['name']} | {h[0]:.3f} | {max(h):.3f} | {h[-1]:.3f} | {len(h) - 1} |")
    if "simclr_fixmatch" in rows or "gan_augmentation" in rows:
        lines += ["", "## Beyond the probe: semi-supervised fine-tuning and GAN augmentation (de-duplicated Testing)", "",
                  "| row | labels | accuracy | sensitivity | specificity | AUC |", "|---|---|---|---|---|---|"]
        if ref: lines.append(f"| supervised from scratch | 10% | " + " | ".join(acc(ref["metrics"], "finetune", F10, "dedup", k) for k in ("accuracy", "sensitivity", "specificity", "auc")) + " |")
        if "simclr" in rows: lines.append(f"| SimCLR, fine-tuned | 10% | " + " | ".join(acc(rows["simclr"]["metrics"], "finetune", F10, "dedup", k) for k in ("accuracy", "sensitivity", "specificity", "auc")) + " |")
        if "simclr_fixmatch" in rows:
            lines.append(f"| SimCLR + FixMatch (10% labels + unlabelled rest) | 10% | " + " | ".join(acc(rows["simclr_fixmatch"]["metrics"], "fixmatch", F10, "dedup", k) for k in ("accuracy", "sensitivity", "specificity", "auc")) + " |")
        if "gan_augmentation" in rows:
            g = rows["gan_augmentation"]["metrics"]
            for frac in ("0.01", "0.1"):
                for v in ("real", "real+generated"):
                    n = g[v][frac]["seeds"][str(a.seed)]["info"]["n_train"]
                    lines.append(f"| supervised, {v} ({n} images) | {float(frac):.0%} | " + " | ".join(acc(g, v, frac, "dedup", k) for k in ("accuracy", "sensitivity", "specificity", "auc")) + " |")
            lines += ["", f"GAN augmentation: the GAN row's generator makes {a.gan_generated} slices; each gets the pseudo-label of a "
                      "linear probe on the discriminator's features fitted on the labelled real slices, and is kept if that "
                      "label's probability is at least 0.6 (`brainssl.methods.gan.gan_augmented_dataset`). One seed, one "
                      "training run per row, so differences within the CIs are not evidence of a gain."]
    return lines


def figure(rows: dict, a):
    import plotly.graph_objects as go
    ssl = [r for r in rows.values() if r["kind"] == "ssl"]
    ssl.sort(key=lambda r: r["metrics"]["linear"][F10]["dedup"]["accuracy"]["mean"])
    s = [r["metrics"]["linear"][F10]["dedup"]["accuracy"] for r in ssl]
    fig = go.Figure(go.Bar(y=[r["name"] for r in ssl], x=[q["mean"] for q in s], orientation="h",
                           error_x=dict(type="data", symmetric=False, array=[q["ci"][1] - q["mean"] for q in s],
                                        arrayminus=[q["mean"] - q["ci"][0] for q in s]),
                           text=[f"{q['mean']:.3f}" for q in s], textposition="inside",
                           marker_color=["#1f77b4"] * len(ssl), name="linear probe, 10% labels"))
    if "random_init" in rows:
        fig.add_vline(x=rows["random_init"]["metrics"]["linear"][F10]["dedup"]["accuracy"]["mean"], line_dash="dash",
                      annotation_text="random init")
    fig.update_layout(title=f"Linear probe at 10% labels, de-duplicated Testing ({a.budget_minutes:g} CPU-min of pretraining each)",
                      xaxis=dict(title="accuracy (bar: seed mean; whisker: seed-0 bootstrap 95% CI)", range=[0.25, 1]),
                      height=120 + 40 * len(ssl), width=800, margin=dict(l=120))
    return fig


def main():
    ap = parser(__doc__, "../shared/data/brain-tumor-mri", "image-size", "seed", "threads", threads=1)
    ap.add_argument("--work", type=Path, default=Path("bench/work/methods"))
    ap.add_argument("--cache", type=Path, default=Path("bench/work/label_efficiency/cache"), help="decoded-image cache")
    ap.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    ap.add_argument("--budget-minutes", type=float, default=20.0, help="CPU minutes of pretraining per method")
    ap.add_argument("--monitor-size", type=int, default=256, help="labelled Training images held apart for the kNN monitor")
    ap.add_argument("--ckpt-minutes", type=float, default=2.0, help="wall minutes between mid-epoch checkpoints (resume)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--warmup-epochs", type=float, default=0.5)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--finetune-epochs", type=int, default=10)
    ap.add_argument("--finetune-steps", type=int, default=200, help="minimum fine-tuning steps")
    ap.add_argument("--gan-generated", type=int, default=500, help="generated images added per augmentation run")
    ap.add_argument("--jobs", type=int, default=2, help="rows run at once, each in its own process")
    ap.add_argument("--report-only", action="store_true", help="only (re)write the results from the rows finished so far")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        from brainssl.core import save_json
        res = worker(a.worker, a)
        save_json(res, a.work / a.worker / "result.json")
        return
    from brainssl.cli import audit_job, load_splits, write_figure
    from brainssl.core import atomic_write, save_json
    from brainssl.methods.base import list_methods
    cmd = command(drop=("--report-only",))
    t0 = time.time()
    if not a.data.is_dir(): sys.exit(f"--data {a.data} is not a folder (see ../shared/data/README.md)")
    splits = load_splits(a.data, image_size=a.image_size, cache_dir=a.cache)
    report_, keep = audit_job(splits, a.results / "audit")
    a.work.mkdir(parents=True, exist_ok=True)
    with atomic_write(a.work / "keep_mask.npy", "wb") as f: np.save(f, keep)
    methods = a.methods or list(list_methods(in_channels=1))   # crossmodal needs several sequences
    names = ["random_init", *methods]
    if "mae" in methods: names.insert(1, "random_init_vit")
    deps = {}
    if "simclr" in methods: names.append("simclr_fixmatch"); deps["simclr_fixmatch"] = "simclr"
    if "gan" in methods: names.append("gan_augmentation"); deps["gan_augmentation"] = "gan"
    if not a.report_only: run_jobs(names, a, deps)
    rows = {n: json.loads((a.work / n / "result.json").read_text()) for n in names if (a.work / n / "result.json").exists()}
    meta = {"command": cmd, **provenance(), "args": {k: str(v) for k, v in vars(a).items()},
            "n_train": len(splits["Training"]), "n_test_raw": len(splits["Testing"]), "n_test_dedup": int(keep.sum()),
            "missing_rows": [n for n in names if n not in rows], "wall_seconds_this_run": round(time.time() - t0)}
    save_json({"meta": meta, "rows": rows}, a.results / "methods.json", indent=None)  # compact: a third of the indented size
    if any(r["kind"] == "ssl" for r in rows.values()):
        write_figure(figure(rows, a), a.results / "methods.html", include_plotlyjs="cdn")
    lines = report(rows, a, meta) + ["", "Interactive chart: [methods.html](methods.html); every number: [methods.json](methods.json).", "",
                                     "## Reproduce", "", f"```bash\n{cmd}\n```", "",
                                     f"Machine: {meta['machine']['cpu']}, {meta['machine']['cpu_cores']} cores, "
                                     f"{meta['machine']['memory_gib']} GiB. Missing rows (failed or not run): {meta['missing_rows'] or 'none'}."]
    if meta["missing_rows"]:
        lines[1:1] = ["", f"> **Incomplete run.** Rows not finished yet: {', '.join(meta['missing_rows'])}. Re-running the command "
                          "below runs only those (finished rows are kept in the work folder) and rewrites this page."]
    write_text(a.results / "methods.md", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
