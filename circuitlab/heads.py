"""Attention heads as small frozen values.

A :class:`Head` names one query head, ``(layer, head)``. A :class:`HeadSet` is an
immutable, sorted collection of heads, optionally validated against a model's
geometry so that a head out of range fails at construction rather than deep inside
a hook.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from circuitlab.errors import UserError

if TYPE_CHECKING:
    from circuitlab.models.geometry import ModelGeometry


@dataclass(frozen=True, order=True)
class Head:
    """One query head: ``layer`` and ``head`` are 0-based."""

    layer: int
    head: int

    def __post_init__(self) -> None:
        if self.layer < 0 or self.head < 0:
            raise UserError(f"Head indices must be non-negative, got layer={self.layer}, head={self.head}.")

    def __str__(self) -> str:
        return f"L{self.layer}H{self.head}"

    @classmethod
    def parse(cls, text: str) -> "Head":
        """Parse ``"L3H1"`` or ``"3.1"`` or ``"3,1"`` into a head."""
        t = text.strip().upper()
        try:
            if t.startswith("L") and "H" in t:
                layer, head = t[1:].split("H")
            else:
                layer, head = t.replace(",", ".").split(".")
            return cls(int(layer), int(head))
        except ValueError as exc:
            raise UserError(f"Cannot parse head {text!r}: expected 'L<layer>H<head>' such as 'L3H1'.") from exc


@dataclass(frozen=True)
class HeadSet:
    """An immutable, sorted, duplicate-free set of heads.

    Build one from pairs or :class:`Head` values; pass ``geometry`` to check every
    index against the model (``HeadSet.of(pairs, geometry=g)``).
    """

    heads: tuple[Head, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "heads", tuple(sorted(set(self.heads))))

    @classmethod
    def of(cls, heads: Iterable[Head | tuple[int, int]], geometry: "ModelGeometry | None" = None) -> "HeadSet":
        hs = cls(tuple(h if isinstance(h, Head) else Head(int(h[0]), int(h[1])) for h in heads))
        if geometry is not None:
            hs.validate(geometry)
        return hs

    def validate(self, geometry: "ModelGeometry") -> "HeadSet":
        """Raise ``ValueError`` naming every head outside the model's grid."""
        bad = [h for h in self.heads if h.layer >= geometry.n_layers or h.head >= geometry.n_heads]
        if bad:
            raise UserError(
                f"Heads {', '.join(map(str, bad))} are out of range for {geometry.name!r}, which has "
                f"{geometry.n_layers} layers x {geometry.n_heads} query heads (layers 0..{geometry.n_layers - 1}, "
                f"heads 0..{geometry.n_heads - 1})."
            )
        return self

    def __iter__(self) -> Iterator[Head]:
        return iter(self.heads)

    def __len__(self) -> int:
        return len(self.heads)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, tuple):
            item = Head(*item)
        return item in self.heads

    def __or__(self, other: "HeadSet") -> "HeadSet":
        return HeadSet(self.heads + other.heads)

    def __and__(self, other: "HeadSet") -> "HeadSet":
        return HeadSet(tuple(h for h in self.heads if h in other.heads))

    def __sub__(self, other: "HeadSet") -> "HeadSet":
        return HeadSet(tuple(h for h in self.heads if h not in other.heads))

    def layers(self) -> list[int]:
        """The layers that hold at least one head, sorted."""
        return sorted({h.layer for h in self.heads})

    def by_layer(self) -> dict[int, list[int]]:
        """``{layer: [head, ...]}`` for the layers that hold a head."""
        out: dict[int, list[int]] = {}
        for h in self.heads:
            out.setdefault(h.layer, []).append(h.head)
        return out

    def to_list(self) -> list[list[int]]:
        """JSON-friendly ``[[layer, head], ...]``."""
        return [[h.layer, h.head] for h in self.heads]

    def __str__(self) -> str:
        return "{" + ", ".join(map(str, self.heads)) + "}"
