"""One generative CT-SFT run: find heads on the proxy, tune on the target, score before and after.

``run_translation`` is what ``circuitlab translate`` runs. The circuit is the top ``k`` heads
by ``scorer`` on the gold continuation of ``n_discovery`` *proxy* training pairs (CT-SFT's
``directional`` rule by default, :mod:`.directional`; ``attribution``, :mod:`.discovery`);
``random`` draws ``k`` heads with the seed; ``full``, ``norms`` and ``lora`` are the
baselines; ``none`` only evaluates. Every method trains through the same
``transformers.Trainer`` (:func:`~circuitlab.generation.sft.sft`). Target and proxy chrF++
are measured before and after (forgetting = proxy before − after). With ``out_dir``,
``before.json`` is written as soon as the base model is scored (kept if training fails),
then ``results.json`` (scores, heads, settings, every hypothesis) at the end; TensorBoard
events go under ``out_dir/trainer/runs``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from circuitlab.errors import UserError
from circuitlab.generation.directional import sequence_directional_scores
from circuitlab.generation.discovery import head_means, sequence_head_scores
from circuitlab.generation.evaluate import evaluate_translation
from circuitlab.generation.sft import SFTSettings, sft
from circuitlab.generation.translation import TranslationTask, load_translation_pairs

METHODS = ("none", "circuit", "random", "full", "norms", "lora")
SCORERS = {"directional": sequence_directional_scores, "attribution": sequence_head_scores}
DEFAULT_LR = {"full": 2e-5}  # every other method: SFTSettings.lr (1e-4)


def default_settings(method: str, **overrides) -> SFTSettings:
    """The run's trainer settings: 2 epochs, max length 256, lr 1e-4 (full fine-tuning 2e-5)."""
    base = dict(epochs=2, max_length=256, lr=DEFAULT_LR.get(method, SFTSettings().lr))
    return SFTSettings(**{**base, **overrides})


@dataclass(frozen=True)
class TranslationConfig:
    """What one run translates, how the heads are chosen and how it trains."""

    source: str = "javanese"
    target: str = "english"
    proxy: str = "indonesian"
    method: str = "circuit"
    k: int = 6
    scorer: str = "directional"
    n_train: int = 40
    n_test: int = 100
    n_discovery: int = 16
    max_new_tokens: int = 48
    seed: int = 31
    settings: SFTSettings | None = None
    """Trainer settings; ``None``: 2 epochs, max length 256, lr 1e-4 (full fine-tuning 2e-5)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"Unknown method {self.method!r}; choose one of {', '.join(METHODS)}.")
        if self.scorer not in SCORERS:
            raise UserError(f"Unknown scorer {self.scorer!r}; choose one of {', '.join(SCORERS)}.")
        for name in ("k", "n_train", "n_test", "n_discovery", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}.")

    def check_model(self, geometry) -> None:
        total = geometry.n_layers * geometry.n_heads
        if self.method in ("circuit", "random") and self.k > total:
            raise UserError(f"k={self.k} but the model has {total} heads ({geometry.n_layers} layers x "
                            f"{geometry.n_heads}); choose k <= {total}.")


def top_heads(scores, k: int) -> list[tuple[int, int]]:
    """The ``k`` highest-scoring ``(layer, head)`` of a ``[layers, heads]`` score table, best first."""
    n_heads = scores.shape[1]
    return [(int(i) // n_heads, int(i) % n_heads) for i in scores.flatten().argsort(descending=True)[:k]]


def random_heads(geometry, k: int, seed: int) -> list[tuple[int, int]]:
    """``k`` distinct heads drawn uniformly with ``seed`` (sorted)."""
    grid = [(layer, head) for layer in range(geometry.n_layers) for head in range(geometry.n_heads)]
    return sorted(random.Random(seed).sample(grid, k))


def _tuner(model, config: TranslationConfig, heads):
    from circuitlab.tuning import LoraTuner, MaskTuner, ParamMask

    if config.method == "lora":
        return LoraTuner()
    if config.method == "full":
        return MaskTuner(ParamMask.full(model))
    if config.method == "norms":
        return MaskTuner(ParamMask.for_norms(model))
    return MaskTuner(ParamMask.for_heads(model, heads))


def _write(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    tmp.replace(path)


def run_translation(
    model, config: TranslationConfig, data_dir=None, out_dir: str | Path | None = None, overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    """Run ``config`` on ``model`` (a LoadedModel; it is fine-tuned in place). Returns the results dict."""
    from circuitlab.data import find_data
    from circuitlab.tuning import NonFiniteLossError

    config.check_model(model.geometry)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} already exists and is not empty; choose another --out or pass --overwrite.")
    data = data_dir or find_data("nusax")
    task = TranslationTask()
    pairs = {
        "train": load_translation_pairs(config.source, config.target, "train", data, limit=config.n_train),
        "test": load_translation_pairs(config.source, config.target, "test", data, limit=config.n_test),
        "proxy_test": load_translation_pairs(config.proxy, config.target, "test", data, limit=config.n_test),
    }
    settings = config.settings or default_settings(config.method)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result: dict = {"config": {**asdict(config), "settings": asdict(settings)}, "heads": None, "scores": None}

    def score(split: str):
        r = evaluate_translation(model.hf_model, model.tokenizer, pairs[split], task,
                                 max_new_tokens=config.max_new_tokens)
        return {"chrf": r.chrf, "hypotheses": list(r.hypotheses), "references": list(r.references)}

    heads = None
    if config.method == "circuit":
        proxy = load_translation_pairs(config.proxy, config.target, "train", data, limit=config.n_discovery)
        rows = task.encode(model.tokenizer, proxy, settings.max_length)
        t = time.perf_counter()
        scores = SCORERS[config.scorer](model, rows, means=head_means(model, rows))
        heads = top_heads(scores, config.k)
        result.update(scores=scores.tolist(), discovery_s=time.perf_counter() - t)
        log(f"{config.scorer} scores on {len(rows)} {config.proxy} pairs: top {config.k} heads {heads}")
    elif config.method == "random":
        heads = random_heads(model.geometry, config.k, config.seed)
    result["heads"] = heads
    result["before"] = {"target": score("test"), "proxy": score("proxy_test")}
    log(f"before: {config.source}->{config.target} chrF++ {result['before']['target']['chrf']:.2f}, "
        f"{config.proxy}->{config.target} {result['before']['proxy']['chrf']:.2f}")
    if out is not None:
        _write(out / "before.json", result)
    if config.method != "none":
        try:
            run = sft(model, _tuner(model, config, heads), pairs["train"], settings,
                      out / "trainer" if out is not None else _scratch())
        except NonFiniteLossError as exc:
            kept = f" The base model's scores are kept in {out / 'before.json'}." if out is not None else ""
            raise UserError(f"{exc}{kept}") from exc
        result["training"] = {"steps": run.steps, "train_loss": run.train_loss, "seconds": run.seconds,
                              "n_trainable": run.n_trainable}
        result["after"] = {"target": score("test"), "proxy": score("proxy_test")}
        result["forgetting"] = result["before"]["proxy"]["chrf"] - result["after"]["proxy"]["chrf"]
        log(f"after {config.method}: {config.source}->{config.target} chrF++ "
            f"{result['after']['target']['chrf']:.2f}, {config.proxy}->{config.target} "
            f"{result['after']['proxy']['chrf']:.2f} (forgetting {result['forgetting']:+.2f})")
    result["wall_s"] = time.perf_counter() - t0
    if out is not None:
        _write(out / "results.json", result)
    return result


def _scratch() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="circuitlab-sft-"))
