"""Benchmark: evaluation with label-row logits vs full-vocabulary logits, same examples, one run.

Gemma-3-270M has a 262k vocabulary; the full unembedding dominates a forward pass.
circuitlab stops the Bridge after the final norm and multiplies only the label rows.
This script times both ways on the same Indonesian NusaX test examples and checks
that they predict the same labels.

It also reports the *ceiling* of that speed-up on this machine: the full path costs
the label-row path plus the unembedding (measured here as their difference), so the
speed-up is ``1 + t_unembed / t_body``. The body cannot take less time than its weight
matrix products, timed alone on this machine for the benchmark's padded tokens, so
``1 + t_unembed / t_body_products`` bounds the speed-up from above (every other op in
the body, attention scores, norms, activations, only lowers it).

    python bench/bench_evaluate.py [--n 96] [--batch-size 16] [--data-dir ../shared/data/nusax]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import torch

from circuitlab.allocator import mode as allocator_mode
from circuitlab.data import load_nusax
from circuitlab.evaluation import iter_batches, predict_logits
from circuitlab.models import load_model
from circuitlab.tasks import make_task

HERE = Path(__file__).resolve().parent


def full_vocab_logits(model, task, examples, batch_size):
    """The straightforward way: full logits from the Bridge, then pick the label columns."""
    out = torch.empty(len(examples), task.n_labels)
    ids = list(task.label_token_ids)
    with torch.inference_mode():
        for idx, batch in iter_batches(task, model.tokenizer, examples, batch_size):
            logits = model.bridge(batch.input_ids, attention_mask=batch.attention_mask)
            out[idx] = logits[torch.arange(len(idx)), batch.last_pos][:, ids].float()
    return out


def body_products_s(model, task, examples, batch_size, repeats: int = 5) -> dict | None:
    """Seconds the body's weight products alone take on the benchmark's own batches.

    Every ``nn.Linear`` of one decoder layer is timed (best of ``repeats``) on as many random rows
    as each length-sorted batch has padded tokens, for every layer but the last, whose MLP
    circuitlab runs at the prediction row only (so there only the attention projections count).
    ``None`` for models whose layers are not ``model.layers`` of ``nn.Linear`` (GPT-2's Conv1D).
    """
    layers = getattr(getattr(model.hf_model, "model", None), "layers", None)
    if layers is None:
        return None
    linears = {n: m for n, m in layers[0].named_modules() if isinstance(m, torch.nn.Linear)}
    rows = [b.input_ids.numel() for _, b in iter_batches(task, model.tokenizer, examples, batch_size)]
    total, macs = 0.0, 0
    with torch.inference_mode():
        for m in rows:
            for name, lin in linears.items():
                x = torch.randn(m, lin.in_features)
                best = float("inf")
                for _ in range(repeats):
                    t = time.perf_counter()
                    torch.nn.functional.linear(x, lin.weight)
                    best = min(best, time.perf_counter() - t)
                n = len(layers) if not name.startswith("mlp") else len(layers) - 1
                total += n * best
                macs += n * m * lin.in_features * lin.out_features
    return {"seconds": total, "padded_tokens": sum(rows), "gflops_per_s": 2 * macs / total / 1e9}


def setup(description: str):
    """Parse the evaluation benchmarks' shared options; load their examples, model and task."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "nusax"))
    args = ap.parse_args()
    examples = load_nusax("indonesian", "test", args.data_dir)[: args.n]
    model = load_model(args.model)
    return args, examples, model, make_task("nusax", model.tokenizer)


def save(result: dict, filename: str) -> None:
    """Print ``result`` with the machine's state added, and write it to ``bench/results/filename``."""
    result = {**result, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "load_average": list(os.getloadavg()),
              "torch_threads": torch.get_num_threads(), "host": platform.node(), "torch": torch.__version__,
              "allocator": allocator_mode()}
    print(json.dumps(result, indent=2))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / filename).write_text(json.dumps(result, indent=2))


def main() -> None:
    args, examples, model, task = setup(__doc__)
    predict_logits(model, task, examples[:16], progress=False)  # warm-up

    times = {"label_rows": [], "full_vocab": []}
    for _ in range(args.repeats):
        t = time.perf_counter()
        fast = predict_logits(model, task, examples, args.batch_size, progress=False)
        times["label_rows"].append(time.perf_counter() - t)
        t = time.perf_counter()
        slow = full_vocab_logits(model, task, examples, args.batch_size)
        times["full_vocab"].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    products = body_products_s(model, task, examples, args.batch_size)
    unembed_s = best["full_vocab"] - best["label_rows"]
    save({
        "model": args.model, "n_examples": len(examples), "batch_size": args.batch_size, "repeats": args.repeats,
        "seconds_label_rows": best["label_rows"], "seconds_full_vocab": best["full_vocab"],
        "all_seconds": times, "speedup_per_repeat": [f / l for l, f in zip(times["label_rows"], times["full_vocab"])],
        "speedup": best["full_vocab"] / best["label_rows"],
        "unembedding_s": unembed_s,
        "body_products": products,
        "body_share_in_products": products and products["seconds"] / best["label_rows"],
        "speedup_ceiling": products and 1 + unembed_s / products["seconds"],
        "max_abs_logit_diff": float((fast - slow).abs().max()),
        "same_predictions": bool(torch.equal(fast.argmax(-1), slow.argmax(-1))),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }, "evaluate.json")


if __name__ == "__main__":
    from circuitlab.allocator import reuse_freed_memory

    reuse_freed_memory()  # as the `circuitlab` command does (CIRCUITLAB_MALLOC=system: glibc's default)
    main()
