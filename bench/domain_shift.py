"""Domain shift on real MRI: does SSL generalise to another data set and to an unseen hospital better than supervised
training? (issue 17, item 4)

Source: the Kaggle 4-class set (Training). Shifts, each scored as tumour present vs no tumour (any tumour class of the
source counts as "tumour", `notumor` as "no_tumour"; the masks give the truth):
- Kaggle -> LGG slices, FLAIR and T1-CE channels (one grey channel each); scored on the LGG test patients of a
  patient-level split (`--target-test-fraction`), the same patients for every encoder;
- Kaggle -> the BraTS sample's axial slices, FLAIR and T1-CE (one case: intervals over slices, not patients);
- LGG leave-one-institution-out (CS, DU, FG, HT): fitted on the other three institutions' LGG FLAIR slices, scored on
  the held-out one; per site and pooled over the four held-out sites.
Encoders: random init (linear probe), supervised from scratch (ResNet-18 trained end to end on the labelled slices), SSL
(`--ssl-method`, default SimCLR with crop_min 0.7, pretrained on Kaggle Training without labels; linear probe) and SSL
pretrained with the target domain's unlabelled training slices added (`brainssl.eval.domain.pretraining_sources`; the
held-out test patients are checked not to be in pretraining). Labels: 10% and 100% of the source's (or the fitting
sites') labels. AUC and accuracy of the tumour class, with 95% bootstrap CIs over patients (LGG) or slices (BraTS).

Run from the repository root (about 90 CPU-minutes: 44 of pretraining, ~30 of supervised training, the rest probes and
embedding; about 45 wall-minutes on 2 cores with two rows at a time; `--quick`: a few CPU-minutes):

    .venv/bin/python bench/domain_shift.py

Every row runs in its own process; a finished row keeps `bench/work/domain_shift/<row>/result.json` (git-ignored) and
is not re-run, and pretraining resumes from its checkpoint. Results: bench/results/domain_shift.{md,json}.
`--report-only` rewrites them from the finished rows.
"""
from __future__ import annotations
import argparse, json, subprocess, sys, time
from pathlib import Path

import numpy as np

from _common import command, parser, provenance, set_threads, write_text

SHARED = Path("../shared/data")
SITES = ("CS", "DU", "FG", "HT")
FRACTIONS = ("0.1", "1.0")
ENCODERS = {"random_init": "random init", "supervised": "supervised from scratch", "ssl": "SSL",
            "ssl_target": "SSL + target-domain pretraining"}
SHIFTS = {"lgg_flair": "Kaggle → LGG FLAIR", "lgg_t1ce": "Kaggle → LGG T1-CE", "brats_flair": "Kaggle → BraTS FLAIR",
          "brats_t1ce": "Kaggle → BraTS T1-CE", "loso": "LGG leave-one-institution-out (pooled over CS, DU, FG, HT)"}


# ---------------------------------------------------------------- data
def load_source(a):
    "Kaggle Training, one grey channel; with --quick a stratified subset of `a.quick_source` images."
    from brainssl.cli import load_splits
    from brainssl.data.splits import label_fraction_indices
    tr = load_splits(a.data, image_size=a.image_size, cache_dir=a.work / "cache", progress=False)["Training"]
    if a.quick: tr = tr.subset(label_fraction_indices(np.asarray(tr.labels), a.quick_source / len(tr), seed=a.seed))
    return tr


def load_targets(a) -> dict:
    """name -> data set of one channel. LGG slices whose channel is a copy of FLAIR (a missing sequence, `modality_present`
    False) are left out of the T1-CE set rather than scored as blank images."""
    from brainssl.data.brats import BraTSSlices
    from brainssl.data.lgg import LGGSlices
    out = {}
    for ch in ("flair", "t1ce"):
        ds = LGGSlices(a.lgg, image_size=a.image_size, modalities=(ch,), progress=False)
        present = np.flatnonzero(ds.modality_present[:, 0])
        out[f"lgg_{ch}"] = ds if len(present) == len(ds) else ds.subset(present)
    for ch in ("flair", "t1ce"):
        out[f"brats_{ch}"] = BraTSSlices([a.brats], slices="all", image_size=a.image_size, modalities=(ch,), min_brain=0.05, progress=False)
    return out


def patients_of(ds) -> np.ndarray:
    from brainssl.eval.domain import dataset_patients
    return dataset_patients(ds)


def prep(a, src, targets) -> dict:
    "The LGG patient split (test patients are scored, the others may be pretrained on) and the cross-data-set duplicates."
    from brainssl.eval.domain import cross_dataset_duplicates, target_split
    sp = target_split(targets["lgg_flair"], a.target_test_fraction, a.seed)
    test_patients = sp["held_out_patients"]
    out = {"lgg_test_patients": test_patients, "targets": {}}
    for name, ds in targets.items():
        pid = patients_of(ds)
        score = np.flatnonzero(np.isin(pid, test_patients)) if name.startswith("lgg") else np.arange(len(ds))
        dup = cross_dataset_duplicates(src, ds.subset(score))
        out["targets"][name] = {"score_indices": score.tolist(), "keep": dup["keep"].tolist(), "n_removed": dup["n_removed"],
                                "n_removed_by_kind": dup["n_removed_by_kind"], "n": len(ds), "n_patients": int(len(np.unique(pid))),
                                "n_scored_patients": int(len(np.unique(pid[score])))}
    return out


# ---------------------------------------------------------------- rows (each in its own process)
def rows_of(a) -> list[str]:
    return ["random_init", "supervised", "supervised_loso", "ssl", "ssl_target_lgg", *[f"ssl_target_loso_{s}" for s in SITES]]


def pretrain_encoder(data, out_dir, minutes, a):
    from brainssl.methods.base import pretrain
    kw = dict(json.loads(a.ssl_kwargs))
    model = pretrain(a.ssl_method, data, out_dir, epochs=10_000, batch_size=a.batch_size, seed=a.seed, device="cpu",
                     progress=False, max_minutes=minutes, budget_clock="cpu", ckpt_every_minutes=2.0, image_size=a.image_size, **kw)
    log = json.loads((Path(out_dir) / "pretrain.json").read_text())
    return model.encoder.eval(), {"epochs_done": log["epochs_done"], "budget": log["budget"],
                                  "train_loss_last_epoch": log["train_loss_last_epoch"], "n_images": len(data)}


def probe_cross(enc, src, targets, P, a) -> dict:
    "Linear probe on the source's labelled subset (one fit per fraction), tumour probability on each target's scored slices: {target: {frac: {'p'}}}."
    from brainssl.encoder import embed
    from brainssl.eval.domain import map_proba, task_mapping
    from brainssl.eval.probes import linear_probe
    from brainssl.data.splits import label_fraction_indices
    y = np.asarray(src.labels)
    Xs = embed(enc, src, device="cpu", progress=False)
    subs = {k: ds.subset(P["targets"][k]["score_indices"]) for k, ds in targets.items()}
    Xt = {k: embed(enc, v, device="cpu", progress=False) for k, v in subs.items()}
    out = {}
    for f in FRACTIONS:
        idx = label_fraction_indices(y, float(f), seed=a.seed)
        proba, _ = linear_probe(Xs[idx], y[idx], np.concatenate(list(Xt.values())), seed=a.seed, n_classes=len(src.classes))
        start = 0
        for k, v in subs.items():
            p = map_proba(proba[start:start + len(v)], src.classes, v.classes, task_mapping(src.classes, v.classes, "tumour"))
            out.setdefault(k, {})[f] = {"p": p[:, 1].round(6).tolist()}; start += len(v)
    return out


def loso_folds(ds, site: str | None = None):
    "(site name, fit-pool indices, held-out indices) per LGG institution; asserts no held-out patient is in the pool."
    from brainssl.eval.domain import check_sites_patients, site_names
    sites, pid = check_sites_patients(ds)
    names = site_names(ds)
    for s in np.unique(sites):
        if site is not None and names[s] != site: continue
        held, pool = np.flatnonzero(sites == s), np.flatnonzero(sites != s)
        assert not set(pid[held]) & set(pid[pool]), f"site {names[s]}: a held-out patient is in the fitting pool"
        yield names[s], pool, held


def probe_loso(enc, ds, a, site=None) -> dict:
    "{frac: {site: {'p'}}}: a linear probe on the other sites' labelled slices, scored on the held-out site."
    from brainssl.encoder import embed
    from brainssl.eval.probes import linear_probe
    from brainssl.data.splits import label_fraction_indices
    X, y, out = embed(enc, ds, device="cpu", progress=False), np.asarray(ds.labels), {}
    for name, pool, held in loso_folds(ds, site):
        for f in FRACTIONS:
            idx = pool[label_fraction_indices(y[pool], float(f), seed=a.seed)]
            proba, _ = linear_probe(X[idx], y[idx], X[held], seed=a.seed, n_classes=2)
            out.setdefault(f, {})[name] = {"p": proba[:, 1].round(6).tolist()}
    return out


def supervised_fit(train, test, a) -> np.ndarray:
    from brainssl.eval.protocol import supervised_baseline
    return supervised_baseline(train, test, small_images=False, seed=a.seed, epochs=a.finetune_epochs, min_steps=a.finetune_steps,
                               device="cpu", progress=False)


def worker(name: str, a) -> dict:
    from brainssl.core import concat_datasets
    from brainssl.data.splits import label_fraction_indices
    from brainssl.encoder import Encoder
    from brainssl.eval.domain import UnlabelledView, map_proba, pretraining_sources, task_mapping
    set_threads(a.threads)
    src, targets = load_source(a), load_targets(a)
    P = json.loads((a.work / "prep.json").read_text())
    lgg, t0, out = targets["lgg_flair"], time.time(), {"name": name}
    if name == "random_init":
        enc = Encoder(in_channels=1, seed=a.seed).eval()
        out.update(encoder="random_init", cross=probe_cross(enc, src, targets, P, a), loso=probe_loso(enc, lgg, a))
    elif name == "ssl":
        enc, out["pretrain"] = pretrain_encoder(src, a.work / name / "pretrain", a.budget_minutes, a)
        out.update(encoder="ssl", cross=probe_cross(enc, src, targets, P, a), loso=probe_loso(enc, lgg, a))
    elif name == "ssl_target_lgg":
        test_p = set(P["lgg_test_patients"])
        extra = {k: targets[k].subset(np.flatnonzero(~np.isin(patients_of(targets[k]), sorted(test_p)))) for k in ("lgg_flair", "lgg_t1ce")}
        data, rec = pretraining_sources(src, extra, {k: sorted(test_p) for k in extra})
        seen = set().union(*(set(patients_of(v)) for v in extra.values()))
        assert not seen & test_p, "a held-out LGG test patient is in pretraining"
        enc, out["pretrain"] = pretrain_encoder(data, a.work / name / "pretrain", a.budget_minutes, a)
        out["pretrain"].update(sources=rec, n_test_patients_in_pretraining=len(seen & test_p))
        lgg_targets = {k: v for k, v in targets.items() if k.startswith("lgg")}
        out.update(encoder="ssl_target", cross=probe_cross(enc, src, lgg_targets, P, a))
    elif name.startswith("ssl_target_loso_"):
        site = name.rsplit("_", 1)[1]
        _, pool, held = next(loso_folds(lgg, site))
        data, rec = pretraining_sources(src, {"lgg_fit_sites": lgg.subset(pool)}, {"lgg_fit_sites": sorted(set(patients_of(lgg)[held]))})
        enc, out["pretrain"] = pretrain_encoder(data, a.work / name / "pretrain", a.loso_budget_minutes, a)
        seen = set(patients_of(lgg.subset(pool)))
        assert not seen & set(patients_of(lgg)[held]), f"a patient of the held-out site {site} is in pretraining"
        out["pretrain"].update(sources=rec, n_test_patients_in_pretraining=len(seen & set(patients_of(lgg)[held])))
        out.update(encoder="ssl_target", loso=probe_loso(enc, lgg, a, site))
    elif name == "supervised":
        y, cross = np.asarray(src.labels), {}
        subs = {k: ds.subset(P["targets"][k]["score_indices"]) for k, ds in targets.items()}
        joined = concat_datasets({k: UnlabelledView(v, src.classes, src.modalities) for k, v in subs.items()})
        for f in FRACTIONS:
            proba, start = supervised_fit(src.subset(label_fraction_indices(y, float(f), seed=a.seed)), joined, a), 0
            for k, v in subs.items():
                p = map_proba(proba[start:start + len(v)], src.classes, v.classes, task_mapping(src.classes, v.classes, "tumour"))
                cross.setdefault(k, {})[f] = {"p": p[:, 1].round(6).tolist()}; start += len(v)
        out.update(encoder="supervised", cross=cross)
    elif name == "supervised_loso":
        y, loso = np.asarray(lgg.labels), {}
        for site, pool, held in loso_folds(lgg):
            for f in FRACTIONS:
                idx = pool[label_fraction_indices(y[pool], float(f), seed=a.seed)]
                loso.setdefault(f, {})[site] = {"p": supervised_fit(lgg.subset(idx), lgg.subset(held), a)[:, 1].round(6).tolist()}
        out.update(encoder="supervised", loso=loso)
    else: raise ValueError(f"unknown row {name!r}")
    out["seconds"] = round(time.time() - t0)
    return out


def run_jobs(names: list[str], a) -> None:
    "Run each missing row in a subprocess, `a.jobs` at a time (the pattern of bench/methods.py)."
    todo = [n for n in names if not (a.work / n / "result.json").exists()]
    running: dict[str, subprocess.Popen] = {}
    env = {**set_threads(a.threads), "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, __file__, *sys.argv[1:]]
    while todo or running:
        for n, p in list(running.items()):
            if p.poll() is not None:
                del running[n]
                print(f"[{time.strftime('%H:%M:%S')}] {n}: {'done' if p.returncode == 0 else f'FAILED ({p.returncode}), see {a.work / n}/worker.log'}", flush=True)
        while todo and len(running) < a.jobs:
            n = todo.pop(0)
            (a.work / n).mkdir(parents=True, exist_ok=True)
            running[n] = subprocess.Popen([*argv, "--worker", n], stdout=open(a.work / n / "worker.log", "w"), stderr=subprocess.STDOUT, env=env)
            print(f"[{time.strftime('%H:%M:%S')}] {n}: started", flush=True)
        time.sleep(2)


# ---------------------------------------------------------------- metrics and report
def figures(y, p, pid, n_boot, seed, ci_unit) -> dict:
    "{'accuracy', 'auc': {'value', 'ci'}, 'n', 'n_patients', 'ci_unit'} of the tumour class from tumour probabilities `p`."
    from brainssl.eval.domain import patient_level_metrics, positive_class_figures
    from brainssl.eval.metrics import classification_metrics
    p = np.asarray(p, np.float64); proba = np.stack([1 - p, p], 1)
    classes = ("no_tumour", "tumour")
    m = (patient_level_metrics(y, proba, classes, pid, n_boot, seed=seed) if ci_unit == "patient"
         else classification_metrics(y, proba, classes, n_boot=n_boot, seed=seed))
    f = positive_class_figures(m, "tumour")
    return {"accuracy": f["accuracy"], "auc": f["auc"], "n": int(len(y)), "n_patients": int(len(np.unique(pid))), "ci_unit": ci_unit}


def summarise(rows: dict, targets: dict, P: dict, a) -> dict:
    """table[shift][encoder][frac] = {"raw", "dedup"} (cross-data-set) or {"pooled", "per_site"} (leave-one-site-out)."""
    table = {k: {} for k in SHIFTS}
    for row in rows.values():
        enc = row["encoder"]
        for t, by in row.get("cross", {}).items():
            ds, tp = targets[t], P["targets"][t]
            idx, keep = np.asarray(tp["score_indices"]), np.asarray(tp["keep"], bool)
            y, pid = np.asarray(ds.labels)[idx], patients_of(ds)[idx]
            unit = "patient" if len(np.unique(pid)) > 1 else "slice"
            for f, r in by.items():
                p = np.asarray(r["p"])
                table[t].setdefault(enc, {})[f] = {"raw": figures(y, p, pid, a.n_boot, a.seed, unit),
                                                   "dedup": figures(y[keep], p[keep], pid[keep], a.n_boot, a.seed, unit) if keep.any() else None}
        lgg = targets["lgg_flair"]
        for f, by in row.get("loso", {}).items():
            cell = table["loso"].setdefault(enc, {}).setdefault(f, {"per_site": {}, "_pred": {}})
            for site, r in by.items():
                _, _, held = next(loso_folds(lgg, site))
                y, pid = np.asarray(lgg.labels)[held], patients_of(lgg)[held]
                cell["per_site"][site] = figures(y, r["p"], pid, a.n_boot, a.seed, "patient")
                cell["_pred"][site] = (y, pid, np.asarray(r["p"]))
    for enc, by in table["loso"].items():
        for f, cell in by.items():
            pred = cell.pop("_pred")
            if len(pred) == len(SITES):  # pooled over the four held-out sites, once every fold is there
                y, pid, p = (np.concatenate([v[i] for v in pred.values()]) for i in range(3))
                cell["pooled"] = figures(y, p, pid, a.n_boot, a.seed, "patient")
            cell["per_site"] = dict(sorted(cell["per_site"].items()))
    return table


def headline(cell: dict | None) -> dict | None:
    "The figures a verdict is judged on: de-duplicated target (cross-data-set) or pooled held-out sites (leave-one-site-out)."
    if not cell: return None
    return cell.get("dedup") or cell.get("pooled") or None


def compare(a_: dict | None, b: dict | None) -> str:
    "'beats', 'is worse than', 'not resolved' (95% CIs overlap) or 'n/a': `a_` against `b`, each {'value', 'ci'}."
    if not a_ or not b or a_.get("value") is None or b.get("value") is None: return "n/a"
    (al, ah), (bl, bh) = a_["ci"], b["ci"]
    if None in (al, ah, bl, bh): return "n/a"
    if al > bh: return "beats"
    if ah < bl: return "is worse than"
    return "not resolved"


def fmt(q: dict | None) -> str:
    if not q or q.get("value") is None: return "n/a"
    lo, hi = q["ci"]
    return f"{q['value']:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None else "")


def verdict(shift: str, by_enc: dict, metric: str = "auc", note: str = "") -> tuple[str, dict]:
    "One sentence: under `shift`, does SSL (with/without target-domain pretraining) beat supervised, by CI overlap; and the counts."
    parts, counts = [], {"beats": 0, "is worse than": 0, "not resolved": 0, "n/a": 0}
    for f in FRACTIONS:
        sup = headline(by_enc.get("supervised", {}).get(f))
        sup_q = sup[metric] if sup else None
        bits = []
        for enc, label in (("ssl", "SSL"), ("ssl_target", "SSL with target-domain pretraining")):
            c = headline(by_enc.get(enc, {}).get(f))
            q = c[metric] if c else None
            v = compare(q, sup_q); counts[v] += 1
            if v == "n/a": bits.append(f"{label}: not run")
            elif v == "not resolved": bits.append(f"{label} vs supervised not resolved ({fmt(q)} vs {fmt(sup_q)}, CIs overlap)")
            else: bits.append(f"{label} {v} supervised ({fmt(q)} vs {fmt(sup_q)})")
        parts.append(f"at {float(f):.0%} labels " + "; ".join(bits))
    return f"**{SHIFTS.get(shift, shift)}** ({metric.upper()} of the tumour class): " + "; ".join(parts) + "." + (f" {note}" if note else ""), counts


def cell_table(table: dict, shift: str, key: str) -> list[str]:
    out = ["| encoder | " + " | ".join(f"{m} {float(f):.0%} labels" for f in FRACTIONS for m in ("AUC", "accuracy")) + " |",
           "|---|" + "---|" * (2 * len(FRACTIONS))]
    for enc, label in ENCODERS.items():
        if enc not in table.get(shift, {}): continue
        cells = []
        for f in FRACTIONS:
            c = (table[shift][enc].get(f) or {}).get(key)
            cells += [fmt(c["auc"]) if c else "–", fmt(c["accuracy"]) if c else "–"]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return out


NOTES = {"brats_flair": "The BraTS sample is one patient: its intervals resample slices and are optimistic, and SSL with "
                        "target-domain pretraining is not run (its slices cannot be both pretrained on and held out).",
         "brats_t1ce": "One patient, as above; slice-level intervals."}


def report(table: dict, meta: dict) -> list[str]:
    "The markdown page, from the summarised table and the run's meta data; it ends with one verdict per shift."
    args, P = meta["args"], meta["prep"]
    lines = ["# Domain shift: SSL vs supervised on another data set and an unseen hospital", ""]
    if meta.get("missing_rows"):
        lines += [f"> **Incomplete run.** Rows not finished: {', '.join(meta['missing_rows'])}. Re-running the command below runs only those.", ""]
    if meta.get("quick"): lines += ["> **Smoke run (`--quick`)**: tiny budgets and a source subset; the numbers mean nothing.", ""]
    lines += [f"Source: Kaggle brain-tumour MRI Training ({meta['n_source']} images, 4 classes) at {args['image_size']} px, one grey "
              "channel. Task on every target: tumour present vs no tumour (glioma, meningioma, pituitary → tumour; "
              "notumor → no_tumour); LGG and BraTS masks give the truth.",
              f"SSL: `{args['ssl_method']}` `{args['ssl_kwargs']}`, {args['budget_minutes']} CPU-minutes of pretraining "
              f"({args['loso_budget_minutes']} per leave-one-site-out fold with target slices"
              + (", less than the SSL row's: a handicap for that row" if float(args['loso_budget_minutes']) < float(args['budget_minutes']) else "")
              + "); linear probe. Supervised "
              f"from scratch: the same ResNet-18 trained end to end ({args['finetune_epochs']} epochs, at least "
              f"{args['finetune_steps']} steps). Cells: value [95% bootstrap CI], over patients unless noted.", "",
              f"LGG cross-data-set scoring uses the {len(P['lgg_test_patients'])} held-out test patients of a patient-level "
              f"split (test fraction {args['target_test_fraction']}); SSL + target-domain pretraining saw only the other "
              "patients' slices, without labels (asserted).", "",
              "| target | slices scored | patients | duplicates of source images removed |", "|---|---|---|---|",
              *[f"| {SHIFTS[t]} | {len(v['score_indices'])} | {v.get('n_scored_patients', v['n_patients'])} | {v['n_removed']} |"
                for t, v in P["targets"].items()], ""]
    for t in ("lgg_flair", "lgg_t1ce", "brats_flair", "brats_t1ce"):
        lines += [f"## {SHIFTS[t]}", "", "De-duplicated target:", "", *cell_table(table, t, "dedup"), "", "Raw target:", "",
                  *cell_table(table, t, "raw"), ""] + ([NOTES[t], ""] if t in NOTES else [])
    lines += ["## LGG leave-one-institution-out", "", "Fitted on three institutions' FLAIR slices (10% or 100% of their labels), "
              "scored on the fourth; pooled over the four held-out sites:", "", *cell_table(table, "loso", "pooled"), "",
              "Per held-out site, AUC at 100% labels (patients per site in brackets):", "",
              "| encoder | " + " | ".join(SITES) + " |", "|---|" + "---|" * len(SITES)]
    for enc, label in ENCODERS.items():
        ps = (table.get("loso", {}).get(enc, {}).get("1.0") or {}).get("per_site", {})
        if ps: lines.append(f"| {label} | " + " | ".join(f"{fmt(ps[s]['auc'])} ({ps[s]['n_patients']})" if s in ps else "–" for s in SITES) + " |")
    total = {"beats": 0, "is worse than": 0, "not resolved": 0, "n/a": 0}
    sentences = []
    for t in SHIFTS:
        s, c = verdict(t, table.get(t, {}), note="One patient: slice-level CIs, optimistic." if t.startswith("brats") else "")
        sentences.append(f"- {s}")
        for k in total: total[k] += c[k]
    judged = total["beats"] + total["is worse than"] + total["not resolved"]
    claim = ("holds here" if total["beats"] and not total["is worse than"] and total["beats"] >= total["not resolved"]
             else "is contradicted here" if total["is worse than"] > total["beats"] else "is not supported here")
    lines += ["", "## Reproduce", "", f"```bash\n{meta['command']}\n```", "",
              f"Machine: {meta['machine']['cpu']}, {meta['machine']['cpu_cores']} cores. Every number: `domain_shift.json`.", "",
              "## Does SSL beat supervised training under domain shift?", "",
              "Judged on the AUC of the tumour class: \"beats\" only when the two 95% CIs do not overlap; overlapping "
              "CIs are \"not resolved\".", "", *sentences, "",
              f"Over the {judged} judged comparisons SSL beats supervised in {total['beats']}, is worse in "
              f"{total['is worse than']} and is not resolved in {total['not resolved']}: the review's claim that SSL "
              f"generalises better {claim}."]
    return lines


def main():
    ap = parser(__doc__, SHARED / "brain-tumor-mri", "image-size", "seed", "threads", threads=1)
    ap.add_argument("--lgg", type=Path, default=SHARED / "lgg-mri-segmentation" / "kaggle_3m")
    ap.add_argument("--brats", type=Path, default=SHARED / "brats2021-sample" / "BraTS2021_00006")
    ap.add_argument("--work", type=Path, default=None, help="default bench/work/domain_shift (bench/work/domain_shift_quick with --quick)")
    ap.add_argument("--ssl-method", default="simclr", help="the best SSL method of bench/results/methods.md")
    ap.add_argument("--ssl-kwargs", default='{"crop_min": 0.7, "small_images": false}', help="JSON of the method's settings")
    ap.add_argument("--budget-minutes", type=float, default=12.0, help="CPU minutes of each SSL pretraining")
    ap.add_argument("--loso-budget-minutes", type=float, default=5.0, help="CPU minutes of each per-site target-domain pretraining")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--finetune-epochs", type=int, default=5)
    ap.add_argument("--finetune-steps", type=int, default=150, help="minimum steps of supervised training")
    ap.add_argument("--target-test-fraction", type=float, default=0.5, help="share of LGG patients held out for cross-data-set scoring")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smoke run: 600 source images, 0.3 CPU-minute budgets, 10 training steps")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.quick_source = 600
    if a.work is None: a.work = Path("bench/work/domain_shift_quick" if a.quick else "bench/work/domain_shift")
    if a.quick:
        a.budget_minutes, a.loso_budget_minutes, a.finetune_epochs, a.finetune_steps, a.n_boot = 0.3, 0.15, 1, 10, 200
    from brainssl.core import save_json
    if a.worker:
        save_json(worker(a.worker, a), a.work / a.worker / "result.json"); return
    for p, what in ((a.data, "--data"), (a.lgg, "--lgg"), (a.brats, "--brats")):
        if not Path(p).is_dir(): sys.exit(f"{what} {p} is not a folder (see ../shared/data/README.md)")
    cmd, t0 = command(drop=("--report-only",)), time.time()
    set_threads(a.threads)
    src, targets = load_source(a), load_targets(a)
    if not (a.work / "prep.json").exists(): save_json(prep(a, src, targets), a.work / "prep.json")
    P = json.loads((a.work / "prep.json").read_text())
    names = rows_of(a)
    if not a.report_only: run_jobs(names, a)
    rows = {n: json.loads((a.work / n / "result.json").read_text()) for n in names if (a.work / n / "result.json").exists()}
    table = summarise(rows, targets, P, a)
    meta = {"command": cmd, **provenance(), "args": {k: str(v) for k, v in vars(a).items()}, "quick": a.quick,
            "n_source": len(src), "prep": {**P, "targets": {k: {q: w for q, w in v.items() if q != "keep"} for k, v in P["targets"].items()}},
            "pretrain": {n: r.get("pretrain") for n, r in rows.items() if r.get("pretrain")},
            "missing_rows": [n for n in names if n not in rows], "wall_seconds_this_run": round(time.time() - t0)}
    save_json({"meta": meta, "table": table}, a.results / "domain_shift.json")
    lines = report(table, meta)
    write_text(a.results / "domain_shift.md", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
