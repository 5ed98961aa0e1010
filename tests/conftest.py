import os, sys, shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REAL = SHARED / "brain-tumor-mri"


def brainssl_cmd():
    "The installed `brainssl` console script of this interpreter's environment."
    exe = Path(sys.executable).parent / "brainssl"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "brainssl.cli"]


@pytest.fixture
def cli():
    return brainssl_cmd()


needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real data not found at {REAL}")
