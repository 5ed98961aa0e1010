"""Shared pieces of the awkward-input suite (tests/test_awkward_*.py).

Each suite file lists `Case`s: a crafted or shipped file, how to write it into a temporary folder, and the one
outcome a careful user expects from brainssl's reader:
- "ok": read correctly (the case's `check` asserts the values, not just that something came back);
- "refused": an exception whose message names the file (and says what to do);
- "skipped": with `skip_bad=True` the file is left out and listed in the reader's report.
`tests/test_awkward_summary.py`-style counting is done by `outcome_counts` over every suite's CASES.
"""
from __future__ import annotations
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

OUTCOMES = ("ok", "refused", "skipped")

@dataclass(frozen=True)
class Case:
    name: str                                  # short id, e.g. "jpeg-exif-rot90"
    kind: str                                  # "jpeg", "png", "tiff", "nifti", "dicom", "lgg", "brats", "folder", ...
    write: Callable[[Path], Path]              # writes the file(s) under the given tmp folder, returns the path to read
    expect: str                                # one of OUTCOMES
    check: Callable | None = None              # for "ok": asserts on what the reader returned
    match: str | None = None                   # for "refused": regex the error message must match (besides the file name)
    note: str = ""                             # why this outcome is the right one

    def __post_init__(self):
        if self.expect not in OUTCOMES: raise ValueError(f"{self.name}: expect must be one of {OUTCOMES}")

def outcome_counts(cases) -> dict:
    "How many cases of each kind end in each outcome: `{'ok': n, 'refused': n, 'skipped': n, 'by_kind': {...}}`."
    c = Counter(x.expect for x in cases)
    kinds = Counter((x.kind, x.expect) for x in cases)
    return {**{o: c.get(o, 0) for o in OUTCOMES}, "total": len(cases),
            "by_kind": {k: {o: kinds.get((k, o), 0) for o in OUTCOMES} for k in sorted({x.kind for x in cases})}}
