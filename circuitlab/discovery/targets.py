"""What a scorer measures a head's effect on: the label logits, or a set of target heads.

Context
-------
Depth 0 of circuit growth scores every head against the label logits; depth
``d`` scores them against the heads chosen at depth ``d − 1``. Every scorer takes
its target as an argument, and every scorer reads a target the same way, so their
scores stay comparable.

Target metrics (one number per example; a head's score is its mean over the discovery set)
-----------------------------------------------------------------------------------------
:class:`LogitTarget`
    the task margin at the prediction position: ``logit(gold) − mean logit(other labels)``.
    A head's effect is ``margin(clean) − margin(head replaced by its baseline)``;
    the decomposition reads the same quantity off the β-logits.

:class:`HeadTarget`
    for each target head ``t`` with clean output ``z_t`` and mean ``μ_t``, the
    deviation ``δ_t = z_t − μ_t`` is what made ``t`` relevant at the previous depth.
    A head ``s``'s effect on ``t`` is the part ``Δ_t`` of ``z_t`` that ``s`` is
    responsible for (``z_t(clean) − z_t(s ablated)``, or ``β_{s→t}`` in the
    decomposition), projected on that deviation::

        proj_t = Σ_p ⟨Δ_t(p), δ_t(p)⟩ / Σ_p ‖δ_t(p)‖²

    over the real (non-padding) positions ``p`` (or only the prediction position
    with ``position="last"``): the signed fraction of ``t``'s relevant deviation that
    ``s`` explains. The metric is the **sum** over targets (a head feeding two
    targets counts twice). Heads in a layer at or above every target cannot
    influence them; their score is ``NaN`` (not 0), so they are never selected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from circuitlab.discovery.errors import DiscoveryError
from circuitlab.heads import Head, HeadSet


@dataclass(frozen=True)
class LogitTarget:
    """The label-token logits at the prediction position, read as the task margin."""

    def describe(self) -> str:
        return "logits"

    def reachable(self, head: Head) -> bool:
        return True


@dataclass(frozen=True)
class HeadTarget:
    """A set of target heads (the previous depth's circuit), read at their ``hook_z``.

    Attributes:
        heads: the targets.
        position: ``"all"`` real positions (default) or only the prediction position (``"last"``).
    """

    heads: HeadSet
    position: Literal["all", "last"] = "all"

    def __post_init__(self) -> None:
        if not isinstance(self.heads, HeadSet):
            object.__setattr__(self, "heads", HeadSet.of(self.heads))
        if not len(self.heads):
            raise DiscoveryError("A HeadTarget needs at least one target head; got an empty set.")
        if self.position not in ("all", "last"):
            raise DiscoveryError(f"HeadTarget.position must be 'all' or 'last', got {self.position!r}.")

    def describe(self) -> str:
        return "heads:" + ",".join(map(str, self.heads)) + ("" if self.position == "all" else "@last")

    @property
    def max_layer(self) -> int:
        return max(h.layer for h in self.heads)

    @property
    def layers(self) -> list[int]:
        return self.heads.layers()

    def reachable(self, head: Head) -> bool:
        """Whether ``head`` can influence at least one target (a strictly lower layer)."""
        return head.layer < self.max_layer


Target = Union[LogitTarget, HeadTarget]


def check_target(target: Target, geometry) -> Target:
    """Validate a target against the model (heads in range)."""
    if isinstance(target, HeadTarget):
        target.heads.validate(geometry)
        if target.max_layer == 0:
            raise DiscoveryError(
                f"Target heads {target.heads} are all in layer 0: no head can influence them. "
                "Choose targets in a later layer."
            )
    elif not isinstance(target, LogitTarget):
        raise DiscoveryError(f"Unknown target {target!r}; use LogitTarget() or HeadTarget(heads).")
    return target


def position_mask(
    attention_mask: Tensor, last_pos: Tensor, position: Literal["all", "last"]
) -> Bool[Tensor, "B T"]:
    """Which positions a head target reads: every real token, or only the prediction position."""
    if position == "all":
        return attention_mask.bool()
    m = torch.zeros_like(attention_mask, dtype=torch.bool)
    m[torch.arange(m.shape[0], device=m.device), last_pos.to(m.device)] = True
    return m


def head_projection(
    delta: Float[Tensor, "... B T d_head"], direction: Float[Tensor, "B T d_head"], mask: Bool[Tensor, "B T"]
) -> Float[Tensor, "... B"]:
    """``Σ_p ⟨Δ(p), δ(p)⟩ / Σ_p ‖δ(p)‖²`` over the masked positions (see module docstring)."""
    m = mask.to(direction.dtype)
    num = ((delta * direction).sum(-1) * m).sum(-1)
    den = ((direction * direction).sum(-1) * m).sum(-1).clamp_min(torch.finfo(direction.dtype).tiny)
    return num / den
