"""Pretraining speed of every 1-channel SSL method on real MRI, per backbone, before and after the speed work.

For each registered method that learns from one channel (`list_methods(in_channels=1)`), each backbone (`--archs`,
default ResNet-18 and timm's ResNet-10t) and each setting (`--settings`, default all three):

- before: `precision="32-true", memory_format="contiguous"` (the path before the speed work);
- channels_last: `precision="32-true", memory_format="channels_last"`;
- auto: `precision=None, memory_format="auto"`, what `pretrain` picks by itself (bf16 mixed precision + channels-last
  on a CPU with bf16 instructions, full precision contiguous otherwise); the JSON and the page say what it resolved to;

the script times one `pretrain` call of one epoch over a seeded random subset of `steps * batch_size` Training images
at 64 px (so exactly `--steps` optimiser steps), measuring process CPU time (`time.process_time()`, all threads) and
wall time around the call. One untimed 1-step call with the same method, backbone and setting comes first, so imports,
allocations and the first-use set-up of each kernel (oneDNN primitives differ per memory format and dtype) do not
count. It reports seconds per step (CPU and wall), the projected seconds per epoch of the full Training set
(`len(Training) // batch_size` steps) and the speed-up of each setting over "before". DeepCluster uses 16 clusters
(it needs no more clusters than images).

Run from the repository root on an otherwise idle machine (11 methods x 2 backbones x 3 settings, 4 timed + 1 warm-up
step each at batch 128: roughly 10-20 minutes on 2 CPU cores; it reuses the decoded-image cache of
bench/label_efficiency.py, or fills it first in about half a minute):

    .venv/bin/python bench/pretrain_speed.py

Writes bench/results/pretrain_speed.{md,json}. `--render-only` rewrites the markdown from the saved JSON.
"""
from __future__ import annotations
import json, math, statistics, tempfile, time, traceback
from pathlib import Path

import numpy as np

from _common import command, log, parser, provenance, set_threads, write_text
from brainssl.core import save_json
from brainssl.methods.base import list_methods, pretrain
from brainssl.training import cpu_supports_bf16

SETTINGS = {  # name -> the keyword arguments of `pretrain` that it sets
    "before": {"precision": "32-true", "memory_format": "contiguous"},
    "channels_last": {"precision": "32-true", "memory_format": "channels_last"},
    "auto": {"precision": None, "memory_format": "auto"},
}
METHOD_KWARGS = {"deepcluster": {"n_clusters": 16}}  # DeepCluster needs n_clusters <= images


def _pretrain_once(method, data, arch, setting, a) -> dict:
    "One `pretrain` call of 1 epoch over `data`, timed; its pretrain.json fields that matter here."
    kw = {**METHOD_KWARGS.get(method, {})}
    if "n_clusters" in kw: kw["n_clusters"] = min(kw["n_clusters"], len(data))
    with tempfile.TemporaryDirectory() as d:
        c0, w0 = time.process_time(), time.perf_counter()
        pretrain(method, data, d, epochs=1, batch_size=a.batch_size, seed=a.seed, device=a.device, progress=False,
                 resume=False, image_size=a.image_size, arch=arch, **SETTINGS[setting], **kw)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        pl = json.loads((Path(d) / "pretrain.json").read_text())
    return {"cpu_seconds": cpu, "wall_seconds": wall, "trainer_steps": pl["steps"], "precision": pl["precision"],
            "memory_format": pl["memory_format"], "wall_seconds_in_pretrain": pl.get("wall_seconds_this_call"),
            "method_kwargs": kw}


def measure(train, a) -> list[dict]:
    "Every (method, arch, setting) row: warm-up, then the timed call."
    rng = np.random.default_rng(a.seed)
    n = a.steps * a.batch_size
    if n > len(train): raise SystemExit(f"--steps {a.steps} x --batch-size {a.batch_size} = {n} images > the {len(train)} Training images")
    idx = np.sort(rng.choice(len(train), size=n, replace=False))
    timed, warm = train.subset(idx), train.subset(idx[:a.batch_size])
    steps_per_epoch = len(train) // a.batch_size
    rows = []
    for method in a.methods:
        for arch in a.archs:
            for setting in a.settings:
                row = {"method": method, "arch": arch, "setting": setting, "steps": a.steps, "n_images": n}
                try:
                    w = _pretrain_once(method, warm, arch, setting, a)  # warm-up, 1 step; kept apart, not counted
                    r = _pretrain_once(method, timed, arch, setting, a)
                    row.update(warmup_cpu_seconds=round(w["cpu_seconds"], 3), warmup_wall_seconds=round(w["wall_seconds"], 3))
                    row.update(r, cpu_seconds=round(r["cpu_seconds"], 3), wall_seconds=round(r["wall_seconds"], 3),
                               cpu_seconds_per_step=round(r["cpu_seconds"] / a.steps, 4),
                               wall_seconds_per_step=round(r["wall_seconds"] / a.steps, 4),
                               cpu_seconds_per_epoch=round(r["cpu_seconds"] / a.steps * steps_per_epoch, 1),
                               wall_seconds_per_epoch=round(r["wall_seconds"] / a.steps * steps_per_epoch, 1))
                    log(f"{method:>13} {arch:>10} {setting:>13}: {row['cpu_seconds_per_step']:.3f} CPU s/step, "
                        f"{row['wall_seconds_per_step']:.3f} wall s/step ({row['precision']}, {row['memory_format']})")
                except Exception as e:  # one failing method must not lose the others' numbers
                    row["error"] = f"{type(e).__name__}: {e}"
                    log(f"{method:>13} {arch:>10} {setting:>13}: FAILED {row['error']}")
                    traceback.print_exc()
                rows.append(row)
    for r in rows:  # speed-up over "before" of the same method and arch (None where either is missing)
        b = next((x for x in rows if x["method"] == r["method"] and x["arch"] == r["arch"] and x["setting"] == "before"
                  and "error" not in x), None)
        for clock in ("cpu", "wall"):
            ok = b is not None and "error" not in r
            r[f"speedup_{clock}"] = round(b[f"{clock}_seconds"] / r[f"{clock}_seconds"], 3) if ok else None
    return rows


def _n(k, word): return f"{k} {word}{'' if k == 1 else 's'}"


def _geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def _table(data, clock) -> list[str]:
    rows, archs, settings = data["rows"], data["archs"], data["settings"]
    cols = [(ar, s) for ar in archs for s in settings]
    get = {(r["method"], r["arch"], r["setting"]): r for r in rows}

    def cell(r):
        if r is None: return "–"
        if "error" in r: return "error"
        sp = r[f"speedup_{clock}"]
        return f"{r[f'{clock}_seconds_per_epoch']:.1f}" + (f" ({sp:.2f}x)" if sp is not None and r["setting"] != "before" else "")

    out = ["| method | " + " | ".join(f"{ar} · {s}" for ar, s in cols) + " |", "|---|" + "---|" * len(cols)]
    out += [f"| {m} | " + " | ".join(cell(get.get((m, ar, s))) for ar, s in cols) + " |" for m in data["methods"]]
    gm = [_geomean([get[(m, ar, s)][f"speedup_{clock}"] for m in data["methods"] if (m, ar, s) in get]) for ar, s in cols]
    out.append("| geometric mean speed-up | " + " | ".join("–" if g is None or s == "before" else f"{g:.2f}x"
                                                           for g, (ar, s) in zip(gm, cols)) + " |")
    return out


def _notes(data) -> list[str]:
    rows, notes = [r for r in data["rows"] if "error" not in r], []
    auto = data["auto_resolved"]
    same = all(v == SETTINGS["before"] for v in auto.values()) if auto else False
    if "auto" in data["settings"]:
        if not data["cpu_supports_bf16"] and same:
            notes.append("This CPU has no AVX512-BF16/AMX, so \"auto\" resolved to full precision, contiguous: the same "
                         "path as \"before\". Its speed-ups only show the run-to-run noise of this measurement.")
        elif data["cpu_supports_bf16"]:
            notes.append("This CPU has bf16 instructions, so \"auto\" ran bf16 mixed precision"
                         + (" with channels-last." if all(v["memory_format"] == "channels_last" for v in auto.values()) else "."))
    if "channels_last" in data["settings"]:
        for ar in data["archs"]:
            sp = [r["speedup_cpu"] for r in rows if r["arch"] == ar and r["setting"] == "channels_last" and r["speedup_cpu"]]
            if not sp: continue
            helped, hurt = sum(x > 1.05 for x in sp), sum(x < 0.95 for x in sp)
            notes.append(f"Channels-last in full precision on {ar}: median CPU speed-up {statistics.median(sp):.2f}x over "
                         f"{len(sp)} methods; faster by more than 5% for {helped}, slower by more than 5% for {hurt}, "
                         f"within 5% for the rest.")
    errs = [r for r in data["rows"] if "error" in r]
    if errs:
        notes.append("Failed: " + "; ".join(f"{r['method']} · {r['arch']} · {r['setting']} ({r['error'][:120]})" for r in errs) + ".")
    return notes


def render(data: dict) -> list[str]:
    "The markdown report, from the saved results JSON alone."
    m, a = data["machine"], data
    auto = data["auto_resolved"]
    return [
        "# Pretraining speed on the CPU: every method, two backbones, before and after the speed work", "",
        f"Each cell: projected **seconds per epoch** of the {a['n_train']} Training images of `{a['data']}` "
        f"({a['steps_per_epoch']} steps of batch {a['batch_size']}, {a['image_size']} px), from "
        f"{_n(a['steps'], 'timed step')} on a seeded random subset of {a['steps'] * a['batch_size']} images; "
        "in brackets the speed-up over \"before\" for the same method and backbone.", "",
        "Settings: " + "; ".join(f"**{s}** = `precision={SETTINGS[s]['precision']!r}, memory_format={SETTINGS[s]['memory_format']!r}`"
                                 for s in a["settings"]) + ".", "",
        *([f"\"auto\" resolved on this machine to: " + "; ".join(f"{ar}: precision `{v['precision']}`, `{v['memory_format']}`"
                                                          for ar, v in auto.items()) + ".", ""] if auto else []),
        "## Process CPU time (all threads), seconds per epoch", "", *_table(data, "cpu"), "",
        "## Wall time, seconds per epoch", "", *_table(data, "wall"), "",
        "## Notes", "",
        *[f"- {n}" for n in _notes(data)],
        "- Every timed call is one `pretrain` call of one epoch, after an untimed 1-step call with the same method, "
        "backbone and setting. The time includes the call's fixed costs (building the Trainer, writing the checkpoint "
        f"and the encoder), spread over {_n(a['steps'], 'step')} instead of a full epoch: they inflate the projections a "
        "little, most for the fastest methods, and pull the speed-ups toward 1x. DeepCluster's time includes its "
        "per-epoch clustering of the subset "
        f"({METHOD_KWARGS['deepcluster']['n_clusters']} clusters), which grows with the data set's size.",
        f"- One measurement per cell, no repeats: differences of a few percent are within noise. torch used "
        f"{_n(a['torch_threads'], 'thread')}.", "",
        "## Reproduce", "", f"```bash\n{a['command']}\n```", "",
        f"Machine: {m['cpu']}, {m['cpu_cores']} cores, {m['memory_gib']} GiB, GPU: {m['gpu']}; bf16 CPU instructions: "
        f"{'yes' if a['cpu_supports_bf16'] else 'no'}. torch {a['versions'].get('torch')}, lightning "
        f"{a['versions'].get('lightning')}, timm {a['versions'].get('timm')}. Total run time {a['total_seconds']:.0f} s.",
    ]


def main():
    ap = parser(__doc__, "../shared/data/brain-tumor-mri", "image-size", "seed", "threads", "device", threads=None)
    ap.add_argument("--cache", type=Path, default=Path("bench/work/label_efficiency/cache"),
                    help="decoded-image cache (default: the label-efficiency benchmark's)")
    ap.add_argument("--methods", nargs="+", default=None, help="methods to time (default: every 1-channel method)")
    ap.add_argument("--archs", nargs="+", default=["resnet18", "resnet10t"], help="backbones (torchvision or timm names)")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--steps", type=int, default=4, help="timed optimiser steps per (method, arch, setting)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--render-only", action="store_true",
                    help="only rewrite pretrain_speed.md from the saved pretrain_speed.json (no computation)")
    a = ap.parse_args()
    if a.render_only:
        lines = render(json.loads((a.results / "pretrain_speed.json").read_text()))
        write_text(a.results / "pretrain_speed.md", lines)
        print("\n".join(lines)); return
    cmd, t0 = command(), time.time()
    set_threads(a.threads)
    import torch
    from brainssl.cli import load_splits
    known = list(list_methods(in_channels=1))
    a.methods = a.methods or known
    if bad := set(a.methods) - set(known): raise SystemExit(f"unknown or multi-channel methods {sorted(bad)}; choose from {known}")
    a.settings = list(dict.fromkeys(a.settings))
    train = load_splits(a.data, image_size=a.image_size, cache_dir=a.cache, progress=False)["Training"]
    log(f"{len(train)} Training images; timing {len(a.methods)} methods x {len(a.archs)} archs x {len(a.settings)} settings")
    rows = measure(train, a)
    auto = {}
    for ar in a.archs:
        r = next((r for r in rows if r["arch"] == ar and r["setting"] == "auto" and "error" not in r), None)
        if r: auto[ar] = {"precision": r["precision"], "memory_format": r["memory_format"]}
    data = {"command": cmd, **provenance(("timm",)), "data": str(a.data), "image_size": a.image_size, "seed": a.seed,
            "batch_size": a.batch_size, "steps": a.steps, "n_train": len(train), "steps_per_epoch": len(train) // a.batch_size,
            "device": a.device, "torch_threads": torch.get_num_threads(), "cpu_supports_bf16": cpu_supports_bf16(),
            "methods": a.methods, "archs": a.archs, "settings": a.settings,
            "setting_kwargs": {s: SETTINGS[s] for s in a.settings}, "method_kwargs": METHOD_KWARGS,
            "warmup": "one untimed 1-step pretrain call before every timed call, same method, arch and setting",
            "auto_resolved": auto, "total_seconds": round(time.time() - t0, 1), "rows": rows}
    save_json(data, a.results / "pretrain_speed.json")
    lines = render(data)
    write_text(a.results / "pretrain_speed.md", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
