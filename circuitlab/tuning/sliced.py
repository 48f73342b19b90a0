"""Training a few heads' slices of a projection as small parameters of their own.

Context
-------
The obvious way to train only head ``h`` of ``W_Q`` is to let the whole tensor
require gradients and zero the other rows of its gradient. That works, but the
gradient and both AdamW moments then have the size of the whole tensor, the
weight gradient is computed for every row only to be thrown away, and AdamW's
decoupled weight decay (``p ← p·(1 − lr·λ)``) still moves the masked rows.

Here the projection module is temporarily replaced by a :class:`SlicedProjection`
that keeps the original module (frozen, untouched) and holds each trainable block
as its own ``nn.Parameter``. Its forward computes the projection block by block
(frozen blocks read views of the original weight, trainable blocks read the small
parameters) and concatenates (output-feature blocks: Q/K/V) or sums (input-feature
blocks: O) the pieces. So:

- frozen elements are never in the autograd graph, the optimizer, or weight decay:
  exactness holds *by construction*, with any optimizer;
- gradients, optimizer state and checkpoints hold the slices only;
- the weight gradient is computed for the trainable blocks only.

:meth:`SlicedProjection.write_back` copies the trained blocks into the original
weight (an exact copy) and the tuner swaps the original module back in, so the
model is a plain model again. Code that reads ``module.weight`` while the swap is
in place gets the assembled (differentiable) weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from circuitlab.tuning.families import weight_layout
from circuitlab.tuning.masks import TensorMask


class SlicedProjection(nn.Module):
    """A Linear/Conv1D projection whose masked blocks are separate trainable parameters.

    Args:
        base: the original ``nn.Linear`` or ``transformers`` ``Conv1D``; its parameters
            are not modified until :meth:`write_back`.
        weight_mask: blocks of ``base.weight`` to train (``None`` = weight frozen, or
            trained whole via ``requires_grad`` by the caller when the mask is full).
        bias_mask: blocks of ``base.bias`` to train (output features only).
    """

    def __init__(self, base: nn.Module, weight_mask: TensorMask | None, bias_mask: TensorMask | None = None):
        super().__init__()
        self.base = base
        self.layout = weight_layout(base)
        w = base.weight
        self.in_features = w.shape[1] if self.layout == "linear" else w.shape[0]
        self.out_features = w.shape[0] if self.layout == "linear" else w.shape[1]
        out_dim = 0 if self.layout == "linear" else 1  # the weight dim that indexes output features
        self.weight_mask = weight_mask if weight_mask is not None and not weight_mask.is_full else None
        self.bias_mask = bias_mask if bias_mask is not None and not bias_mask.is_full else None
        if self.weight_mask is None and self.bias_mask is None:
            raise ValueError("SlicedProjection needs a partial weight or bias mask; train a whole tensor directly.")
        self.side = "out" if self.weight_mask is None or self.weight_mask.dim == out_dim else "in"
        if self.bias_mask is not None and self.side == "in":
            raise ValueError(
                f"{bias_mask.name}: a bias indexes output features; it cannot be sliced together with input-feature "
                f"blocks of {weight_mask.name}."
            )
        self.w_pieces = nn.ParameterList(
            [nn.Parameter(v.detach().clone()) for _, v in self.weight_mask.views(w)] if self.weight_mask else []
        )
        self.b_pieces = nn.ParameterList(
            [nn.Parameter(v.detach().clone()) for _, v in self.bias_mask.views(base.bias)] if self.bias_mask else []
        )
        n = self.in_features if self.side == "in" else self.out_features
        cuts = {0, n}
        for m in (self.weight_mask, self.bias_mask):
            if m is not None:
                cuts |= {c for b in m.blocks for c in b}
        bounds = sorted(cuts)
        self._segments = list(zip(bounds[:-1], bounds[1:]))
        self._feature_dim = out_dim if self.side == "out" else 1 - out_dim

    # ----------------------------------------------------------------- pieces
    def named_pieces(self) -> list[tuple[str, nn.Parameter]]:
        """``(key, parameter)`` for each trainable block, keys as in :meth:`TensorMask.key`."""
        out = []
        if self.weight_mask:
            out += [(self.weight_mask.key(b), p) for b, p in zip(self.weight_mask.blocks, self.w_pieces)]
        if self.bias_mask:
            out += [(self.bias_mask.key(b), p) for b, p in zip(self.bias_mask.blocks, self.b_pieces)]
        return out

    @staticmethod
    def _lookup(mask: TensorMask | None, pieces: nn.ParameterList, a: int, b: int, dim: int) -> Tensor | None:
        if mask is None:
            return None
        for (s, e), p in zip(mask.blocks, pieces):
            if s <= a and b <= e:
                return p.narrow(dim, a - s, b - a)
        return None

    def _weight_segment(self, a: int, b: int) -> Tensor:
        d = self._feature_dim
        piece = self._lookup(self.weight_mask, self.w_pieces, a, b, d)
        return piece if piece is not None else self.base.weight.narrow(d, a, b - a)

    def _bias_segment(self, a: int, b: int) -> Tensor | None:
        if self.base.bias is None:
            return None
        piece = self._lookup(self.bias_mask, self.b_pieces, a, b, 0)
        return piece if piece is not None else self.base.bias[a:b]

    # ----------------------------------------------------------------- forward
    def _project(self, x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
        if self.layout == "linear":
            return F.linear(x, w, bias)
        y = x @ w
        return y + bias if bias is not None else y

    def forward(self, x: Tensor) -> Tensor:
        if self.side == "out":
            parts = [self._project(x, self._weight_segment(a, b), self._bias_segment(a, b)) for a, b in self._segments]
            return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        y = None
        for a, b in self._segments:
            part = self._project(x[..., a:b], self._weight_segment(a, b), None)
            y = part if y is None else y + part
        return y + self.base.bias if self.base.bias is not None else y

    @property
    def weight(self) -> Tensor:
        """The assembled weight (differentiable in the trainable blocks)."""
        return torch.cat([self._weight_segment(a, b) for a, b in self._segments], dim=self._feature_dim)

    @property
    def bias(self) -> Tensor | None:
        if self.base.bias is None:
            return None
        if self.bias_mask is None:
            return self.base.bias
        return torch.cat([self._bias_segment(a, b) for a, b in self._segments])

    # ----------------------------------------------------------------- write back
    @torch.no_grad()
    def write_back(self) -> None:
        """Copy the trained blocks into the original parameters (exact copies)."""
        if self.weight_mask:
            for (_, view), p in zip(self.weight_mask.views(self.base.weight), self.w_pieces):
                view.copy_(p)
        if self.bias_mask:
            for (_, view), p in zip(self.bias_mask.views(self.base.bias), self.b_pieces):
                view.copy_(p)

    def extra_repr(self) -> str:
        return f"{type(self.base).__name__} {self.in_features}->{self.out_features}, side={self.side}, segments={self._segments}"
