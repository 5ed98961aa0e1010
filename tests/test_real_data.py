"Checks on the real public MRI in ../shared/data (skipped if it is absent)."
import json
from conftest import REAL, needs_real
from brainssl.data.folder import MRIFolder


@needs_real
def test_real_folder_counts_and_range():
    ds = MRIFolder(REAL, "Testing", image_size=32, progress=False)
    counts = {c: int((ds.labels == k).sum()) for k, c in enumerate(ds.classes)}
    assert counts == {"glioma": 300, "meningioma": 306, "notumor": 405, "pituitary": 300}
    x = ds[0]["image"]
    assert x.shape == (1, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1


@needs_real
def test_real_audit_finds_cross_split_duplicates(tmp_path):
    from brainssl.data.audit import audit, dedup_keep_mask
    splits = {s: MRIFolder(REAL, s, image_size=32, progress=False) for s in ("Training", "Testing")}
    rep = audit(splits, progress=False)
    s = rep.summary()
    assert s["n_exact_groups_cross_split"] > 100
    keep = dedup_keep_mask(rep)
    assert keep.shape == (len(splits["Testing"]),) and 0 < keep.sum() < len(keep)
    rep.save(tmp_path)
    assert json.loads((tmp_path / "audit.json").read_text())["summary"]["n_exact_groups_cross_split"] > 100
