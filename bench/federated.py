"""Federated SSL on the four real TCGA-LGG institutions (CS, DU, FG, HT): FedAvg, FedProx, FedBN and encoder-only
FedAvg against centralised (pooled) and local-only pretraining on the same budget, each probed at every site.

Run from the repository root (about 30-45 minutes on 2 shared CPU cores; needs the [federated] extra):

    .venv/bin/python bench/federated.py --data ../shared/data/lgg-mri-segmentation --rounds 5 --local-epochs 2

Task: tumour present in the slice (mask not empty). Every encoder is evaluated at every site in two ways: a linear
probe (`brainssl.federated.sites.site_probe`) fitted on all the site's training patients, and fine-tuning
(`brainssl.federated.sites.site_finetune`, `--finetune-steps` steps on a stratified `--finetune-fraction` of the site's
training slices); both are scored on the site's held-out patients (patient-level split per site). Writes
bench/results/federated.{md,json}, and the final encoders (per site for the federated runs: FedBN's BatchNorm layers
differ between sites) under `--save-dir`.

Other modes:
- `--rewrite`: re-render the .md from the existing .json, nothing rerun;
- `--eval-saved`: re-evaluate (probe + fine-tune) the encoders saved under `--save-dir` without pretraining again,
  e.g. with another `--finetune-steps`; updates the .json and .md;
- `--strategies fedavg,fedbn --keep-previous`: rerun only these strategies and keep the others' results from the
  existing .json (marked `from_previous_run`).
"""
from __future__ import annotations
import json, sys, time
from pathlib import Path

import numpy as np

from _common import command, num, parser, provenance, write_text
from brainssl.core import save_json
from brainssl.encoder import load_encoder
from brainssl.federated.baselines import train_baselines
from brainssl.federated.config import FedConfig
from brainssl.federated.report import comparison
from brainssl.federated.server import run_federated
from brainssl.federated.sites import evaluate_site, site_datasets, site_names


def markdown(res: dict) -> str:
    cfg, names = res["config"], res["sites"]
    L = ["# Federated SSL on the LGG institutions", "",
         f"Command: `{res['command']}`", "",
         f"Data: `{res.get('data_arg', cfg['data_root'])}`, {len(names)} TCGA institutions as sites ({', '.join(names)}), slices at "
         f"{cfg['image_size']} px with 3 channels (T1, FLAIR, T1-CE). Task: tumour present (mask not empty). "
         f"Per site, {cfg['test_fraction']:.0%} of the patients are held out (patient-level split).", "",
         "| site | train slices (patients) | held-out slices (patients) | tumour share train / held-out |", "|---|---|---|---|"]
    for s, d in res["data"].items():
        L.append(f"| {s} | {d['train']} ({d['train_patients']}) | {d['test']} ({d['test_patients']}) | "
                 f"{d['train_tumour']:.2f} / {d['test_tumour']:.2f} |")
    L += ["", f"Pretraining: {cfg['method']}, {cfg['arch']}, batch {cfg['batch_size']}, lr {cfg['lr']}, seed {cfg['seed']}. "
          f"Budget: {cfg['rounds']} rounds × {cfg['local_epochs']} local epoch(s) per site for every federated run; "
          f"centralised and local-only train {res['baselines']['epochs']} epochs (the same passes over each slice). "
          f"FedProx μ = {cfg['proximal_mu']}. Flower simulation engine (Ray), one client per institution.", "",
          "## Held-out accuracy (linear probe at each site)", "",
          "Pooled = correct / all held-out slices of the 4 sites, with a Wilson 95% interval. "
          "Majority = always answering the site's commonest class.", "",
          "| setting | pooled accuracy [95% CI] | mean balanced acc. | " + " | ".join(names) + " | site spread (max − min) |",
          "|---|---|---|" + "---|" * len(names) + "---|"]
    for k, r in res["comparison"].items():
        cells = [num(r["per_site"].get(s, r["per_site"].get(str(s)))) for s in range(len(names))]
        L.append(f"| {k} | {r['accuracy']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | {num(r.get('balanced_accuracy_mean'))} | "
                 + " | ".join(cells) + f" | {r['site_max'] - r['site_min']:.3f} |")
    maj = [res["baselines"]["centralised"]["sites"][s]["majority_accuracy"] for s in sorted(res["baselines"]["centralised"]["sites"])]
    L.append("| majority class | | | " + " | ".join(num(m) for m in maj) + " | |")
    ft = res.get("comparison_finetune")
    if ft:
        f = res["finetune"]
        L += ["", "## Held-out accuracy (fine-tuned at each site)", "",
              f"Each encoder, copied, plus a linear head, trained end to end (`site_finetune`: AdamW, lr {f['lr']}, "
              f"batch {f['batch_size']}, light augmentation) for {f['steps']} steps (rounded up to whole epochs) on a "
              f"stratified {f['fraction']:.0%} of the site's training slices "
              f"({', '.join(f'{n} {k}' for n, k in zip(names, f['n_labelled']))} labelled slices), then scored on the "
              "same held-out patients as the probe. "
              + (f"Evaluated afterwards from the saved encoders (`--eval-saved`, {f.get('eval_wall_s')} s)."
                 if f.get("evaluated_from_saved") else "Its wall time is included in the run times below."), "",
              "| setting | pooled accuracy [95% CI] | mean balanced acc. | " + " | ".join(names) + " | site spread (max − min) | probe − fine-tune (pooled) |",
              "|---|---|---|" + "---|" * len(names) + "---|---|"]
        for k, r in ft.items():
            cells = [num(r["per_site"].get(s, r["per_site"].get(str(s)))) for s in range(len(names))]
            probe = res["comparison"].get(k)
            L.append(f"| {k} | {r['accuracy']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | {num(r.get('balanced_accuracy_mean'))} | "
                     + " | ".join(cells) + f" | {r['site_max'] - r['site_min']:.3f} | "
                     + (f"{probe['accuracy'] - r['accuracy']:+.3f}" if probe else "–") + " |")
        L.append("| majority class | | | " + " | ".join(num(m) for m in maj) + " | | |")
        missing = [k for k in res["comparison"] if k not in ft and k != "local (other sites)"]
        if missing: L += ["", f"Not fine-tuned (kept from an earlier run without fine-tuning): {', '.join(missing)}."]
    L += ["", "## Cost of each federated run", "",
          "| strategy | shared tensors | MB per client and direction per round | MB per round (all clients, up + down) | rounds done | wall time (s) |",
          "|---|---|---|---|---|---|"]
    for f in res["federated"]:
        per_round = np.mean([r["bytes_up"] + r["bytes_down"] for r in f["rounds"]]) / 1e6
        L.append(f"| {f['strategy']}{' (earlier run)' if f.get('from_previous_run') else ''} | {f['n_shared_tensors']} | "
                 f"{f['shared_bytes'] / 1e6:.1f} | {per_round:.1f} | {f['rounds_completed']} | {f['wall_s']} |")
    L += ["", f"Wall times include the evaluation at the end (probe{' and fine-tuning' if ft else ''} at every site). "
          f"Baselines (centralised + 4 local + evaluation) wall time: {res['baselines_wall_s']} s. Machine: "
          f"{res['machine']['cpu']}, {res['machine']['cpu_cores']} cores (shared with other jobs, so times are rough). "
          f"flwr {res['versions'].get('flwr')}, ray {res['versions'].get('ray')}, torch {res['versions'].get('torch')}.", "",
          "## Reading", "", res["reading"], ""]
    if res.get("notes"): L += ["## Notes", ""] + [f"- {n}" for n in res["notes"]] + [""]
    return "\n".join(L)


def reading_finetune(ft: dict) -> str:
    if not ft: return ""
    fed = {k: v for k, v in ft.items() if k in ("fedavg", "fedprox", "fedbn", "fedavg-encoder")}
    overlap = lambda a, b: not (a["ci"][1] < b["ci"][0] or b["ci"][1] < a["ci"][0])
    parts = ["Fine-tuned: " + "; ".join(f"{k} {v['accuracy']:.3f}" for k, v in ft.items()) + "."]
    if fed and "local (own site)" in ft:
        best = max(fed, key=lambda k: fed[k]["accuracy"])
        parts.append(f"Best federated ({best}) vs local-only (own site): intervals "
                     + ("overlap." if overlap(fed[best], ft["local (own site)"]) else "do not overlap."))
    if fed and "random init" in ft:
        best = max(fed, key=lambda k: fed[k]["accuracy"])
        parts.append(f"Best federated ({best}) vs fine-tuning the untrained encoder: intervals "
                     + ("overlap." if overlap(fed[best], ft["random init"]) else "do not overlap."))
    return " ".join(parts)


def reading(comp: dict) -> str:
    fed = {k: v for k, v in comp.items() if k in ("fedavg", "fedprox", "fedbn", "fedavg-encoder")}
    best = max(fed, key=lambda k: fed[k]["accuracy"])
    own, other = comp["local (own site)"], comp.get("local (other sites)")
    overlap = lambda a, b: not (a["ci"][1] < b["ci"][0] or b["ci"][1] < a["ci"][0])
    parts = [f"Best federated strategy: {best} ({fed[best]['accuracy']:.3f}); centralised {comp['centralised']['accuracy']:.3f}; "
             f"local-only at its own site {own['accuracy']:.3f}"
             + (f", local-only encoders used at the other sites {other['accuracy']:.3f}" if other else "")
             + f"; untrained encoder {comp['random init']['accuracy']:.3f}."]
    parts.append("Against the untrained encoder, the best federated run's interval "
                 + ("overlaps: this pretraining budget is too small to show a clear gain from SSL at all."
                    if overlap(fed[best], comp["random init"]) else "does not overlap."))
    parts.append("The 95% intervals of the best federated run and local-only (own site) "
                 + ("overlap: on this budget the data cannot tell them apart." if overlap(fed[best], own)
                    else "do not overlap."))
    if other:
        parts.append("Federated vs local encoders carried to other sites: intervals "
                     + ("overlap." if overlap(fed[best], other) else "do not overlap."))
    parts.append("One seed and a tiny CPU budget: treat differences of a few points as noise. Balanced accuracy and the "
                 "majority-class row show how much of the accuracy is the class mix of each site.")
    return " ".join(parts)


def rewrite(results: Path):
    "Re-render federated.md (and the reading) from an existing federated.json, without rerunning anything."
    res = json.loads((results / "federated.json").read_text())
    res["reading"] = reading(res["comparison"]) + (" " + reading_finetune(res["comparison_finetune"])
                                                    if res.get("comparison_finetune") else "")
    save_json(res, results / "federated.json")
    write_text(results / "federated.md", markdown(res))


def _rel(cfg: dict, data_arg: str) -> dict:
    "The config for the JSON: the data path as given on the command line, not absolute; no local save folder."
    return cfg | {"data_root": data_arg, "save_dir": ""}


def _ft_info(cfg: FedConfig, names, data) -> dict:
    from brainssl.data.splits import label_fraction_indices
    from brainssl.federated.sites import site_finetune
    import inspect
    d = inspect.signature(site_finetune).parameters
    return {"steps": cfg.finetune_steps, "fraction": cfg.finetune_fraction, "lr": d["lr"].default,
            "batch_size": d["batch_size"].default,
            "n_labelled": [len(label_fraction_indices(tr.labels, cfg.finetune_fraction, seed=cfg.seed)) for tr, _ in data]}


def eval_saved(a, cfg: FedConfig):
    "Re-evaluate the encoders saved by an earlier run (probe + fine-tune) without pretraining; update the results."
    res = json.loads((a.results / "federated.json").read_text())
    names = site_names(cfg)
    data = [site_datasets(cfg, s) for s in range(len(names))]
    t0 = time.time()
    for f in res["federated"]:
        d = a.save_dir / f["strategy"]
        files = [d / f"site-{s}.safetensors" for s in range(len(names))]
        if not all(p.is_file() for p in files): print(f"{f['strategy']}: no saved encoders in {d}, kept as is"); continue
        for s, p in enumerate(files):
            f["sites"][str(s)] = {**evaluate_site(load_encoder(p), *data[s], cfg), "ci": None}
        print(f"{f['strategy']}: re-evaluated", flush=True)
    b, d = res["baselines"], a.save_dir / "baselines"
    for key, file in (("centralised", "centralised"), ("random init", "random-init")):
        if (d / f"{file}.safetensors").is_file():
            enc = load_encoder(d / f"{file}.safetensors")
            b[key]["sites"] = {str(s): evaluate_site(enc, tr, te, cfg) for s, (tr, te) in enumerate(data)}
    for s, (tr, te) in enumerate(data):
        p = d / f"local-site-{s}.safetensors"
        if p.is_file(): b["local"]["sites"][str(s)] = evaluate_site(load_encoder(p), tr, te, cfg)
    from brainssl.eval.metrics import wilson_ci
    for f in res["federated"]:
        for v in f["sites"].values(): v["ci"] = wilson_ci(v["correct"], v["n"])
    res["comparison"] = comparison(res["federated"], b)
    res["comparison_finetune"] = comparison(res["federated"], b, kind="finetune")
    res["finetune"] = _ft_info(cfg, names, data) | {"evaluated_from_saved": True, "eval_wall_s": round(time.time() - t0, 1)}
    res["reading"] = reading(res["comparison"]) + " " + reading_finetune(res["comparison_finetune"])
    save_json(res, a.results / "federated.json")
    write_text(a.results / "federated.md", markdown(res))
    print(markdown(res))


def main():
    ap = parser(__doc__, "../shared/data/lgg-mri-segmentation", "image-size", "seed")
    ap.add_argument("--strategies", default="fedavg,fedprox,fedbn,fedavg-encoder")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--local-epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--method", default="simclr")
    ap.add_argument("--proximal-mu", type=float, default=0.1)
    ap.add_argument("--client-cpus", type=float, default=0.5, help="Ray CPU share per simulated client")
    ap.add_argument("--total-cpus", type=float, default=1.0, help="CPUs Ray may use")
    ap.add_argument("--finetune-steps", type=int, default=30, help="fine-tuning steps per site and setting (0 = probe only)")
    ap.add_argument("--finetune-fraction", type=float, default=0.5, help="labelled share of each site's training slices")
    ap.add_argument("--save-dir", type=Path, default=Path("bench/work/federated"), help="where the final encoders go")
    ap.add_argument("--rewrite", action="store_true", help="only re-render the .md from the existing .json")
    ap.add_argument("--eval-saved", action="store_true", help="re-evaluate the encoders in --save-dir, no pretraining")
    ap.add_argument("--keep-previous", action="store_true",
                    help="keep the existing .json's results of strategies not in --strategies")
    a = ap.parse_args()
    if a.rewrite: return rewrite(a.results)
    if not a.data.is_dir(): sys.exit(f"LGG data not found at {a.data}")
    cfg = FedConfig(method=a.method, data="lgg", data_root=str(a.data.absolute()), rounds=a.rounds,
                    local_epochs=a.local_epochs, image_size=a.image_size, batch_size=a.batch_size,
                    proximal_mu=a.proximal_mu, seed=a.seed, finetune_steps=a.finetune_steps,
                    finetune_fraction=a.finetune_fraction)
    a.save_dir = a.save_dir.absolute()
    if a.eval_saved: return eval_saved(a, cfg)
    names = site_names(cfg)
    data = {}
    for s, n in enumerate(names):
        tr, te = site_datasets(cfg, s)
        data[n] = {"train": len(tr), "test": len(te), "train_patients": len(set(tr.parent.patients[tr.parent_indices])),
                   "test_patients": len(set(te.parent.patients[te.parent_indices])),
                   "train_tumour": float(tr.labels.mean()), "test_tumour": float(te.labels.mean())}
    print(data, flush=True)
    strategies = a.strategies.split(",")
    previous = {}
    if a.keep_previous:
        old = json.loads((a.results / "federated.json").read_text())
        previous = {f["strategy"]: f | {"from_previous_run": True, "previous_command": old["command"]}
                    for f in old["federated"] if f["strategy"] not in strategies}
    feds = []
    for strat in strategies:
        t0 = time.time()
        r = run_federated(cfg.replace(strategy=strat, save_dir=str(a.save_dir / strat)),
                          client_cpus=a.client_cpus, total_cpus=a.total_cpus)
        r.pop("arrays", None)
        r["config"] = _rel(r["config"], str(a.data))
        feds.append(r)
        print(f"{strat}: accuracy {r['accuracy']:.3f}, fine-tuned {r.get('finetune_accuracy')} in {time.time() - t0:.0f} s",
              flush=True)
    order = [s for s in ("fedavg", "fedprox", "fedbn", "fedavg-encoder") if s in previous or s in strategies]
    feds = [next(f for f in feds if f["strategy"] == s) if s in strategies else previous[s] for s in order]
    t0 = time.time()
    base = train_baselines(cfg.replace(save_dir=str(a.save_dir / "baselines")))
    base_wall = round(time.time() - t0, 1)
    comp = comparison(feds, base)
    comp_ft = comparison(feds, base, kind="finetune") if cfg.finetune_steps > 0 else {}
    all_strats = ",".join(order)
    res = {"command": command(), "data_arg": str(a.data),
           "config": _rel(cfg.__dict__, str(a.data)) | {"strategy": all_strats}, "sites": names, "data": data,
           "federated": feds, "baselines": base, "baselines_wall_s": base_wall, "comparison": comp,
           "comparison_finetune": comp_ft,
           "finetune": _ft_info(cfg, names, [site_datasets(cfg, s) for s in range(len(names))]) if comp_ft else None,
           "reading": reading(comp) + (" " + reading_finetune(comp_ft) if comp_ft else ""),
           **provenance(extra_packages=("flwr", "ray"))}
    save_json(res, a.results / "federated.json")
    write_text(a.results / "federated.md", markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
