"""The tuning methods of CT-SFT and its baselines, as a registry.

Each method is a :class:`MethodSpec`: its name, where it starts (the proxy
checkpoint θ1 or the base model), how it picks heads (if it does), and a
``build`` function that turns a :class:`MethodContext` into a
:class:`~circuitlab.tuning.tuners.Tuner`. A new method is one
:func:`register_method` call; the experiment runner, the CLI and the test table
(``tests/tuning/test_methods.py``) pick it up from :data:`METHODS`.

=============  =======  =====================================================
method         start    trains
=============  =======  =====================================================
``circuit``    θ1       top-k heads by relevance (Q/K/V/O slices) + all norms
``nearzero``   θ1       k heads with relevance closest to 0 + all norms
``least``      θ1       k heads with the lowest relevance + all norms
``random``     θ1       k random heads (seeded by the run seed) + all norms
``norms``      θ1       every LayerNorm/RMSNorm parameter only
``full``       θ1       every parameter (continued full fine-tuning)
``direct``     base     every parameter, no proxy stage
``lora``       θ1       PEFT LoRA adapters on Q/K/V/O of every layer
=============  =======  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from circuitlab.discovery import HeadScores, select_heads
from circuitlab.heads import HeadSet
from circuitlab.tuning.masks import KVRule, ParamMask
from circuitlab.tuning.tuners import LoraSettings, LoraTuner, MaskTuner, Tuner

DEFAULT_LR_GRID: tuple[float, ...] = (1e-5, 5e-5, 2e-4)
LORA_LR_GRID: tuple[float, ...] = (5e-5, 2e-4, 1e-3)


@dataclass
class MethodContext:
    """Everything a method's ``build`` may use.

    Attributes:
        model: the LoadedModel the tuner will train (θ1, or the base model for ``direct``).
        heads: the heads chosen for a head method (``None`` otherwise).
        kv_rule: the GQA K/V rule for head methods.
        lora: LoRA settings for ``lora``.
    """

    model: object
    heads: HeadSet | None = None
    kv_rule: KVRule = KVRule.ANY
    lora: LoraSettings = field(default_factory=LoraSettings)


@dataclass(frozen=True)
class MethodSpec:
    """One tuning method.

    Attributes:
        name: the registry key (``--method`` value).
        help: one line for ``--help`` and tables.
        build: ``MethodContext -> Tuner``.
        start: ``"proxy"`` (from θ1) or ``"base"`` (from the base model, no proxy stage).
        selection: how head methods pick ``k`` heads (``top``, ``nearzero``, ``bottom``,
            ``random``; see :func:`circuitlab.discovery.select_heads`); ``None`` for the others.
        needs_scores: whether the selection reads a head-score table.
        lr_grid: default learning-rate grid searched on target validation.
    """

    name: str
    help: str
    build: Callable[[MethodContext], Tuner] = field(compare=False)
    start: Literal["proxy", "base"] = "proxy"
    selection: str | None = None
    needs_scores: bool = False
    lr_grid: tuple[float, ...] = DEFAULT_LR_GRID

    @property
    def uses_heads(self) -> bool:
        return self.selection is not None


METHODS: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to :data:`METHODS` (replacing a method of the same name)."""
    METHODS[spec.name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"Unknown tuning method {name!r}; choose one of {sorted(METHODS)}.") from None


def _heads_tuner(ctx: MethodContext) -> Tuner:
    if ctx.heads is None or not len(ctx.heads):
        raise ValueError("A head method needs a non-empty HeadSet.")
    return MaskTuner(ParamMask.for_heads(ctx.model, ctx.heads, ctx.kv_rule, norms=True))


for _name, _sel, _help in [
    ("circuit", "top", "top-k heads by task relevance (editing branch) + all norms"),
    ("nearzero", "nearzero", "k heads with relevance closest to zero (preserving branch) + all norms"),
    ("least", "bottom", "k least relevant heads (lowest score) + all norms"),
    ("random", "random", "k random heads (seeded by the run seed) + all norms"),
]:
    register_method(MethodSpec(_name, _help, _heads_tuner, selection=_sel, needs_scores=_sel != "random"))

register_method(MethodSpec("norms", "LayerNorm/RMSNorm parameters only",
                           lambda ctx: MaskTuner(ParamMask.for_norms(ctx.model))))
register_method(MethodSpec("full", "continued full fine-tuning of the proxy checkpoint",
                           lambda ctx: MaskTuner(ParamMask.full(ctx.model, embeddings=True))))
register_method(MethodSpec("direct", "full fine-tuning of the base model, no proxy stage",
                           lambda ctx: MaskTuner(ParamMask.full(ctx.model, embeddings=True)), start="base"))
register_method(MethodSpec("lora", "LoRA (peft) on the Q/K/V/O projections of every layer",
                           lambda ctx: LoraTuner(ctx.lora), lr_grid=LORA_LR_GRID))


def choose_heads(
    spec: MethodSpec, geometry, k: int | float, scores: HeadScores | None = None, seed: int = 0,
    heads: HeadSet | None = None,
) -> HeadSet | None:
    """The heads a head method trains: ``heads`` if given, else ``k`` selected from ``scores`` by ``spec.selection``.

    ``random`` needs no scores (uniform over all heads, seeded by ``seed``).
    """
    if not spec.uses_heads:
        return None
    if heads is not None:
        return heads.validate(geometry)
    if scores is None:
        if spec.needs_scores:
            raise ValueError(
                f"Method {spec.name!r} selects heads by relevance and needs a head-score table: pass scores= "
                "(CLI: --scores PATH from `circuitlab discover`) or an explicit HeadSet."
            )
        scores = HeadScores.from_tensor(torch.zeros(geometry.n_layers, geometry.n_heads), method="uniform",
                                        model=geometry.name, language="", n_examples=0, seed=seed)
    n_layers, n_heads = scores.shape
    if (n_layers, n_heads) != (geometry.n_layers, geometry.n_heads):
        raise ValueError(
            f"The head scores are for a {n_layers}x{n_heads} grid but the model has {geometry.n_layers}x"
            f"{geometry.n_heads} heads: they were computed on another model."
        )
    return select_heads(scores, k, how=spec.selection, seed=seed).validate(geometry)


def build_tuner(
    method: str | MethodSpec, model, *, heads: HeadSet | None = None, kv_rule: KVRule | str = KVRule.ANY,
    lora: LoraSettings | None = None,
) -> Tuner:
    """The tuner of ``method`` for ``model`` (``heads`` for head methods, see :func:`choose_heads`)."""
    spec = get_method(method) if isinstance(method, str) else method
    ctx = MethodContext(model, heads, KVRule.parse(kv_rule), lora or LoraSettings())
    return spec.build(ctx)
