"End-to-end tests of the `brainssl` command, run as a user would run it (in a subprocess)."
import json, os, re, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from conftest import brainssl_cmd


def run(args, **kw):
    return subprocess.run(brainssl_cmd() + args, capture_output=True, text=True, timeout=900, **kw)


def test_unknown_hyperparameter_is_a_clear_error(tmp_path):
    r = run(["pretrain", "--out", str(tmp_path / "o"), "--epochs", "1", "--set", "temprature=0.1", "--quiet"])
    assert r.returncode == 2 and "temprature" in r.stderr and "temperature" in r.stderr and "Traceback" not in r.stderr


def test_help_lists_every_subcommand():
    "`brainssl --help` lists each subcommand on its own line (`brainssl methods` itself: tests/test_methods.py)."
    r = run(["--help"])
    assert r.returncode == 0
    section = r.stdout.split("  COMMAND\n")[1].split("\noptions")[0]
    listed = set(re.findall(r"^ {4}(\S+)", section, re.M))  # wrapped help text is indented further
    assert listed == {"demo", "pretrain", "evaluate", "audit", "explore", "methods"}, r.stdout


def test_bad_data_path_is_named(tmp_path):
    r = run(["pretrain", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"error: --data '{tmp_path / 'nope'}' is not a folder" in r.stderr, r.stderr


def test_library_errors_are_reworded_with_the_flag(tmp_path):
    "The library names the Python argument (`method='nope'`); the command prints its own flag instead."
    r = run(["pretrain", "--method", "nope", "--out", str(tmp_path / "o"), "--image-size", "16", "--quiet"])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "--method 'nope'" in r.stderr and "simclr" in r.stderr and "method=" not in r.stderr, r.stderr


def _tree(root, n=4, size=40, seed=0):
    "A tiny class-per-folder tree with an exact duplicate across Training/Testing."
    rng = np.random.default_rng(seed)
    for split in ("Training", "Testing"):
        for c in ("glioma_tumor", "meningioma", "no_tumor", "pituitary"):
            d = root / split / c; d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(d / f"{c}_{i}.png")
    dup = root / "Training" / "glioma_tumor" / "glioma_tumor_0.png"
    (root / "Testing" / "glioma_tumor" / "copied.png").write_bytes(dup.read_bytes())
    return root


def test_audit_finds_cross_split_duplicate(tmp_path):
    data = _tree(tmp_path / "data")
    r = run(["audit", "--data", str(data), "--out", str(tmp_path / "a"), "--image-size", "32", "--quiet"])
    assert r.returncode == 0, r.stderr
    a = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert a["summary"]["n_exact_groups_cross_split"] == 1
    run_log = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run_log["command"].startswith("brainssl audit") and run_log["versions"]["torch"]
    assert run_log["machine"]["cpu_cores"] == os.cpu_count()


def test_corrupt_file_is_named_then_skipped(tmp_path):
    data = _tree(tmp_path / "data")
    bad = data / "Training" / "pituitary" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    r = run(["audit", "--data", str(data), "--out", str(tmp_path / "a"), "--image-size", "32", "--quiet"])
    assert r.returncode == 2 and "broken.jpg" in r.stderr and "--skip-bad" in r.stderr
    r = run(["audit", "--data", str(data), "--out", str(tmp_path / "a"), "--image-size", "32", "--quiet", "--skip-bad"])
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stderr and "broken.jpg" in r.stderr          # the user is told what was left out
    log = json.loads((tmp_path / "a" / "run.json").read_text())
    assert [s["path"].endswith("broken.jpg") for s in log["args"]["skipped_files"]] == [True]


def test_pretrain_evaluate_explore_on_a_folder(tmp_path):
    data = _tree(tmp_path / "data", n=6)
    out = tmp_path / "run"
    r = run(["pretrain", "--data", str(data), "--out", str(out), "--epochs", "1", "--image-size", "32",
             "--batch-size", "8", "--quiet", "--device", "cpu", "--precision", "bf16-mixed"])
    assert r.returncode == 0, r.stderr
    assert (out / "encoder.safetensors").exists() and (out / "checkpoints" / "last.ckpt").exists()
    assert json.loads((out / "pretrain.json").read_text())["precision"] == "bf16-mixed"
    r = run(["evaluate", "--data", str(data), "--weights", str(out / "encoder.safetensors"), "--out", str(out / "eval"),
             "--image-size", "32", "--fractions", "0.5", "1", "--n-boot", "50", "--quiet", "--device", "cpu",
             "--layers", "layer3", "layer4"])
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "eval" / "metrics.json").read_text())
    (res,) = m.values()
    assert res["readout"] == ["layer3", "layer4"]
    assert res["n_removed"] == 1 and res["n_test_dedup"] == res["n_test_raw"] - 1
    s = res["linear"]["1.0"]["seeds"]["0"]
    for test in ("raw", "dedup"):
        for k in ("accuracy", "sensitivity", "specificity", "auc"):
            lo, hi = s[test][k]["ci"]
            assert lo <= s[test][k]["value"] <= hi
    r = run(["explore", "--data", str(data), "--weights", str(out / "encoder.safetensors"), "--out", str(tmp_path / "map.html"),
             "--image-size", "32", "--quiet", "--device", "cpu"])
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "map.html").read_text()
    assert "data:image/webp;base64," in page and "copied.png" in page


def test_killed_pretrain_resumes_and_leaves_no_partial_files(tmp_path):
    "Kill a pretraining run after its first checkpoint; no partial file remains and a rerun resumes from it."
    data = _tree(tmp_path / "data", n=8)
    out = tmp_path / "run"
    args = ["pretrain", "--data", str(data), "--out", str(out), "--epochs", "100000", "--image-size", "32",
            "--batch-size", "8", "--quiet", "--device", "cpu"]
    p = subprocess.Popen(brainssl_cmd() + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ck = out / "checkpoints" / "last.ckpt"
    t0 = time.time()
    while not ck.exists() and time.time() - t0 < 900 and p.poll() is None: time.sleep(0.2)
    time.sleep(1.0)
    assert p.poll() is None, "the run ended before the kill (it must be killed mid-run): " + p.stderr.read().decode()[-2000:]
    p.send_signal(signal.SIGKILL); p.wait()
    assert ck.exists(), "no checkpoint was written before the kill"
    epoch_killed = torch.load(ck, map_location="cpu", weights_only=False)["epoch"]   # the checkpoint is whole
    # what a kill in the middle of a save leaves beside each file (`atomic_write`'s temporaries): the rerun must delete them
    stale = [ck.parent / ".last.ckpt.k1ll3d.tmp", out / ".encoder.safetensors.k1ll3d.tmp", out / ".pretrain.json.k1ll3d.tmp"]
    for f in stale: f.write_bytes(b"half a file")
    args[args.index("100000")] = str(epoch_killed + 2)
    r = run(args)
    assert r.returncode == 0, r.stderr
    log = json.loads((out / "pretrain.json").read_text())
    assert log["resumed_from"] and log["resumed_from"].endswith("last.ckpt")
    assert log["epochs_done"] == epoch_killed + 2
    assert "resumed from" in r.stdout and "encoder, checkpoint and run log in" in r.stdout, r.stdout
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"


def test_help_does_not_import_the_heavy_stack():
    "`brainssl --help` and `brainssl <command> --help` build the parser without importing torch (or numpy)."
    code = ("import sys, contextlib, io\nfrom brainssl.cli import main\n"
            "for argv in (['--help'], ['demo', '--help'], ['pretrain', '--help'], ['evaluate', '--help']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try: main(argv)\n"
            "        except SystemExit: pass\n"
            "print(sorted(m for m in ('torch', 'numpy', 'lightning', 'PIL', 'sklearn') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def _numeric_tree(root, size=24):
    "Class folders named 0..3 (as some exports number them) plus a stray `unsorted/` folder, Training and Testing."
    rng = np.random.default_rng(1)
    for split in ("Training", "Testing"):
        for c in ("0", "1", "2", "3", "unsorted"):
            d = root / split / c; d.mkdir(parents=True)
            for i in range(2): Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(d / f"{c}_{i}.png")
    return root


def test_class_map_and_ignore_flags(tmp_path):
    data = _numeric_tree(tmp_path / "data")
    r = run(["audit", "--data", str(data), "--out", str(tmp_path / "a"), "--image-size", "16", "--quiet"])
    assert r.returncode == 2 and "'0' is not a known class name" in r.stderr and "--class-map" in r.stderr, r.stderr
    (tmp_path / "map.json").write_text(json.dumps({"2": "notumor", "3": "pituitary"}))
    r = run(["audit", "--data", str(data), "--out", str(tmp_path / "a"), "--image-size", "16", "--quiet",
             "--class-map", "0=glioma,1=meningioma", "--class-map", str(tmp_path / "map.json"), "--ignore", "unsorted"])
    assert r.returncode == 0, r.stderr
    assert "note: left out 2 path(s)" in r.stderr and f"{data / 'Training' / 'unsorted'}: class_map ignores" in r.stderr, r.stderr
    log = json.loads((tmp_path / "a" / "run.json").read_text())
    assert sorted(Path(x["path"]).name for x in log["args"]["ignored"]) == ["unsorted", "unsorted"]
    assert log["args"]["class_map"] == ["0=glioma,1=meningioma", str(tmp_path / "map.json")] and log["args"]["ignore"] == ["unsorted"]
    r = run(["audit", "--data", str(data), "--out", str(tmp_path / "b"), "--class-map", "0=tumour", "--quiet"])
    assert r.returncode == 2 and "--class-map maps folder '0' to 'tumour'" in r.stderr and not (tmp_path / "b").exists(), r.stderr


def test_evaluate_checks_weights_before_any_work(tmp_path):
    "A training checkpoint as --weights is refused at once, pointing at encoder.safetensors; nothing is read or written."
    data = _tree(tmp_path / "data")
    ck = tmp_path / "run" / "checkpoints" / "last.ckpt"; ck.parent.mkdir(parents=True); ck.write_bytes(b"PK\x03\x04")
    (tmp_path / "run" / "encoder.safetensors").write_bytes(b"stand-in")   # only its name is used in the hint
    r = run(["evaluate", "--data", str(data), "--weights", str(ck), "--out", str(tmp_path / "eval"), "--image-size", "16"])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "--weights" in r.stderr and "training checkpoint" in r.stderr and str(tmp_path / "run" / "encoder.safetensors") in r.stderr
    assert not (tmp_path / "eval").exists(), "evaluate wrote outputs before checking --weights"
    assert "reading" not in r.stderr, r.stderr   # the data was not read
    r = run(["evaluate", "--data", str(data), "--weights", str(tmp_path / "run" / "encoder.safetensors"), "--out", str(tmp_path / "eval")])
    assert r.returncode == 2 and "not a safetensors file" in r.stderr and not (tmp_path / "eval").exists(), r.stderr


def test_folder_without_training_says_the_layout(tmp_path):
    data = tmp_path / "flat"
    for c in ("glioma", "meningioma"): (data / c).mkdir(parents=True)
    r = run(["pretrain", "--data", str(data), "--out", str(tmp_path / "o"), "--quiet"])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    for s in ("has no Training folder", "expected <data>/Training/<class>/", "holds 2 folder(s) ['glioma', 'meningioma']",
              f"ln -s {data} TREE/Training"):
        assert s in r.stderr, (s, r.stderr)


def test_output_to_a_file_has_no_bars_or_banners(tmp_path):
    "Not on a terminal: one line per stage, no progress bars, no Lightning banners/tips; those are in run.log."
    data = _tree(tmp_path / "data", n=2)
    out = tmp_path / "run"
    r = run(["pretrain", "--data", str(data), "--out", str(out), "--epochs", "1", "--image-size", "16",
             "--batch-size", "8", "--device", "cpu"])
    assert r.returncode == 0, r.stderr
    both = r.stdout + r.stderr
    for noise in ("\r", "it/s", "GPU available", "TPU available", "litmodels", "Tip:"):
        assert noise not in both, (noise, both)
    assert "brainssl pretrain: reading" in r.stderr and "brainssl pretrain: pretraining simclr" in r.stderr, r.stderr
    assert len(both.strip().splitlines()) <= 4, both
    assert "pretraining simclr" in (out / "run.log").read_text()   # the stages (and any library warning) are in run.log


def _other_data_sets(tmp_path):
    "Source tree A, and as targets: tree B (with one planted copy of an A training image), an LGG root L and a BraTS folder BR."
    from brainssl.testing import make_brats_fixture, make_lgg_fixture
    a = _tree(tmp_path / "A", n=3, size=32)
    b = _tree(tmp_path / "B", n=2, size=32, seed=1)
    (b / "Testing" / "pituitary" / "from_A.png").write_bytes((a / "Training" / "pituitary" / "pituitary_0.png").read_bytes())
    lgg = make_lgg_fixture(tmp_path / "L", n_patients=5, n_slices=2, image_size=32).parent
    make_brats_fixture(tmp_path / "BR", shape=(32, 32, 6))
    return a, b, lgg, tmp_path / "BR"


def test_evaluate_on_other_data_sets(tmp_path):
    "evaluate --test-data on a class-per-folder tree, an LGG root and a BraTS folder: one entry per target with duplicates and task mapping, one line each."
    a, b, lgg, br = _other_data_sets(tmp_path)
    out = tmp_path / "o"
    r = run(["evaluate", "--data", str(a), "--test-data", str(b), "--test-data", str(lgg), "--test-data", str(br), "--weights", "random",
             "--out", str(out), "--image-size", "32", "--fractions", "1", "--n-boot", "20", "--quiet", "--device", "cpu"])
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "metrics.json").read_text())["targets"]
    assert set(m) == {"B", "L", "BR"}, m.keys()
    assert m["B"]["n_duplicates"] == 1 and m["B"]["n_raw"] == 10 and m["B"]["kind"] == "folder"  # 8 + B's own copy + the planted one
    assert m["B"]["task_mapping"] == {c: c for c in ("glioma", "meningioma", "notumor", "pituitary")}
    for t in ("L", "BR"):
        assert m[t]["task_mapping"] == {"glioma": "tumour", "meningioma": "tumour", "notumor": "no_tumour", "pituitary": "tumour"}
        assert m[t]["channel"] == "flair" and m[t]["ci_unit"] == "patient" and m[t]["n_duplicates"] == 0
    assert (m["L"]["kind"], m["L"]["n_raw"], m["BR"]["kind"]) == ("lgg", 10, "brats")
    acc = m["L"]["by_fraction"]["1.0"]["dedup"]["accuracy"]
    assert 0 <= acc["ci"][0] <= acc["mean"] <= acc["ci"][1] <= 1
    lines = [l for l in r.stdout.splitlines() if re.match(r"^(B|L|BR) \(", l)]
    assert len(lines) == 3 and "1 duplicates of source images removed" in lines[0], r.stdout


def test_test_data_checked_before_any_work(tmp_path):
    "An unknown --test-channel is refused naming the channels the target has, and a bad --test-data folder is named, before anything is written."
    a, _, _, br = _other_data_sets(tmp_path)
    r = run(["evaluate", "--data", str(a), "--test-data", str(br), "--test-channel", "dwi", "--weights", "random", "--out", str(tmp_path / "o")])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "--test-channel 'dwi'" in r.stderr and "['t1', 't1ce', 't2', 'flair']" in r.stderr, r.stderr
    r = run(["evaluate", "--data", str(a), "--test-data", str(tmp_path / "nope"), "--weights", "random", "--out", str(tmp_path / "o")])
    assert r.returncode == 2 and "--test-data" in r.stderr and "nope" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_domain_adaptive_pretraining_holds_out_the_target_test_patients(tmp_path):
    "pretrain --extra-unlabelled LGG: pretrains on A's Training plus the LGG training patients only; evaluate then scores only the held-out ones."
    a, _, lgg, _ = _other_data_sets(tmp_path)
    out = tmp_path / "run"
    r = run(["pretrain", "--data", str(a), "--extra-unlabelled", str(lgg), "--target-test-fraction", "0.4", "--out", str(out),
             "--epochs", "1", "--image-size", "32", "--batch-size", "8", "--quiet", "--device", "cpu"])
    assert r.returncode == 0, r.stderr
    log = json.loads((out / "pretrain.json").read_text())
    (ex,) = log["sources"]["extra"]
    assert log["n_images"] == 12 + 6 and ex["n"] == 6 and ex["kind"] == "lgg"  # 3 of 5 patients x 2 slices
    assert len(ex["held_out_patients"]) == 2 and not set(ex["held_out_patients"]) & set(ex["pretrained_patients"])
    assert json.loads((out / "run.json").read_text())["args"]["sources"]["extra"][0]["held_out_patients"] == ex["held_out_patients"]
    r = run(["evaluate", "--data", str(a), "--test-data", str(lgg / "kaggle_3m"), "--weights", str(out / "encoder.safetensors"),
             "--out", str(out / "eval"), "--image-size", "32", "--fractions", "1", "--n-boot", "20", "--quiet", "--device", "cpu"])
    assert r.returncode == 0, r.stderr
    t = json.loads((out / "eval" / "metrics.json").read_text())["targets"]["kaggle_3m"]
    assert t["held_out_patients_only"] and t["n_held_out_patients"] == 2 and t["n_raw"] == 4


def test_explore_with_a_vit_encoder(tmp_path):
    "Issue 18: `brainssl explore --weights` reads a saved ViT encoder (timm_kwargs in its metadata) and writes the page."
    from brainssl.encoder import Encoder, save_encoder
    from brainssl.vit import vit_kwargs
    data = _tree(tmp_path / "data", n=3)
    w = save_encoder(Encoder("vit_tiny_patch16_224", seed=0, timm_kwargs=vit_kwargs(32, depth=1)), tmp_path / "vit" / "encoder.safetensors")
    r = run(["explore", "--data", str(data), "--weights", str(w), "--out", str(tmp_path / "map.html"),
             "--image-size", "32", "--quiet", "--device", "cpu", "--predict"])
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "map.html").read_text()
    assert "data:image/webp;base64," in page and "copied.png" in page
