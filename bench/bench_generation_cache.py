"""Benchmark: greedy translation with the KV cache (plain HF tree) vs without it (through the Bridge).

Through the TransformerBridge's attention wrapper the KV cache is not carried correctly, so
``translate`` decodes on the unwrapped HF module tree (:func:`circuitlab.models.plain_hf`),
which shares the parameters. This script times both ways on the same NusaX test pairs, checks
that the hypotheses are identical, and also reports what cached decoding *through* the Bridge
produces (the drift that made the unwrapping necessary).

    python bench/bench_generation_cache.py [--model gemma-3-270m] [--source javanese] [--n 32]
        [--max-new-tokens 48] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def main() -> None:
    from circuitlab.data import find_data
    from circuitlab.generation import chrf, load_translation_pairs, translate
    from circuitlab.generation.translation import TranslationTask, pad_id
    from circuitlab.models import load_model

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--source", default="javanese")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--out", default=str(HERE / "results" / "generation-cache.json"))
    args = p.parse_args()

    model = load_model(args.model)
    pairs = load_translation_pairs(args.source, "english", "test", args.data_dir or find_data("nusax"), limit=args.n)
    refs = [q.reference for q in pairs]
    rows = {}
    for name, cache in (("cached_plain_hf", True), ("uncached_bridge", False)):
        t = time.perf_counter()
        hyps = translate(model.hf_model, model.tokenizer, pairs, max_new_tokens=args.max_new_tokens,
                         batch_size=args.batch_size, use_cache=cache)
        rows[name] = {"seconds": time.perf_counter() - t, "chrf": chrf(hyps, refs), "hypotheses": hyps}
        print(name, f"{rows[name]['seconds']:.1f} s", f"chrF++ {rows[name]['chrf']:.2f}", flush=True)

    # What cached decoding through the Bridge gives (first batch only): the reason for plain_hf.
    task, tok = TranslationTask(), model.tokenizer
    side, tok.padding_side = tok.padding_side, "left"
    enc = tok([task.prompt(q) for q in pairs[:4]], return_tensors="pt", padding=True)
    tok.padding_side = side
    with torch.no_grad():
        gen = model.hf_model.eval().generate(**enc, do_sample=False, max_new_tokens=16, use_cache=True,
                                             pad_token_id=pad_id(tok), top_p=None, top_k=None, temperature=None)
    through_bridge = tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    same = rows["cached_plain_hf"]["hypotheses"] == rows["uncached_bridge"]["hypotheses"]
    out = {
        "what": "greedy translation: KV cache on the unwrapped HF tree vs no cache through the Bridge",
        "model": args.model, "source": args.source, "settings": vars(args),
        "identical_hypotheses": same,
        "speedup": rows["uncached_bridge"]["seconds"] / rows["cached_plain_hf"]["seconds"],
        **rows, "cached_through_bridge_first4_16_tokens": through_bridge,
        "plain_first4": rows["cached_plain_hf"]["hypotheses"][:4],
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                   f"torch {torch.__version__}",
    }
    Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"identical: {same}; speed-up {out['speedup']:.1f}x; wrote {args.out}")


if __name__ == "__main__":
    main()
