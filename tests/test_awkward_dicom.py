"""Awkward DICOM inputs (issue 15): pydicom's shipped test files and files crafted at test time, each with the one outcome
a careful user expects.

- "ok": `read_dicom_series(path)` returns the right values, orientation and slice order (the case's `check` asserts them);
- "refused": `read_dicom_series(path)` raises `ImageReadError`/`ValueError` naming the file and matching `match`;
- "skipped": `DicomSlices([folder of the file, a good series], skip_bad=True)` leaves the file out and lists it in
  `.report` with a reason matching `match`, the good series still loads whole, and reading that one file raises
  naming it.
"""
import gzip
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_decoder
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, MRImageStorage, generate_uid

from awkward_cases import OUTCOMES, Case, outcome_counts
from brainssl.data.dicom import DicomSlices, read_dicom_series
from brainssl.data.dicom_screen import DicomGeometryWarning, DicomSkipWarning
from brainssl.data.folder import ImageReadError
from brainssl.testing import make_dicom_fixture

SEG_SOP = "1.2.840.10008.5.1.4.1.1.66.4"


def shipped(name: str) -> Path:
    "A pydicom test file that ships inside the pydicom wheel (no download)."
    p = Path(get_testdata_file(name, download=False) or "")
    if not p.is_file(): pytest.skip(f"pydicom test file {name} not installed")
    return p


def copy_in(name: str, folder: Path, as_name: str | None = None) -> Path:
    "Copy the shipped file `name` into `folder` (created); returns the copy."
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / (as_name or name)
    shutil.copyfile(shipped(name), dst)
    return dst


NIB_DATA = Path(__import__("nibabel").__file__).parent / "nicom" / "tests" / "data"  # real Siemens/Philips files nibabel ships


def nib(name: str, folder: Path, as_name: str | None = None) -> Path:
    "Copy nibabel's test file `name` (gunzipped if `.gz`) into `folder`; returns the copy."
    src = NIB_DATA / name
    if not src.is_file(): pytest.skip(f"nibabel test file {name} not installed")
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / (as_name or name.removesuffix(".gz"))
    dst.write_bytes(gzip.decompress(src.read_bytes()) if name.endswith(".gz") else src.read_bytes())
    return dst


def modality_lut_by_hand(p: Path) -> np.ndarray:
    "Stored values x slope + intercept, computed here without pydicom's LUT helper."
    d = pydicom.dcmread(p)
    return (d.pixel_array * float(d.get("RescaleSlope", 1)) + float(d.get("RescaleIntercept", 0))).astype(np.float32)


def mosaic_csa_only(t):
    "nibabel's real MOSAIC with MOSAIC taken out of ImageType and the (0019,100A) count deleted: only the CSA header says it."
    p = nib("0.dcm", t, "mosaic.dcm")
    d = pydicom.dcmread(p); d.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE", "ND"]; del d[0x0019, 0x100A]; d.save_as(p)
    return p


def mr_small() -> np.ndarray:
    "MR_small.dcm's values (it has no rescale): the truth its re-encoded twins must match."
    return pydicom.dcmread(shipped("MR_small.dcm")).pixel_array.astype(np.float32)


def decodes_nib(name: str) -> bool:
    "Whether this environment decodes nibabel's test file `name`."
    try: pydicom.dcmread(NIB_DATA / name).pixel_array; return True
    except Exception: return False


def decodes(name: str) -> bool:
    "Whether this environment's pydicom plugins decode the shipped file `name`."
    try: pydicom.dcmread(shipped(name)).pixel_array; return True
    except Exception: return False


def crafted(path: Path, pixels: np.ndarray | None = None, **tags) -> Path:
    "A minimal MR file written with pydicom at test time: `pixels` `(H, W)` or `(F, H, W)` uint16, then `tags` set (a value None deletes)."
    meta = FileMetaDataset(); meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = tags.get("SOPClassUID", MRImageStorage); meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset(); ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.PatientID = "MR", generate_uid(entropy_srcs=[str(path.parent)]), "CRAFTED"
    if pixels is None: pixels = np.arange(6 * 5, dtype=np.uint16).reshape(6, 5)
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing = [0, 0, 0], [1, 0, 0, 0, 1, 0], [1, 1]
    ds.InstanceNumber = 1
    if pixels.ndim == 3: ds.NumberOfFrames = pixels.shape[0]
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
    for k, v in tags.items():
        if v is None: delattr(ds, k)
        else: setattr(ds, k, v)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def edit(path: Path, **tags) -> Path:
    "Set (or, with None, delete) header tags of the DICOM file `path` in place."
    d = pydicom.dcmread(path)
    for k, v in tags.items():
        if v is None: delattr(d, k)
        else: setattr(d, k, v)
    d.save_as(path)
    return path


def by_z(folder: Path) -> list[Path]:
    "The fixture's files in position (z) order."
    return sorted(folder.glob("*.dcm"), key=lambda f: float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]))


# ---- writers: each writes under the tmp folder `t` and returns the path to read ----

def fixture(t, **kw):
    folder, vol = make_dicom_fixture(t / "series", **kw)
    np.save(t / "expected.npy", vol)
    return folder


def expected(s_path: Path) -> np.ndarray:
    "The volume the fixture wrote next to `s_path`."
    return np.load(s_path.parent / "expected.npy")


def mr_small_series(t):
    "MR_small.dcm as 3 slices 5 mm apart, file names against the position order, one position shifted per file."
    folder = t / "series"; folder.mkdir()
    for k, z in enumerate([10.0, 0.0, 5.0]):
        d = pydicom.dcmread(shipped("MR_small.dcm"))
        d.ImagePositionPatient = [float(d.ImagePositionPatient[0]), float(d.ImagePositionPatient[1]), z]
        d.SOPInstanceUID, d.InstanceNumber = generate_uid(), k + 1
        d.PixelData = (d.pixel_array + int(z)).astype(d.pixel_array.dtype).tobytes()  # +z: each slice knows its place
        d.save_as(folder / f"slice_{k}.dcm")
    return folder


def with_neighbour(shipped_name: str | None = None, write=None, name: str = "other.dcm"):
    "A writer: a good fixture series with one odd file beside it (a shipped file, or `write(path)`); returns the series folder."
    def w(t):
        folder = fixture(t)
        if shipped_name: copy_in(shipped_name, folder, name)
        else: write(folder / name)
        return folder
    return w


def odd_slice(**tags):
    "A writer: a fixture series whose slice 2 gets `tags`; returns that file (for a 'skipped' case: its folder is read)."
    def w(t):
        folder = fixture(t)
        return edit(by_z(folder)[2], **tags)
    return w


def series_then(change):
    "A writer: a fixture series, then `change(folder)`; returns the folder."
    def w(t):
        folder = fixture(t)
        change(folder)
        return folder
    return w


def two_series_one_colour(t):
    "One folder: a good 5-slice series and a second, colour series of 3 slices; returns a colour file."
    folder, vol = make_dicom_fixture(t / "series", series_number=1)
    np.save(t / "expected.npy", vol)
    _, _ = make_dicom_fixture(t / "colour_tmp", series_number=9, n_slices=3, description="SC colour")
    for f in (t / "colour_tmp").iterdir(): shutil.move(f, folder / f"sc_{f.name}")
    for f in folder.glob("sc_*"): edit(f, PhotometricInterpretation="RGB", SamplesPerPixel=3)
    return sorted(folder.glob("sc_*"))[0]


def text_file(name, content):
    def w(t):
        p = t / "odd" / name; p.parent.mkdir(parents=True)
        p.write_bytes(content)
        return p
    return w


# ---- checks for "ok" cases: they get the DicomSeries ----

def equals_mr_small(s):
    assert s.shape == (1, 64, 64) and s.sorted_by == "position"
    np.testing.assert_array_equal(s.image[0], mr_small())
    assert s.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def equals_fixture(sorted_by="position"):
    def check(s, p):
        assert s.sorted_by == sorted_by
        np.testing.assert_array_equal(s.image, expected(p))
    return check


CT_RESCALE = lambda s: np.testing.assert_array_equal(  # noqa: E731
    s.image[0], pydicom.dcmread(shipped("CT_small.dcm")).pixel_array.astype(np.float32) - 1024)  # slope 1, intercept -1024


def check_mr_small_series(s):
    assert s.sorted_by == "position" and s.shape == (3, 64, 64)
    np.testing.assert_array_equal(s.image, np.stack([mr_small() + z for z in (0, 5, 10)]))
    np.testing.assert_allclose(s.spacing[0], 5.0)


def check_intercept_of_one_slice(s, p):
    want = expected(p).copy(); want[2] += 50  # slice 2's own RescaleIntercept is 50 higher
    np.testing.assert_array_equal(s.image, want)


def check_partial_positions(s, p):
    assert s.sorted_by == "instance_number" and s.orientation is None
    np.testing.assert_array_equal(s.image, expected(p)[::-1])  # the fixture numbers slices against position order


def check_monochrome1(s, p):
    assert s.photometric == "MONOCHROME1"
    np.testing.assert_array_equal(s.image, expected(p))
    assert s.image[:, 6, 5].min() > s.image[:, 0, 0].max()  # brain brighter than background: high = bright


def check_sagittal(s, p):
    np.testing.assert_array_equal(s.image, expected(p))
    np.testing.assert_allclose(s.affine[:3, 0], [-3.0, 0, 0])  # stacked along the normal, -x


def check_single_fixture_file(s, p):
    k = by_z(p.parent).index(p)
    assert s.shape == (1, 12, 10)
    np.testing.assert_array_equal(s.image[0], expected(p.parent)[k])


jls = decodes("MR_small_jpeg_ls_lossless.dcm")
j2k = decodes("MR_small_jp2klossless.dcm")
jpg12 = decodes("JPGExtended.dcm")
HINT = r"decoders not installed: .*pylibjpeg"

CASES = [
    # --- shipped files, read correctly ---
    Case("mr-small", "dicom", lambda t: copy_in("MR_small.dcm", t), "ok", equals_mr_small, note="plain MR slice"),
    Case("mr-small-implicit-vr", "dicom", lambda t: copy_in("MR_small_implicit.dcm", t), "ok", equals_mr_small),
    Case("mr-small-big-endian", "dicom", lambda t: copy_in("MR_small_bigendian.dcm", t), "ok", equals_mr_small),
    Case("mr-small-explicit-big", "dicom", lambda t: copy_in("MR_small_expb.dcm", t), "ok", equals_mr_small),
    Case("mr-small-rle", "dicom", lambda t: copy_in("MR_small_RLE.dcm", t), "ok", equals_mr_small, note="RLE: pydicom's own decoder"),
    Case("mr-small-padded", "dicom", lambda t: copy_in("MR_small_padded.dcm", t), "ok", equals_mr_small),
    Case("mr-small-jp2k-lossless", "dicom", lambda t: copy_in("MR_small_jp2klossless.dcm", t), "ok" if j2k else "refused",
         equals_mr_small if j2k else None, match=None if j2k else HINT, note="JPEG 2000 lossless: Pillow with openjpeg decodes it"),
    Case("ct-small-rescale", "dicom", lambda t: copy_in("CT_small.dcm", t), "ok", CT_RESCALE, note="intercept -1024 applied"),
    Case("mr-small-as-shuffled-series", "dicom", mr_small_series, "ok", check_mr_small_series, note="sorted by position, not name"),
    Case("nib-decimal-rescale", "dicom", lambda t: nib("decimal_rescale.dcm", t), "ok",
         lambda s, p: np.testing.assert_array_equal(s.image[0], modality_lut_by_hand(p)), note="slope 2, intercept -4096"),
    Case("nib-siemens-csa-not-mosaic", "dicom", lambda t: nib("slicethickness_empty_string.dcm", t),
         "ok" if decodes_nib("slicethickness_empty_string.dcm") else "refused",
         (lambda s, p: np.testing.assert_array_equal(s.image[0], modality_lut_by_hand(p))) if decodes_nib("slicethickness_empty_string.dcm") else None,
         match=None if decodes_nib("slicethickness_empty_string.dcm") else HINT, note="a CSA header alone does not make a mosaic"),
    # --- crafted series, read correctly ---
    Case("shuffled-axial", "dicom", lambda t: fixture(t, seed=1), "ok", equals_fixture(), note="file order != slice order"),
    Case("shuffled-sagittal", "dicom", lambda t: fixture(t, orientation="sagittal", seed=2), "ok", check_sagittal),
    Case("shuffled-coronal", "dicom", lambda t: fixture(t, orientation="coronal"), "ok", equals_fixture()),
    Case("monochrome1", "dicom", lambda t: fixture(t, photometric="MONOCHROME1"), "ok", check_monochrome1, note="inverted to high = bright"),
    Case("rescale-slope-intercept", "dicom", lambda t: fixture(t, slope=0.25, intercept=1000.0), "ok", equals_fixture()),
    Case("rescale-differs-per-slice", "dicom", series_then(lambda f: edit(by_z(f)[2], RescaleIntercept=-50.0)), "ok",
         check_intercept_of_one_slice, note="each slice's own modality LUT"),
    Case("no-positions-instance-number", "dicom", lambda t: fixture(t, positions=False, instance_order="ascending"), "ok",
         equals_fixture("instance_number")),
    Case("positions-in-some-files", "dicom", series_then(lambda f: edit(by_z(f)[1], ImagePositionPatient=None)), "ok",
         check_partial_positions, note="falls back to InstanceNumber for all, with a DicomGeometryWarning"),
    Case("seg-beside-series", "dicom", with_neighbour("liver_1frame.dcm", name="seg.dcm"), "ok", equals_fixture(),
         note="the SEG is set aside with a warning, never a slice"),
    Case("rtstruct-beside-series", "dicom", with_neighbour("rtstruct.dcm"), "ok", equals_fixture()),
    Case("dicomdir-beside-series", "dicom", with_neighbour(write=lambda p: p.write_bytes(b"junk"), name="DICOMDIR"), "ok", equals_fixture()),
    Case("hidden-file-beside-series", "dicom", with_neighbour(write=lambda p: p.write_bytes(b"\0"), name=".DS_Store"), "ok", equals_fixture()),
    Case("one-file-of-a-series", "dicom", lambda t: by_z(fixture(t))[3], "ok", check_single_fixture_file),
    # --- refused when read (the file named, the reason given) ---
    Case("seg-shipped", "dicom", lambda t: copy_in("liver_1frame.dcm", t), "refused", match="segmentation"),
    Case("seg-crafted", "dicom", lambda t: crafted(t / "seg.dcm", SOPClassUID=SEG_SOP, Modality="SEG"), "refused", match="segmentation"),
    Case("sr-report", "dicom", lambda t: copy_in("test-SR.dcm", t), "refused", match="a structured report or key object selection"),
    Case("rtstruct-no-preamble", "dicom", lambda t: copy_in("rtstruct.dcm", t), "refused", match="radiotherapy"),
    Case("rtdose", "dicom", lambda t: copy_in("rtdose.dcm", t), "refused", match="radiotherapy"),
    Case("rtplan", "dicom", lambda t: copy_in("rtplan.dcm", t), "refused", match="radiotherapy"),
    Case("ecg-waveform", "dicom", lambda t: copy_in("waveform_ecg.dcm", t), "refused", match=r"a waveform \(ECG"),
    Case("presentation-state", "dicom", lambda t: crafted(t / "pr.dcm", SOPClassUID="1.2.840.10008.5.1.4.1.1.11.1", Modality="PR"),
         "refused", match="presentation state"),
    Case("dicomdir-shipped", "dicom", lambda t: Path(shutil.copyfile(shipped("MR_small.dcm").parent / "dicomdirtests" / "DICOMDIR", t / "index.dcm")),
         "refused", match=r"a DICOMDIR \(directory index\)"),
    Case("rgb-shipped", "dicom", lambda t: copy_in("SC_rgb_small_odd.dcm", t), "refused", match=r"colour image \(PhotometricInterpretation 'RGB'"),
    Case("ybr-shipped", "dicom", lambda t: copy_in("SC_ybr_full_422_uncompressed.dcm", t), "refused", match="YBR_FULL_422"),
    Case("palette-colour", "dicom", lambda t: copy_in("examples_palette.dcm", t), "refused", match="PALETTE COLOR"),
    Case("rgb-crafted", "dicom", lambda t: crafted(t / "rgb.dcm", np.zeros((6, 15), np.uint16), PhotometricInterpretation="RGB",
                                                   SamplesPerPixel=3, Columns=5), "refused", match="colour image"),
    Case("mosaic-imagetype", "dicom", lambda t: crafted(t / "mosaic.dcm", ImageType=["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]),
         "refused", match="Siemens MOSAIC.*dcm2niix"),
    Case("nib-siemens-mosaic", "dicom", lambda t: nib("0.dcm", t), "refused", match=r"Siemens MOSAIC \(several slices tiled"),
    Case("nib-siemens-dwi-mosaic", "dicom", lambda t: nib("siemens_dwi_1000.dcm.gz", t), "refused", match="Siemens MOSAIC"),
    Case("nib-mosaic-csa-only", "dicom", mosaic_csa_only, "refused", match="Siemens MOSAIC", note="found via NumberOfImagesInMosaic = 48"),
    Case("nib-philips-enhanced-multiframe", "dicom", lambda t: nib("philips_mprage.dcm.gz", t), "refused",
         match=r"multi-frame file \(176 frames\)", note="Enhanced MR: per-frame positions not read; split it first"),
    Case("multi-frame", "dicom", lambda t: crafted(t / "mf.dcm", np.zeros((3, 6, 5), np.uint16)), "refused", match=r"multi-frame file \(3 frames\)"),
    Case("jpeg-ls-no-decoder", "dicom", lambda t: copy_in("MR_small_jpeg_ls_lossless.dcm", t), "ok" if jls else "refused",
         equals_mr_small if jls else None, match=None if jls else "JPEG-LS Lossless Image Compression .*" + HINT),
    Case("jpeg-extended-12bit", "dicom", lambda t: copy_in("JPGExtended.dcm", t), "ok" if jpg12 else "refused",
         (lambda s: np.testing.assert_array_equal(s.image[0], pydicom.dcmread(shipped("JPGExtended.dcm")).pixel_array)) if jpg12 else None,
         match=None if jpg12 else r"cannot decode pixel data.*JPEG Extended.*pylibjpeg", note="Pillow cannot do 12-bit JPEG"),
    Case("truncated-pixels", "dicom", lambda t: copy_in("MR_truncated.dcm", t), "refused", match="cannot decode pixel data"),
    Case("no-file-meta-no-sop", "dicom", lambda t: copy_in("no_meta.dcm", t), "refused", match="not a readable DICOM file"),
    Case("zero-byte", "dicom", text_file("empty.dcm", b""), "refused", match=r"empty file \(0 bytes\)"),
    Case("text-named-dcm", "dicom", text_file("slice.dcm", b"hello, not DICOM\n" * 20), "refused", match="not a readable DICOM file"),
    Case("no-position-no-instance", "dicom", series_then(lambda f: [edit(p, ImagePositionPatient=None, InstanceNumber=None) for p in by_z(f)[:2]]),
         "refused", match="neither ImagePositionPatient nor InstanceNumber"),
    Case("duplicate-position", "dicom", series_then(lambda f: edit(shutil.copyfile(by_z(f)[0], f / "copy.dcm"), SOPInstanceUID=generate_uid())),
         "refused", match="same slice position"),
    Case("other-size-slice", "dicom", series_then(lambda f: edit(by_z(f)[3], Rows=10, Columns=12)), "refused", match=r"slice size \(10, 12\) differs"),
    # --- skipped and listed by DicomSlices(skip_bad=True); the good series beside still loads ---
    Case("colour-slice-in-series", "dicom", odd_slice(PhotometricInterpretation="RGB"), "skipped", match="colour image"),
    Case("mosaic-slice-in-series", "dicom", odd_slice(ImageType=["ORIGINAL", "PRIMARY", "MOSAIC"]), "skipped", match="Siemens MOSAIC"),
    Case("jpeg-ls-series", "dicom", lambda t: copy_in("MR_small_jpeg_ls_lossless.dcm", t / "jls"), "ok" if jls else "skipped",
         equals_mr_small if jls else None, match=None if jls else "JPEG-LS Lossless.*" + HINT),
    Case("mosaic-real-in-folder", "dicom", lambda t: nib("1.dcm", t / "mosaic"), "skipped", match="Siemens MOSAIC"),
    Case("truncated-in-folder", "dicom", lambda t: copy_in("MR_truncated.dcm", t / "trunc"), "skipped", match="cannot decode pixel data"),
    Case("text-in-folder", "dicom", lambda t: with_neighbour(write=lambda p: p.write_text("notes"), name="notes.txt")(t) / "notes.txt",
         "skipped", match="not a readable DICOM file"),
    Case("zero-byte-in-folder", "dicom", lambda t: with_neighbour(write=lambda p: p.write_bytes(b""), name="lost.dcm")(t) / "lost.dcm",
         "skipped", match="empty file"),
    Case("seg-in-folder", "dicom", lambda t: with_neighbour("liver_1frame.dcm", name="seg.dcm")(t) / "seg.dcm", "skipped",
         match="segmentation", note="set aside: listed in report['set_aside'], also without skip_bad"),
    Case("sr-in-folder", "dicom", lambda t: with_neighbour("test-SR.dcm", name="sr.dcm")(t) / "sr.dcm", "skipped", match="a structured report or key object selection"),
    Case("colour-series-beside-good-series", "dicom", two_series_one_colour, "skipped", match="colour image",
         note="one folder, two series: the colour one is listed, the good one read"),
]
# jpeg-ls-series above is an 'ok' case only where a JPEG-LS decoder is installed; its check then reads one file


def names(cases): return [c.name for c in cases]


def read_quietly(p):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomSkipWarning); warnings.simplefilter("ignore", DicomGeometryWarning)
        return read_dicom_series(p)


@pytest.mark.parametrize("case", CASES, ids=names(CASES))
def test_awkward_dicom(case, tmp_path):
    t = tmp_path / "case"; t.mkdir()
    p = case.write(t)
    if case.expect == "ok":
        s = read_quietly(p)
        n_args = case.check.__code__.co_argcount if hasattr(case.check, "__code__") else 1
        case.check(*((s, p) if n_args == 2 else (s,)))
    elif case.expect == "refused":
        with pytest.raises((ImageReadError, ValueError)) as e:
            read_quietly(p)
        msg = str(e.value)
        at = [p.name] if p.is_file() else [f.name for f in p.iterdir()]
        assert any(f"{n}:" in msg for n in at), f"no file of {p.name} is named: {msg}"
        bare = re.sub("|".join(re.escape(n) for n in at), "<file>", msg)  # the reason must not match just the file's name
        assert re.search(case.match, bare, re.S), f"{case.match!r} not in {msg!r}"
    else:
        good, good_vol = make_dicom_fixture(tmp_path / "good", n_slices=4, seed=7)
        with pytest.warns(DicomSkipWarning):
            ds = DicomSlices([p.parent, good], image_size=8, skip_bad=True, progress=False)
        entries = ds.report["skipped"] + ds.report["set_aside"]
        hit = [e for e in entries if e["folder"] == 0 and e["file"] == p.name]
        assert hit and re.search(case.match, hit[0]["reason"].replace(p.name, "<file>"), re.S), (case.match, entries)
        assert int((ds.series_index == 1).sum()) == 4  # the good series beside loads whole
        assert not any(str(tmp_path) in e["reason"] + e["path"] for e in entries)  # the report names files, not their folder paths
        with pytest.raises(ImageReadError, match=re.escape(p.name)):  # the single-file API refuses it, naming it
            read_quietly(p)


def test_set_aside_objects_never_stop_a_build(tmp_path):
    "Non-image objects are set aside without skip_bad too; an unreadable file still stops the build and names itself."
    folder, vol = make_dicom_fixture(tmp_path / "s")
    copy_in("liver_1frame.dcm", folder, "seg.dcm"); copy_in("test-SR.dcm", folder, "sr.dcm")
    with pytest.warns(DicomSkipWarning, match="seg.dcm"):
        ds = DicomSlices([folder], image_size=8, progress=False)
    assert len(ds) == 5 and {e["file"] for e in ds.report["set_aside"]} == {"seg.dcm", "sr.dcm"}
    (folder / "lost.dcm").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"lost\.dcm: empty file"):
        DicomSlices([folder], image_size=8, progress=False)


def test_colour_series_beside_good_series_keeps_the_good_one(tmp_path):
    p = two_series_one_colour(tmp_path)
    with pytest.warns(DicomSkipWarning):
        ds = DicomSlices([p.parent], image_size=12, skip_bad=True, progress=False)
    assert len(ds) == 5 and ds.metadata[0]["SeriesDescription"] == "T2 AX fixture"
    with pytest.raises(ValueError, match="holds 2 series"):  # without skip_bad: the choice is the user's
        DicomSlices([p.parent], image_size=12, progress=False)


def test_the_suite_is_big_enough_and_counted():
    c = outcome_counts(CASES)
    assert c["total"] >= 30 and all(c[o] >= 5 for o in OUTCOMES), c
    assert len(set(names(CASES))) == len(CASES)
    print(c)
