"DICOM reader: synthetic series written with pydicom (with made-up identifying tags), read back in value, order and photometric; errors name the file; nothing identifying leaks into returned objects or written files."
import json
import warnings

import numpy as np
import pytest
import torch

pydicom = pytest.importorskip("pydicom")
import pydicom.data

from brainssl.core import make_loader, save_json
from brainssl.data.dicom import SAFE_TAGS, DicomSlices, list_dicom_series, plot_dicom_series, read_dicom_series
from brainssl.data.dicom_screen import DicomSkipWarning
from brainssl.data.folder import ImageReadError
from brainssl.data.splits import patient_overlap, patient_split
from brainssl.testing import FIXTURE_PHI, find_phi, make_dicom_fixture

PHI = tuple(FIXTURE_PHI.values())


def _by_z(folder):
    "The fixture's files in slice (position) order."
    return sorted(folder.glob("*.dcm"), key=lambda f: float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("orientation", ["axial", "coronal", "sagittal"])
def test_values_and_order_whatever_the_file_order(tmp_path, seed, orientation):
    folder, expected = make_dicom_fixture(tmp_path / "s", n_slices=6, orientation=orientation, seed=seed)
    names = sorted(p.name for p in folder.iterdir())
    instance = [int(pydicom.dcmread(folder / n, stop_before_pixels=True).InstanceNumber) for n in names]
    assert instance != sorted(instance) and instance != sorted(instance, reverse=True)  # the disk order really is shuffled
    s = read_dicom_series(folder)
    assert s.image.dtype == np.float32 and s.shape == (6, 12, 10)
    np.testing.assert_array_equal(s.image, expected)
    assert s.sorted_by == "position"
    np.testing.assert_allclose(s.spacing, (3.0, 0.8, 0.9))
    # the voxel (d, h, w) lands where the slice's own header says its pixel (h, w) is
    files = {float(np.asarray(pydicom.dcmread(f).ImagePositionPatient, float) @ np.cross(s.orientation[:3], s.orientation[3:])): f for f in folder.iterdir()}
    f_last = pydicom.dcmread(files[max(files)])
    iop = np.asarray(f_last.ImageOrientationPatient, float)
    want = np.asarray(f_last.ImagePositionPatient, float) + 7 * 0.8 * iop[3:] + 4 * 0.9 * iop[:3]
    np.testing.assert_allclose((s.affine @ [5, 7, 4, 1])[:3], want, atol=1e-6)


def test_rescale_is_applied(tmp_path):
    a, va = make_dicom_fixture(tmp_path / "a", slope=1.0, intercept=0.0)
    b, vb = make_dicom_fixture(tmp_path / "b", slope=0.25, intercept=1000.0)
    sa, sb = read_dicom_series(a), read_dicom_series(b)
    stored = sa.image  # slope 1, intercept 0: the stored integers
    assert np.array_equal(stored, np.rint(stored)) and stored.max() > 1000
    np.testing.assert_array_equal(sb.image, (stored * 0.25 + 1000).astype(np.float32))
    np.testing.assert_array_equal(sb.image, vb)


def test_monochrome1_is_inverted_to_bright_is_high(tmp_path):
    m2, v = make_dicom_fixture(tmp_path / "m2", slope=3.0, intercept=-50.0)
    m1, v1 = make_dicom_fixture(tmp_path / "m1", slope=3.0, intercept=-50.0, photometric="MONOCHROME1")
    raw = pydicom.dcmread(_by_z(m1)[0]).pixel_array
    np.testing.assert_array_equal(raw, 4095 - pydicom.dcmread(_by_z(m2)[0]).pixel_array)  # stored inverted on disk
    s1, s2 = read_dicom_series(m1), read_dicom_series(m2)
    np.testing.assert_array_equal(s1.image, s2.image)
    np.testing.assert_array_equal(s1.image, v)
    assert s1.photometric == "MONOCHROME1"
    # brain (centre) brighter than background (corner), as on the MONOCHROME2 twin
    assert s1.image[:, 6, 5].min() > s1.image[:, 0, 0].max()
    ds = DicomSlices([m1, m2], image_size=12, progress=False)
    assert torch.equal(ds.images[:5], ds.images[5:])


def test_instance_number_fallback_and_unknown_order(tmp_path):
    f, v = make_dicom_fixture(tmp_path / "s", positions=False, instance_order="ascending")
    s = read_dicom_series(f)
    assert s.sorted_by == "instance_number" and s.orientation is None
    np.testing.assert_array_equal(s.image, v)
    victim = sorted(f.iterdir())[1]
    d = pydicom.dcmread(victim); del d.InstanceNumber; d.save_as(victim)
    with pytest.raises(ValueError, match=victim.name):
        read_dicom_series(f)


def test_errors_name_the_file(tmp_path):
    f, _ = make_dicom_fixture(tmp_path / "s")
    (f / "readme.txt").write_text("hello")
    with pytest.raises(ImageReadError, match=r"readme\.txt: not a readable DICOM file"):
        read_dicom_series(f)
    (f / "readme.txt").unlink()
    (f / "empty.dcm").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.dcm"):
        read_dicom_series(f)
    (f / "empty.dcm").unlink()

    victim = _by_z(f)[1]
    d = pydicom.dcmread(victim); del d.PixelData; d.save_as(victim)
    with pytest.raises(ImageReadError, match=rf"{victim.name}: has no pixel data"):
        read_dicom_series(f)

    g, _ = make_dicom_fixture(tmp_path / "g")
    victim = _by_z(g)[4]
    d = pydicom.dcmread(victim); d.Rows, d.Columns = 10, 12; d.save_as(victim)
    with pytest.raises(ImageReadError, match=rf"{victim.name}: slice size \(10, 12\) differs"):
        read_dicom_series(g)

    h, _ = make_dicom_fixture(tmp_path / "h")
    victim = _by_z(h)[2]
    d = pydicom.dcmread(victim); d.PhotometricInterpretation = "RGB"; d.save_as(victim)
    with pytest.raises(ImageReadError, match=rf"{victim.name}: colour image \(PhotometricInterpretation 'RGB'"):
        read_dicom_series(h)

    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_dicom_series(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no files"):
        read_dicom_series(tmp_path / "empty")


def test_mixed_series(tmp_path):
    f, v = make_dicom_fixture(tmp_path / "mix", series_number=1)
    _, v2 = make_dicom_fixture(tmp_path / "mix", series_number=7, n_slices=3, description="FLAIR fixture")
    with pytest.raises(ValueError, match="holds 2 series") as e:
        read_dicom_series(f)
    assert "FLAIR fixture" in str(e.value) and not find_phi([str(e.value)])  # lists series, not the patient
    info = {i["series_number"]: i for i in list_dicom_series(f)}
    assert {k: i["n_files"] for k, i in info.items()} == {1: 5, 7: 3}
    s7 = read_dicom_series(f, series_uid=info[7]["series_uid"])
    np.testing.assert_array_equal(s7.image, v2)
    np.testing.assert_array_equal(read_dicom_series(f, series_uid=info[1]["series_uid"]).image, v)
    assert info[7]["series_uid"] not in json.dumps(s7.to_dict())  # UIDs are not kept


def test_single_file_is_one_slice(tmp_path):
    f, v = make_dicom_fixture(tmp_path / "s")
    s = read_dicom_series(_by_z(f)[3])
    assert s.shape == (1, 12, 10) and s.sorted_by == "position"
    np.testing.assert_array_equal(s.image[0], v[3])


def test_only_whitelisted_tags(tmp_path):
    f, _ = make_dicom_fixture(tmp_path / "s")
    s = read_dicom_series(f)
    assert set(s.metadata) <= set(SAFE_TAGS) and s.metadata["Modality"] == "MR"
    assert set(read_dicom_series(f, tags=("EchoTime",)).metadata) == {"EchoTime"}
    with pytest.raises(ValueError, match="PatientID"):
        read_dicom_series(f, tags=("EchoTime", "PatientID"))


def test_nothing_identifying_leaks(tmp_path):
    # folders named after the (made-up) patients, as real exports often are
    a, _ = make_dicom_fixture(tmp_path / "DOE^JANE^Q" / "PID-0042-XYZ" / "t2")
    b, _ = make_dicom_fixture(tmp_path / "DOE^JANE^Q" / "PID-0042-XYZ" / "t1", series_number=2, description="T1 AX fixture")
    other_phi = {**FIXTURE_PHI, "PatientName": "ROE^RICHARD", "PatientID": "MRN-55501", "PatientBirthDate": "19551105"}
    c, _ = make_dicom_fixture(tmp_path / "ROE^RICHARD" / "t2", phi=other_phi, n_slices=4, seed=5)
    secrets = tuple(dict.fromkeys((*PHI, *other_phi.values(), "DOE^JANE^Q", "ROE^RICHARD", str(tmp_path), tmp_path.name)))

    s = read_dicom_series(a)
    assert find_phi(s, secrets) == [] and find_phi(repr(s), secrets) == [] and find_phi(s.to_dict(), secrets) == []
    ds = DicomSlices([a, b, c], image_size=16, labels=[1, 1, 0], progress=False)
    assert find_phi(ds, secrets) == [] and find_phi(repr(ds), secrets) == []
    # objects set aside and files skipped are reported by folder index and file name, never by the patient-named path
    seg = b / "seg.dcm"; seg.write_bytes(open(pydicom.data.get_testdata_file("liver_1frame.dcm"), "rb").read())
    (c / "notes.txt").write_text("ROE^RICHARD's notes")
    with pytest.warns(DicomSkipWarning):
        ds_odd = DicomSlices([a, b, c], image_size=16, skip_bad=True, progress=False)
    assert [(e["folder"], e["file"]) for e in ds_odd.report["set_aside"]] == [(1, "seg.dcm")]
    assert [(e["folder"], e["file"]) for e in ds_odd.report["skipped"]] == [(2, "notes.txt")]
    assert len(ds_odd) == len(ds) and find_phi(ds_odd, secrets) == [] and find_phi(ds_odd.report, secrets) == []
    seg.unlink(); (c / "notes.txt").unlink()
    assert all(n.startswith("s00") and "/z" in n for n in ds.names)
    out = tmp_path / "outputs"
    written = [s.save_json(out / "series.json"),
               save_json({"names": ds.names, "patients": ds.patients, "metadata": ds.metadata, "spacing": ds.spacing}, out / "slices.json")]
    fig = plot_dicom_series(s)
    assert find_phi(fig.to_dict(), secrets) == []
    for p in written + sorted(out.rglob("*")):
        if p.is_file(): assert find_phi(p, secrets) == [], p
    # the checker itself works: a planted value is found
    assert find_phi({"x": ["patient roe richard"]}, secrets) == ["ROE^RICHARD"]

    # same PatientID -> same anonymous patient; the split keeps patients whole
    assert ds.patients[ds.series_index == 0][0] == ds.patients[ds.series_index == 1][0] != ds.patients[ds.series_index == 2][0]
    assert set(ds.patients) == {"p000", "p001"}
    assert patient_overlap(patient_split(ds, (0.5, 0.5), seed=0), ds) == {}
    batch = next(iter(make_loader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 1, 16, 16) and batch["label"].tolist() == [1, 1, 1, 1]


def test_uneven_spacing_warns(tmp_path):
    f, v = make_dicom_fixture(tmp_path / "s", n_slices=6)
    _by_z(f)[2].unlink()
    with pytest.warns(UserWarning, match="uneven slice spacing"):
        s = read_dicom_series(f)
    np.testing.assert_array_equal(s.image, v[[0, 1, 3, 4, 5]])
    assert s.spacing[0] == pytest.approx(3.0)
    np.testing.assert_allclose(s.affine[:3, 0], [0, 0, 3.0])  # median step along the normal
