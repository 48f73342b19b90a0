"""Tuner builders for the methods of :mod:`circuitlab.methods` (the one method table).

The table says what each method starts from and selects; this module adds *how*
it trains: a ``build`` function per trainable method that turns a
:class:`MethodContext` into a :class:`~circuitlab.tuning.tuners.Tuner`. A new
method is one :func:`register_method` call (its table row and its builder); the
cell function, the CLI and the test table (``tests/tuning/test_methods.py``)
pick it up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from circuitlab.discovery import HeadScores, select_heads
from circuitlab.errors import UserError
from circuitlab.heads import HeadSet
from circuitlab.methods import METHODS as TABLE
from circuitlab.methods import Method, add_method, get_method
from circuitlab.tuning.masks import KVRule, ParamMask
from circuitlab.tuning.tuners import LoraSettings, LoraTuner, MaskTuner, Tuner


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


Builder = Callable[[MethodContext], Tuner]
#: Tuner builders by method name: the trainable rows of :data:`circuitlab.methods.METHODS`.
BUILDERS: dict[str, Builder] = {}


def register_method(method: Method, build: Builder) -> Method:
    """Add ``method`` to the table (replacing one of the same name) with the builder of its tuner."""
    if method.derived_from:
        raise ValueError(f"{method.name!r} is derived from {method.derived_from}: it trains nothing, so no builder.")
    BUILDERS[method.name] = build
    METHODS[method.name] = add_method(method)
    return method


def _heads_tuner(ctx: MethodContext) -> Tuner:
    if ctx.heads is None or not len(ctx.heads):
        raise ValueError("A head method needs a non-empty HeadSet.")
    return MaskTuner(ParamMask.for_heads(ctx.model, ctx.heads, ctx.kv_rule, norms=True))


for _name in ("circuit", "nearzero", "least", "random"):
    BUILDERS[_name] = _heads_tuner
BUILDERS["norms"] = lambda ctx: MaskTuner(ParamMask.for_norms(ctx.model))
BUILDERS["full"] = BUILDERS["direct"] = lambda ctx: MaskTuner(ParamMask.full(ctx.model, embeddings=True))
BUILDERS["lora"] = lambda ctx: LoraTuner(ctx.lora)
#: The trainable rows of the table (every method but derived ones), by name.
METHODS: dict[str, Method] = {name: m for name, m in TABLE.items() if name in BUILDERS}


def choose_heads(
    spec: Method, geometry, k: int | float, scores: HeadScores | None = None, seed: int = 0,
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
            raise UserError(
                f"Method {spec.name!r} selects heads by relevance and needs a head-score table: pass scores= "
                "(CLI: --scores PATH from `circuitlab discover`) or an explicit HeadSet."
            )
        scores = HeadScores.from_tensor(torch.zeros(geometry.n_layers, geometry.n_heads), method="uniform",
                                        model=geometry.name, language="", n_examples=0, seed=seed)
    n_layers, n_heads = scores.shape
    if (n_layers, n_heads) != (geometry.n_layers, geometry.n_heads):
        raise UserError(
            f"The head scores are for a {n_layers}x{n_heads} grid but the model has {geometry.n_layers}x"
            f"{geometry.n_heads} heads: they were computed on another model."
        )
    return select_heads(scores, k, how=spec.selection, seed=seed).validate(geometry)


def build_tuner(
    method: str | Method, model, *, heads: HeadSet | None = None, kv_rule: KVRule | str = KVRule.ANY,
    lora: LoraSettings | None = None,
) -> Tuner:
    """The tuner of ``method`` for ``model`` (``heads`` for head methods, see :func:`choose_heads`)."""
    spec = get_method(method) if isinstance(method, str) else method
    if spec.name not in BUILDERS:
        raise UserError(f"Method {spec.name!r} trains nothing itself (it is derived from {spec.derived_from}).")
    ctx = MethodContext(model, heads, KVRule.parse(kv_rule), lora or LoraSettings())
    return BUILDERS[spec.name](ctx)


__all__ = ["BUILDERS", "METHODS", "MethodContext", "build_tuner", "choose_heads", "get_method", "register_method"]
