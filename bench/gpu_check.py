"""A prepared check of the GPU path: every registered method and every GPU-using step of brainssl, in a few minutes.

On one CUDA GPU (the default, `--device cuda`), on the embedded synthetic MRI at 64 px:

- pretrains every registered SSL method for `--steps` optimiser steps (default 30) under mixed precision (what
  `pretrain` picks on the GPU: bf16 where supported, else fp16), with a callback that checks at every step that the
  batch, every parameter and every gradient is on the GPU (no silent CPU fallback); it reports images per second
  (steps x batch / wall time of the `pretrain` call, first-use set-up included) and the peak GPU memory per method;
- with the SimCLR encoder: `embed`, a linear probe, Grad-CAM and occlusion maps of a linear-head classifier, the
  explorer table (UMAP, neighbours, label-error candidates), one segmentation step of the U-Net on the encoder, and a
  2-client Flower simulation whose clients ask Ray for half a GPU each and train there (`device="cuda"`);
- writes bench/results/gpu_check.md and .json (every number, the machine and the package versions).

Run from the repository root on a machine with one CUDA GPU (about 2-4 minutes, most of it Ray and UMAP start-up):

    .venv/bin/python bench/gpu_check.py

`--device cpu` runs the same steps on the CPU, shorter (2 steps, 32 px, batch 16); tests/test_gpu_check.py runs that
form at the smallest size with `--skip-flower` in CI, so the script cannot rot. The exit status is 1 when any check
failed; the page lists which.
"""
from __future__ import annotations
import json, tempfile, time, traceback
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from _common import command, log, method_arch, parser, provenance, set_threads, write_text
from brainssl.core import save_json
from brainssl.data.synthetic import make_synthetic
from brainssl.encoder import embed
from brainssl.eval.probes import linear_probe
from brainssl.explain.attribution import attribution_maps
from brainssl.explain.classifier import Classifier, linear_head
from brainssl.methods.base import get_method, list_methods, pretrain
from brainssl.segment import segmenter_from_encoder, train_segmenter
from brainssl.viz.explorer import explorer_table

METHOD_KWARGS = {"deepcluster": {"n_clusters": 8}}   # DeepCluster needs no more clusters than images


class OnDevice(Callback):
    "Fails the run when the batch, a parameter or a gradient is not on `device` (checked at every step)."
    def __init__(self, device: torch.device): self.type, self.steps = device.type, 0
    def _check(self, what, tensors):
        bad = [n for n, t in tensors if t is not None and t.device.type != self.type]
        if bad: raise RuntimeError(f"{what} not on {self.type}: {', '.join(bad[:5])}")
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._check("batch", [(k, v) for k, v in batch.items() if isinstance(v, torch.Tensor)])
        self._check("parameters", list(pl_module.named_parameters()))
    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self._check("gradients", [(n, p.grad) for n, p in pl_module.named_parameters()]); self.steps += 1


def on_device(t: torch.Tensor, dev: torch.device, what: str) -> torch.Tensor:
    if t.device.type != dev.type: raise RuntimeError(f"{what} came back on {t.device}, not {dev.type}")
    return t


def sync(dev):
    if dev.type == "cuda": torch.cuda.synchronize()


def peak_mib(dev) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2 ** 20, 1) if dev.type == "cuda" else None


def check_method(name, a, dev, work) -> dict:
    "Pretrain `name` for `a.steps` steps; images/s, peak memory, the precision and whether every step stayed on the device."
    channels = max(1, getattr(get_method(name), "min_channels", 1))
    data = make_synthetic(a.steps * a.batch_size, image_size=a.image_size, modalities=("t1ce", "flair")[:channels], seed=a.seed)
    if dev.type == "cuda": torch.cuda.reset_peak_memory_stats()
    guard = OnDevice(dev)
    sync(dev); t0 = time.perf_counter()
    model = pretrain(name, data, work / name, epochs=1, batch_size=a.batch_size, seed=a.seed, device=a.device, progress=False,
                     resume=False, arch=method_arch(name, a.arch), callbacks=[guard], **METHOD_KWARGS.get(name, {}))
    sync(dev); wall = time.perf_counter() - t0
    logd = json.loads((work / name / "pretrain.json").read_text())
    if guard.steps != a.steps: raise RuntimeError(f"{guard.steps} steps checked, {a.steps} expected")
    return {"images_per_s": round(a.steps * a.batch_size / wall, 1), "wall_s": round(wall, 2), "peak_mib": peak_mib(dev),
            "precision": logd["precision"], "device": logd["device"], "steps": logd["steps"], "model": model}


def downstream(model, a, dev, work) -> dict:
    "Every GPU-using step after pretraining, with the SimCLR encoder; name -> seconds (or an error)."
    enc, out = model.encoder.to(dev), {}
    train = make_synthetic(64, image_size=a.image_size, seed=a.seed, stream=0)
    test = make_synthetic(32, image_size=a.image_size, seed=a.seed, stream=1)
    def step(name, f):
        sync(dev); t0 = time.perf_counter()
        try: f(); sync(dev); out[name] = {"ok": True, "seconds": round(time.perf_counter() - t0, 2)}
        except Exception as e: out[name] = {"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}; traceback.print_exc()
        log(f"  {name}: {out[name]}")
    feats = {}
    def _embed():
        feats["train"], feats["test"] = embed(enc, train, device=dev, progress=False), embed(enc, test, device=dev, progress=False)
        if next(enc.parameters()).device.type != dev.type: raise RuntimeError("embed moved the encoder off the device")
    step("embed", _embed)
    def _probe():
        proba, _ = linear_probe(feats["train"], np.asarray(train.labels), feats["test"], seed=a.seed)
        out["probe_accuracy"] = round(float((proba.argmax(1) == np.asarray(test.labels)).mean()), 3)
    step("linear_probe", _probe)
    clf = Classifier(enc, linear_head(feats["train"], np.asarray(train.labels)).to(dev)).to(dev).eval() if feats else None
    x = test.stack(progress=False)[:4].float().div(255).to(dev)
    step("gradcam", lambda: on_device(attribution_maps(clf, x, "gradcam"), dev, "Grad-CAM maps"))
    step("occlusion", lambda: on_device(attribution_maps(clf, x, "occlusion"), dev, "occlusion maps"))
    step("explorer_table", lambda: explorer_table(feats["test"], test, n_neighbors=8, n_clusters=4, seed=a.seed))
    def _segment():
        unet = segmenter_from_encoder(enc, in_channels=1)
        losses = train_segmenter(unet, train, steps=1, batch_size=8, device=dev, progress=False)
        on_device(next(unet.parameters()), dev, "the U-Net")
        if not np.isfinite(losses).all(): raise FloatingPointError(f"segmentation loss {losses}")
    step("segmentation_step", _segment)
    if not a.skip_flower: step("flower_2_clients", lambda: out.update(flower=flower(a, dev, work)))
    return out


def flower(a, dev, work) -> dict:
    "A 2-client Flower simulation, one round; on a GPU each client gets 0.5 GPU from Ray and trains on it."
    from flwr.simulation import run_simulation
    from brainssl.federated.config import FedConfig
    from brainssl.federated.client import make_client_app
    from brainssl.federated.server import make_server_app
    cfg = FedConfig(method="simclr", rounds=1, n_sites=2, n_train=32, n_test=32, batch_size=8, image_size=a.image_size,
                    arch=a.arch, device=dev.type, out_dir=str(work / "fed"), seed=a.seed)
    sink: dict = {}
    backend = {"client_resources": {"num_cpus": 1, "num_gpus": 0.5 if dev.type == "cuda" else 0.0},
               "init_args": {"include_dashboard": False, "log_to_driver": False, "configure_logging": False, "num_cpus": 2}}
    run_simulation(make_server_app(cfg, sink), make_client_app(cfg), num_supernodes=2, backend_config=backend)
    if not sink or sink.get("rounds_completed", 0) < 1: raise RuntimeError(f"the Flower simulation completed no round: {str(sink)[:200]}")
    return {"rounds_completed": sink["rounds_completed"], "client_gpus": backend["client_resources"]["num_gpus"]}


def render(res: dict) -> str:
    cuda = res["device"] == "cuda"
    lines = [f"# GPU check ({'CUDA' if cuda else 'CPU form'})", "",
             f"`{res['command']}`: {res['steps']} steps per method at {res['image_size']} px, batch {res['batch_size']}, "
             f"`{res['arch']}`, on {res['device_name']}. Images per second include the first-use set-up of each method "
             "(one short call each). Every step of every method was checked to keep its batch, parameters and gradients "
             f"on the {'GPU' if cuda else 'CPU'}.", ""]
    if not cuda:
        lines += ["**No GPU was available when this page was written**: these are the numbers of the CPU form "
                  "(`--device cpu`), which CI runs so that the script keeps working. Run `python bench/gpu_check.py` "
                  "on a CUDA machine to replace them.", ""]
    lines += ["| method | images/s | peak GPU memory (MiB) | precision | steps on device | status |", "|---|---:|---:|---|---:|---|"]
    for m, r in res["methods"].items():
        if r.get("ok"): lines.append(f"| {m} | {r['images_per_s']} | {r['peak_mib'] if r['peak_mib'] is not None else '-'} | {r['precision']} | {r['steps']} | ok |")
        else: lines.append(f"| {m} | - | - | - | - | FAILED: {r['error']} |")
    lines += ["", "| step (SimCLR encoder) | seconds | status |", "|---|---:|---|"]
    for k, r in res["downstream"].items():
        if isinstance(r, dict) and "ok" in r: lines.append(f"| {k} | {r.get('seconds', '-')} | {'ok' if r['ok'] else 'FAILED: ' + r['error']} |")
    if "probe_accuracy" in res["downstream"]: lines += ["", f"Linear-probe accuracy after {res['steps']} SimCLR steps (a plumbing check, not a result): {res['downstream']['probe_accuracy']}."]
    lines += ["", f"Failures: {len(res['failures'])}" + (": " + ", ".join(res["failures"]) if res["failures"] else "."),
              "", f"Total wall time {res['total_s']} s. Machine: {json.dumps(res['machine'])}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = parser(__doc__, None, "seed", "threads", "device", threads=None, device="cuda")
    ap.add_argument("--steps", type=int, default=None, help="optimiser steps per method (default 30 on a GPU, 2 on a CPU)")
    ap.add_argument("--image-size", type=int, default=None, help="pixels per side (default 64 on a GPU, 32 on a CPU)")
    ap.add_argument("--batch-size", type=int, default=None, help="images per step (default 64 on a GPU, 16 on a CPU)")
    ap.add_argument("--arch", default="resnet18", help="encoder backbone (default resnet18)")
    ap.add_argument("--methods", nargs="*", default=None, help="methods to pretrain (default: every registered one)")
    ap.add_argument("--skip-flower", action="store_true", help="leave out the Flower simulation (Ray start-up is the slowest part)")
    a = ap.parse_args(argv)
    set_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available(): ap.error("--device cuda but no CUDA GPU is visible; use --device cpu for the CPU form")
    small = dev.type != "cuda"
    a.steps, a.image_size, a.batch_size = a.steps or (2 if small else 30), a.image_size or (32 if small else 64), a.batch_size or (16 if small else 64)
    t_all = time.perf_counter()
    res = {"command": command(), "device": dev.type, "steps": a.steps, "image_size": a.image_size, "batch_size": a.batch_size,
           "arch": a.arch, "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "the CPU",
           "methods": {}, "downstream": {}, "failures": []}
    simclr = None
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        for m in a.methods or list(list_methods()):
            log(f"pretrain {m}")
            try:
                r = check_method(m, a, dev, work)
                if m == "simclr": simclr = r["model"]
                res["methods"][m] = {"ok": True, **{k: v for k, v in r.items() if k != "model"}}
            except Exception as e:
                traceback.print_exc()
                res["methods"][m] = {"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}; res["failures"].append(m)
            log(f"  {res['methods'][m]}")
        if simclr is None:
            simclr = get_method("simclr")(image_size=a.image_size, arch=a.arch)
            res["failures"].append("simclr missing: downstream steps used a random-init encoder")
        res["downstream"] = downstream(simclr, a, dev, work)
    res["failures"] += [k for k, r in res["downstream"].items() if isinstance(r, dict) and r.get("ok") is False]
    res["total_s"] = round(time.perf_counter() - t_all, 1)
    res.update(provenance(("flwr",)))
    a.results.mkdir(parents=True, exist_ok=True)
    save_json(res, a.results / "gpu_check.json")
    write_text(a.results / "gpu_check.md", render(res))
    log(f"wrote {a.results / 'gpu_check.md'}; {len(res['failures'])} failures")
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
