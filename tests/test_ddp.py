"""Scale-out that is proven, not assumed (issue 16): two CPU training processes (DDP over gloo) against one.

Each test is tiny (16-pixel images, `resnet10t`, 2-8 steps) but starts real processes: Lightning's "ddp" launcher
runs `tests/ddp_worker.py` again as rank 1. Marked `ddp` (`pytest -m "not ddp"` leaves them out); the default run
includes them.
"""
import json, os, signal, subprocess, sys
from pathlib import Path
import pytest
import torch

from conftest import brainssl_cmd
import ddp_worker
from brainssl.encoder import load_encoder

WORKER = Path(ddp_worker.__file__)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def run_worker(*args, timeout=600):
    "Run the worker as a script in its own process group; whatever it leaves running is killed afterwards."
    p = subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try: out, _ = p.communicate(timeout=timeout)
    finally:
        try: os.killpg(p.pid, signal.SIGKILL)     # rank 1 is rank 0's child, in the same group
        except ProcessLookupError: pass
    return p.returncode, out.decode(errors="replace")


def rel_diff(a: dict, b: dict) -> float:
    "|a - b| / |a| over all tensors of two name -> tensor dicts with the same names."
    assert set(a) == set(b) and a
    num = sum(((a[k].double() - b[k].double()) ** 2).sum() for k in a) ** 0.5
    return float(num / sum((a[k].double() ** 2).sum() for k in a) ** 0.5)


def encoder_weights(path: Path) -> dict:
    return {k: v.clone() for k, v in load_encoder(path).state_dict().items()}


def written(folder: Path, rank: int) -> list[str]:
    f = folder / f"writes.rank{rank}.txt"
    return f.read_text().split() if f.exists() else []


@pytest.mark.ddp
@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_two_processes_give_the_single_process_gradient_and_only_rank0_writes(tmp_path, method):
    """One step on 2 processes x 8 images has the gradient of one process on the same 16 images (BatchNorm synchronised,
    the default for these methods); only rank 0 writes the encoder, the run log and the checkpoints, and they are whole."""
    common = ["--method", method, "--n", 32, "--epochs", 1, "--fixed-views"]
    ddp_worker.main([*map(str, common), "--out", str(tmp_path / "one"), "--batch-size", "16", "--grads", str(tmp_path / "g1.pt")])
    (tmp_path / "log").mkdir()
    rc, out = run_worker(*common, "--out", tmp_path / "two", "--devices", 2, "--batch-size", 8, "--grads", tmp_path / "g2.pt",
                         "--writes", tmp_path / "log", "--ckpt-every-steps", 1)
    assert rc == 0, out[-3000:]
    g1, g2 = torch.load(tmp_path / "g1.pt"), torch.load(tmp_path / "g2.pt")
    d = rel_diff(g1, g2)
    assert d < 1e-5, f"{method}: the 2-process gradient differs from the 1-process one by {d:.3g} (relative)"
    log = json.loads((tmp_path / "two" / "pretrain.json").read_text())
    assert (log["world_size"], log["global_batch_size"], log["sync_batchnorm"], log["steps"]) == (2, 16, True, 2)
    # rank 0 wrote every file (the checkpoint at each of the 2 steps and at the epoch end); rank 1 wrote nothing
    w0 = written(tmp_path / "log", 0)
    assert {"encoder.safetensors", "pretrain.json", "last.ckpt"} <= set(w0) and w0.count("last.ckpt") >= 2, w0
    assert written(tmp_path / "log", 1) == [], "rank 1 wrote files: " + " ".join(written(tmp_path / "log", 1))
    ck = torch.load(tmp_path / "two" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)   # whole
    assert ck["global_step"] == 2
    enc = load_encoder(tmp_path / "two" / "encoder.safetensors")                                             # whole
    assert all(torch.isfinite(p).all() for p in enc.parameters())
    assert not list((tmp_path / "two").rglob("*.tmp"))


@pytest.mark.ddp
def test_killed_two_process_run_resumes_mid_epoch_to_the_uninterrupted_weights(tmp_path):
    """Both processes are SIGKILLed in the middle of epoch 1 (step 3 of 4); the rerun resumes from the step-3 checkpoint and
    ends with the weights of a 2-process run that was never interrupted."""
    common = ["--n", 32, "--batch-size", 8, "--epochs", 2, "--devices", 2, "--ckpt-every-steps", 1, "--fixed-views"]
    rc, out = run_worker(*common, "--out", tmp_path / "whole")
    assert rc == 0, out[-3000:]
    rc, out = run_worker(*common, "--out", tmp_path / "killed", "--kill-at", 3)
    assert rc == -signal.SIGKILL, f"the run was not killed (rc {rc}): {out[-2000:]}"
    ck = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert (ck["epoch"], ck["global_step"]) == (1, 3), "the checkpoint on disk is not the mid-epoch one"
    assert not (tmp_path / "killed" / "encoder.safetensors").exists()
    rc, out = run_worker(*common, "--out", tmp_path / "killed")
    assert rc == 0, out[-3000:]
    log = json.loads((tmp_path / "killed" / "pretrain.json").read_text())
    assert log["resumed_from"].endswith("last.ckpt") and (log["steps"], log["epochs_done"], log["world_size"]) == (4, 2, 2)
    d = rel_diff(encoder_weights(tmp_path / "whole" / "encoder.safetensors"), encoder_weights(tmp_path / "killed" / "encoder.safetensors"))
    assert d < 1e-6, f"the resumed 2-process run ends {d:.3g} (relative) away from the uninterrupted one"


def test_mid_epoch_kill_and_resume_reproduce_the_uninterrupted_run(tmp_path):
    """One process, random views: killed after 6 of 8 steps (2 batches into epoch 1), resumed, it ends with the weights
    of the uninterrupted run: same images in the same order, same random views, same optimiser state."""
    common = ["--n", 32, "--batch-size", 8, "--epochs", 2, "--ckpt-every-steps", 1]
    ddp_worker.main([*map(str, common), "--out", str(tmp_path / "whole")])
    rc, out = run_worker(*common, "--out", tmp_path / "killed", "--kill-at", 6)
    assert rc == -signal.SIGKILL, f"the run was not killed (rc {rc}): {out[-2000:]}"
    ck = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert (ck["epoch"], ck["global_step"]) == (1, 6)
    (state,) = [v for k, v in ck["callbacks"].items() if k.startswith("ResumeState")]
    assert state == {"epoch": 1, "batches_done": 2, "world_size": 1}
    ddp_worker.main([*map(str, common), "--out", str(tmp_path / "killed")])
    log = json.loads((tmp_path / "killed" / "pretrain.json").read_text())
    assert log["resumed_from"] and log["steps"] == 8
    whole, resumed = encoder_weights(tmp_path / "whole" / "encoder.safetensors"), encoder_weights(tmp_path / "killed" / "encoder.safetensors")
    d = rel_diff(whole, resumed)
    assert d < 1e-6, f"the resumed run ends {d:.3g} (relative) away from the uninterrupted one"


def _tree(root, n=4, size=16):
    "A tiny class-per-folder tree (4 classes x n random PNGs in Training and Testing)."
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for split in ("Training", "Testing"):
        for c in ("glioma_tumor", "meningioma", "no_tumor", "pituitary"):
            d = root / split / c; d.mkdir(parents=True)
            for i in range(n): Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(d / f"{c}_{i}.png")
    return root


@pytest.mark.ddp
def test_cli_pretrain_two_cpu_processes(tmp_path):
    "`brainssl pretrain --devices 2 --strategy ddp` trains 2 gloo processes; `--sync-bn off` and the checkpoint interval are obeyed and recorded."
    data, out = _tree(tmp_path / "data"), tmp_path / "run"
    args = ["pretrain", "--data", data, "--out", out, "--epochs", 1, "--image-size", 16, "--batch-size", 4, "--device", "cpu",
            "--devices", 2, "--strategy", "ddp", "--sync-bn", "off", "--ckpt-every-steps", 1, "--precision", "32-true", "--quiet",
            "--set", "arch='resnet10t'", "--small-images", "--max-minutes", 30]   # a budget: rank 0's clock is broadcast
    r = subprocess.run(brainssl_cmd() + list(map(str, args)), capture_output=True, text=True, timeout=600, env=ENV, start_new_session=True)
    assert r.returncode == 0, r.stderr[-3000:]
    log = json.loads((out / "pretrain.json").read_text())
    assert (log["world_size"], log["devices"], log["sync_batchnorm"], log["steps"]) == (2, 2, False, 2)   # 16 images / (2 x 4)
    assert log["checkpoint_every"]["steps"] == 1 and log["strategy"] == "DDPStrategy" and log["budget"]["minutes"] == 30
    assert "encoder, checkpoint and run log in" in r.stdout
