"""A tiny `pretrain` run for tests/test_ddp.py, run as a script so that Lightning's "ddp" launcher can start it again
as rank 1 (it re-runs `sys.argv`). Everything is small: 16-pixel random images, `resnet10t`, a few steps.

--grads FILE   save rank 0's gradients of the first step (after DDP's all-reduce) to FILE
--writes DIR   log every file brainssl writes, per rank, to DIR/writes.rank<R>.txt
--kill-at K    SIGKILL every process at the start of step K (the checkpoint of step K-1 is on disk)
--fixed-views  replace the random views by fixed ones, so that one and two processes see the same views
"""
import argparse, json, os, signal, sys
from pathlib import Path
import torch
from torch import nn
from lightning.pytorch.callbacks import Callback


class FixedViews(nn.Module):
    "Deterministic views: odd calls flip left-right, even calls darken; the same in every process and run."
    def __init__(self): super().__init__(); self.calls = 0
    def forward(self, x):
        self.calls += 1
        return x.flip(-1) if self.calls % 2 else 0.8 * x


class GradRecorder(Callback):
    "Rank 0 saves every parameter's gradient of the first optimiser step (DDP has averaged them by then)."
    def __init__(self, path): self.path, self.done = path, False
    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if self.done: return
        self.done = True
        if trainer.global_rank == 0:
            torch.save({k: p.grad.detach().clone() for k, p in pl_module.named_parameters() if p.grad is not None}, self.path)


class KillAt(Callback):
    "SIGKILL this process at the start of step `k` (every rank does the same, so no rank waits for a dead one)."
    def __init__(self, k): self.k = k
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.k: os.kill(os.getpid(), signal.SIGKILL)


def _rank():
    import torch.distributed as dist
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else int(os.environ.get("LOCAL_RANK", 0))


def log_writes(folder: Path):
    "Wrap `atomic_write` where brainssl uses it so that each rank appends the paths it writes to its own log."
    import brainssl.core, brainssl.encoder, brainssl.training
    orig = brainssl.core.atomic_write
    def logged(path, *a, **k):
        with open(folder / f"writes.rank{_rank()}.txt", "a") as f: f.write(f"{Path(path).name}\n")
        return orig(path, *a, **k)
    for mod in (brainssl.core, brainssl.encoder, brainssl.training): mod.atomic_write = logged


def tiny_data(n: int, size: int = 16, seed: int = 0):
    from brainssl.core import TensorMRIDataset
    g = torch.Generator().manual_seed(seed)
    return TensorMRIDataset(torch.randint(0, 255, (n, 1, size, size), dtype=torch.uint8, generator=g), [0] * n)


def build(method: str, fixed_views: bool):
    from brainssl.methods.base import get_method
    torch.manual_seed(0)
    kw = dict(image_size=16, arch="resnet10t", small_images=True, lr=1e-3, warmup_epochs=0)
    m = get_method(method)(**kw)
    if fixed_views: m.views = FixedViews()
    return m


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="simclr"); ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--devices", type=int, default=1); ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8); ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--sync-bn", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--ckpt-every-steps", type=int, default=None); ap.add_argument("--kill-at", type=int, default=None)
    ap.add_argument("--grads", type=Path, default=None); ap.add_argument("--writes", type=Path, default=None)
    ap.add_argument("--fixed-views", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.writes: log_writes(a.writes)
    from brainssl.methods.base import pretrain
    cbs = ([GradRecorder(a.grads)] if a.grads else []) + ([KillAt(a.kill_at)] if a.kill_at is not None else [])
    sync = {"auto": None, "on": True, "off": False}[a.sync_bn]
    pretrain(build(a.method, a.fixed_views), tiny_data(a.n), a.out, epochs=a.epochs, batch_size=a.batch_size, device="cpu",
             devices=a.devices, strategy="ddp" if a.devices > 1 else None, precision="32-true", progress=False,
             sync_batchnorm=sync, ckpt_every_steps=a.ckpt_every_steps, callbacks=cbs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
