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
    assert sorted(m) == ["random_init", "simclr"]
    for enc in ("simclr", "random_init"):
        assert m[enc]["n_test_raw"] == 80 and m[enc]["n_test_dedup"] == 80 - m[enc]["n_removed"]
        for test in ("raw", "dedup"):
            s = m[enc]["linear"]["0.1"][test]
            for k in ("accuracy", "sensitivity", "specificity", "auc"):   # a number, inside its own bootstrap interval
                lo, hi = s[k]["ci"]
                assert 0 <= lo <= s[k]["mean"] <= hi <= 1, (enc, test, k, s[k])
    log = json.loads((out / "run.json").read_text())
    assert log["command"].startswith("brainssl demo") and log["args"]["epochs"] == 2 and log["args"]["n_train"] == 160
    assert log["versions"]["torch"] and log["machine"]["cpu_cores"]
