"""Benchmark: circuitlab's own training loop vs ``transformers.Trainer`` on the same classification run.

Issue #18 keeps the own loop only if it is faster. Same model, same head mask (CT-SFT heads
+ norms), same examples, batch size, learning rate and steps; each variant in a fresh
subprocess so its peak RSS (``VmHWM``, see ``bench/_memory.py``) is its own:

- ``own``: :func:`circuitlab.tuning.train`: label-row readout (the Bridge stops after the
  final norm; 3 unembedding rows), selective recomputation, fused AdamW;
- ``trainer``: ``transformers.Trainer`` with the mask as a :class:`TunerCallback`, the label
  word as the response (loss on it only) and the LM head on that one position
  (:class:`~circuitlab.generation.loss.ResponseLossTrainer`): full-vocabulary softmax there;
- ``trainer-full-logits``: the same with the stock loss (LM head at every position).

The losses differ by design (3-way vs full-vocabulary softmax); this measures cost only.

    python bench/bench_loop_vs_trainer.py [--language javanese] [--n 64] [--batch-size 16] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _memory import peak_rss_gib  # bench/ is on sys.path when a bench script runs

HERE = Path(__file__).resolve().parent


def spread_heads(n_layers: int, n_heads: int, k: int = 6) -> list[tuple[int, int]]:
    """``k`` heads spread over the layers (only the cost is measured, so any heads will do)."""
    return sorted({(round(i * (n_layers - 1) / max(k - 1, 1)), i % n_heads) for i in range(k)})


def run_variant(args) -> dict:
    from circuitlab.data import find_data, load_examples
    from circuitlab.heads import HeadSet
    from circuitlab.models import load_model
    from circuitlab.tasks import make_task
    from circuitlab.tuning import MaskTuner, ParamMask

    model = load_model(args.model)
    task = make_task("nusax", model.tokenizer)
    examples = load_examples("nusax", args.language, "train", args.data_dir or find_data("nusax"))[: args.n]
    heads = spread_heads(model.geometry.n_layers, model.geometry.n_heads)
    tuner = MaskTuner(ParamMask.for_heads(model, HeadSet.of(heads)))
    if args.variant == "own":
        from circuitlab.tuning import TrainConfig, train

        config = TrainConfig(lr=1e-4, epochs=args.epochs, batch_size=args.batch_size, seed=0)
        t = time.perf_counter()
        result = train(model, task, examples, tuner, config, progress=False)
        seconds, steps = time.perf_counter() - t, result.steps
    else:
        from datasets import Dataset
        from transformers import Trainer, TrainingArguments

        from circuitlab.generation.loss import ResponseLossTrainer
        from circuitlab.generation.sft import SFTSettings, _common_args
        from circuitlab.generation.translation import Collator
        from circuitlab.tuning.hf_trainer import TunerCallback

        rows = []
        for e in examples:
            prompt = model.tokenizer(task.render(e))["input_ids"]
            label = list(task.label_tokens[task.label_index(e.label)])
            rows.append({"input_ids": prompt + label, "attention_mask": [1] * (len(prompt) + len(label)),
                         "labels": [-100] * len(prompt) + label})
        settings = SFTSettings(epochs=args.epochs, lr=1e-4, batch_size=args.batch_size, report_to=())
        callback = TunerCallback(model, tuner)
        with tempfile.TemporaryDirectory() as out:
            cls = ResponseLossTrainer if args.variant == "trainer" else Trainer
            trainer = cls(model=callback.hf_model, args=TrainingArguments(**_common_args(settings, Path(out)),
                                                                         remove_unused_columns=False),
                          train_dataset=Dataset.from_list(rows), data_collator=Collator(model.tokenizer),
                          callbacks=[callback])
            t = time.perf_counter()
            try:
                steps = trainer.train().global_step
            finally:
                callback.merge()
            seconds = time.perf_counter() - t
    return {"variant": args.variant, "heads": heads, "steps": steps, "s_per_step": seconds / steps,
            "peak_rss_gib": peak_rss_gib()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--language", default="javanese")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--variants", default="own,trainer,trainer-full-logits")
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(HERE / "results" / "loop-vs-trainer.json"))
    args = p.parse_args()
    if args.variant:
        print("RESULT " + json.dumps(run_variant(args)), flush=True)
        return
    rows, t0 = [], time.perf_counter()
    for variant in args.variants.split(","):
        cmd = [sys.executable, __file__, "--variant", variant] + [
            a for k, v in vars(args).items() if k not in ("variant", "variants", "out") and v is not None
            for a in (f"--{k.replace('_', '-')}", str(v))]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not line:
            raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
        rows.append(json.loads(line[-1][7:]))
        print(json.dumps(rows[-1]), flush=True)
    out = {"what": "own loop vs transformers.Trainer, same head mask and classification data (cost only)",
           "model": args.model, "settings": {k: v for k, v in vars(args).items()
                                                            if k not in ("variant", "out")},
           "variants": rows, "wall_s": time.perf_counter() - t0,
           "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                      f"torch {torch.__version__}"}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
