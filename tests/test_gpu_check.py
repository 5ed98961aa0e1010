"""bench/gpu_check.py in its CPU form at the smallest size, so that the prepared GPU check cannot rot (CI has no GPU).

The Flower part is left out here (`--skip-flower`: Ray's start-up alone takes most of a minute on 2 cores; the
federated simulation itself is tested in tests/test_federated.py); everything else runs: every registered method, embed,
the linear probe, Grad-CAM, occlusion, the explorer table and one segmentation step.
"""
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_cpu_form_runs_every_step(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, "bench/gpu_check.py", "--device", "cpu", "--steps", "1", "--image-size", "32", "--batch-size", "8",
                        "--arch", "resnet10t", "--skip-flower", "--threads", "1", "--results", str(tmp_path)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    res = json.loads((tmp_path / "gpu_check.json").read_text())
    assert r.returncode == 0 and res["failures"] == [], (res.get("failures"), r.stdout[-3000:], r.stderr[-3000:])
    from brainssl.methods.base import list_methods
    assert set(res["methods"]) == set(list_methods())
    assert all(m["ok"] and m["steps"] == 1 and m["images_per_s"] > 0 for m in res["methods"].values())
    assert {"embed", "linear_probe", "gradcam", "occlusion", "explorer_table", "segmentation_step"} <= set(res["downstream"])
    page = (tmp_path / "gpu_check.md").read_text()
    assert "| simclr |" in page and "No GPU was available" in page
