"""What the benchmark scripts in bench/ share: their common flags, thread settings, the command line that reproduces a
run, the machine and package description stored with every result, the log line and the number formats of the tables.

Every script runs from the repository root as `python bench/<name>.py`. Python then puts bench/ first on the import
path, so `from _common import ...` works as it is, and `brainssl` is the editable install (`make setup`).
"""
from __future__ import annotations
import argparse, os, resource, shlex, sys, time
from pathlib import Path

from brainssl.core import atomic_write, machine_info, package_versions

__all__ = ["RESULTS", "WORK", "parser", "set_threads", "command", "provenance", "log", "peak_rss_mib", "write_text",
           "mean_std_ci", "mean_sem", "value_ci", "num"]

RESULTS = Path("bench/results")  # committed results: <name>.md (the page) and <name>.json (every number)
WORK = Path("bench/work")  # caches, checkpoints and encoders (git-ignored)
_FLAGS = {  # the flags several scripts share, with their defaults
    "image-size": dict(type=int, default=64, help="pixels per side (default 64)"),
    "seed": dict(type=int, default=0, help="seeds weights, splits and subsets (default 0)"),
    "threads": dict(type=int, help="torch CPU threads of this process; 1 avoids oversubscription on a shared machine"),
    "device": dict(help="cpu, cuda or auto"),
}


def parser(doc: str, # the script's docstring: its first line is the description, the rest the epilog
           data: str | Path | None, # default of --data; None: the script takes no --data
           *flags: str, # any of "image-size", "seed", "threads", "device"
           threads: int | None = 1, # default of --threads (None: torch's default)
           device: str = "cpu", # default of --device
          ) -> argparse.ArgumentParser:
    "An argument parser with `--data` and `--results` and the shared `flags`, each with the same meaning in every script."
    unknown = set(flags) - set(_FLAGS)
    if unknown: raise ValueError(f"flags={sorted(unknown)} are not shared flags; choose from {sorted(_FLAGS)}")
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if data is not None: ap.add_argument("--data", type=Path, default=Path(data), help=f"data folder (default {data})")
    ap.add_argument("--results", type=Path, default=RESULTS, help=f"where the .md and .json results go (default {RESULTS})")
    for f in flags:
        kw = dict(_FLAGS[f])
        if f == "threads": kw["default"] = threads
        if f == "device": kw["default"] = device
        ap.add_argument(f"--{f}", **kw)
    return ap


def set_threads(n: int | None) -> dict:
    "Limit this process to `n` torch threads (None: leave torch's default); returns the environment for child processes."
    env = dict(os.environ)
    if n:
        import torch
        torch.set_num_threads(n)
        env.update(OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))
    return env


def command(drop: tuple[str, ...] = (), # arguments to leave out, e.g. ("--report-only",)
            prefix: str = "", # e.g. "nice -n 10"
           ) -> str:
    "The shell command that reruns this script with the same arguments from the repository root."
    exe = sys.executable
    py = os.path.relpath(exe) if exe.startswith(os.getcwd() + os.sep) else "python"
    args = [os.path.relpath(sys.argv[0]), *sys.argv[1:]]
    return " ".join([*([prefix] if prefix else []), py, *(shlex.quote(x) for x in args if x not in drop)])


def provenance(extra_packages: tuple[str, ...] = ()) -> dict:
    "`{'machine': ..., 'versions': ...}`: the hardware (`brainssl.core.machine_info`) and software behind a result."
    return {"machine": machine_info(), "versions": package_versions(extra=extra_packages)}


_T0 = time.time()


def log(msg: str) -> None:
    "Print `msg` after the clock time and the seconds since the script started, at once (not buffered)."
    print(f"[{time.strftime('%H:%M:%S')} {time.time() - _T0:6.0f} s] {msg}", flush=True)


def peak_rss_mib() -> float:
    "Peak resident memory of this process so far, MiB (Linux reports KiB)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_text(path: str | Path, text: str | list[str]) -> Path:
    "Write `text` (or lines, joined with newlines and ending in one) to `path` atomically."
    if not isinstance(text, str): text = "\n".join(text) + "\n"
    with atomic_write(path, "w") as f: f.write(text)
    return Path(path)


def mean_std_ci(s: dict, # one summary of `brainssl` evaluation results: {metric: {"mean", "std", "ci"}}
                metric: str = "accuracy") -> str:
    "mean ± std over seeds [seed-0 95% CI], or n/a"
    q = s[metric]
    if q["mean"] is None: return "n/a"
    sd = f" ± {q['std']:.3f}" if q["std"] is not None else ""
    lo, hi = q["ci"]
    return f"{q['mean']:.3f}{sd} [{lo:.3f}, {hi:.3f}]"


def mean_sem(s: dict) -> str:
    "mean ± standard error of a {'mean', 'sem'} summary, two decimals, or n/a"
    return "n/a" if s["mean"] is None else f"{s['mean']:.2f} ± {s['sem']:.2f}" if s["sem"] is not None else f"{s['mean']:.2f}"


def value_ci(v: float | None, ci) -> str:
    "value [95% CI], three decimals; the value alone without an interval, n/a without a value"
    if v is None: return "n/a"
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and ci[0] is not None else f"{v:.3f}"


def num(x: float | None) -> str:
    "three decimals, or – for a missing value"
    return "–" if x is None else f"{x:.3f}"


def method_arch(name: str, arch: str) -> str:
    "The backbone a benchmark row of method `name` uses: `arch`, unless the method needs its own ViT (MAE): then its default."
    import inspect
    from brainssl.methods.base import get_method
    from brainssl.vit import is_vit_arch
    p = inspect.signature(get_method(name).__init__).parameters.get("arch")
    return p.default if p is not None and isinstance(p.default, str) and is_vit_arch(p.default) else arch
