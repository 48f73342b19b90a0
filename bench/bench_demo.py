"""Benchmark: the demo (`circuitlab demo`) end to end — wall time, peak memory, and the share of each stage.

Runs the demo spec (Gemma-3-270M, Indonesian -> Javanese, DEMO budget) into a fresh run
folder in this process and reports:

- wall time, CPU time (user + sys) and peak resident memory of the whole run;
- the seconds and share of wall time of each stage: proxy competence tuning (θ1),
  discovery (proxy and target languages), baselines (A0 and the proxy's "before"),
  each method's cells, the report, and the rest (imports, model loads, data);
- the load average before and after, because the machine may be shared: a wall time
  measured under load is an upper bound (CPU time is the steadier figure).

    python bench/bench_demo.py [--target javanese] [--data-dir ../shared/data/nusax] [--out DIR] [--keep]

Writes ``bench/results/demo.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="javanese")
    ap.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "nusax"))
    ap.add_argument("--out", default=None, help="Run folder (default: a temporary folder, deleted unless --keep).")
    ap.add_argument("--keep", action="store_true", help="Keep the run folder.")
    ap.add_argument("--full", action="store_true", help="The paper budget (hours).")
    ap.add_argument("--results", default=str(HERE / "results" / "demo.json"))
    args = ap.parse_args()

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    cpu0 = os.times()
    from circuitlab.experiments import run_sweep
    from circuitlab.experiments.demo import demo_spec

    t_import = time.perf_counter() - t0
    spec = demo_spec(target=args.target, full=args.full, data_dir=args.data_dir, **{"runtime.quiet": True})
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-demo-")) / "run"
    if out.exists():
        shutil.rmtree(out)
    summary = run_sweep(spec, out)
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    load_after = os.getloadavg()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux

    stages = {k: v for k, v in summary.seconds.items() if k not in ("total", "cells")}
    per_method: dict[str, float] = {}
    for rec in summary.run.read_cells().values():
        m = rec["cell"]["method"]
        per_method[m] = per_method.get(m, 0.0) + float(rec.get("wall_s") or 0.0)
    parts = {"import": t_import, **{f"stage:{k}": v for k, v in stages.items()},
             **{f"cells:{m}": v for m, v in per_method.items()}}
    parts["other (model loads, data, bookkeeping)"] = max(0.0, wall - sum(parts.values()))
    share = {k: v / wall for k, v in parts.items()}

    import torch

    result = {
        "spec": spec.name, "budget": spec.budget, "target": args.target, "status": summary.status,
        "cells": summary.n_done, "failures": summary.failures,
        "wall_s": wall, "cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), "peak_rss_gb": peak_gb,
        "seconds": parts, "share": share, "load_average_before": load_before, "load_average_after": load_after,
        "host": platform.node(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "python": sys.version.split()[0],
        "headline": summary.results[["method", "k", "target_acc", "target_acc_before", "proxy_acc_before",
                                     "proxy_acc_after", "forgetting", "param_fraction"]].to_dict("records"),
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"demo ({spec.budget} budget): {summary.n_done} cells, {wall:.0f} s wall, {result['cpu_s']:.0f} s CPU, "
          f"peak RSS {peak_gb:.2f} GB; load average {load_before[0]:.1f} -> {load_after[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {k:42s} {v:7.1f} s  {100 * share[k]:5.1f} %")
    print(f"wrote {args.results}")
    if not args.keep and not args.out:
        shutil.rmtree(out.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
