"""Benchmark: every discovery scorer on Gemma-3-270M vs TransformerLens's per-head patching.

For the embedded default model and one set of Indonesian NusaX discovery examples
(default 50, label-balanced, correctly classified by the model), this script reports
for each scorer its wall time, its peak resident memory, and the Spearman rank
correlation of its scores with exact mean ablation; and, measured in the same run,
the time of the reference: ``transformer_lens.patching.get_act_patch_attn_head_out_all_pos``
on the Bridge, mean-ablating one head per forward pass (full-vocabulary logits, as the
utility does), timed on ``--ref-heads`` heads and extrapolated to all 72 (the output
says so). The reference's values on those heads are also compared with circuitlab's
``mean-ablation`` (they must agree: same quantity, different code).

Each scorer runs in its own process (so its peak RSS is its own; model loading is not
timed; ``rss_after_load_gb`` is the process's RSS before scoring). The label-balanced
mean μ is computed once and shared; its time is reported separately.

    python bench/bench_discovery.py [--n 50] [--batch-size 16] [--ref-heads 3] [--methods ...]

Results go to ``bench/results/bench_discovery.json``. The machine is shared: load
averages before and after each part are recorded beside the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from circuitlab.data import load_nusax  # noqa: E402
from circuitlab.evaluation import predict_logits  # noqa: E402
from circuitlab.discovery import (  # noqa: E402
    DiscoveryError, HeadMean, build_discovery_set, get_scorer, label_balanced_mean,
)
from circuitlab.allocator import mode as allocator_mode  # noqa: E402
from circuitlab.models import load_model  # noqa: E402
from circuitlab.tasks import make_task  # noqa: E402

METHODS = ["attribution", "directional", "cdt-unsigned", "mean-ablation", "zero-ablation", "resample-ablation"]
TARGETS = {"attribution": 100.0, "mean-ablation": 6.0, "directional": 5.0}


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


def current_rss_gb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


def load_state(path: str):
    state = torch.load(path, weights_only=False)
    model = load_model(state["model"])
    task = make_task("nusax", model.tokenizer)
    by_id = {e.id: e for e in load_nusax("indonesian", state["split"], state["data_dir"])}
    examples = [by_id[i] for i in state["ids"]]
    mean = HeadMean(state["mean"], state["pooling"], state["per_label"], len(examples))
    return state, model, task, examples, mean


def worker(method: str, state_path: str, out_path: str) -> None:
    state, model, task, examples, mean = load_state(state_path)
    torch.set_num_threads(state["threads"])
    after_load = current_rss_gb()
    load0 = os.getloadavg()[0]
    cpu0 = time.process_time()
    t = time.perf_counter()
    if method == "tl-patching":
        result = reference(model, task, examples, mean, state)
    else:
        scores = get_scorer(method).score(model, task, examples, mean=mean, seed=state["seed"],
                                          batch_size=state["batch_size"])
        result = {"scores": scores.to_tensor().tolist(), "meta_notes": scores.meta.get("decomposition")}
    wall = time.perf_counter() - t
    result.update({"method": method, "wall_s": wall, "cpu_s": time.process_time() - cpu0, "peak_rss_gb": rss_gb(), "rss_after_load_gb": after_load,
                   "loadavg_before": load0, "loadavg_after": os.getloadavg()[0]})
    Path(out_path).write_text(json.dumps(result))


def reference(model, task, examples, mean, state) -> dict:
    """TransformerLens's own per-head patching utility, mean-ablating ``ref_heads`` heads."""
    import pandas as pd
    from transformer_lens import patching

    from circuitlab.evaluation import iter_batches
    from circuitlab.tasks import task_margin

    g = model.geometry
    layers = sorted({round(i * (g.n_layers - 1) / max(1, state["ref_heads"] - 1)) for i in range(state["ref_heads"])})
    heads = [(layer, i % g.n_heads) for i, layer in enumerate(layers)]
    index_df = pd.DataFrame(heads, columns=["layer", "head_index"])
    ids = torch.tensor(task.label_token_ids)
    effect = torch.zeros(len(heads), dtype=torch.float64)
    t_patch = c_patch = 0.0
    for _, batch in iter_batches(task, model.tokenizer, examples, state["batch_size"]):
        # Right padding + causal attention: the real positions are exact without an attention mask, which the
        # utility does not take.
        tokens = batch.input_ids
        b, t = tokens.shape
        cache = {f"blocks.{l}.attn.hook_z": mean.values[l].expand(b, t, g.n_heads, g.d_head) for l in range(g.n_layers)}
        rows = torch.arange(b)

        def metric(logits, rows=rows, batch=batch):
            return task_margin(logits[rows, batch.last_pos][:, ids], batch.labels)

        with torch.no_grad():
            clean = metric(model.bridge(tokens, attention_mask=batch.attention_mask))
            t0, c0 = time.perf_counter(), time.process_time()
            patched = patching.get_act_patch_attn_head_out_all_pos(
                model.bridge, tokens, cache, metric, index_df=index_df, index_axis_names=None, reduce="none")
            t_patch += time.perf_counter() - t0
            c_patch += time.process_time() - c0
        values = patched.values if hasattr(patched, "values") else patched
        effect += (clean[None] - values).sum(-1).double()
    per_head, per_head_cpu = t_patch / len(heads), c_patch / len(heads)
    return {"heads": heads, "mean_ablation": (effect / len(examples)).tolist(), "patch_s": t_patch,
            "patch_cpu_s": c_patch, "per_head_s": per_head, "extrapolated_all_heads_s": per_head * g.total_heads,
            "per_head_cpu_s": per_head_cpu, "extrapolated_all_heads_cpu_s": per_head_cpu * g.total_heads}


def weight_products(model, task, examples, batch_size: int) -> dict | None:
    """Multiply-adds of the weight products each method needs on these batches, counted from shapes.

    A speed-up target compares two different workloads, so the count says where a target sits before any
    timing: ``speedup_at_equal_rate`` is the speed-up if both ran their products at the same rate and
    everything else cost nothing. Counted (per padded token unless noted): every ``nn.Linear`` of every
    block, and the unembedding.

    - reference, per head: one full forward with full-vocabulary logits at every position;
    - ``attribution``: a forward to the final norm (the last block's MLP at the prediction row only) and
      a backward for input gradients, which skips layer 0's q/k/v (nothing below them is differentiated);
    - ``mean-ablation``: a clean pass per batch, then for each layer, ``r`` stacked copies (the layer's
      heads, the scorer's default ``max_replicas`` at most per pass) run from that layer to the final norm.

    Attention scores, norms and elementwise ops are not counted. ``None`` for models whose blocks are not
    made of ``nn.Linear`` (GPT-2's Conv1D).
    """
    from circuitlab.discovery.scorers.ablation import AblationConfig
    from circuitlab.evaluation import iter_batches

    def macs(module: torch.nn.Module) -> int:  # distinct weights (the Bridge wraps each HF Linear once more)
        weights = {id(m.weight): m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Linear)}
        return sum(weights.values())

    g, blocks, max_replicas = model.geometry, model.bridge.blocks, AblationConfig().max_replicas
    if any(type(m).__name__ == "Conv1D" for m in blocks.modules()):
        return None
    layer = [macs(b) for b in blocks]
    last_mlp = macs(blocks[-1].mlp)
    qkv0 = macs(blocks[0].attn) - macs(blocks[0].attn.o)
    unembed = model.hf_model.get_output_embeddings().weight.numel()
    body = sum(layer)
    shapes = [tuple(b.input_ids.shape) for _, b in iter_batches(task, model.tokenizer, examples, batch_size)]
    tokens, rows = sum(b * t for b, t in shapes), sum(b for b, _ in shapes)
    trimmed = tokens * (body - last_mlp) + rows * last_mlp  # to the final norm, last MLP at one row
    reference = g.total_heads * tokens * (body + unembed)
    attribution = trimmed + trimmed - tokens * qkv0
    mean_ablation = 0
    for b, t in shapes:
        mean_ablation += b * t * body  # the clean pass (it runs the whole last block)
        for start in range(g.n_layers):
            for c in range(0, g.n_heads, max_replicas):
                r = min(max_replicas, g.n_heads - c)
                mean_ablation += r * (b * t * (sum(layer[start:]) - last_mlp) + b * last_mlp)
    counts = {"tl-patching (all heads)": reference, "attribution": attribution, "mean-ablation": mean_ablation}
    return {
        "gmac": {k: round(v / 1e9, 1) for k, v in counts.items()},
        "speedup_at_equal_rate": {k: round(reference / counts[k], 2) for k in ("attribution", "mean-ablation")},
        "padded_tokens": tokens,
        "per_token_mmac": {"body": round(body / 1e6, 2), "unembed": round(unembed / 1e6, 2)},
        "counted": "nn.Linear weights of every block and the unembedding; not attention scores, norms or "
                   "elementwise ops",
    }


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    import pandas as pd

    ok = torch.isfinite(a) & torch.isfinite(b)
    return float(pd.Series(a[ok].numpy()).corr(pd.Series(b[ok].numpy()), method="spearman"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--ref-heads", type=int, default=3, help="heads the reference is timed on (extrapolated to all)")
    ap.add_argument("--methods", nargs="*", default=METHODS)
    ap.add_argument("--split", default="train")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data" / "nusax"))
    ap.add_argument("--out", default=str(HERE / "results" / "bench_discovery.json"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--state", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.state, args.result)

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    model = load_model(args.model)
    task = make_task("nusax", model.tokenizer)
    pool = load_nusax("indonesian", args.split, args.data_dir)
    t = time.perf_counter()
    # Evaluate the pool once; the base model almost never gets 'neutral' right (3 of 500 train examples), so
    # a 3-label balanced set is impossible without a proxy-tuned checkpoint: keep the labels that have enough.
    logits = predict_logits(model, task, pool, args.batch_size, progress=False)
    pred = [task.labels[i] for i in logits.argmax(-1).tolist()]
    correct_pool = [e for e, p in zip(pool, pred) if p == e.label]
    correct = {lab: sum(e.label == lab for e in correct_pool) for lab in task.labels}
    keep = [lab for lab in task.labels if correct[lab] >= -(-args.n // len(task.labels))]
    if len(keep) < len(task.labels):
        keep = [lab for lab in task.labels if correct[lab] >= -(-args.n // 2)]
    label_note = {"labels": keep, "correct_per_label": correct, "evaluated": len(pool),
                  "accuracy": len(correct_pool) / len(pool)}
    try:
        dset = build_discovery_set(model, task, correct_pool, args.n, seed=args.seed, labels=keep,
                                   require_correct=False)
    except DiscoveryError as exc:
        raise SystemExit(f"cannot build the discovery set: {exc}")
    t_dset = time.perf_counter() - t
    examples = list(dset.examples)
    t = time.perf_counter()
    mean = label_balanced_mean(model, task, examples, batch_size=args.batch_size)
    t_mean = time.perf_counter() - t
    lengths = [len(model.tokenizer(task.render(e))["input_ids"]) for e in examples]
    work = weight_products(model, task, examples, args.batch_size)
    print(f"discovery set: {len(examples)} examples ({label_note}); {dset.per_label}; tokens mean "
          f"{sum(lengths) / len(lengths):.1f}, max {max(lengths)}; mean {t_mean:.1f} s")
    del model

    tmp = Path(tempfile.mkdtemp(prefix="bench_discovery."))
    state_path = tmp / "state.pt"
    torch.save({"model": args.model, "split": args.split, "data_dir": args.data_dir, "ids": [e.id for e in examples],
                "mean": mean.values.cpu(), "pooling": mean.pooling, "per_label": mean.per_label, "seed": args.seed,
                "batch_size": args.batch_size, "ref_heads": args.ref_heads, "threads": args.threads}, state_path)
    results = {}
    # The reference runs first and last: the machine is shared, so its load can drift during the run.
    for key in ["tl-patching", *args.methods, "tl-patching-end"]:
        method = "tl-patching" if key.startswith("tl-patching") else key
        out = tmp / f"{key}.json"
        print(f"running {key} ...", flush=True)
        subprocess.run([sys.executable, __file__, "--worker", method, "--state", str(state_path), "--result",
                        str(out)], check=True)
        results[key] = json.loads(out.read_text())
        r = results[key]
        print(f"  {key}: {r['wall_s']:.1f} s (CPU {r['cpu_s']:.1f} s), peak RSS {r['peak_rss_gb']:.2f} GB "
              f"(after load {r['rss_after_load_gb']:.2f}), load avg {r['loadavg_before']:.1f}->"
              f"{r['loadavg_after']:.1f}", flush=True)

    ref, ref_end = results["tl-patching"], results["tl-patching-end"]
    ref_all = (ref["extrapolated_all_heads_s"] + ref_end["extrapolated_all_heads_s"]) / 2
    ref_all_cpu = (ref["extrapolated_all_heads_cpu_s"] + ref_end["extrapolated_all_heads_cpu_s"]) / 2
    summary = []
    exact = torch.tensor(results["mean-ablation"]["scores"]) if "mean-ablation" in results else None
    for method in args.methods:
        r = results[method]
        scores = torch.tensor(r["scores"])
        row = {"method": method, "wall_s": round(r["wall_s"], 2), "cpu_s": round(r["cpu_s"], 2),
               "peak_rss_gb": round(r["peak_rss_gb"], 2), "rss_after_load_gb": round(r["rss_after_load_gb"], 2),
               "speedup_vs_tl_patching": round(ref_all / r["wall_s"], 1),
               "cpu_speedup_vs_tl_patching": round(ref_all_cpu / r["cpu_s"], 1),
               "target_speedup": TARGETS.get(method),
               "spearman_vs_mean_ablation": None if exact is None else round(spearman(scores, exact), 3),
               "loadavg": [round(r["loadavg_before"], 1), round(r["loadavg_after"], 1)]}
        if row["target_speedup"] is not None:
            row["meets_target_wall"] = row["speedup_vs_tl_patching"] >= row["target_speedup"]
            row["meets_target_cpu"] = row["cpu_speedup_vs_tl_patching"] >= row["target_speedup"]
        summary.append(row)
    check = None
    if exact is not None:
        ours = [exact[layer, head].item() for layer, head in ref["heads"]]
        check = {"heads": ref["heads"], "tl_patching": ref["mean_ablation"], "circuitlab_mean_ablation": ours,
                 "max_abs_diff": max(abs(a - b) for a, b in zip(ours, ref["mean_ablation"]))}
    payload = {
        "model": args.model, "language": "indonesian", "split": args.split, "n_examples": len(examples),
        "discovery_labels": label_note, "per_label": dset.per_label, "example_ids": [e.id for e in examples],
        "tokens_mean": sum(lengths) / len(lengths), "tokens_max": max(lengths), "batch_size": args.batch_size,
        "threads": args.threads, "discovery_set_s": t_dset, "mean_s": t_mean,
        "reference": {
            "what": "transformer_lens.patching.get_act_patch_attn_head_out_all_pos on the Bridge, mean ablation "
                    "(hook_z := mu), full-vocabulary logits, same length-sorted batches",
            "timed_heads": ref["heads"], "timed_s": [ref["patch_s"], ref_end["patch_s"]],
            "per_head_s": [ref["per_head_s"], ref_end["per_head_s"]],
            "per_head_cpu_s": [ref["per_head_cpu_s"], ref_end["per_head_cpu_s"]],
            "all_heads_s": ref_all, "all_heads_cpu_s": ref_all_cpu, "extrapolated": True, "peak_rss_gb": ref["peak_rss_gb"],
            "runs": "timed at the start and at the end of the benchmark; all_heads_s is their mean",
            "loadavg": [[ref["loadavg_before"], ref["loadavg_after"]],
                        [ref_end["loadavg_before"], ref_end["loadavg_after"]]],
        },
        "reference_agreement": check,
        "scorers": summary,
        "weight_products": work,
        "note": "scorer times exclude model loading and the shared mean (mean_s); each scorer ran in its own "
                "process; the machine is shared (see loadavg), so wall times drift with other users' load: the "
                "process CPU times (cpu_s, user+sys) are the steadier comparison when threads=1",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg_start": load_start,
                    "loadavg_end": os.getloadavg(), "allocator": allocator_mode()},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2))
    print(f"\nreference (TL patching): {ref['per_head_s']:.2f} / {ref_end['per_head_s']:.2f} s/head (start / end) "
          f"on {len(ref['heads'])} heads -> {ref_all:.0f} s for all heads (extrapolated, mean of both)")
    if check:
        print(f"reference vs circuitlab mean-ablation on those heads: max |diff| = {check['max_abs_diff']:.2e}")
    cols = ["method", "wall_s", "cpu_s", "peak_rss_gb", "speedup_vs_tl_patching", "cpu_speedup_vs_tl_patching",
            "target_speedup", "spearman_vs_mean_ablation"]
    print("  ".join(f"{c:>18}" for c in cols))
    for row in summary:
        print("  ".join(f"{str(row.get(c)):>18}" for c in cols))
    if work:
        print(f"weight products (GMAC): {work['gmac']}; speed-up if both ran them at the same rate: "
              f"{work['speedup_at_equal_rate']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from circuitlab.allocator import reuse_freed_memory

    reuse_freed_memory()  # as the `circuitlab` command does (CIRCUITLAB_MALLOC=system: glibc's default)
    main()
