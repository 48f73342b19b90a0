"""Benchmark: random training batches vs length-grouped ones (``TrainConfig.group_by_length``).

A batch pads to its longest prompt. With random batches of 16 that is close to the
longest prompt of the whole sample; length grouping (:func:`circuitlab.tuning.trainer.batch_order`)
sorts each mega-batch by length first. This script measures, on real NusaX data:

1. the padded tokens of one epoch, random vs grouped, for ``--n`` training examples of each
   target language (``--draws`` seeded draws; exact counts from the tokenizer);
2. the wall time of one training epoch of ``--method`` on ``--time-language`` (the same
   examples, seed and model start), random and grouped in alternation, ``--repeats`` times;
   also the label mix of the grouped batches (where length tracks the label they skew).

    python bench/bench_grouping.py [--n 100] [--repeats 2] [--matmul-precision highest]

Results go to ``bench/results/grouping.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from circuitlab.data import load_nusax  # noqa: E402
from circuitlab.models import load_model, matmul_precision  # noqa: E402
from circuitlab.tasks import make_task  # noqa: E402
from circuitlab.tuning import ModelSnapshot, TrainConfig, build_tuner, get_method, train  # noqa: E402
from circuitlab.tuning.methods import choose_heads  # noqa: E402
from circuitlab.tuning.trainer import batch_order, token_lengths  # noqa: E402

LANGUAGES = ("acehnese", "javanese", "minangkabau", "sundanese", "balinese", "madurese")


def padded(batches: list[list[int]], lengths: list[int]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def token_counts(model, task, args) -> dict:
    out = {}
    for lang in args.languages:
        pool = load_nusax(lang, "train", args.data_dir)
        plain, grouped, real = [], [], []
        for d in range(args.draws):
            sample = random.Random(d).sample(pool, args.n)
            lengths = token_lengths(task, model.tokenizer, sample, args.max_length)
            cfg = TrainConfig(batch_size=args.batch_size, seed=d)
            plain.append(padded(batch_order(lengths, cfg, 0), lengths))
            grouped.append(padded(batch_order(lengths, replace(cfg, group_by_length=True), 0), lengths))
            real.append(sum(lengths))
        out[lang] = {"plain_tokens": statistics.mean(plain), "grouped_tokens": statistics.mean(grouped),
                     "real_tokens": statistics.mean(real),
                     "grouped_over_plain": statistics.mean(grouped) / statistics.mean(plain)}
        print(f"{lang:12s} padded tokens per epoch: random {out[lang]['plain_tokens']:.0f}, grouped "
              f"{out[lang]['grouped_tokens']:.0f} ({out[lang]['grouped_over_plain']:.2f}x); real "
              f"{out[lang]['real_tokens']:.0f}")
    return out


def epoch_times(model, task, args) -> dict:
    pool = load_nusax(args.time_language, "train", args.data_dir)
    examples = random.Random(0).sample(pool, args.n)
    spec = get_method(args.method)
    heads = choose_heads(get_method("random"), model.geometry, args.k, seed=0) if spec.uses_heads else None
    snap = ModelSnapshot.take(model)
    base = TrainConfig(lr=1e-4, epochs=1, batch_size=args.batch_size, max_length=args.max_length, seed=31)
    lengths = token_lengths(task, model.tokenizer, examples, args.max_length)
    runs: dict[str, list[dict]] = {"random": [], "grouped": []}
    for _ in range(args.repeats):
        for name in runs:
            cfg = replace(base, group_by_length=name == "grouped")
            tuner = build_tuner(spec, model, heads=heads)
            t = time.perf_counter()
            res = train(model, task, examples, tuner, cfg, progress=False)
            wall = time.perf_counter() - t
            snap.restore(model)
            mean_loss = statistics.mean(res.losses)  # over the epoch: the same examples either way
            runs[name].append({"wall_s": wall, "steps": res.steps, "mean_loss": mean_loss, "step_s": res.step_s})
            print(f"{name:8s} epoch of {res.steps} steps: {wall:.1f} s (mean training loss {mean_loss:.3f})")
    grouped = batch_order(lengths, replace(base, group_by_length=True), 0)
    mix = [dict(Counter(examples[i].label for i in b)) | {"max_len": max(lengths[i] for i in b)} for b in grouped]
    best = {k: min(r["wall_s"] for r in v) for k, v in runs.items()}
    return {"language": args.time_language, "method": args.method, "k": args.k if heads else None,
            "heads": str(heads) if heads else None, "runs": runs, "best_s": best,
            "grouped_over_random": best["grouped"] / best["random"], "grouped_batches": mix}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "nusax"))
    ap.add_argument("--languages", nargs="+", default=list(LANGUAGES))
    ap.add_argument("--n", type=int, default=100, help="training examples (the paper's n)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--time-language", default="javanese")
    ap.add_argument("--method", default="circuit")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--matmul-precision", default="highest", choices=["highest", "medium"])
    ap.add_argument("--out", default=str(HERE / "results" / "grouping.json"))
    args = ap.parse_args()
    model = load_model(args.model)
    task = make_task("nusax", model.tokenizer)
    result = {"model": args.model, "n": args.n, "batch_size": args.batch_size, "draws": args.draws,
              "matmul_precision": args.matmul_precision, "threads": torch.get_num_threads(),
              "tokens": token_counts(model, task, args)}
    with matmul_precision(args.matmul_precision):
        result["epoch"] = epoch_times(model, task, args)
    e = result["epoch"]
    print(f"one epoch of {e['method']} on {e['language']} (n {args.n}): random {e['best_s']['random']:.1f} s, "
          f"grouped {e['best_s']['grouped']:.1f} s ({e['grouped_over_random']:.2f}x), best of {args.repeats}")
    result["machine"] = {"platform": platform.platform(), "versions": {"torch": torch.__version__}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    from circuitlab.allocator import reuse_freed_memory

    reuse_freed_memory()  # as the `circuitlab` command does (CIRCUITLAB_MALLOC=system: glibc's default)
    main()
