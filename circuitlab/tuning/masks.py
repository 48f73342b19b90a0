"""Which parameter elements a tuning method may change: :class:`ParamMask`.

Intuition
---------
An attention head is not a tensor but a *slice* of four: head ``h`` owns rows
``h·d_head … (h+1)·d_head`` of W_Q (and of W_K, W_V for its K/V head) and the
matching *input* features of W_O. (The per-head split exists only at the input of
the output projection, never at its output.) A :class:`ParamMask` lists, per
parameter, the half-open blocks along one dimension whose elements are trainable;
everything else must stay bit-identical.

Masks are plain data (JSON round-trip, union with ``|``) built from a
:class:`~circuitlab.heads.HeadSet` and the model's geometry:

- :meth:`ParamMask.for_heads`: the heads' Q/K/V/O slices and Q/K/V bias slices,
  plus (by default) every LayerNorm/RMSNorm parameter. The output-projection
  bias is shared by all heads, so it is not a head's own and stays frozen.
- :meth:`ParamMask.for_norms`: the norm parameters only.
- :meth:`ParamMask.full`: everything (optionally without the embeddings).

Grouped-query attention
-----------------------
Under GQA several query heads read one K/V head. :class:`KVRule` says when that
shared K/V slice is trained: ``any`` (default) when at least one of its query heads
is selected, ``all`` only when every one is, ``none`` never (the method then
trains Q and O slices only, in every model). With one K/V head per query head
(GPT-2) ``any`` and ``all`` both train each selected head's own K/V.

Counting
--------
:attr:`ParamMask.n_trainable` counts *elements* (slices, not whole tensors);
:attr:`ParamMask.fraction` divides by the model's distinct parameters (tied
embeddings once, stale mirrors excluded, see :mod:`circuitlab.tuning.families`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum

import torch
from torch import Tensor

from circuitlab.errors import UserError
from circuitlab.heads import Head, HeadSet
from circuitlab.tuning.families import ModelIndex, Projection, weight_layout


class KVRule(str, Enum):
    """When a K/V head shared by several query heads is trained."""

    ANY = "any"
    """Train the K/V head when any of its query heads is selected (default)."""
    ALL = "all"
    """Train it only when all of its query heads are selected."""
    NONE = "none"
    """Never train K/V: only the selected heads' Q and O slices (and norms)."""

    @classmethod
    def parse(cls, value: "KVRule | str") -> "KVRule":
        try:
            return cls(value)
        except ValueError:
            raise UserError(f"Unknown K/V rule {value!r}; choose one of {[r.value for r in cls]}.") from None


Blocks = tuple[tuple[int, int], ...]


def _coalesce(blocks: Iterable[tuple[int, int]]) -> Blocks:
    out: list[list[int]] = []
    for a, b in sorted((int(a), int(b)) for a, b in blocks if b > a):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


@dataclass(frozen=True)
class TensorMask:
    """The trainable elements of one parameter: ``blocks`` of indices along ``dim``.

    Attributes:
        name: canonical parameter name (see :mod:`circuitlab.tuning.families`).
        shape: the parameter's shape.
        dim: the dimension the blocks index.
        blocks: sorted, disjoint, half-open ``(start, stop)`` ranges along ``dim``.
    """

    name: str
    shape: tuple[int, ...]
    dim: int
    blocks: Blocks

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "blocks", _coalesce(self.blocks))
        if not 0 <= self.dim < max(len(self.shape), 1):
            raise ValueError(f"{self.name}: dim {self.dim} is out of range for shape {self.shape}.")
        size = self.shape[self.dim] if self.shape else 1
        if any(a < 0 or b > size for a, b in self.blocks):
            raise ValueError(f"{self.name}: blocks {self.blocks} exceed size {size} of dim {self.dim}.")

    @classmethod
    def whole(cls, name: str, shape: Iterable[int]) -> "TensorMask":
        shape = tuple(shape)
        return cls(name, shape, 0, ((0, shape[0] if shape else 1),))

    @property
    def is_full(self) -> bool:
        size = self.shape[self.dim] if self.shape else 1
        return self.blocks == ((0, size),)

    @property
    def numel(self) -> int:
        per_index = 1
        for d, s in enumerate(self.shape):
            if d != self.dim:
                per_index *= s
        return per_index * sum(b - a for a, b in self.blocks)

    def index(self, block: tuple[int, int]) -> tuple[slice, ...]:
        """The indexing tuple that selects one block (a view of the parameter)."""
        return (slice(None),) * self.dim + (slice(*block),)

    def views(self, tensor: Tensor) -> Iterator[tuple[tuple[int, int], Tensor]]:
        """``(block, view)`` for each block of ``tensor``."""
        for b in self.blocks:
            yield b, tensor[self.index(b)]

    def bool_mask(self, device: torch.device | str = "cpu") -> Tensor:
        m = torch.zeros(self.shape, dtype=torch.bool, device=device)
        for b in self.blocks:
            m[self.index(b)] = True
        return m

    def __or__(self, other: "TensorMask") -> "TensorMask":
        if other.name != self.name or other.shape != self.shape:
            raise ValueError(f"Cannot unite masks of different tensors {self.name} and {other.name}.")
        if self.is_full:
            return self
        if other.is_full:
            return other
        if other.dim != self.dim:
            raise ValueError(
                f"{self.name}: cannot unite blocks along dim {self.dim} with blocks along dim {other.dim} "
                "(neither covers the whole tensor)."
            )
        return TensorMask(self.name, self.shape, self.dim, self.blocks + other.blocks)

    def key(self, block: tuple[int, int]) -> str:
        """A stable key for one block, used in checkpoints and deltas: ``name|dim|start|stop``."""
        return f"{self.name}|{self.dim}|{block[0]}|{block[1]}"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dim": self.dim, "blocks": [list(b) for b in self.blocks]}

    @classmethod
    def from_dict(cls, d: Mapping) -> "TensorMask":
        return cls(d["name"], tuple(d["shape"]), int(d["dim"]), tuple(tuple(b) for b in d["blocks"]))


@dataclass(frozen=True)
class ParamMask:
    """Per parameter, the elements a method may update; everything else is frozen.

    Attributes:
        tensors: canonical name → :class:`TensorMask`, sorted by name.
        total: the model's distinct parameter count (for :attr:`fraction`).
        info: how the mask was built (method, heads, K/V rule, norms), JSON-friendly.
    """

    tensors: Mapping[str, TensorMask]
    total: int
    info: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensors", dict(sorted(self.tensors.items())))
        object.__setattr__(self, "info", dict(self.info))

    # ----------------------------------------------------------------- builders
    @classmethod
    def from_tensors(cls, index: ModelIndex, masks: Iterable[TensorMask], info: Mapping | None = None) -> "ParamMask":
        out: dict[str, TensorMask] = {}
        for m in masks:
            if m.name not in index.params:
                raise KeyError(f"{m.name!r} is not a parameter of this model (or is a stale mirror).")
            if tuple(index.params[m.name].shape) != m.shape:
                raise ValueError(f"{m.name}: mask shape {m.shape} != parameter shape {tuple(index.params[m.name].shape)}.")
            out[m.name] = out[m.name] | m if m.name in out else m
        return cls(out, index.n_params(), info or {})

    @classmethod
    def for_heads(
        cls, model, heads: HeadSet | Iterable[Head | tuple[int, int]], kv_rule: KVRule | str = KVRule.ANY,
        norms: bool = True, index: ModelIndex | None = None,
    ) -> "ParamMask":
        """The selected heads' Q/K/V/O slices (+ Q/K/V bias slices), plus every norm if ``norms``."""
        index = index or ModelIndex.build(model.hf_model, model.geometry.family)
        geometry = model.geometry
        heads = heads if isinstance(heads, HeadSet) else HeadSet.of(heads)
        heads.validate(geometry)
        rule = KVRule.parse(kv_rule)
        masks = [m for h in heads for p in ("q", "o") for m in _head_masks(index, geometry, h.layer, p, h.head)]
        if rule is not KVRule.NONE:
            for layer, qheads in heads.by_layer().items():
                for kv in sorted({geometry.kv_head_of(h) for h in qheads}):
                    group = [h for h in range(geometry.n_heads) if geometry.kv_head_of(h) == kv]
                    chosen = [h for h in group if h in qheads]
                    if rule is KVRule.ALL and len(chosen) < len(group):
                        continue
                    masks += [m for p in ("k", "v") for m in _head_masks(index, geometry, layer, p, kv)]
        if norms:
            masks += [TensorMask.whole(n, index.params[n].shape) for n in index.norm_params()]
        info = {"heads": heads.to_list(), "kv_rule": rule.value, "norms": norms}
        return cls.from_tensors(index, masks, info)

    @classmethod
    def for_norms(cls, model, index: ModelIndex | None = None) -> "ParamMask":
        """Every LayerNorm/RMSNorm parameter, nothing else."""
        index = index or ModelIndex.build(model.hf_model, model.geometry.family)
        names = index.norm_params()
        if not names:
            raise UserError(f"Found no norm parameters in {model.geometry.name!r}; cannot build a norms-only mask.")
        return cls.from_tensors(index, [TensorMask.whole(n, index.params[n].shape) for n in names], {"norms": True})

    @classmethod
    def full(cls, model, embeddings: bool = True, index: ModelIndex | None = None) -> "ParamMask":
        """Every parameter (without the token/position embeddings and untied unembedding if not ``embeddings``)."""
        index = index or ModelIndex.build(model.hf_model, model.geometry.family)
        names = [n for n in index.params if embeddings or not index.adapter.is_embedding(n)]
        return cls.from_tensors(
            index, [TensorMask.whole(n, index.params[n].shape) for n in names], {"full": True, "embeddings": embeddings}
        )

    # ----------------------------------------------------------------- queries
    @property
    def n_trainable(self) -> int:
        """Trainable elements (slices counted element by element)."""
        return sum(m.numel for m in self.tensors.values())

    @property
    def fraction(self) -> float:
        return self.n_trainable / self.total if self.total else 0.0

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    def __len__(self) -> int:
        return len(self.tensors)

    def __or__(self, other: "ParamMask") -> "ParamMask":
        merged = dict(self.tensors)
        for n, m in other.tensors.items():
            merged[n] = merged[n] | m if n in merged else m
        return ParamMask(merged, max(self.total, other.total), {"union": [self.info, other.info]})

    def bool_mask(self, name: str, device: torch.device | str = "cpu") -> Tensor | None:
        """The dense boolean mask of parameter ``name`` (``None`` when it is fully frozen)."""
        m = self.tensors.get(name)
        return None if m is None else m.bool_mask(device)

    def lowest_layer(self) -> int | None:
        """The lowest layer index named in a trainable parameter (``None`` for non-layered parameters only)."""
        import re

        layers = [int(x.group(1)) for n in self.tensors if (x := re.search(r"\.(?:layers|h)\.(\d+)\.", n))]
        return min(layers) if layers else None

    def to_dict(self) -> dict:
        return {"total": self.total, "info": self.info, "tensors": [m.to_dict() for m in self.tensors.values()]}

    @classmethod
    def from_dict(cls, d: Mapping) -> "ParamMask":
        masks = [TensorMask.from_dict(t) for t in d["tensors"]]
        return cls({m.name: m for m in masks}, int(d["total"]), d.get("info", {}))

    def fingerprint(self) -> str:
        """A short hash of the mask's elements (same mask, same fingerprint)."""
        body = json.dumps([m.to_dict() for m in self.tensors.values()], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def summary(self) -> str:
        return f"{len(self.tensors)} tensors, {self.n_trainable:,} of {self.total:,} parameters ({100 * self.fraction:.3f} %)"


def _head_masks(index: ModelIndex, geometry, layer: int, proj: Projection, head: int) -> list[TensorMask]:
    """Masks of one head's slice of one projection (weight and, for Q/K/V, its bias)."""
    path, module = index.projection(layer, proj)
    layout = weight_layout(module)
    d = geometry.d_head
    block = ((head * d, (head + 1) * d),)
    # Head features are output features of Q/K/V and input features of O.
    side = "in" if proj == "o" else "out"
    dim = {("linear", "out"): 0, ("linear", "in"): 1, ("conv1d", "out"): 1, ("conv1d", "in"): 0}[(layout, side)]
    n_units = geometry.n_heads if proj in ("q", "o") else geometry.n_kv_heads
    wname = f"{path}.weight"
    w = index.params[wname]
    if w.shape[dim] != n_units * d:
        raise ValueError(
            f"{wname} has {w.shape[dim]} features along dim {dim}, expected {n_units} heads x {d} = {n_units * d}. "
            "The family adapter's layout does not fit this model."
        )
    out = [TensorMask(wname, tuple(w.shape), dim, block)]
    bname = f"{path}.bias"
    if side == "out" and bname in index.params:
        out.append(TensorMask(bname, tuple(index.params[bname].shape), 0, block))
    return out
