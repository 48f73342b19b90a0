"""GPU check and benchmark: circuitlab on a CUDA device (run where one is available; CI never does).

1. **Same results on CUDA as on the CPU** (tiny random Qwen2 and Gemma-3 models, a few
   hand-written Indonesian sentences): label logits, the label-balanced mean, and the
   ``attribution``, ``mean-ablation`` and ``directional`` head scores (max abs difference,
   Spearman of the rankings); then a ``circuit`` run trained on the GPU with weight decay,
   checked for exactness (every element outside the mask bit-identical) and for the
   selected slices having moved.
2. **Training step on CUDA**: a randomly initialised model with Gemma-3-270M's exact
   configuration (the real weights do not travel to a GPU box without network; step time and
   memory do not depend on the values): median step time and peak CUDA memory of ``circuit``
   (8 heads), ``full`` and ``lora`` at batch 16 x length 128.

    python bench/bench_gpu.py [--config path/to/gemma-3-270m/config.json] [--out bench/results/gpu.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SENTENCES = [  # (text, label): short Indonesian reviews written for this check, not NusaX data
    ("Makanannya enak sekali dan pelayanannya ramah.", "positive"),
    ("Saya sangat kecewa, pesanan datang terlambat dan dingin.", "negative"),
    ("Toko ini buka jam sembilan pagi.", "neutral"),
    ("Kamarnya bersih, nyaman, dan harganya murah.", "positive"),
    ("Pelayannya kasar dan tempatnya kotor.", "negative"),
    ("Rapat dipindah ke hari Kamis.", "neutral"),
    ("Filmnya luar biasa, saya ingin menonton lagi.", "positive"),
    ("Aplikasinya sering error dan lambat sekali.", "negative"),
    ("Harga tiket kereta naik bulan depan.", "neutral"),
    ("Terima kasih, barangnya sampai dengan selamat.", "positive"),
    ("Jangan beli di sini, barangnya palsu.", "negative"),
    ("Kantor pos ada di sebelah bank.", "neutral"),
]


def examples():
    from circuitlab.data import Example

    return [Example(id=str(i), text=t, label=lab, language="indonesian") for i, (t, lab) in enumerate(SENTENCES)]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = a.flatten().argsort().argsort().double(), b.flatten().argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def check_family(name: str, device: str = "cuda") -> dict:
    """CPU vs CUDA on one tiny model: logits, mean, three scorers, and an exact masked run on the GPU."""
    from circuitlab.discovery import get_scorer, label_balanced_mean
    from circuitlab.evaluation import predict_logits
    from circuitlab.heads import HeadSet
    from circuitlab.models import load_model
    from circuitlab.tasks import make_task
    from circuitlab.tuning import ModelIndex, ModelSnapshot, TrainConfig, build_tuner, get_method, train

    ex = examples()
    cpu, gpu = load_model(name), load_model(name, device=device)
    task = make_task("nusax", cpu.tokenizer)
    out: dict = {"model": name, "device": str(gpu.device)}
    lc = predict_logits(cpu, task, ex, progress=False)
    lg = predict_logits(gpu, task, ex, progress=False).cpu()
    out["logits_max_abs_diff"] = float((lc - lg).abs().max())
    out["same_predictions"] = bool(torch.equal(lc.argmax(-1), lg.argmax(-1)))
    mc = label_balanced_mean(cpu, task, ex, progress=False)
    mg = label_balanced_mean(gpu, task, ex, progress=False)
    out["mean_max_abs_diff"] = float((mc.values.cpu() - mg.values.cpu()).abs().max())
    for method in ("attribution", "mean-ablation", "directional"):
        t = time.perf_counter()
        sc = get_scorer(method, progress=False).score(cpu, task, ex, mean=mc, seed=0, batch_size=6).to_tensor()
        t_cpu = time.perf_counter() - t
        t = time.perf_counter()
        sg = get_scorer(method, progress=False).score(gpu, task, ex, mean=mg, seed=0, batch_size=6).to_tensor()
        if device == "cuda":
            torch.cuda.synchronize()
        out[method] = {"max_abs_diff": float((sc - sg.cpu()).abs().max()), "max_abs_score": float(sc.abs().max()),
                       "spearman": spearman(sc, sg.cpu()), "cpu_s": t_cpu, "cuda_s": time.perf_counter() - t}
    # an exact head mask on the GPU, weight decay on
    g = gpu.geometry
    heads = HeadSet.of([(0, 0), (g.n_layers - 1, g.n_heads - 1)])
    tuner = build_tuner(get_method("circuit"), gpu, heads=heads, kv_rule="any")
    before = ModelSnapshot.take(gpu)
    res = train(gpu, task, ex, tuner, TrainConfig(epochs=3, lr=1e-3, batch_size=6, weight_decay=0.1, warmup_ratio=0.0),
                progress=False)
    mask = tuner.mask
    index = ModelIndex.build(gpu.hf_model, g.family)
    outside_changed, inside_changed = [], 0
    for pname, p in index.params.items():
        b = before.values[pname].to(p.device)
        m = mask.bool_mask(pname)
        if m is None:
            if not torch.equal(p, b):
                outside_changed.append(pname)
        else:
            m = m.to(p.device)
            if not torch.equal(p[~m], b[~m]):
                outside_changed.append(pname)
            inside_changed += int((p[m] != b[m]).sum())
    out["masked_run"] = {"heads": heads.to_list(), "losses": res.losses,
                         "elements_outside_mask_changed_in": outside_changed, "elements_inside_changed": inside_changed,
                         "exact": not outside_changed and inside_changed > 0}
    return out


def gemma_shaped(config: Path, work: Path) -> Path:
    """A folder with Gemma-3-270M's configuration, random weights and circuitlab's small offline tokenizer."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from circuitlab.models.tiny import build_tokenizer

    cfg = AutoConfig.from_pretrained(config.parent if config.name == "config.json" else config)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    out = work / "gemma-3-270m-random"
    model.save_pretrained(out)
    build_tokenizer().save_pretrained(out)
    return out


def step_benchmark(folder: Path, methods: list[str], k: int, batch: int, length: int, steps: int) -> list[dict]:
    """Median training-step time and peak CUDA memory per method (one fresh model per method)."""
    from circuitlab.models import load_model
    from circuitlab.tasks import Batch, make_task
    from circuitlab.tuning import TrainConfig, build_tuner, get_method
    from circuitlab.tuning.methods import choose_heads
    from circuitlab.tuning.trainer import _lr_lambda, make_optimizer, training_step

    rows = []
    for method in methods:
        torch.cuda.empty_cache()
        held_before_gb = torch.cuda.memory_allocated() / 2**30  # 0 unless an earlier method leaked
        model = load_model(str(folder), device="cuda")
        task = make_task("nusax", model.tokenizer)
        g = model.geometry
        spec = get_method(method)
        heads = choose_heads(get_method("random"), g, k, seed=0) if spec.uses_heads else None
        tuner = build_tuner(spec, model, heads=heads, kv_rule="any")
        trainables = tuner.install(model)
        params = list(trainables.values())
        config = TrainConfig(lr=5e-5, weight_decay=0.01)
        opt = make_optimizer(trainables, config)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(1000, 10, "linear"))
        gen = torch.Generator().manual_seed(0)
        ids = torch.randint(10, len(model.tokenizer), (batch, length), generator=gen)
        b = Batch(ids, torch.ones_like(ids), torch.full((batch,), length - 1),
                  torch.randint(0, task.n_labels, (batch,), generator=gen)).to("cuda")
        model.bridge.eval()
        with torch.enable_grad():
            training_step(model, task, b, params, opt, sched, config.max_grad_norm)  # warm-up (allocations, kernels)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            times = []
            for _ in range(steps):
                t = time.perf_counter()
                training_step(model, task, b, params, opt, sched, config.max_grad_norm)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
        rows.append({"method": method, "heads": heads.to_list() if heads is not None else None,
                     "n_trainable": sum(p.numel() for p in params), "step_s_median": statistics.median(times),
                     "step_s": times, "peak_cuda_gb": torch.cuda.max_memory_allocated() / 2**30,
                     "held_before_load_gb": held_before_gb})
        tuner.merge()
        del model, tuner, trainables, params, opt, sched, b  # the scheduler holds the optimizer and its state
        gc.collect()
        torch.cuda.empty_cache()
    full = next((r for r in rows if r["method"] == "full"), None)
    for r in rows:
        if full:
            r["time_vs_full"] = r["step_s_median"] / full["step_s_median"]
            r["memory_vs_full"] = r["peak_cuda_gb"] / full["peak_cuda_gb"]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=Path.home() / ".cache/circuitlab/models/gemma-3-270m/config.json")
    ap.add_argument("--families", default="tiny-qwen2,tiny-gemma3,tiny-gpt2")
    ap.add_argument("--methods", default="full,circuit,lora")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "gpu.json")
    ap.add_argument("--device", default="cuda", help="cpu only to try the checks of this script itself")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_gpu.py needs a CUDA device (torch.cuda.is_available() is False).")
    gpu_name = torch.cuda.get_device_name(0) if args.device == "cuda" else args.device
    result = {"torch": torch.__version__, "gpu": gpu_name, "checks": [], "steps": []}
    for name in filter(None, args.families.split(",")):
        try:
            result["checks"].append(check_family(name, args.device))
        except Exception as exc:  # report every family, then fail
            result["checks"].append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
        print(json.dumps(result["checks"][-1], indent=1, default=str), flush=True)
    if args.config.exists() and args.device == "cuda":
        with tempfile.TemporaryDirectory() as tmp:
            folder = gemma_shaped(args.config, Path(tmp))
            result["steps"] = step_benchmark(folder, args.methods.split(","), args.k, args.batch, args.length,
                                             args.steps)
        for r in result["steps"]:
            print({k: v for k, v in r.items() if k != "step_s"}, flush=True)
    elif args.device == "cuda":
        print(f"no Gemma-3-270M config at {args.config}: step benchmark skipped")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {args.out}")
    if any("error" in c or not c["masked_run"]["exact"] for c in result["checks"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
