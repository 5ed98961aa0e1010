"""Pretraining speed of SimCLR on real MRI: full precision vs bf16 mixed precision, on this machine's CPU.

Times `epochs` epochs of the label-efficiency benchmark's SimCLR settings (ResNet-18, 64 px, batch 256) per precision,
each in a fresh folder, and reports seconds per epoch and the final loss. Run from the repository root, after
bench/label_efficiency.py has filled its image cache, on an otherwise idle machine:

    .venv/bin/python bench/pretrain_speed.py

Writes bench/results/pretrain_speed.{md,json}.
"""
from __future__ import annotations
import json, tempfile, time
from pathlib import Path

from _common import command, parser, provenance, write_text
from label_efficiency import SIMCLR  # the benchmark's settings
from brainssl.cli import load_splits
from brainssl.core import save_json
from brainssl.methods.base import pretrain


def main():
    ap = parser(__doc__, "../shared/data/brain-tumor-mri")
    ap.add_argument("--cache", type=Path, default=Path("bench/work/label_efficiency/cache"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"])
    a = ap.parse_args()
    cmd = command()
    train = load_splits(a.data, image_size=64, cache_dir=a.cache, progress=False)["Training"]
    rows = {}
    for prec in a.precisions:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            pretrain("simclr", train, d, epochs=a.epochs, batch_size=256, seed=0, device="cpu", image_size=64,
                     progress=False, resume=False, precision=prec, **SIMCLR)
            wall = time.perf_counter() - t
            log = json.loads((Path(d) / "pretrain.json").read_text())
        rows[prec] = {"seconds": round(wall, 1), "seconds_per_epoch": round(wall / a.epochs, 1), "steps": log["steps"],
                      "loss_last_epoch": round(log["train_loss_last_epoch"], 3)}
        print(prec, rows[prec], flush=True)
    prov = provenance()
    save_json({"command": cmd, **prov, "epochs": a.epochs,
               "n_images": len(train), "rows": rows}, a.results / "pretrain_speed.json")
    base = rows[a.precisions[0]]["seconds_per_epoch"]
    m = prov["machine"]
    lines = ["# SimCLR pretraining speed on the CPU: full vs bf16 mixed precision", "",
             f"{a.epochs} epochs of SimCLR (ResNet-18, 64 px, batch 256, the settings of `label_efficiency.py`) on the "
             f"{len(train)} Training images of `{a.data}`, per precision, each from scratch.", "",
             "| precision | seconds per epoch | speed-up | loss, last epoch |", "|---|---|---|---|",
             *[f"| {p} | {r['seconds_per_epoch']} | {base / r['seconds_per_epoch']:.2f}x | {r['loss_last_epoch']} |" for p, r in rows.items()],
             "", "The loss column is a sanity check only: after so few epochs, both runs are still in their warm-up.", "",
             "## Reproduce", "", f"```bash\n{cmd}\n```", "",
             f"Machine: {m['cpu']}, {m['cpu_cores']} cores, {m['memory_gib']} GiB, GPU: {m['gpu']}. "
             "bf16 autocast on the CPU needs AVX512-BF16 or AMX for its speed; without them it can be slower than full precision."]
    write_text(a.results / "pretrain_speed.md", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
