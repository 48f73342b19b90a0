"""Benchmark: evaluation with label-row logits vs full-vocabulary logits, same examples, one run.

Gemma-3-270M has a 262k vocabulary; the full unembedding dominates a forward pass.
circuitlab stops the Bridge after the final norm and multiplies only the label rows.
This script times both ways on the same Indonesian NusaX test examples and checks
that they predict the same labels.

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "nusax"))
    args = ap.parse_args()

    examples = load_nusax("indonesian", "test", args.data_dir)[: args.n]
    model = load_model(args.model)
    task = make_task("nusax", model.tokenizer)
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
    result = {
        "model": args.model, "n_examples": len(examples), "batch_size": args.batch_size, "repeats": args.repeats,
        "seconds_label_rows": best["label_rows"], "seconds_full_vocab": best["full_vocab"],
        "all_seconds": times, "speedup_per_repeat": [f / l for l, f in zip(times["label_rows"], times["full_vocab"])],
        "load_average": list(os.getloadavg()),
        "speedup": best["full_vocab"] / best["label_rows"],
        "max_abs_logit_diff": float((fast - slow).abs().max()),
        "same_predictions": bool(torch.equal(fast.argmax(-1), slow.argmax(-1))),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "torch_threads": torch.get_num_threads(), "host": platform.node(), "torch": torch.__version__,
        "allocator": allocator_mode(),
    }
    print(json.dumps(result, indent=2))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "evaluate.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    from circuitlab.allocator import reuse_freed_memory

    reuse_freed_memory()  # as the `circuitlab` command does (CIRCUITLAB_MALLOC=system: glibc's default)
    main()
