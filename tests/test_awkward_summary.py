"""The awkward-input suite as a whole: how many files, of which formats, end in which outcome.

The per-format files (`test_awkward_images.py`, `test_awkward_volumes.py`, `test_awkward_dicom.py`) each list their
`CASES`; this test adds them up, so the totals quoted in CONTRIBUTING and in issue notes come from the suite itself:
`pytest -q -s tests/test_awkward_summary.py` prints them.
"""
import json
import test_awkward_dicom, test_awkward_images, test_awkward_volumes
from awkward_cases import OUTCOMES, outcome_counts

SUITES = {"images": test_awkward_images.CASES, "volumes": test_awkward_volumes.CASES, "dicom": test_awkward_dicom.CASES}

def test_suite_totals():
    every = [c for cases in SUITES.values() for c in cases]
    names = [c.name for c in every]
    assert len(names) == len(set(names)), "case names must be unique across the suite"
    totals = outcome_counts(every)
    print(json.dumps({"total": totals["total"], **{o: totals[o] for o in OUTCOMES},
                      "per_suite": {k: {o: outcome_counts(v)[o] for o in OUTCOMES} for k, v in SUITES.items()}}, indent=1))
    assert totals["total"] >= 100 and all(totals[o] > 0 for o in OUTCOMES), totals
    kinds = set(totals["by_kind"])
    for k in ("jpeg", "png", "tiff", "dicom"): assert k in kinds, (k, sorted(kinds))
    assert any("nifti" in k or "nib" in k for k in kinds) and any("lgg" in k for k in kinds) and any("brats" in k for k in kinds), sorted(kinds)
