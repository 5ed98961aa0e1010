"The demo, as `make demo` runs it but smaller."
import json
from conftest import brainssl_cmd
import subprocess


def test_demo_writes_every_output(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run(brainssl_cmd() + ["demo", "--out", str(out), "--epochs", "2", "--n-train", "160", "--n-test", "80",
                                         "--quiet", "--device", "cpu"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    for f in ("metrics.json", "audit.json", "encoder.safetensors", "run.json", "pretrain.json",
              "label_efficiency.html", "confusion_matrix.html", "embedding_map.html"):
        assert (out / f).exists(), f
    m = json.loads((out / "metrics.json").read_text())
    for enc in ("simclr", "random_init"):
        for test in ("raw", "dedup"):
            s = m[enc]["linear"]["0.1"][test]
            assert set(s) >= {"accuracy", "sensitivity", "specificity", "auc"}
    log = json.loads((out / "run.json").read_text())
    assert log["command"].startswith("brainssl demo") and log["args"]["epochs"] == 2
