"""Benchmark: can another way of running the model reach a 3x label-row speed-up?

Companion to ``bench_evaluate.py``. On the same Indonesian NusaX test examples
it times three alternatives to circuitlab's Bridge evaluation:

- **plain Hugging Face**: the model's own ``forward`` (full-vocabulary logits) against
  its body (``model.model``, which ends with the final norm) times the label rows. No
  Bridge and no hooks, which is the plain-script set-up of ``shared/docs/baselines.md``.
  This runs once on length-sorted batches and once on batches in data order.
- **torch.compile**: the same body compiled (``dynamic=True``). The compile time is
  reported apart, and the timings come after a warm-up pass.
- **circuitlab** (``predict_logits``), for reference in the same run.

    python bench/bench_evaluate_alternatives.py [--n 96] [--batch-size 16] [--repeats 2]

Results go to ``bench/results/evaluate-alternatives.json``.
"""

from __future__ import annotations

import time

import torch

from bench_evaluate import save, setup  # the sibling script (this directory is on sys.path when run)

from circuitlab.evaluation import iter_batches, predict_logits


def batches(task, tokenizer, examples, batch_size, sort: bool):
    if sort:
        return [b for _, b in iter_batches(task, tokenizer, examples, batch_size)]
    return [task.encode(examples[s : s + batch_size], tokenizer) for s in range(0, len(examples), batch_size)]


def hf_full(hf, ids, bs) -> None:
    for b in bs:
        logits = hf(input_ids=b.input_ids, attention_mask=b.attention_mask).logits
        logits[torch.arange(len(b.last_pos)), b.last_pos][:, ids]


def body_rows(body, rows, bs) -> None:
    for b in bs:
        h = body(input_ids=b.input_ids, attention_mask=b.attention_mask).last_hidden_state
        h[torch.arange(len(b.last_pos)), b.last_pos] @ rows.T


def timed(fn, repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn`` under inference mode."""
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        with torch.inference_mode():
            fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    args, examples, model, task = setup(__doc__)
    hf, body = model.hf_model, model.hf_model.model
    ids = list(task.label_token_ids)
    rows = hf.get_output_embeddings().weight[ids]
    sorted_b = batches(task, model.tokenizer, examples, args.batch_size, sort=True)
    plain_b = batches(task, model.tokenizer, examples, args.batch_size, sort=False)
    timed(lambda: body_rows(body, rows, sorted_b[:1]), 1)  # warm-up

    s: dict[str, list[float]] = {}
    for _ in range(args.repeats):  # interleaved, so drift hits every variant alike
        for name, fn in {
            "hf_label_rows_sorted": lambda: body_rows(body, rows, sorted_b),
            "hf_full_vocab_sorted": lambda: hf_full(hf, ids, sorted_b),
            "hf_label_rows_data_order": lambda: body_rows(body, rows, plain_b),
            "hf_full_vocab_data_order": lambda: hf_full(hf, ids, plain_b),
            "circuitlab_label_rows_sorted": lambda: predict_logits(model, task, examples, args.batch_size,
                                                                   progress=False),
        }.items():
            s.setdefault(name, []).extend(timed(fn, 1))
    compiled = torch.compile(body, dynamic=True)
    compile_s = timed(lambda: body_rows(compiled, rows, sorted_b), 1)[0]  # compiles, then runs once
    for _ in range(args.repeats):
        s.setdefault("compiled_body_label_rows_sorted", []).extend(
            timed(lambda: body_rows(compiled, rows, sorted_b), 1))
        s.setdefault("eager_body_label_rows_sorted", []).extend(timed(lambda: body_rows(body, rows, sorted_b), 1))
    best = {k: min(v) for k, v in s.items()}
    save({
        "model": args.model, "n_examples": len(examples),
        "batch_size": args.batch_size, "repeats": args.repeats, "seconds": s, "best_seconds": best,
        "speedup_hf_sorted": best["hf_full_vocab_sorted"] / best["hf_label_rows_sorted"],
        "speedup_hf_data_order": best["hf_full_vocab_data_order"] / best["hf_label_rows_data_order"],
        "compile_and_first_pass_s": compile_s,
        "compiled_vs_eager_body": best["compiled_body_label_rows_sorted"] / best["eager_body_label_rows_sorted"],
    }, "evaluate-alternatives.json")


if __name__ == "__main__":
    from circuitlab.allocator import reuse_freed_memory

    reuse_freed_memory()  # as the `circuitlab` command does (CIRCUITLAB_MALLOC=system: glibc's default)
    main()
