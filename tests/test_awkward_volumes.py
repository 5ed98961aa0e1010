"""Awkward-input suite, volumes share (issue 15): NIfTI files, BraTS segmentations and case folders, LGG slices and trees.

Every case is a crafted file (written into pytest's `tmp_path`) or a file nibabel ships in `nibabel/tests/data`, with
the one outcome a careful user expects (see `tests/awkward_cases.py`): "ok" cases assert the values read (intensity
after scaling, orientation, labels, fill), "refused" cases assert the error names the file at fault, "skipped" cases
assert that `skip_bad=True` lists the file in the reader's report.
"""
from __future__ import annotations
import gzip, re, struct, warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, TiffImagePlugin

from awkward_cases import Case, outcome_counts
from brainssl.data.brats import BraTSSlices, NonFiniteVoxelWarning, read_brats_case, read_nifti, require_nibabel
from brainssl.data.lgg import LGGSlices, OrientationWarning, read_lgg_slice
from brainssl.testing import make_brats_fixture, make_lgg_fixture, nifti_gz_bytes, tif_bytes

nib = require_nibabel()
NIB_DATA = Path(nib.__file__).parent / "tests" / "data"
VOL = np.arange(4 * 5 * 3, dtype=np.int16).reshape(4, 5, 3) + 1  # (X, Y, Z), no zero voxel
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
CASES: list[Case] = []
READ: dict = {}  # case name -> reader(path) (kept beside `Case`, which other suites share unchanged)


def add(name, kind, write, expect, read, check=None, match=None, note=""):
    CASES.append(Case(name, kind, write, expect, check, match, note))
    READ[name] = read


# ---------------------------------------------------------------- writers
def nii(a, affine=np.eye(4), name="v.nii.gz", cls=None, edit=None):
    "A writer: `a` as a NIfTI file called `name` (`.nii`, `.nii.gz` or `.hdr` pair), `edit(img)` before saving."
    def write(tmp: Path) -> Path:
        img = (cls or nib.Nifti1Image)(a, affine)
        if edit: edit(img)
        p = tmp / name
        if name.endswith(".nii.gz") and cls is None and edit is None: p.write_bytes(nifti_gz_bytes(a, affine))
        else: nib.save(img, p)
        return p
    return write


def raw(data: bytes, name="v.nii.gz"):
    def write(tmp: Path) -> Path:
        (tmp / name).write_bytes(data); return tmp / name
    return write


def shipped(fname):
    def write(tmp: Path) -> Path:
        p = NIB_DATA / fname
        if not p.is_file(): pytest.skip(f"{p} is not installed with this nibabel")
        return p
    return write


def no_orientation(img): img.set_sform(None, code=0); img.set_qform(None, code=0)
def qform_only_lps(img): img.set_qform(LPS, code=1); img.set_sform(None, code=0)
def scaled(slope, inter): return lambda img: img.header.set_slope_inter(slope, inter)


def brats_case(tmp: Path, case="BraTS2021_00001", **kw) -> Path:
    return make_brats_fixture(tmp, case=case, shape=(16, 16, 4), **kw)


def with_seg(values, dtype=np.float32, layout_note=""):
    "A writer: a BraTS case whose segmentation holds its labels plus `values` in the first voxels."
    def write(tmp: Path) -> Path:
        d = brats_case(tmp)
        sp = d / f"{d.name}_seg.nii.gz"
        lab = np.asarray(nib.load(str(sp)).dataobj).astype(np.float64)
        for i, v in enumerate(values): lab.flat[i] = v  # (the array is Fortran-ordered: reshape would copy)
        sp.write_bytes(nifti_gz_bytes(lab.astype(dtype), LPS_FIX))
        return d
    return write


def relabel(old, new):
    def write(tmp: Path) -> Path:
        d = brats_case(tmp)
        sp = d / f"{d.name}_seg.nii.gz"
        lab = np.asarray(nib.load(str(sp)).dataobj).copy()
        lab[lab == old] = new
        sp.write_bytes(nifti_gz_bytes(lab, LPS_FIX))
        return d
    return write


LPS_FIX = np.diag([-1.0, -1.0, 1.0, 1.0]); LPS_FIX[1, 3] = 15  # the affine `make_brats_fixture` writes at W = 16


def case_edit(fn):
    "A writer: a BraTS fixture case changed by `fn(case_dir)`."
    def write(tmp: Path) -> Path:
        d = brats_case(tmp); fn(d); return d
    return write


def tagged_tif(a, tag, path):
    ifd = TiffImagePlugin.ImageFileDirectory_v2(); ifd[274] = tag
    Image.fromarray(a).save(path, format="TIFF", tiffinfo=ifd, compression="tiff_adobe_deflate")


def rgb48_tif(a: np.ndarray) -> bytes:
    "`a` (H, W, 3) uint16 as an uncompressed 16-bit-per-sample RGB TIFF (Pillow cannot write one)."
    H, W, _ = a.shape
    data = a.astype("<u2").tobytes()
    tags = [(256, 3, 1, W), (257, 3, 1, H), (258, 3, 3, "bps"), (259, 3, 1, 1), (262, 3, 1, 2), (273, 4, 1, "data"),
            (277, 3, 1, 3), (278, 3, 1, H), (279, 4, 1, len(data)), (284, 3, 1, 1)]
    ifd, bps = 8, 8 + 2 + 12 * len(tags) + 4
    out = b"II*\x00" + struct.pack("<I", ifd) + struct.pack("<H", len(tags))
    for tag, typ, n, v in tags:
        v = bps if v == "bps" else bps + 6 if v == "data" else v
        out += struct.pack("<HHIHH", tag, typ, n, v, 0) if typ == 3 and n == 1 else struct.pack("<HHII", tag, typ, n, v)
    return out + struct.pack("<I", 0) + struct.pack("<HHH", 16, 16, 16) + data


RGB = np.zeros((8, 8, 3), np.uint8); RGB[2:5, 3:6] = (200, 150, 100)  # a bright patch: the "tumour"
MASK = np.zeros((8, 8), np.uint8); MASK[2:5, 3:6] = 255


def lgg_pair(img=RGB, mask=MASK, img_bytes=None, mask_bytes=None, img_tag=None, mask_tag=None, no_mask=False):
    "A writer: one LGG slice `P_1.tif` and its mask `P_1_mask.tif`, each optionally raw bytes or with an orientation tag."
    def write(tmp: Path) -> Path:
        p, mp = tmp / "P_1.tif", tmp / "P_1_mask.tif"
        if img_bytes is not None: p.write_bytes(img_bytes)
        elif img_tag: tagged_tif(img, img_tag, p)
        else: p.write_bytes(tif_bytes(img))
        if no_mask: return p
        if mask_bytes is not None: mp.write_bytes(mask_bytes)
        elif mask_tag: tagged_tif(mask, mask_tag, mp)
        else: mp.write_bytes(tif_bytes(mask))
        return p
    return write


def lgg_tree(fn):
    "A writer: a 1-patient, 3-slice LGG tree changed by `fn(case folder)`; returns the `kaggle_3m` folder."
    def write(tmp: Path) -> Path:
        root = make_lgg_fixture(tmp, n_patients=1, n_slices=3, image_size=16)
        fn(next(p for p in root.iterdir() if p.is_dir())); return root
    return write


def _slice(case: Path, n: int, mask=False) -> Path: return case / f"{case.name}_{n}{'_mask' if mask else ''}.tif"


# ---------------------------------------------------------------- readers
def rd_nifti(nonfinite="zero"): return lambda p: read_nifti(p, nonfinite)
def rd_case(**kw): return lambda p: read_brats_case(p, normalize=None, **kw)
def rd_slices(**kw): return lambda p: BraTSSlices(p, slices="all", image_size=8, progress=False, **kw)
def rd_lgg(size=8): return lambda p: read_lgg_slice(p, size)
def rd_tree(**kw): return lambda p: LGGSlices(p, image_size=16, progress=False, **kw)


# ---------------------------------------------------------------- checks
def values(expected, affine_diag=None):
    def check(out, w):
        a, aff, n = out
        np.testing.assert_array_equal(a, np.asarray(expected, np.float32))
        assert a.dtype == np.float32 and n == 0 and not w
        if affine_diag is not None: np.testing.assert_allclose(np.diag(aff)[:3], affine_diag)
    return check


def filled(n, fill, at):
    def check(out, w):
        a, _, k = out
        assert k == n and all(a[i] == fill for i in at) and np.isfinite(a).all()
        assert [x.category for x in w] == [NonFiniteVoxelWarning] and f"{n} NaN/inf voxels set to {fill:g}" in str(w[0].message)
    return check


def canonical_of(fname):
    def check(out, w):
        img = nib.as_closest_canonical(nib.load(str(NIB_DATA / fname)))
        np.testing.assert_array_equal(out[0], np.asarray(img.dataobj, np.float32))
        assert nib.aff2axcodes(out[1]) == ("R", "A", "S") and out[0].shape == img.shape
    return check


def seg_is(labels, layout):
    def check(out, w):
        assert out.seg.dtype == np.uint8 and set(np.unique(out.seg).tolist()) == set(labels) and out.layout == layout
    return check


# ---------------------------------------------------------------- NIfTI files
add("nifti-3d", "nifti", nii(VOL), "ok", rd_nifti(), values(VOL, [1, 1, 1]))
add("nifti-nii-uncompressed", "nifti", nii(VOL, name="v.nii"), "ok", rd_nifti(), values(VOL))
add("nifti-2d", "nifti", nii(VOL[..., 0]), "refused", rd_nifti(), match=r"shape \(4, 5\) is not a 3-D volume")
add("nifti-4d-singleton", "nifti", nii(VOL[..., None]), "ok", rd_nifti(), values(VOL), note="(X, Y, Z, 1) is one volume")
add("nifti-5d-singleton", "nifti", nii(VOL[..., None, None]), "ok", rd_nifti(), values(VOL))
add("nifti-4d-multichannel", "nifti", nii(np.stack([VOL] * 4, -1)), "refused", rd_nifti(), match=r"\(4, 5, 3, 4\) is not a 3-D volume",
    note="channel-last multi-modal: which channel is which sequence is unknown")
add("nifti-4d-timeseries", "nifti", nii(np.stack([VOL] * 7, -1)), "refused", rd_nifti(), match=r"\(4, 5, 3, 7\)")
add("nifti-5d-vector", "nifti", nii(np.stack([VOL] * 3, -1)[..., None, :]), "refused", rd_nifti(), match=r"\(4, 5, 3, 1, 3\)")
add("nifti-scaled", "nifti", nii(VOL, name="v.nii", edit=scaled(0.5, 100)), "ok", rd_nifti(), values(VOL * 0.5 + 100),
    note="scl_slope/scl_inter give the meant intensities")
add("nifti-scaled-negative-inter", "nifti", nii(VOL, name="v.nii", edit=scaled(2.0, -1024)), "ok", rd_nifti(), values(VOL * 2.0 - 1024))
NAN = VOL.astype(np.float32); NAN[0, 0, 0] = np.nan; NAN[1, 1, 1] = np.nan
INF = VOL.astype(np.float32); INF[0, 0, 0] = np.inf; INF[3, 4, 2] = -np.inf
add("nifti-nan-zero", "nifti", nii(NAN), "ok", rd_nifti(), filled(2, 0.0, [(0, 0, 0), (1, 1, 1)]))
add("nifti-inf-zero", "nifti", nii(INF), "ok", rd_nifti(), filled(2, 0.0, [(0, 0, 0), (3, 4, 2)]))
add("nifti-nan-min", "nifti", nii(NAN), "ok", rd_nifti("min"), filled(2, 2.0, [(0, 0, 0), (1, 1, 1)]),
    note="VOL's smallest value 1 sits at (0, 0, 0), which is NaN here, so the smallest finite one is 2")
add("nifti-all-nan-min", "nifti", nii(np.full((2, 2, 2), np.nan, np.float32)), "ok", rd_nifti("min"), filled(8, 0.0, [(0, 0, 0)]))
add("nifti-nan-raise", "nifti", nii(NAN), "refused", rd_nifti("raise"), match="2 NaN/inf voxels")
add("nifti-no-qform-no-sform", "nifti", nii(VOL, name="v.nii", edit=no_orientation), "refused", rd_nifti(), match="no qform and no sform")
add("nifti-qform-only-lps", "nifti", nii(VOL, None, name="v.nii", edit=qform_only_lps), "ok", rd_nifti(), values(VOL[::-1, ::-1], [1, 1, 1]),
    note="the qform alone gives the orientation")
add("nifti-lps", "nifti", nii(VOL, LPS), "ok", rd_nifti(), values(VOL[::-1, ::-1], [1, 1, 1]), note="LPS -> RAS flips x and y")
add("nifti-ras", "nifti", nii(VOL, np.diag([2.0, 2.0, 3.0, 1.0])), "ok", rd_nifti(), values(VOL, [2, 2, 3]))
add("nifti-las", "nifti", nii(VOL, np.diag([-1.0, 1.0, 1.0, 1.0])), "ok", rd_nifti(), values(VOL[::-1], [1, 1, 1]))
PERM = np.array([[0, 0, 1.0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]])  # voxel axes (i, j, k) = (A, S, R)
add("nifti-permuted-axes", "nifti", nii(VOL, PERM), "ok", rd_nifti(), values(VOL.transpose(2, 0, 1), [1, 1, 1]))
add("nifti2", "nifti", nii(VOL, name="v.nii", cls=nib.Nifti2Image), "ok", rd_nifti(), values(VOL))
add("nifti-float64", "nifti", nii(VOL.astype(np.float64) / 4), "ok", rd_nifti(), values(VOL / 4))
add("nifti-hdr-img-pair", "nifti", nii(VOL, name="v.hdr", cls=nib.Nifti1Pair), "ok", rd_nifti(), values(VOL))


def _drop_img(tmp):
    p = nii(VOL, name="v.hdr", cls=nib.Nifti1Pair)(tmp); (tmp / "v.img").unlink(); return p
add("nifti-hdr-without-img", "nifti", _drop_img, "refused", rd_nifti(), match=r"v\.img is missing: the header v\.hdr")
add("nifti-empty-file", "nifti", raw(b""), "refused", rd_nifti(), match="cannot read NIfTI")
add("nifti-not-nifti", "nifti", raw(gzip.compress(b"hello" * 100)), "refused", rd_nifti(), match="cannot read NIfTI")
BIG = np.arange(600, dtype=np.int16).reshape(10, 20, 3)
add("nifti-truncated-gz", "nifti", raw(gzip.compress(nib.Nifti1Image(BIG, np.eye(4)).to_bytes())[:-40]), "refused", rd_nifti(), match="cannot read NIfTI voxels")
add("nifti-truncated-nii", "nifti", raw(nib.Nifti1Image(BIG, np.eye(4)).to_bytes()[:-100], "v.nii"), "refused", rd_nifti(), match="cannot read NIfTI voxels")
add("nifti-missing-file", "nifti", lambda tmp: tmp / "absent.nii.gz", "refused", rd_nifti(), match="does not exist")
# files nibabel ships (nibabel/tests/data)
add("nib-anatomical", "nifti", shipped("anatomical.nii"), "ok", rd_nifti(), canonical_of("anatomical.nii"), note="LAS, big-endian int16")
add("nib-reoriented-anat", "nifti", shipped("reoriented_anat_moved.nii"), "ok", rd_nifti(), canonical_of("reoriented_anat_moved.nii"))
add("nib-standard-sform-only", "nifti", shipped("standard.nii.gz"), "ok", rd_nifti(), canonical_of("standard.nii.gz"), note="qform 0, sform 2")
add("nib-functional-4d", "nifti", shipped("functional.nii"), "refused", rd_nifti(), match=r"\(17, 21, 3, 20\) is not a 3-D volume")
add("nib-example4d", "nifti", shipped("example4d.nii.gz"), "refused", rd_nifti(), match=r"\(128, 96, 24, 2\)")
add("nib-example-nifti2-4d", "nifti", shipped("example_nifti2.nii.gz"), "refused", rd_nifti(), match=r"\(32, 20, 12, 2\)")
add("nib-nifti1-hdr-no-img", "nifti", shipped("nifti1.hdr"), "refused", rd_nifti(), match=r"nifti1\.img is missing")
add("nib-nifti2-hdr-no-img", "nifti", shipped("nifti2.hdr"), "refused", rd_nifti(), match=r"nifti2\.img is missing")
add("nib-analyze-hdr-no-img", "nifti", shipped("analyze.hdr"), "refused", rd_nifti(), match=r"analyze\.img is missing")

# ---------------------------------------------------------------- BraTS segmentations
SEG = r"BraTS2021_00001_seg\.nii\.gz: "
add("seg-minus-1", "seg", with_seg([-1]), "refused", rd_case(), match=SEG + r"negative segmentation labels \[-1\]", note="uint8 would store 255")
add("seg-300", "seg", with_seg([300], np.int16), "refused", rd_case(), match=SEG + r"segmentation labels \[300\] are not in the brats2021", note="uint8 would store 44")
add("seg-2.5", "seg", with_seg([2.5]), "refused", rd_case(), match=SEG + r"non-integer segmentation labels \[2\.5\]")
add("seg-nan", "seg", with_seg([np.nan]), "refused", rd_case(), match=SEG + r"1 NaN/inf voxels in a segmentation")
add("seg-3-in-2021", "seg", with_seg([3]), "refused", rd_case(), match=SEG + r"segmentation labels \[3\] are not in the brats2021 .*layout='brats2023'")
add("seg-4-in-2023", "seg", with_seg([]), "refused", rd_case(layout="brats2023"), match=SEG + r"segmentation labels \[4\] are not in the brats2023 .*layout='brats2021'")
add("seg-2023-layout", "seg", relabel(4, 3), "ok", rd_case(layout="brats2023"), seg_is({0, 1, 2, 3}, "brats2023"))
add("seg-auto-2023", "seg", relabel(4, 3), "ok", rd_case(layout="auto"), seg_is({0, 1, 2, 3}, "brats2023"))
add("seg-auto-2021", "seg", with_seg([]), "ok", rd_case(layout="auto"), seg_is({0, 1, 2, 4}, "brats2021"))
add("seg-auto-3-and-4", "seg", with_seg([3]), "refused", rd_case(layout="auto"), match=SEG + r".*ambiguous")
add("seg-float-integral", "seg", with_seg([4.0], np.float32), "ok", rd_case(), seg_is({0, 1, 2, 4}, "brats2021"), note="a float seg with whole values is fine")

# ---------------------------------------------------------------- BraTS case folders
def _rm(key): return lambda d: (d / f"{d.name}_{key}.nii.gz").unlink()
def _rename(a, b): return lambda d: (d / f"{d.name}_{a}.nii.gz").rename(d / f"{d.name}_{b}.nii.gz")
def _rewrite(key, a, aff=LPS_FIX): return lambda d: (d / f"{d.name}_{key}.nii.gz").write_bytes(nifti_gz_bytes(a, aff))
def _t2_stored_ras(d):  # the same voxels, stored RAS instead of LPS: after reading they must line up with the others
    p = d / f"{d.name}_t2.nii.gz"
    a = np.asarray(nib.load(str(p)).dataobj)
    p.write_bytes(nifti_gz_bytes(a[::-1, ::-1].copy(), nib.as_closest_canonical(nib.load(str(p))).affine))
def _dup(d): (d / f"{d.name}_t1.nii").write_bytes(gzip.decompress((d / f"{d.name}_t1.nii.gz").read_bytes()))


def same_as_fixture():
    def check(out, w):
        ref = read_brats_case(brats_case(Path(out.files["t1"]).parent.parent / "ref"), normalize=None)
        np.testing.assert_array_equal(out.image, ref.image); np.testing.assert_array_equal(out.seg, ref.seg)
    return check


B = r"BraTS2021_00001_"
add("brats-missing-modality", "brats", case_edit(_rm("t1ce")), "refused", rd_case(), match=B + r"t1ce\.nii\.gz is missing")
add("brats-misnamed-t1gd", "brats", case_edit(_rename("t1ce", "t1gd")), "refused", rd_case(), match=B + r"t1ce\.nii\.gz is missing.*" + B + r"t1gd\.nii\.gz",
    note="the message lists the folder, so the misnamed file shows")
add("brats-missing-seg", "brats", case_edit(_rm("seg")), "refused", rd_case(), match=B + r"seg\.nii\.gz is missing")
add("brats-missing-allowed", "brats", case_edit(_rm("t2")), "ok", rd_case(allow_missing=True),
    lambda out, w: (out.missing == ("t2",) and (out.image[2] == 0).all() and out.modality_present.tolist() == [True, True, False, True]) or pytest.fail("t2 not zero-filled"))
add("brats-shape-mismatch", "brats", case_edit(_rewrite("t2", np.ones((16, 16, 5), np.int16))), "refused", rd_case(), match=B + r"t2\.nii\.gz: shape \(16, 16, 5\) differs")
add("brats-grid-mismatch", "brats", case_edit(_rewrite("t2", np.ones((16, 16, 4), np.int16), np.diag([-2.0, -2, 2, 1]))), "refused", rd_case(),
    match=B + r"t2\.nii\.gz: its voxel grid .* differs from that of " + B + r"t1\.nii\.gz")
add("brats-t2-stored-ras", "brats", case_edit(_t2_stored_ras), "ok", rd_case(), same_as_fixture(), note="LPS and RAS files of one case line up")
add("brats-4d-modality", "brats", case_edit(_rewrite("flair", np.ones((16, 16, 4, 2), np.int16))), "refused", rd_case(), match=B + r"flair\.nii\.gz: shape \(16, 16, 4, 2\)")
add("brats-duplicate-t1", "brats", case_edit(_dup), "refused", rd_case(), match=r"several files for 't1'")
add("brats-nan-in-slices", "brats", lambda tmp: brats_case(tmp, nan_voxels=3), "ok", rd_slices(),
    lambda out, w: (out.report["nonfinite_voxels"] == {"BraTS2021_00001": {"flair": 3}} and NonFiniteVoxelWarning in [x.category for x in w]) or pytest.fail(str(out.report)))
add("brats-nan-slices-raise", "brats", lambda tmp: brats_case(tmp, nan_voxels=3), "refused", rd_slices(nonfinite="raise"), match=B + r"flair\.nii\.gz: 3 NaN/inf voxels")

# ---------------------------------------------------------------- LGG slices
def lgg_aligned(tumour=True, warned=None):
    def check(out, w):
        x, m, t = out
        assert t is tumour and x.dtype == m.dtype == torch.uint8 and set(m.unique().tolist()) <= {0, 1}
        assert ((x[0] > 100) == (m[0] > 0)).all(), "mask and image disagree"
        assert [c.category for c in w] == ([] if warned is None else [warned])
    return check


def oriented_upright(out, w):
    x, m, t = out
    up = np.rot90(MASK, -1) > 0  # tag 6: the stored image turned 90 degrees clockwise
    assert (m[0].numpy() > 0).tolist() == up.tolist() and ((x[0] > 100).numpy() == up).all() and not w


L = r"P_1\.tif"
add("lgg-slice", "lgg", lgg_pair(), "ok", rd_lgg(), lgg_aligned())
add("lgg-oriented-pair", "lgg", lgg_pair(img_tag=6, mask_tag=6), "ok", rd_lgg(), oriented_upright, note="both tagged: both turned, still aligned")
add("lgg-oriented-180-pair", "lgg", lgg_pair(img_tag=3, mask_tag=3), "ok", rd_lgg(), lgg_aligned())
add("lgg-oriented-image-only", "lgg", lgg_pair(img=RGB[::-1, ::-1].copy(), img_tag=3), "ok", rd_lgg(), lgg_aligned(warned=OrientationWarning),
    note="each file turned by its own tag; the warning says only one was tagged")
add("lgg-oriented-nonsquare-image-only", "lgg", lgg_pair(img=np.zeros((8, 6, 3), np.uint8), mask=np.zeros((8, 6), np.uint8), img_tag=6), "refused",
    rd_lgg(), match=r"P_1_mask\.tif: mask size \(8, 6\) differs from image size \(6, 8\) of .*P_1\.tif \(after their orientation tags: image 6, mask 1\)",
    note="the tag turns the image, not the untagged mask: their upright shapes differ")
add("lgg-16bit-grey", "lgg", lgg_pair(img=(np.arange(64).reshape(8, 8) * 60).astype(np.uint16)), "refused", rd_lgg(), match=L + ": expected an 8-bit RGB slice")
add("lgg-48bit-rgb", "lgg", lgg_pair(img_bytes=rgb48_tif((RGB.astype(np.uint16) * 16))), "refused", rd_lgg(), match=L + r": expected an 8-bit RGB slice .*got mode RGB at 16 bits",
    note="Pillow would keep only the high byte: a 12-bit scan comes out nearly black")
add("lgg-grey-slice", "lgg", lgg_pair(img=RGB[..., 0].copy()), "refused", rd_lgg(), match=L + r": expected an 8-bit RGB slice .*got mode L ")
add("lgg-mask-missing", "lgg", lgg_pair(no_mask=True), "refused", rd_lgg(), match=r"P_1_mask\.tif is missing")
add("lgg-mask-01", "lgg", lgg_pair(mask=MASK // 255), "ok", rd_lgg(), lgg_aligned())
add("lgg-mask-16bit", "lgg", lgg_pair(mask=MASK.astype(np.uint16) * 257), "ok", rd_lgg(), lgg_aligned(), note="{0, 65535}")
add("lgg-mask-rgb-grey", "lgg", lgg_pair(mask=np.stack([MASK] * 3, -1)), "ok", rd_lgg(), lgg_aligned(), note="equal channels: a grey mask saved as RGB")
RED = np.zeros((8, 8, 3), np.uint8); RED[2:5, 3:6, 0] = 255
add("lgg-mask-rgb-red", "lgg", lgg_pair(mask=RED), "refused", rd_lgg(), match=r"P_1_mask\.tif: RGB mask whose channels differ at 9 pixels")
add("lgg-mask-128", "lgg", lgg_pair(mask=np.where(MASK > 0, 128, 0).astype(np.uint8) + (MASK > 0)), "refused", rd_lgg(), match=r"P_1_mask\.tif: mask values \[0, 129\] are not binary")
add("lgg-mask-not-tiff", "lgg", lgg_pair(mask_bytes=b"GIF89a garbage"), "refused", rd_lgg(), match=r"P_1_mask\.tif: cannot read image")


# ---------------------------------------------------------------- LGG trees
def _orphan(case): _slice(case, 2).unlink()
def _red_mask(case): _slice(case, 2, True).write_bytes(tif_bytes(np.stack([np.full((16, 16), 255, np.uint8), *[np.zeros((16, 16), np.uint8)] * 2], -1)))
def _no_mask(case): _slice(case, 3, True).unlink()
def _sixteen(case): _slice(case, 1).write_bytes(rgb48_tif(np.zeros((16, 16, 3), np.uint16)))


def skipped(n_left, culprit):
    def check(out, w):
        assert len(out) == n_left and [Path(s["path"]).name for s in out.report["skipped"]] == [culprit]
    return check


def _case_name(n, mask=False): return rf"TCGA_CS_1000_19990101_{n}{'_mask' if mask else ''}\.tif"
add("lgg-tree-orphan-mask", "lgg", lgg_tree(_orphan), "refused", rd_tree(), match=_case_name(2, True) + r": mask without its slice")
add("lgg-tree-rgb-mask", "lgg", lgg_tree(_red_mask), "refused", rd_tree(), match=_case_name(2, True) + ": RGB mask whose channels differ")
add("lgg-tree-rgb-mask-skip", "lgg", lgg_tree(_red_mask), "skipped", rd_tree(skip_bad=True), skipped(2, "TCGA_CS_1000_19990101_2.tif"))
add("lgg-tree-missing-mask-skip", "lgg", lgg_tree(_no_mask), "skipped", rd_tree(skip_bad=True), skipped(2, "TCGA_CS_1000_19990101_3.tif"))
add("lgg-tree-16bit-skip", "lgg", lgg_tree(_sixteen), "skipped", rd_tree(skip_bad=True), skipped(2, "TCGA_CS_1000_19990101_1.tif"))


# ---------------------------------------------------------------- the runner
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_awkward_volume(case, tmp_path):
    path = case.write(tmp_path)
    read = READ[case.name]
    if case.expect == "refused":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NonFiniteVoxelWarning)
            with pytest.raises((ValueError, FileNotFoundError)) as e: read(path)
        msg = str(e.value)
        assert re.search(case.match, msg), f"{case.name}: {msg!r} does not match {case.match!r}"
        assert re.search(r"[\w.-]+\.(nii\.gz|nii|hdr|img|tif)\b", msg), f"{case.name}: the message names no file: {msg!r}"
        return
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = read(path)
    w = [x for x in w if issubclass(x.category, (NonFiniteVoxelWarning, OrientationWarning))]
    case.check(out, w)


def test_enough_cases_of_each_outcome():
    c = outcome_counts(CASES)
    assert c["total"] >= 40 and c["ok"] >= 15 and c["refused"] >= 15 and c["skipped"] >= 3, c
    assert len({x.name for x in CASES}) == len(CASES)
    assert all(x.check is not None for x in CASES if x.expect != "refused") and all(x.match for x in CASES if x.expect == "refused")
