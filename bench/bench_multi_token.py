"""Benchmark: multi-token label scoring (summed log-probs) vs the single-token fast path, one run.

Native Indonesian verbalizers (``" negatif"``, ``" netral"``, ``" positif"``) are not all one
token for Gemma-3 (``" netral"`` is ``▁net`` + ``ral``), so circuitlab scores them by the
summed log-probability of each label's tokens: ``n_labels`` rows per example, full-vocabulary
log-softmax only at the positions that predict a label token. This script times, on the same
Indonesian NusaX test examples:

- ``single``: English single-token verbalizers, label-row fast path;
- ``sequence``: the native verbalizers, batched summed log-probs (what circuitlab runs);
- ``naive``: the native verbalizers, one full forward with full-vocabulary logits per label row
  (the straightforward way), checked to give the same scores.

It also reports each verbalizer set's accuracy (a measurement, not a claim about which is better).

    python bench/bench_multi_token.py [--n 96] [--batch-size 16] [--data-dir ../shared/data/nusax]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from circuitlab.data import find_data, load_nusax
from circuitlab.evaluation import iter_batches, predict_logits
from circuitlab.models import load_model
from circuitlab.tasks import ClassificationTask, make_task

HERE = Path(__file__).resolve().parent
NATIVE = {"negative": " negatif", "neutral": " netral", "positive": " positif"}


def naive_scores(model, task: ClassificationTask, examples, batch_size: int) -> torch.Tensor:
    """Summed label log-probs from full-vocabulary logits at every position (no restriction)."""
    out = torch.empty(len(examples), task.n_labels)
    with torch.inference_mode():
        for idx, batch in iter_batches(task, model.tokenizer, examples, batch_size):
            logp = F.log_softmax(model.bridge(batch.input_ids, attention_mask=batch.attention_mask).float(), -1)
            r = batch.reads
            rows = torch.arange(logp.shape[0])[:, None]
            lp = logp[rows, r.positions, r.tokens] * r.mask
            out[idx] = lp.sum(-1).view(-1, task.n_labels)
    return out


def timed(fn, repeats: int) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=str(HERE / "results" / "multi-token.json"))
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    model = load_model(args.model)
    examples = load_nusax("indonesian", "test", args.data_dir or find_data("nusax"))[: args.n]
    single = make_task("nusax", model.tokenizer)
    native = ClassificationTask.build("nusax-native", single.template, NATIVE, model.tokenizer)
    bs = args.batch_size
    t_single, s_single = timed(lambda: predict_logits(model, single, examples, bs, progress=False), args.repeats)
    t_seq, s_seq = timed(lambda: predict_logits(model, native, examples, bs, progress=False), args.repeats)
    t_naive, s_naive = timed(lambda: naive_scores(model, native, examples, bs), 1)
    gold = torch.tensor([single.label_index(e.label) for e in examples])
    result = {
        "model": args.model, "n": len(examples), "batch_size": bs, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "native_tokens": {lab: len(t) for lab, t in zip(native.labels, native.label_tokens)},
        "seconds": {"single_token_fast_path": t_single, "sequence_batched": t_seq, "sequence_naive_full_vocab": t_naive},
        "sequence_vs_naive_speedup": t_naive / t_seq,
        "sequence_vs_single_cost": t_seq / t_single,
        "max_abs_diff_vs_naive": float((s_seq - s_naive).abs().max()),
        "same_predictions_as_naive": bool((s_seq.argmax(-1) == s_naive.argmax(-1)).all()),
        "accuracy": {"english_single_token": float((s_single.argmax(-1) == gold).float().mean()),
                     "indonesian_native": float((s_seq.argmax(-1) == gold).float().mean())},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
