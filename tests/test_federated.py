"""Federated SSL in Flower's deployment mode: a real SuperLink and two SuperNodes on loopback, `flwr run`, one node killed.

The notebooks (nbs/82_federated_client.ipynb, nbs/83_federated_server.ipynb) test the same apps by direct calls and in
Flower's simulation engine; this file checks that they also run as separate processes talking over the network, which
is how hospitals would run them."""
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path

import importlib.util

import pytest
import torch

needs_flwr = pytest.mark.skipif(importlib.util.find_spec("flwr") is None, reason="the [federated] extra (flwr) is not installed")

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd, log: Path, env) -> subprocess.Popen:
    "Start `cmd` in its own process group (it spawns children: SuperExec, ServerApp, ClientApp processes)."
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _kill(p: subprocess.Popen, sig=signal.SIGTERM):
    if p.poll() is None:
        try: os.killpg(p.pid, sig)
        except ProcessLookupError: return
        try: p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL); p.wait(10)


def _wait(pred, timeout: float, what: str, logs=()):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred(): return
        time.sleep(0.5)
    tails = "\n".join(f"--- {l.name}\n{l.read_text()[-3000:]}" for l in logs if l.exists())
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tails}")


def test_missing_flower_names_the_extra():
    "Without Flower, `import brainssl.federated` says which extra to install (simulated: `sys.modules['flwr'] = None`)."
    code = "import sys; sys.modules['flwr'] = None\nimport brainssl.federated.server"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "ModuleNotFoundError: brainssl.federated needs Flower" in r.stderr, r.stderr
    assert 'pip install "brainssl[federated]"' in r.stderr, r.stderr


@needs_flwr
def test_unplaceable_client_fails_fast():
    "A client needing more CPUs than Ray has used to hang forever (\"ActorPool is empty\"); now a ValueError before Ray starts."
    code = ("from brainssl.federated.config import FedConfig\nfrom brainssl.federated.server import run_federated\n"
            "run_federated(FedConfig(n_sites=2, n_train=16, n_test=16, rounds=1), client_cpus=2, total_cpus=1)")
    try: r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired: pytest.fail("run_federated with client_cpus > total_cpus did not return within 180 s")
    assert r.returncode == 1 and "ValueError: client_cpus=2 is more than the 1 CPUs" in r.stderr, r.stderr[-3000:]
    assert "lower client_cpus" in r.stderr, r.stderr[-3000:]


@needs_flwr
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_cuda_device_without_cuda_is_an_error():
    "device='cuda' on a machine without CUDA used to give a 0-round summary; now it is refused up front."
    from brainssl.federated.config import FedConfig
    from brainssl.federated.server import run_federated
    with pytest.raises(ValueError, match="CUDA is not available"):
        run_federated(FedConfig(n_sites=2, n_train=16, n_test=16, rounds=1, device="cuda"))
    with pytest.raises(ValueError, match="no CUDA GPU; use client_gpus=0"):
        run_federated(FedConfig(n_sites=2, n_train=16, n_test=16, rounds=1), client_gpus=0.5)


@needs_flwr
def test_superlink_two_supernodes_survives_killed_client(tmp_path):
    from safetensors.torch import load_file
    from brainssl.federated.app import write_flower_app
    from brainssl.federated.config import FedConfig
    env = {**os.environ, "FLWR_HOME": str(tmp_path / "flwr-home"), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    link_port, node_ports = _free_port(), [_free_port(), _free_port()]
    (tmp_path / "flwr-home").mkdir()
    (tmp_path / "flwr-home" / "config.toml").write_text(
        f'[superlink]\ndefault = "loopback"\n\n[superlink.loopback]\naddress = "127.0.0.1:{link_port}"\ninsecure = true\n')
    out = tmp_path / "out"
    cfg = FedConfig(n_sites=2, n_train=32, n_test=32, batch_size=8, rounds=2, round_timeout=60.0, out_dir=str(out))
    app = write_flower_app(tmp_path / "app", cfg)
    logs = [tmp_path / "superlink.log", tmp_path / "node0.log", tmp_path / "node1.log"]
    procs = []
    try:
        procs.append(_start([str(BIN / "flower-superlink"), "--insecure", "--port", str(link_port),
                             "--disable-runtime-dependency-installation"], logs[0], env))
        _wait(lambda: "Uvicorn running" in logs[0].read_text(), 60, "the SuperLink to start", logs)
        for site, port in enumerate(node_ports):
            procs.append(_start([str(BIN / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{link_port}",
                                 "--port", str(port), "--node-config", f"site={site}"], logs[1 + site], env))
        _wait(lambda: logs[0].read_text().count("Activated node_id") >= 2, 90, "two SuperNodes to connect", logs)
        run = subprocess.run([str(BIN / "flwr"), "run", str(app), "loopback"], env=env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        # round 2 has begun when site 0 receives its second train message; site 1's hospital then goes dark mid-round
        _wait(lambda: logs[1].read_text().count("Receiving: train message") >= 2, 300, "round 2 to start", logs)
        _kill(procs[2], signal.SIGKILL)
        _wait(lambda: (out / "federated.json").exists(), 420, "the ServerApp to finish", logs)
    finally:
        for p in reversed(procs): _kill(p)
    res = json.loads((out / "federated.json").read_text())
    assert res["rounds_completed"] == 2, res["rounds"]
    assert [r["replies"] for r in res["rounds"]] == [2, 1], res["rounds"]  # round 2 went ahead with the survivor
    assert res["rejected_replies"] == []  # every reply passed the privacy audit
    assert list(res["sites"]) == ["0"]  # only the surviving site evaluated
    init, final = load_file(out / "initial.safetensors"), load_file(out / "global.safetensors")
    assert init.keys() == final.keys() and len(init) > 0
    assert all(init[k].shape == final[k].shape for k in init)
    assert any(not torch.equal(init[k], final[k]) for k in init)  # the aggregated weights changed
    assert res["weights_moved"] > 0
