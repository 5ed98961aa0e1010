"Domain shift (issue 17): evaluation on another data set (task mapping, cross-data-set duplicates) and leave-one-site-out with patient-level intervals, on tiny synthetic and LGG-layout data."
import numpy as np
import pytest
import torch
from torch import nn

from brainssl.core import CLASSES, TensorMRIDataset
from brainssl.data.lgg import LGG_MODALITIES, TUMOUR_CLASSES, LGGSlices
from brainssl.data.synthetic import make_synthetic
from brainssl.eval.domain import (FewPatientsWarning, cross_dataset_duplicates, cross_dataset_eval, dataset_patients, leave_one_site_out,
                                  patient_level_metrics, pretraining_sources, target_split, task_mapping, weighted_measures)
from brainssl.eval.metrics import classification_metrics
from brainssl.testing import make_lgg_fixture


class TinyEncoder(nn.Module):
    "(B, C, H, W) -> (B, 16), seeded; a stand-in for a pretrained encoder."
    def __init__(self, in_channels=1, dim=16):
        super().__init__()
        torch.manual_seed(0)
        self.dim = dim
        self.net = nn.Sequential(nn.Conv2d(in_channels, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, dim, 3, 2, 1),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten())
    def forward(self, x): return self.net(x)


@pytest.fixture(scope="module")
def lgg(tmp_path_factory):
    "8 patients x 5 slices at 24 px, 2 patients per institution (CS, DU, FG, HT); the slices are `make_synthetic(40, 24, LGG_MODALITIES, seed=0)`."
    root = make_lgg_fixture(tmp_path_factory.mktemp("lgg"), n_patients=8, n_slices=5, image_size=24)
    return LGGSlices(root, image_size=24, progress=False)


def test_task_mapping_tumour_and_refusals():
    m = task_mapping(CLASSES, TUMOUR_CLASSES, "tumour")
    assert m == {"glioma": "tumour", "meningioma": "tumour", "notumor": "no_tumour", "pituitary": "tumour"}
    with pytest.raises(ValueError, match="does not map the source class"): task_mapping(CLASSES, TUMOUR_CLASSES, {"glioma": "tumour"})
    with pytest.raises(ValueError, match="no source class maps onto"): task_mapping(CLASSES, TUMOUR_CLASSES, {c: "tumour" for c in CLASSES})
    with pytest.raises(ValueError, match="lack"): task_mapping(CLASSES, ("benign", "malignant"))


def test_cross_dataset_eval_removes_source_images_from_the_target(lgg):
    "Target = the LGG fixture; the source shares the slices of patients 4-7 (target indices 20-39) pixel for pixel."
    src = make_synthetic(60, 24, modalities=LGG_MODALITIES, seed=0).subset(range(20, 60))
    dup_slices = np.flatnonzero(np.isin(lgg.patients, [f"TCGA_{i}_{1000 + p}" for p, i in zip(range(4, 8), "CS DU FG HT".split())]))
    assert len(dup_slices) == 20
    dup = cross_dataset_duplicates(src, lgg)
    assert dup["removed"] == dup_slices.tolist()
    assert dup["n_removed_by_kind"]["exact"] == 20
    with pytest.warns(FewPatientsWarning, match="only 4 patient"):  # the de-duplicated target keeps 4 patients
        res = cross_dataset_eval(TinyEncoder(3), src, lgg, label_fraction=0.5, seeds=(0, 1), n_boot=100, device="cpu")
    assert res["task_mapping"] == task_mapping(CLASSES, TUMOUR_CLASSES)
    assert (res["n_target_raw"], res["n_target_dedup"], res["n_removed"]) == (40, 20, 20)
    assert res["ci_unit"] == "patient"  # LGG slices have patient ids: the intervals resample the 8 (4 after de-duplication) patients
    for seed, r in res["per_seed"].items():
        assert r["raw"]["n"] == 40 and r["dedup"]["n"] == 20
        assert (r["raw"]["n_patients"], r["dedup"]["n_patients"]) == (8, 4)
        assert r["raw"]["classes"] == list(TUMOUR_CLASSES)
        assert r["n_labelled"] == 20 and max(r["fit_indices"]) < len(src)  # half of each of 4 classes x 10
        tum = r["positive"]["dedup"]["sensitivity"]
        assert tum["value"] == r["dedup"]["sensitivity"]["per_class"]["tumour"]["value"]
    assert set(res["raw"]) == {"accuracy", "sensitivity", "specificity", "auc"}
    assert len(res["dedup"]["accuracy"]["values"]) == 2
    no_audit = cross_dataset_eval(TinyEncoder(3), src, lgg, label_fraction=0.5, seeds=(0,), n_boot=0, dedup_kinds=None, device="cpu")
    assert no_audit["n_removed"] == 0 and no_audit["duplicates"] is None


def test_cross_dataset_eval_refusals(lgg):
    one_channel = make_synthetic(8, 24, seed=0)
    with pytest.raises(ValueError, match="source_train has 1 channels"): cross_dataset_eval(TinyEncoder(1), one_channel, lgg, n_boot=0)
    x = torch.zeros(4, 3, 24, 24, dtype=torch.uint8)
    unlabelled = TensorMRIDataset(x, [0, 1, -1, 1], classes=TUMOUR_CLASSES)
    src = make_synthetic(8, 24, modalities=LGG_MODALITIES, seed=0)
    with pytest.raises(ValueError, match="target_test has 1 unlabelled"): cross_dataset_eval(TinyEncoder(3), src, unlabelled, n_boot=0)
    with pytest.raises(ValueError, match="removes every test case"):
        cross_dataset_eval(TinyEncoder(3), src, src.subset(range(4)), task="same", n_boot=0, device="cpu")


def test_leave_one_site_out_never_fits_on_the_held_out_site(lgg):
    with pytest.warns(FewPatientsWarning) as caught:  # 2 patients per institution: every held-out site's interval is flagged
        res = leave_one_site_out(TinyEncoder(3), lgg, label_fraction=1.0, seeds=(0,), n_boot=100, device="cpu")
    assert sorted(str(w.message).split(" of dataset")[0].rsplit(" ", 1)[1] for w in caught if w.category is FewPatientsWarning) == ["CS", "DU", "FG", "HT"]
    assert all(e["few_patients"] for e in res["per_site"].values())
    assert list(res["per_site"]) == ["CS", "DU", "FG", "HT"]
    assert res["ci_unit"] == "patient" and res["n_patients"] == 8
    for name, e in res["per_site"].items():
        held = np.asarray(e["test_indices"])
        assert held.tolist() == np.flatnonzero(lgg.site_names == name).tolist()  # the whole site is scored
        assert e["n_test_patients"] == 2 and name not in e["fit_sites"]
        for r in e["seeds"].values():
            fit = np.asarray(r["fit_indices"])
            assert len(fit) == 30  # every slice of the 6 other patients (label_fraction=1)
            assert not set(fit) & set(held)  # no slice of the held-out site
            assert not set(lgg.patients[fit]) & set(lgg.patients[held])  # no patient of the held-out site
            assert (lgg.site_names[fit] != name).all()
            assert r["held_out"]["n_patients"] == 2 and r["held_out"]["n"] == 5 * 2
    sp = res["spread"]["accuracy"]
    vals = [e["summary"]["accuracy"]["mean"] for e in res["per_site"].values()]
    assert sp["min"] == min(vals) and sp["max"] == max(vals) and sp["std"] == pytest.approx(np.std(vals, ddof=1))


def test_leave_one_site_out_refuses_a_patient_in_two_sites():
    ds = make_synthetic(16, 16, n_sites=2, seed=0)
    ds.patients = np.array(["p0"] * 2 + [f"p{i}" for i in range(2, 16)])
    ds.sites[:2] = [0, 1]
    with pytest.raises(ValueError, match=r"patient\(s\) \['p0'\] have slices in more than one site"):
        leave_one_site_out(TinyEncoder(1), ds, n_boot=0)
    with pytest.raises(ValueError, match="has no `.sites`"):
        leave_one_site_out(TinyEncoder(1), TensorMRIDataset(torch.zeros(4, 1, 16, 16, dtype=torch.uint8), [0, 1, 0, 1]))


def test_patient_bootstrap_is_wider_than_the_slice_bootstrap_for_clustered_slices():
    "10 patients x 20 slices, a patient's slices all right or all wrong: 10 independent cases, not 200."
    y = np.arange(200) % 2
    pid = np.repeat(np.arange(10), 20)
    right = pid < 7
    p1 = np.where((y == 1) == right, 0.8, 0.2)
    proba = np.c_[1 - p1, p1]
    by_slice = classification_metrics(y, proba, TUMOUR_CLASSES, n_boot=500)
    by_patient = patient_level_metrics(y, proba, TUMOUR_CLASSES, pid, n_boot=500)
    assert by_patient["few_patients"] is False
    with pytest.warns(FewPatientsWarning, match="only 4 patient"):
        assert patient_level_metrics(y, proba, TUMOUR_CLASSES, pid % 4, n_boot=50)["few_patients"] is True
    width = lambda r, m="accuracy": r[m]["ci"][1] - r[m]["ci"][0]
    assert by_patient["accuracy"]["value"] == by_slice["accuracy"]["value"] == 0.7
    assert width(by_patient) > 2.5 * width(by_slice)
    assert width(by_patient, "auc") > 2 * width(by_slice, "auc")
    singletons = patient_level_metrics(y, proba, TUMOUR_CLASSES, np.arange(200), n_boot=500)
    assert abs(width(singletons) - width(by_slice)) < 0.03


def test_weighted_measures_match_classification_metrics_at_unit_weights():
    rng = np.random.default_rng(1)
    y = np.arange(60) % 4
    proba = np.round(rng.dirichlet(np.ones(4), 60), 1)  # rounding makes tied scores, which the AUC counts as 1/2
    proba[np.arange(60), y] += 0.2 * (rng.random(60) < 0.5)
    ref = classification_metrics(y, proba, CLASSES, n_boot=0)
    got = weighted_measures(y, proba, np.ones((1, 60)))
    assert got["accuracy"][0] == pytest.approx(ref["accuracy"]["value"])
    for m in ("sensitivity", "specificity", "auc"):
        assert got[m][0] == pytest.approx([ref[m]["per_class"][c]["value"] for c in CLASSES])
    twice = weighted_measures(np.r_[y, y[:10]], np.r_[proba, proba[:10]], np.ones((1, 70)))
    w = np.ones((1, 60)); w[0, :10] = 2  # a weight of 2 is the case counted twice
    assert weighted_measures(y, proba, w)["auc"][0] == pytest.approx(twice["auc"][0])


def test_leave_one_site_out_on_a_subset_reads_patients_and_institutions_from_the_parent(lgg):
    idx = np.arange(0, 40, 2)
    res = leave_one_site_out(TinyEncoder(3), lgg.subset(idx), seeds=(0,), n_boot=0, device="cpu")
    assert list(res["per_site"]) == ["CS", "DU", "FG", "HT"] and res["n_patients"] == 8
    for name, e in res["per_site"].items():
        assert (lgg.site_names[idx[e["test_indices"]]] == name).all()
        assert not set(lgg.patients[idx[e["seeds"]["0"]["fit_indices"]]]) & set(lgg.patients[idx[e["test_indices"]]])
        assert e["seeds"]["0"]["held_out"]["accuracy"]["ci"] == [None, None]  # n_boot=0: no intervals


def test_domain_adaptive_sources_never_hold_a_held_out_target_patient(tmp_path):
    "For every split seed, the joined pretraining set holds every training patient's slices and none of a held-out patient's; a leaked set is refused."
    lgg = LGGSlices(make_lgg_fixture(tmp_path, n_patients=6, n_slices=2, image_size=16), image_size=16, modalities=("flair",), progress=False)
    src = make_synthetic(8, 16, seed=0)
    for seed in range(4):
        sp = target_split(lgg, 1 / 3, seed=seed)
        joined, rec = pretraining_sources(src, {"lgg": lgg.subset(sp["train"])}, {"lgg": sp["held_out_patients"]})
        seen = dataset_patients(joined.parts[1].parent)  # the target part, as joined
        assert len(sp["held_out_patients"]) == 2 and not set(seen) & set(sp["held_out_patients"])
        assert len(joined) == len(src) + len(lgg) - 4 and (joined.labels == -1).all()
        assert set(seen) | set(sp["held_out_patients"]) == set(lgg.patients)
    leaked = lgg.subset(np.r_[sp["train"], sp["test"][:1]])  # one slice of a held-out patient
    with pytest.raises(ValueError, match="held-out test patient"):
        pretraining_sources(src, {"lgg": leaked}, {"lgg": sp["held_out_patients"]})
    with pytest.raises(ValueError, match="held-out test patient"):  # the source itself may not hold one either (LGG as source and target)
        pretraining_sources(lgg, {"lgg": lgg.subset(sp["train"])}, {"lgg": sp["held_out_patients"]})
