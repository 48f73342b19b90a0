"""Benchmark: generative CT-SFT vs random heads, full fine-tuning and PEFT LoRA, all on one HF Trainer.

Translation on NusaX's parallel rows (``--target`` → English; proxy Indonesian → English).
θ1 here is the base model itself (no proxy fine-tuning stage). The circuit is the top ``k``
heads by ``--scorer`` on the gold English continuation of ``--discovery-n`` *Indonesian*
training pairs: ``directional`` (CT-SFT's rule, :func:`circuitlab.generation.sequence_directional_scores`,
the default) or ``attribution`` (:func:`circuitlab.generation.sequence_head_scores`); both are
computed and timed, and their top-``k`` overlap reported. ``random`` draws ``k`` heads with the seed. Each method then trains on the same ``--n`` target training pairs through
``transformers.Trainer`` (the head mask as :class:`~circuitlab.tuning.hf_trainer.TunerCallback`,
LoRA through ``peft`` in the same callback), in a fresh subprocess so its peak resident memory
(``VmHWM``, see ``bench/_memory.py``) is its own. Reported per method: seconds per optimizer step, peak RSS, trainable
parameters, target chrF++ before/after and proxy chrF++ after (forgetting = before − after).

    python bench/bench_generative_sft.py [--model gemma-3-270m] [--target javanese] [--n 40]
        [--test-n 100] [--k 6] [--epochs 2] [--methods circuit,random,full,lora]
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


def _pairs(args, language: str, split: str, n: int):
    from circuitlab.data import find_data
    from circuitlab.generation import load_translation_pairs

    return load_translation_pairs(language, "english", split, args.data_dir or find_data("nusax"), limit=n)


def _chrf(model, pairs, args) -> float:
    from circuitlab.generation import evaluate_translation

    return evaluate_translation(model.hf_model, model.tokenizer, pairs, max_new_tokens=args.max_new_tokens,
                                batch_size=16).chrf


def run_method(args) -> dict:
    """One method in this process: train, then score target and proxy test pairs."""
    from circuitlab.generation import SFTSettings, sft
    from circuitlab.heads import HeadSet
    from circuitlab.models import load_model
    from circuitlab.tuning import LoraTuner, MaskTuner, ParamMask

    torch.manual_seed(args.seed)
    model = load_model(args.model)
    if args.method == "lora":
        tuner = LoraTuner()
    elif args.method == "full":
        tuner = MaskTuner(ParamMask.full(model))
    else:
        tuner = MaskTuner(ParamMask.for_heads(model, HeadSet.of([tuple(h) for h in json.loads(args.heads)])))
    settings = SFTSettings(epochs=args.epochs, lr=args.lr if args.method != "full" else args.full_lr,
                           batch_size=args.batch_size, max_length=args.max_length, seed=args.seed,
                           logging_steps=1, report_to=("tensorboard",))
    with tempfile.TemporaryDirectory() as out:
        result = sft(model, tuner, _pairs(args, args.target, "train", args.n), settings, out)
    peak_train = peak_rss_gib()  # before evaluation, which has its own peak
    return {
        "method": args.method, "steps": result.steps, "s_per_step": result.seconds / max(result.steps, 1),
        "train_loss": result.train_loss, "n_trainable": result.n_trainable,
        "peak_rss_train_gib": peak_train, "peak_rss_gib": peak_rss_gib(),
        "target_chrf_after": _chrf(model, _pairs(args, args.target, "test", args.test_n), args),
        "proxy_chrf_after": _chrf(model, _pairs(args, "indonesian", "test", args.test_n), args),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--target", default="javanese")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--n", type=int, default=40, help="target training pairs")
    p.add_argument("--test-n", type=int, default=100, help="test pairs per language")
    p.add_argument("--discovery-n", type=int, default=16)
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--scorer", choices=("directional", "attribution"), default="directional")
    p.add_argument("--epochs", type=float, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--full-lr", type=float, default=2e-5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--seed", type=int, default=31)
    p.add_argument("--methods", default="circuit,random,full,lora")
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--heads", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(HERE / "results" / "generative-sft.json"))
    args = p.parse_args()
    if args.method:  # child process
        print("RESULT " + json.dumps(run_method(args)), flush=True)
        return

    from circuitlab.generation import TranslationTask, head_means, sequence_directional_scores, sequence_head_scores
    from circuitlab.generation.pipeline import random_heads, top_heads
    from circuitlab.models import load_model

    t0 = time.perf_counter()
    model = load_model(args.model)
    g = model.geometry
    rows = TranslationTask().encode(model.tokenizer, _pairs(args, "indonesian", "train", args.discovery_n), args.max_length)
    mu = head_means(model, rows)
    discovery_s, tops = {}, {}
    for name, fn in (("attribution", sequence_head_scores), ("directional", sequence_directional_scores)):
        t = time.perf_counter()
        scores = fn(model, rows, batch_size=4, means=mu)
        discovery_s[name] = time.perf_counter() - t
        tops[name] = [list(h) for h in top_heads(scores, args.k)]
        print(name, f"{discovery_s[name]:.0f} s", tops[name], flush=True)
    circuit = tops[args.scorer]
    rand = [list(h) for h in random_heads(g, args.k, args.seed)]
    before = {"target_chrf": _chrf(model, _pairs(args, args.target, "test", args.test_n), args),
              "proxy_chrf": _chrf(model, _pairs(args, "indonesian", "test", args.test_n), args)}
    del model
    rows_out = []
    for method in args.methods.split(","):
        heads = {"circuit": circuit, "random": rand}.get(method, [])
        cmd = [sys.executable, __file__, "--method", method, "--heads", json.dumps(heads)] + [
            a for k, v in vars(args).items() if k not in ("method", "heads", "methods", "out") and v is not None
            for a in (f"--{k.replace('_', '-')}", str(v))]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not line:
            raise SystemExit(f"{method} failed:\n{proc.stderr[-3000:]}")
        r = json.loads(line[-1][7:])
        r["forgetting"] = before["proxy_chrf"] - r["proxy_chrf_after"]
        rows_out.append(r)
        print(json.dumps(r), flush=True)
    out = {
        "what": "generative SFT (translation to English) on one transformers Trainer: CT-SFT vs random heads, full, LoRA",
        "model": args.model, "target": args.target, "settings": {k: v for k, v in vars(args).items()
                                                                 if k not in ("method", "heads", "out")},
        "circuit": circuit, "random": rand, "discovery_s": discovery_s, "top_k": tops,
        "top_k_overlap": len({tuple(h) for h in tops["attribution"]} & {tuple(h) for h in tops["directional"]}), "before": before, "methods": rows_out,
        "wall_s": time.perf_counter() - t0, "machine": f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}",
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out} ({out['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
