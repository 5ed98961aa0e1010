"Multi-modal readers: real LGG slices and the BraTS sample case (skipped if ../shared/data is absent), plus fixture error tests."
import numpy as np
import pytest
import torch

from conftest import SHARED
from brainssl.core import MODALITIES
from brainssl.data.brats import BraTSSlices, NonFiniteVoxelWarning, read_brats_case
from brainssl.data.lgg import LGG_MODALITIES, LGGSlices
from brainssl.data.splits import patient_overlap, patient_split
from brainssl.data.synthetic import make_synthetic
from brainssl.testing import make_brats_fixture, make_lgg_fixture

LGG = SHARED / "lgg-mri-segmentation" / "kaggle_3m"
BRATS = SHARED / "brats2021-sample" / "BraTS2021_00006"
needs_lgg = pytest.mark.skipif(not LGG.is_dir(), reason=f"LGG data not found at {LGG}")
needs_brats = pytest.mark.skipif(not BRATS.is_dir(), reason=f"BraTS sample not found at {BRATS}")


@pytest.fixture(scope="module")
def lgg():
    return LGGSlices(LGG, image_size=32, progress=False)


@needs_lgg
def test_lgg_counts_sites_and_flair_copy(lgg):
    r = lgg.report
    assert (r["n_slices"], r["n_patients"], r["n_tumour_slices"]) == (1030, 32, 355)
    assert {s: v["slices"] for s, v in r["per_site"].items()} == {"CS": 169, "DU": 319, "FG": 322, "HT": 220}
    assert all(v["patients"] == 8 for v in r["per_site"].values())
    assert lgg.flair_copies == {"TCGA_FG_7634": ("t1ce",)}
    assert lgg.modality_present.sum(0).tolist() == [1030, 1030, 1030 - 27]
    assert lgg.images[lgg.patients == "TCGA_FG_7634"][:, 2].max() == 0  # the copy is zeroed, not trusted
    assert set(lgg.grades.tolist()) == {1, 2}
    d = lgg[0]
    assert d["image"].shape == (3, 32, 32) and d["mask"].shape == (1, 32, 32) and 0 <= d["image"].min() <= d["image"].max() <= 1
    # slice numbers run 1..n within each patient, in order
    for p in np.unique(lgg.patients):
        s = lgg.slice_index[lgg.patients == p]
        assert s.tolist() == list(range(1, len(s) + 1))


@needs_lgg
def test_lgg_patient_split_never_shares_a_patient(lgg):
    for seed in range(3):
        for strat in (None, lgg.site_names, lgg.grades):
            sp = patient_split(lgg, seed=seed, stratify=strat)
            assert patient_overlap(sp, lgg) == {}
            assert sorted(np.concatenate(list(sp.values())).tolist()) == list(range(len(lgg)))
    sp = patient_split(lgg, seed=0, stratify=lgg.site_names)
    for v in sp.values():  # every site is in every split
        assert set(lgg.site_names[v]) == {"CS", "DU", "FG", "HT"}


@needs_brats
def test_brats_real_case_values():
    raw = read_brats_case(BRATS, normalize=None)
    assert raw.image.shape == (4, 240, 240, 155) and raw.seg.shape == (240, 240, 155)
    assert set(np.unique(raw.seg).tolist()) == {0, 1, 2, 4}
    assert {m: s["max"] for m, s in raw.raw_stats.items()} == {"t1": 2059.0, "t1ce": 15956.0, "t2": 3060.0, "flair": 4050.0}
    assert abs(raw.brain.mean() - 0.1702) < 1e-3
    assert np.allclose(np.diag(raw.affine)[:3], 1)  # RAS after as_closest_canonical
    assert raw.nan_voxels == {m: 0 for m in (*MODALITIES, "seg")} and raw.missing == () and raw.layout == "brats2021"
    z = read_brats_case(BRATS)
    for c in range(4):
        v = z.image[c][raw.image[c] != 0]
        assert abs(v.mean()) < 1e-3 and abs(v.std() - 1) < 1e-3
    assert (z.image[:, ~z.brain] == 0).all()


@needs_brats
def test_brats_real_slices():
    ds = BraTSSlices(BRATS, slices="tumour", image_size=32, progress=False)
    assert len(ds) == 68 and ds.labels.min() == 1 and set(ds.patients) == {"BraTS2021_00006"}
    assert set(ds.seg.unique().tolist()) <= {0, 1, 2, 4}
    assert (ds.report["layout"], ds.report["nonfinite_voxels"], ds.report["n_slices"]) == ("brats2021", {}, 68)
    no = BraTSSlices(BRATS, slices="no_tumour", image_size=32, min_brain=0.05, progress=False)
    assert len(no) > 0 and no.labels.max() == 0 and set(no.slice_index).isdisjoint(ds.slice_index)


def test_synthetic_patient_split_and_refusal():
    syn = make_synthetic(30, image_size=32, modalities=("t1", "flair"))
    sp = patient_split(syn, seed=0)
    assert patient_overlap(sp, syn) == {} and [len(v) for v in sp.values()] == [21, 5, 4]
    from brainssl.core import TensorMRIDataset
    with pytest.raises(ValueError, match="no `.patients`"):
        patient_split(TensorMRIDataset(syn.images, syn.labels))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF")
def test_lgg_fixture_errors_name_the_file(tmp_path):
    root = make_lgg_fixture(tmp_path, n_patients=2, n_slices=3, image_size=16)
    case = sorted(p for p in root.iterdir() if p.is_dir())[1]
    bad = case / f"{case.name}_2.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(ValueError, match=f"{bad.name}: cannot read image"):
        LGGSlices(root, progress=False)
    ds = LGGSlices(root, image_size=16, skip_bad=True, progress=False)
    assert len(ds) == 5 and ds.report["skipped"][0]["path"] == str(bad)
    first = sorted(p for p in root.iterdir() if p.is_dir())[0]  # read before the corrupt slice
    (first / f"{first.name}_3_mask.tif").unlink()
    with pytest.raises(FileNotFoundError, match=f"{first.name}_3_mask.tif is missing"):
        LGGSlices(root, progress=False)


def test_lgg_fixture_flair_copy_and_split(tmp_path):
    root = make_lgg_fixture(tmp_path, n_patients=4, n_slices=3, image_size=16, flair_copy={0: "t1", 3: "t1ce"})
    ds = LGGSlices(root, image_size=16, progress=False)
    assert ds.flair_copies == {"TCGA_CS_1000": ("t1",), "TCGA_HT_1003": ("t1ce",)}
    assert ds.modality_present[:, LGG_MODALITIES.index("flair")].all()
    sp = patient_split(ds, (0.5, 0.5), seed=0)
    assert patient_overlap(sp, ds) == {} and all(len(set(ds.patients[v])) == 2 for v in sp.values())


def test_brats_fixture_missing_and_nan(tmp_path):
    case = make_brats_fixture(tmp_path, modalities=("t1", "t2", "flair"), nan_voxels=3)
    with pytest.raises(FileNotFoundError, match="BraTS2021_99999_t1ce.nii.gz is missing"):
        read_brats_case(case)
    with pytest.warns(NonFiniteVoxelWarning, match="BraTS2021_99999_flair.nii.gz: 3 NaN/inf voxels set to 0"):
        c = read_brats_case(case, allow_missing=True)
    assert c.missing == ("t1ce",) and c.nan_voxels["flair"] == 3 and np.isfinite(c.image).all()
    assert c.modality_present.tolist() == [True, False, True, True]
    with pytest.warns(NonFiniteVoxelWarning):
        ds = BraTSSlices(case, slices="all", image_size=16, allow_missing=True, progress=False)
    assert ds.modality_present[:, 1].sum() == 0 and ds.images[:, 1].max() == 0
    assert ds.report["nonfinite_voxels"] == {"BraTS2021_99999": {"flair": 3}} and ds.report["missing"] == {"BraTS2021_99999": ["t1ce"]}
