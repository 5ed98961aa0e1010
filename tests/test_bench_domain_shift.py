"""bench/domain_shift.py: the report and its verdicts (SSL vs supervised, judged by CI overlap) on a tiny fake table, no training."""
import importlib.util, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ds():
    sys.path.insert(0, str(ROOT / "bench"))  # bench scripts import their shared `_common`
    try:
        spec = importlib.util.spec_from_file_location("bench_domain_shift", ROOT / "bench" / "domain_shift.py")
        mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    finally: sys.path.remove(str(ROOT / "bench"))
    return mod


def q(v, lo, hi): return {"value": v, "ci": [lo, hi]}


def cell(auc, acc=(0.7, 0.6, 0.8), key="dedup"):
    f = {"auc": q(*auc), "accuracy": q(*acc), "n": 100, "n_patients": 16, "ci_unit": "patient"}
    return {"raw": f, "dedup": f} if key == "dedup" else {"pooled": f, "per_site": {s: {**f, "n_patients": 8} for s in ("CS", "DU", "FG", "HT")}}


def fake_table():
    "LGG FLAIR: at 10% SSL's CI lies above supervised's, SSL + target overlaps it; at 100% SSL lies below, SSL + target overlaps."
    lgg = {"supervised": {"0.1": cell((0.65, 0.60, 0.70)), "1.0": cell((0.80, 0.76, 0.84))},
           "ssl": {"0.1": cell((0.85, 0.80, 0.90)), "1.0": cell((0.66, 0.60, 0.72))},
           "ssl_target": {"0.1": cell((0.70, 0.69, 0.75)), "1.0": cell((0.79, 0.70, 0.90))},
           "random_init": {"0.1": cell((0.5, 0.4, 0.6)), "1.0": cell((0.5, 0.4, 0.6))}}
    loso = {e: {f: cell((0.7, 0.6, 0.8), key="pooled") for f in ("0.1", "1.0")} for e in ("supervised", "ssl", "ssl_target")}
    brats = {e: {f: cell((0.7, 0.5, 0.9)) for f in ("0.1", "1.0")} for e in ("supervised", "ssl")}  # no SSL + target row
    return {"lgg_flair": lgg, "lgg_t1ce": {}, "brats_flair": brats, "brats_t1ce": {}, "loso": loso}


def test_compare_is_judged_by_ci_overlap(ds):
    assert ds.compare(q(0.8, 0.71, 0.9), q(0.6, 0.5, 0.7)) == "beats"
    assert ds.compare(q(0.6, 0.5, 0.7), q(0.8, 0.71, 0.9)) == "is worse than"
    assert ds.compare(q(0.8, 0.70, 0.9), q(0.6, 0.5, 0.70)) == "not resolved"  # touching intervals overlap
    assert ds.compare(q(0.9, 0.85, 0.95), q(0.5, None, None)) == "n/a"  # no interval: no verdict
    assert ds.compare(None, q(0.6, 0.5, 0.7)) == "n/a"


def test_verdict_sentence_per_shift(ds):
    s, counts = ds.verdict("lgg_flair", fake_table()["lgg_flair"])
    assert s.startswith("**Kaggle → LGG FLAIR** (AUC of the tumour class): at 10% labels SSL beats supervised (0.850 [0.800, 0.900] vs 0.650 [0.600, 0.700])")
    assert "SSL with target-domain pretraining vs supervised not resolved (0.700 [0.690, 0.750] vs 0.650 [0.600, 0.700], CIs overlap)" in s
    assert "at 100% labels SSL is worse than supervised (0.660 [0.600, 0.720] vs 0.800 [0.760, 0.840])" in s
    assert counts == {"beats": 1, "is worse than": 1, "not resolved": 2, "n/a": 0}
    s, counts = ds.verdict("brats_flair", fake_table()["brats_flair"], note="One patient.")
    assert "SSL with target-domain pretraining: not run" in s and s.endswith("One patient.")
    assert counts == {"beats": 0, "is worse than": 0, "not resolved": 2, "n/a": 2}
    s, counts = ds.verdict("loso", fake_table()["loso"])  # judged on the pooled held-out sites
    assert s.startswith("**LGG leave-one-institution-out") and counts["not resolved"] == 4


def meta():
    P = {"lgg_test_patients": [f"p{i}" for i in range(16)],
         "targets": {t: {"score_indices": list(range(10)), "n_removed": 0, "n_patients": 1 if t.startswith("brats") else 32}
                     for t in ("lgg_flair", "lgg_t1ce", "brats_flair", "brats_t1ce")}}
    args = dict(image_size=64, ssl_method="simclr", ssl_kwargs='{"crop_min": 0.7}', budget_minutes=15.0, loso_budget_minutes=6.0,
                finetune_epochs=5, finetune_steps=150, target_test_fraction=0.5)
    return {"args": {k: str(v) for k, v in args.items()}, "prep": P, "n_source": 5708, "command": "python bench/domain_shift.py",
            "machine": {"cpu": "test cpu", "cpu_cores": 2}, "missing_rows": ["ssl_target_loso_HT"], "quick": False}


def test_report_ends_with_one_verdict_per_shift_and_the_claim(ds):
    lines = ds.report(fake_table(), meta())
    assert lines[0].startswith("# Domain shift")
    assert any("Incomplete run" in l and "ssl_target_loso_HT" in l for l in lines)
    i = lines.index("## Does SSL beat supervised training under domain shift?")
    verdicts = [l for l in lines[i:] if l.startswith("- **")]
    assert len(verdicts) == len(ds.SHIFTS) == 5
    assert [v.split("**")[1] for v in verdicts] == list(ds.SHIFTS.values())
    assert "not run" in verdicts[1]  # LGG T1-CE has no rows in this table: nothing is claimed for it
    # judged: lgg_flair 4 (1 beats, 1 worse, 2 unresolved), brats_flair 2 unresolved, loso 4 unresolved
    assert lines[-1] == ("Over the 10 judged comparisons SSL beats supervised in 1, is worse in 1 and is not resolved in 8: "
                         "the review's claim that SSL generalises better is not supported here.")
    assert "| SSL | 0.850 [0.800, 0.900] | 0.700 [0.600, 0.800] | 0.660 [0.600, 0.720] | 0.700 [0.600, 0.800] |" in lines
    assert any(l.startswith("| SSL | 0.700 [0.600, 0.800] (8) |") for l in lines)  # per-site AUC with patients per site


def test_report_says_the_claim_holds_only_when_ssl_wins_without_losses(ds):
    t = fake_table()
    for f in ("0.1", "1.0"):  # SSL and SSL + target clear of supervised everywhere on LGG FLAIR
        t["lgg_flair"]["ssl"][f] = t["lgg_flair"]["ssl_target"][f] = cell((0.95, 0.91, 0.99))
        t["lgg_flair"]["supervised"][f] = cell((0.6, 0.5, 0.7))
    assert ds.report(t, meta())[-1].endswith("beats supervised in 4, is worse in 0 and is not resolved in 6: the review's claim that SSL generalises better is not supported here.")
    t["loso"] = {}; t["brats_flair"] = {}
    assert ds.report(t, meta())[-1] == ("Over the 4 judged comparisons SSL beats supervised in 4, is worse in 0 and is not "
                                        "resolved in 0: the review's claim that SSL generalises better holds here.")
