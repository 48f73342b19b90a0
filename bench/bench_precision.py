"""Benchmark: exact float32 matmuls ('highest') vs bfloat16 matmuls ('medium'), one process, interleaved.

``model.matmul_precision = "medium"`` (``--matmul-precision medium`` on ``sweep`` / ``demo``)
lets float32 matrix products run on bfloat16-rounded inputs with float32
accumulation: on a CPU with AMX / AVX512-BF16 oneDNN runs them several times faster.
This script measures what that buys and costs on the default model:

1. evaluation of ``--n`` Indonesian NusaX test examples (label-row logits) at each
   precision: wall time, accuracy, how many predictions agree, largest logit change;
2. training steps (batch ``--batch`` x ``--length`` random tokens, label-logit loss,
   AdamW) of ``circuit`` (``--k`` random heads + norms) and ``full`` at each precision.

Precisions alternate within each repeat so that load from other processes hits both alike.

    python bench/bench_precision.py [--n 200] [--repeats 2] [--steps 3]

Results go to ``bench/results/precision.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from circuitlab.data import load_nusax  # noqa: E402
from circuitlab.evaluation import predict_logits  # noqa: E402
from circuitlab.models import load_model, matmul_precision  # noqa: E402
from circuitlab.tasks import Batch, make_task  # noqa: E402
from circuitlab.tuning import TrainConfig, build_tuner, get_method  # noqa: E402
from circuitlab.tuning.memory import release_memory, selective_recompute  # noqa: E402
from circuitlab.tuning.methods import choose_heads  # noqa: E402
from circuitlab.tuning.trainer import make_optimizer, training_step  # noqa: E402

PRECISIONS = ("highest", "medium")


def evaluation(model, task, examples, args) -> dict:
    gold = torch.tensor([task.labels.index(e.label) for e in examples])
    predict_logits(model, task, examples[:16], args.batch_size, progress=False)  # warm-up
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    logits: dict[str, torch.Tensor] = {}
    for _ in range(args.repeats):
        for p in PRECISIONS:
            with matmul_precision(p):
                t = time.perf_counter()
                logits[p] = predict_logits(model, task, examples, args.batch_size, progress=False)
                times[p].append(time.perf_counter() - t)
    exact, fast = logits["highest"], logits["medium"]
    return {
        "n": len(examples), "batch_size": args.batch_size, "wall_s": times,
        "median_s": {p: statistics.median(v) for p, v in times.items()},
        "speedup": statistics.median(times["highest"]) / statistics.median(times["medium"]),
        "accuracy": {p: float((logits[p].argmax(-1) == gold).float().mean()) for p in PRECISIONS},
        "predictions_agree": int((exact.argmax(-1) == fast.argmax(-1)).sum()),
        "max_abs_logit_change": float((exact - fast).abs().max()),
        "mean_abs_logit": float(exact.abs().mean()),
    }


def steps(model, task, method: str, args) -> dict:
    g = model.geometry
    spec = get_method(method)
    heads = choose_heads(get_method("random"), g, args.k, seed=0) if spec.uses_heads else None
    tuner = build_tuner(spec, model, heads=heads, kv_rule="any")
    trainables = tuner.install(model)
    params = list(trainables.values())
    config = TrainConfig(lr=1e-6, weight_decay=0.01)
    optimizer = make_optimizer(trainables, config)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, min(g.vocab_size, 30000), (args.batch, args.length), generator=gen)
    if model.tokenizer.bos_token_id is not None:
        ids[:, 0] = model.tokenizer.bos_token_id
    batch = Batch(ids, torch.ones_like(ids), torch.full((args.batch,), args.length - 1),
                  torch.randint(0, task.n_labels, (args.batch,), generator=gen))
    model.bridge.eval()
    release_memory()
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    with torch.enable_grad(), selective_recompute(model, True):
        training_step(model, task, batch, params, optimizer, None, config.max_grad_norm)  # warm-up
        for _ in range(args.repeats):
            for p in PRECISIONS:
                with matmul_precision(p):
                    for _ in range(args.steps):
                        t = time.perf_counter()
                        training_step(model, task, batch, params, optimizer, None, config.max_grad_norm)
                        times[p].append(time.perf_counter() - t)
    tuner.merge()
    del optimizer, trainables, params
    release_memory()
    med = {p: statistics.median(v) for p, v in times.items()}
    return {"method": method, "heads": heads.to_list() if heads is not None else None, "step_s": times,
            "median_s": med, "speedup": med["highest"] / med["medium"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=16, help="evaluation batch size")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3, help="timed training steps per precision and repeat")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--methods", default="circuit,full")
    ap.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "nusax"))
    ap.add_argument("--out", default=str(HERE / "results" / "precision.json"))
    args = ap.parse_args()

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    load0 = os.getloadavg()[0]
    model = load_model(args.model)
    task = make_task("nusax", model.tokenizer)
    examples = load_nusax("indonesian", "test", args.data_dir)[: args.n]
    result = {"model": args.model, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cpu_bf16": {f: f in flags for f in ("amx_bf16", "avx512_bf16")},
              "host": platform.node(), "loadavg_before": load0}
    result["evaluation"] = evaluation(model, task, examples, args)
    e = result["evaluation"]
    print(f"evaluation of {e['n']}: highest {e['median_s']['highest']:.2f} s, medium {e['median_s']['medium']:.2f} s "
          f"({e['speedup']:.2f}x); accuracy {e['accuracy']}; {e['predictions_agree']}/{e['n']} predictions agree; "
          f"max |logit change| {e['max_abs_logit_change']:.3g}", flush=True)
    result["training"] = {}
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        r = steps(model, task, method, args)
        result["training"][method] = r
        print(f"{method} step ({args.batch}x{args.length}): highest {r['median_s']['highest']:.2f} s, "
              f"medium {r['median_s']['medium']:.2f} s ({r['speedup']:.2f}x)", flush=True)
    result["loadavg_after"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from circuitlab.allocator import reuse_freed_memory

    reuse_freed_memory()  # as the `circuitlab` command does (CIRCUITLAB_MALLOC=system: glibc's default)
    main()
