"""The one table of tuning methods: what each method starts from, selects and updates.

Every layer reads this table: the spec validates method names against it, the
grid decides which cells take a head budget ``k`` and which stages they need, the
tuning package builds a tuner for each trainable method
(:mod:`circuitlab.tuning.methods` adds the builders), the fake backend and the
report look up the same rows. It imports nothing heavy, so specs are checked
before torch is loaded.

=============  =======  =========  =====================================================
method         start    selection  trains
=============  =======  =========  =====================================================
``circuit``    θ1       top        top-k heads by relevance (Q/K/V/O slices) + all norms
``nearzero``   θ1       nearzero   k heads with relevance closest to 0 + all norms
``least``      θ1       bottom     k heads with the lowest relevance + all norms
``random``     θ1       random     k random heads (seeded by the cell seed) + all norms
``norms``      θ1       –          every LayerNorm/RMSNorm parameter only
``full``       θ1       –          every parameter (continued full fine-tuning; dense)
``direct``     base     –          every parameter, no proxy stage (dense)
``lora``       θ1       –          PEFT LoRA adapters on Q/K/V/O of every layer
``ctsft-auto`` θ1       derived    circuit or nearzero, chosen on target validation
=============  =======  =========  =====================================================
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from circuitlab.errors import UserError

DEFAULT_LR_GRID: tuple[float, ...] = (1e-5, 5e-5, 2e-4)
LORA_LR_GRID: tuple[float, ...] = (5e-5, 2e-4, 1e-3)


@dataclass(frozen=True)
class Method:
    """One row of the table.

    Attributes:
        name: the key in specs, flags and results.
        description: one line for ``--help``, docs and reports.
        start: ``"proxy"`` (from θ1) or ``"base"`` (the base model, no proxy stage).
        selection: how ``k`` heads are picked (``top``, ``nearzero``, ``bottom``, ``random``; see
            :func:`circuitlab.discovery.select_heads`); ``None`` for methods that update no chosen heads.
        needs_scores: the selection reads the discovery scores of θ1.
        dense: updates every parameter, so its delta is the whole model (not saved by default).
        lr_grid: default learning rates searched on target validation.
        derived_from: a *derived* method trains nothing; its row is chosen among the rows of these
            methods at the same coordinates (``ctsft-auto``), which the grid adds when missing.
    """

    name: str
    description: str
    start: Literal["proxy", "base"] = "proxy"
    selection: str | None = None
    needs_scores: bool = False
    dense: bool = False
    lr_grid: tuple[float, ...] = DEFAULT_LR_GRID
    derived_from: tuple[str, ...] = ()

    @property
    def from_proxy(self) -> bool:
        return self.start == "proxy"

    @property
    def uses_heads(self) -> bool:
        """Trains a chosen set of heads."""
        return self.selection is not None

    @property
    def uses_k(self) -> bool:
        """Takes a head budget ``k`` (methods without one collapse the k axis of the grid)."""
        return self.uses_heads or bool(self.derived_from)

    @property
    def trainable(self) -> bool:
        return not self.derived_from


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("circuit", "top-k relevant heads + norms (editing branch)", selection="top", needs_scores=True),
    Method("nearzero", "k heads with relevance closest to 0 + norms (preserving branch)", selection="nearzero",
           needs_scores=True),
    Method("random", "k random heads + norms (same budget, no circuit)", selection="random"),
    Method("least", "k least relevant heads + norms", selection="bottom", needs_scores=True),
    Method("norms", "only the norm weights"),
    Method("full", "continued full fine-tuning of θ1", dense=True),
    Method("direct", "full fine-tuning of the base model, no proxy stage", start="base", dense=True),
    Method("lora", "LoRA adapters (peft) on Q/K/V/O of every layer of θ1", lr_grid=LORA_LR_GRID),
    Method("ctsft-auto", "circuit or nearzero, whichever is better on target validation", needs_scores=True,
           derived_from=("circuit", "nearzero")),
)}

AUTO_METHOD = "ctsft-auto"


def get_method(name: str) -> Method:
    """The table row of ``name``; an unknown name is a :class:`UserError` with a did-you-mean hint."""
    try:
        return METHODS[name]
    except KeyError:
        guess = difflib.get_close_matches(str(name), list(METHODS), n=1)
        hint = f" Did you mean {guess[0]!r}?" if guess else ""
        raise UserError(f"Unknown tuning method {name!r}; known: {', '.join(METHODS)}.{hint}") from None


def choose_branch(circuit: dict, nearzero: dict) -> str:
    """The branch ``ctsft-auto`` reports: higher target-validation accuracy, then macro-F1, then ``circuit``.

    The paper picks the better of Circuit and NearZero on the *test* set; choosing on validation
    keeps the test set out of the choice.
    """
    def key(row: dict) -> tuple[float, float]:
        return _num(row.get("val_acc")), _num(row.get("val_f1"))

    return "nearzero" if key(nearzero) > key(circuit) else "circuit"


def _num(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("-inf")
    return v if v == v else float("-inf")


def add_method(method: Method) -> Method:
    """Add (or replace) a row; a trainable method also needs a tuner builder
    (:func:`circuitlab.tuning.register_method`)."""
    METHODS[method.name] = method
    return method


__all__ = ["AUTO_METHOD", "DEFAULT_LR_GRID", "LORA_LR_GRID", "METHODS", "Method", "add_method", "choose_branch", "get_method"]
