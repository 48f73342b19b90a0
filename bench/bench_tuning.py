"""Benchmark: one training step of ``circuit`` (k heads) vs ``full`` (and ``lora``, ``norms``) on one model.

What is measured
----------------
For each method, in a **fresh subprocess** (so memory peaks never mix and every
method starts from the same state):

1. load the model (default: the embedded Gemma-3-270M), build the method's tuner
   and the AdamW optimizer exactly as :func:`circuitlab.tuning.train` does;
2. one warm-up step (allocates the optimizer state, warms the allocator);
3. reset the kernel's peak-RSS counter (``/proc/self/clear_refs`` ← 5), then run
   ``--steps`` timed steps on one fixed batch of ``--batch`` random-token prompts of
   exactly ``--length`` tokens (loss over the label-token logits, backward, clipping,
   AdamW, schedule: :func:`circuitlab.tuning.trainer.training_step`);
   Every block recomputes its elementwise activations in backward (``--recompute
   selective``, the trainer's default) unless a method is given as ``METHOD:none``;
4. report the median step time and the peak RSS over the timed steps (``VmHWM``),
   plus the RSS before them (model + optimizer state) and the optimizer's state size;
   and the same steps' split into ``forward`` (to the loss), ``backward`` and ``update``
   (clip, AdamW, schedule), timed inside :func:`~circuitlab.tuning.trainer.training_step`.
   The split shows where a head mask can save time: ``full``'s backward computes
   input *and* weight gradients, ``circuit``'s input gradients through every layer
   (it trains every norm, layer 0's included) and its few slices' weight gradients.

Methods are run in interleaved rounds (full, circuit, lora, full, circuit, …) so
that load from other processes on a shared machine hits them alike; the load
average is recorded. Ratios are ``circuit / full`` of the per-method medians.

Usage::

    python bench/bench_tuning.py                      # Gemma-3-270M, batch 16, length 128, 8 heads
    python bench/bench_tuning.py --model tiny-gemma3 --steps 2 --rounds 1   # smoke test

Results go to ``bench/results/tuning-<model>-<timestamp>.json`` (and are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from circuitlab.allocator import mode as allocator_mode  # noqa: E402


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def worker(args: argparse.Namespace) -> dict:
    """Measure one method in this process (see module docstring)."""
    import torch

    from circuitlab.heads import HeadSet
    from circuitlab.models import load_model
    from circuitlab.tasks import Batch, make_task
    from circuitlab.tuning import TrainConfig, build_tuner, get_method
    from circuitlab.tuning.methods import choose_heads
    from circuitlab.tuning.memory import release_memory, selective_recompute
    from circuitlab.tuning.trainer import _lr_lambda, make_optimizer, training_step

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model)
    task = make_task("nusax", model.tokenizer)
    g = model.geometry
    method, _, recompute = args.method.partition(":")
    recompute = recompute or args.recompute
    spec = get_method(method)
    heads = None
    if spec.uses_heads:
        heads = HeadSet.of([tuple(map(int, h.split("."))) for h in args.heads.split(",")]) if args.heads else \
            choose_heads(get_method("random"), g, args.k, seed=args.seed)
    tuner = build_tuner(spec, model, heads=heads, kv_rule=args.kv_rule)
    trainables = tuner.install(model)
    params = list(trainables.values())
    config = TrainConfig(lr=args.lr, weight_decay=0.01)
    optimizer = make_optimizer(trainables, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(1000, 10, "linear"))
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(min(1000, g.vocab_size // 4), min(g.vocab_size, 30000), (args.batch, args.length), generator=gen)
    bos = model.tokenizer.bos_token_id
    if bos is not None:
        ids[:, 0] = bos
    batch = Batch(ids, torch.ones_like(ids), torch.full((args.batch,), args.length - 1),
                  torch.randint(0, task.n_labels, (args.batch,), generator=gen))
    model.bridge.eval()
    release_memory()  # as train() does: loading garbage is not part of a step
    with torch.enable_grad(), selective_recompute(model, recompute == "selective"):
        t = time.perf_counter()
        training_step(model, task, batch, params, optimizer, scheduler, config.max_grad_norm)
        warm_s = time.perf_counter() - t
        opt_bytes = sum(v.numel() * v.element_size() for st in optimizer.state.values() for v in st.values()
                        if torch.is_tensor(v))
        rss_before = _status_kb("VmRSS")
        reset_ok = _reset_peak()
        times, cpu, phases = [], [], {}
        for _ in range(args.steps):
            t, c = time.perf_counter(), time.process_time()
            training_step(model, task, batch, params, optimizer, scheduler, config.max_grad_norm, phases=phases)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    peak = _status_kb("VmHWM")
    tuner.merge()
    return {
        "method": args.method, "recompute": recompute, "heads": heads.to_list() if heads is not None else None,
        "n_trainable_tensors": len(params), "n_trainable": sum(p.numel() for p in params),
        "n_params_total": tuner.mask.total, "optimizer_state_mb": opt_bytes / 2**20,
        "warmup_step_s": warm_s, "step_s": times, "step_s_median": statistics.median(times),
        "step_cpu_s": cpu, "step_cpu_s_median": statistics.median(cpu), "phase_s": phases,
        "rss_before_steps_mb": rss_before / 1024, "peak_rss_mb": peak / 1024, "peak_reset": reset_ok,
        "torch_threads": torch.get_num_threads(),
    }


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("inf")


def run_worker(argv: list[str], timeout: float, need_gb: float, retries: int = 3) -> dict:
    """Run one measurement subprocess, first waiting until ``need_gb`` of memory is available.

    On a shared machine the kernel's OOM killer picks the largest process, i.e. a full fine-tuning
    worker: a worker killed by SIGKILL is retried (after waiting for memory again).
    """
    for attempt in range(retries + 1):
        waited = 0.0
        while mem_available_gb() < need_gb and waited < 3600:
            time.sleep(15)
            waited += 15
        out = subprocess.run([sys.executable, __file__, "--worker", *argv], capture_output=True, text=True,
                             timeout=timeout, cwd=HERE.parent)
        if out.returncode == 0:
            res = json.loads(out.stdout.strip().splitlines()[-1])
            res["attempts"], res["waited_for_memory_s"] = attempt + 1, waited
            return res
        if out.returncode != -9 or attempt == retries:
            raise RuntimeError(f"worker {argv} failed ({out.returncode}):\n{out.stderr[-3000:]}")
        print(f"  worker {argv[-1]} was killed (SIGKILL, likely the OOM killer); retrying", flush=True)
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--methods", default="full,circuit,lora,full:none,circuit:none",
                   help="comma-separated METHOD[:none|selective] (first = baseline)")
    p.add_argument("--k", type=int, default=8, help="heads of the head methods")
    p.add_argument("--heads", default="", help="explicit heads 'L.H,L.H,…' (default: k random heads, --seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kv-rule", default="any")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--steps", type=int, default=3, help="timed steps per method and round")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (one subprocess per method and round)")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--recompute", default="selective", choices=["none", "selective"],
                   help="activation recomputation (TrainConfig.recompute); per method as METHOD:none")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--need-gb", type=float, default=6.0, help="wait for this much available memory before a worker")
    p.add_argument("--need-gb-full", type=float, default=11.0, help="the same for full/direct workers")
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--method", default="circuit", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return {}
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    common = ["--recompute", args.recompute, "--model", args.model, "--k", str(args.k), "--seed", str(args.seed), "--kv-rule", args.kv_rule,
              "--batch", str(args.batch), "--length", str(args.length), "--steps", str(args.steps),
              "--lr", str(args.lr), "--threads", str(args.threads)] + (["--heads", args.heads] if args.heads else [])
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    loads = []
    t0 = time.time()
    for r in range(args.rounds):
        for m in methods:
            loads.append(os.getloadavg()[0])
            need = args.need_gb_full if m.split(":")[0] in ("full", "direct") else args.need_gb
            res = run_worker(common + ["--method", m], args.timeout, need)
            runs[m].append(res)
            print(f"round {r + 1} {m:>12}: step {res['step_s_median']:.2f} s (median of {args.steps}; cpu "
                  f"{res['step_cpu_s_median']:.2f} s), peak RSS "
                  f"{res['peak_rss_mb']:.0f} MB, before steps {res['rss_before_steps_mb']:.0f} MB, trainable "
                  f"{res['n_trainable']:,}", flush=True)
    summary = {}
    for m, rs in runs.items():
        steps = [s for r in rs for s in r["step_s"]]
        cpu = [s for r in rs for s in r["step_cpu_s"]]
        summary[m] = {
            "step_s_median": statistics.median(steps), "step_s_min": min(steps),
            "step_cpu_s_median": statistics.median(cpu),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
            "rss_before_steps_mb": statistics.median(r["rss_before_steps_mb"] for r in rs),
            "n_trainable": rs[0]["n_trainable"], "fraction": rs[0]["n_trainable"] / rs[0]["n_params_total"],
            "optimizer_state_mb": rs[0]["optimizer_state_mb"], "heads": rs[0]["heads"],
            "phase_s_median": {ph: statistics.median(x for r in rs for x in r["phase_s"][ph])
                               for ph in ("forward", "backward", "update")},
        }
    base = methods[0]
    ratios = {
        m: {"time": summary[m]["step_s_median"] / summary[base]["step_s_median"],
            "time_min": summary[m]["step_s_min"] / summary[base]["step_s_min"],
            "cpu_time": summary[m]["step_cpu_s_median"] / summary[base]["step_cpu_s_median"],
            "peak_rss": summary[m]["peak_rss_mb"] / summary[base]["peak_rss_mb"]}
        for m in methods if m != base
    }
    result = {
        "benchmark": "tuning step", "model": args.model, "batch": args.batch, "length": args.length, "k": args.k,
        "kv_rule": args.kv_rule, "steps": args.steps, "rounds": args.rounds, "baseline": base,
        "summary": summary, "ratios_vs_baseline": ratios, "target": {"circuit": {"time": 0.45, "peak_rss": 0.45}},
        "runs": runs, "load_average_at_starts": loads, "wall_s": time.time() - t0, "cpu_count": os.cpu_count(),
        "platform": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "allocator": allocator_mode(),
    }
    try:
        from circuitlab.tuning.versions import versions

        result["versions"] = versions()
    except Exception:  # pragma: no cover
        pass
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"tuning-{args.model.replace('/', '--')}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"\n{'method':>14} {'step s':>8} {'min s':>7} {'cpu s':>7} {'peak RSS MB':>12} {'time x':>7} "
          f"{'min x':>6} {'cpu x':>6} {'RSS x':>6}   (x = / {base})")
    for m in methods:
        r = ratios.get(m, {"time": 1.0, "time_min": 1.0, "cpu_time": 1.0, "peak_rss": 1.0})
        sm = summary[m]
        print(f"{m:>14} {sm['step_s_median']:>8.2f} {sm['step_s_min']:>7.2f} {sm['step_cpu_s_median']:>7.2f} "
              f"{sm['peak_rss_mb']:>12.0f} {r['time']:>7.3f} {r['time_min']:>6.3f} {r['cpu_time']:>6.3f} "
              f"{r['peak_rss']:>6.3f}")
    print(f"\n{'method':>14} {'forward s':>10} {'backward s':>11} {'update s':>9} {'bwd/fwd':>8}   (medians)")
    for m in methods:
        ph = summary[m]["phase_s_median"]
        print(f"{m:>14} {ph['forward']:>10.2f} {ph['backward']:>11.2f} {ph['update']:>9.2f} "
              f"{ph['backward'] / ph['forward']:>8.2f}")
    print(f"written to {path}")
    return result


if __name__ == "__main__":
    from circuitlab.allocator import reuse_freed_memory

    reuse_freed_memory()  # as the `circuitlab` command does (CIRCUITLAB_MALLOC=system: glibc's default)
    main()
