"""The CD-T propagation rules, one function per kind of operation.

Context
-------
Contextual decomposition splits every activation ``h`` into a *relevant* part
``β`` (what a source head contributes beyond its mean) and an *irrelevant* part
``γ`` (everything else) with ``β + γ = h`` exactly. Each rule below says how the
split of an operation's output follows from the split of its input.

Intuition
---------
Only ``β`` needs to be carried: because ``β + γ`` always equals the clean
activation, ``γ = total − β``. A :class:`Parts` therefore holds the *total* (the
clean activation, shape ``[*batch]``) and one ``β`` per source stream (shape
``[S, *batch]``, streams stacked along a new leading axis). Every rule computes the
new total and the new ``β`` from those alone.

The one principle behind the non-linear rules: **the irrelevant part of a
non-linear operation is that operation applied to the irrelevant input alone**,
and the relevant part is whatever remains of the true output:

========================  ============================================================
operation                 rule (``γ = total − β`` on the input side)
========================  ============================================================
linear map ``xWᵀ``         ``β' = βWᵀ`` (exact, no choice)
bias ``+ b``               shared elementwise in proportion to ``|β|`` and ``|γ|``:
                          ``β' += b·|β|/(|β|+|γ|)`` (all of ``b`` to ``γ`` where both are 0)
LayerNorm / RMSNorm        statistics (mean, variance / RMS) of the *total*, applied to
                          each part: a linear map once the statistics are fixed
RoPE                       linear (a fixed rotation per position): applied to each part
QK-norm (Gemma-3)          an RMSNorm over ``d_head``: total statistics, as above
elementwise ``f``          ``γ' = f(γ)``, ``β' = f(total) − f(γ)``
gated product ``f(g)·u``   ``γ' = f(g_γ)·u_γ``, ``β' = f(g)·u − γ'``
attention                  ``γ' = softmax(s(q_γ, k_γ) + mask)·v_γ`` (the head run on the
                          γ-parts of its queries, keys and values, with the model's own
                          mask, scaling and soft-capping), ``β' = z − γ'``
========================  ============================================================

For attention this means: the β-*scores* are ``s(q, k) − s(q_γ, k_γ)`` (every score
term that involves a β-query or a β-key), ``P_γ = softmax(s(q_γ, k_γ))`` and
``P_β = P − P_γ``; the output splits as ``β' = P·v_β + P_β·v_γ`` and
``γ' = P_γ·v_γ``. So ``β' + γ' = P·v`` exactly, and ``β = 0`` gives ``β' = 0``
(a plain ``softmax(β-scores)`` would not: it is uniform, not zero, when β is 0).

Fast path and checked mode
--------------------------
Every rule has a β-form (``β' = f(total) − f(total − β)``, the ``|β|``-share of a bias,
...) and a γ-form (``γ' = f(γ)``, the ``|γ|``-share, attention on γ's own q/k/v ...).
The fast path carries *one* of β and γ per activation and uses the cheaper form: the
engine switches to γ at the input of each non-linear block (attention, MLP), where the
γ-forms need no subtraction per intermediate tensor, and back to β after it.

Checked mode (tests) carries both, and every rule computes β' with its β-form from β
alone and γ' with its γ-form from γ alone, never one as ``total`` minus the other.
``β' + γ' = total'`` then holds only if the two forms are mutually consistent, which
is what the exactness test checks at every layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor


@dataclass
class Parts:
    """An activation split into a total and, per source stream, its relevant and/or irrelevant part.

    The fast path carries exactly one of ``beta`` / ``gamma`` (the other is ``total`` minus it), and
    switches between them where a rule is cheaper in the other form (:meth:`as_gamma` before a
    non-linear block, :meth:`as_beta` after it). Checked mode carries both, propagated independently.

    Attributes:
        total: the clean activation, ``[*batch, ...]``.
        beta: the relevant part of each source stream, ``[S, *batch, ...]``, or ``None``.
        gamma: the irrelevant part of each stream, or ``None``.
    """

    total: Tensor
    beta: Tensor | None = None
    gamma: Tensor | None = None

    def __post_init__(self) -> None:
        if self.beta is None and self.gamma is None:
            raise ValueError("Parts needs beta or gamma (or both).")

    @property
    def n_streams(self) -> int:
        return (self.beta if self.beta is not None else self.gamma).shape[0]  # type: ignore[union-attr]

    @property
    def checked(self) -> bool:
        return self.beta is not None and self.gamma is not None

    def get_beta(self) -> Tensor:
        return self.beta if self.beta is not None else self.total - self.gamma

    def get_gamma(self) -> Tensor:
        """The irrelevant part: the explicit γ if carried, else ``total − β``."""
        return self.gamma if self.gamma is not None else self.total - self.beta

    def gamma_implicit(self) -> Tensor:
        """``total − β``, what the β-forms of the rules use."""
        return self.total - self.get_beta()

    def as_gamma(self) -> "Parts":
        """The same split carried as γ (a no-op when γ is already carried)."""
        return self if self.gamma is not None else Parts(self.total, None, self.total - self.beta)

    def as_beta(self) -> "Parts":
        """The same split carried as β (a no-op when β is already carried)."""
        return self if self.beta is not None else Parts(self.total, self.total - self.gamma, None)

    def map(self, fn: Callable[[Tensor], Tensor]) -> "Parts":
        """Apply a *linear* map to every part."""
        return Parts(fn(self.total), None if self.beta is None else fn(self.beta),
                     None if self.gamma is None else fn(self.gamma))

    def __add__(self, other: "Parts") -> "Parts":
        beta = self.get_beta() + other.get_beta() if (self.beta is not None or other.beta is not None) else None
        gamma = self.get_gamma() + other.get_gamma() if (self.gamma is not None or other.gamma is not None) else None
        return Parts(self.total + other.total, beta, gamma)


def _share(part: Tensor, total: Tensor) -> Tensor:
    """``|part| / (|part| + |total − part|)``; 0 where both are 0 (the bias then goes to the other part)."""
    a, b = part.abs(), (total - part).abs()
    denom = a + b
    return torch.where(denom > 0, a / denom.clamp_min(torch.finfo(denom.dtype).tiny), 0.0)


def add_bias(x: Parts, bias: Tensor | None) -> Parts:
    """Add ``bias``, shared between β and γ in proportion to their magnitudes (CD's rule).

    β gets ``b·|β|/(|β|+|γ|)`` and γ gets ``b·|γ|/(|β|+|γ|)``; where both are 0, γ gets all of ``b``.
    """
    if bias is None:
        return x
    total = x.total + bias
    beta = None if x.beta is None else x.beta + bias * _share(x.beta, x.total)
    gamma = None
    if x.gamma is not None:
        share = _share(x.gamma, x.total)
        both_zero = (x.gamma.abs() + (x.total - x.gamma).abs()) == 0
        gamma = x.gamma + bias * torch.where(both_zero, 1.0, share)
    return Parts(total, beta, gamma)


def linear(x: Parts, weight: Float[Tensor, "d_out d_in"], bias: Tensor | None = None) -> Parts:
    """``x Wᵀ + b``: the weight is applied to every part, the bias shared by magnitude."""
    return add_bias(x.map(lambda t: F.linear(t, weight)), bias)


def rms_norm(x: Parts, weight: Tensor | None, eps: float) -> Parts:
    """RMSNorm over the last axis with the *total's* RMS; ``weight`` is the effective scale.

    (Gemma stores ``w`` and multiplies by ``1 + w``; the family adapter passes ``1 + w``.)
    """
    inv = torch.rsqrt(x.total.pow(2).mean(-1, keepdim=True) + eps)
    scale = inv if weight is None else inv * weight
    return x.map(lambda t: t * scale)


def layer_norm(x: Parts, weight: Tensor | None, bias: Tensor | None, eps: float) -> Parts:
    """LayerNorm: centring is linear; the variance is the total's; the bias is shared."""
    centred = x.map(lambda t: t - t.mean(-1, keepdim=True))
    inv = torch.rsqrt(centred.total.pow(2).mean(-1, keepdim=True) + eps)
    scale = inv if weight is None else inv * weight
    return add_bias(centred.map(lambda t: t * scale), bias)


def elementwise(x: Parts, fn: Callable[[Tensor], Tensor]) -> Parts:
    """A pointwise non-linearity: ``γ' = f(γ)``, ``β' = f(total) − f(total − β)``."""
    total = fn(x.total)
    beta = None if x.beta is None else total - fn(x.total - x.beta)
    return Parts(total, beta, None if x.gamma is None else fn(x.gamma))


def gated_product(gate: Parts, up: Parts, act: Callable[[Tensor], Tensor]) -> Parts:
    """``f(gate) · up`` (SwiGLU / GeGLU): ``γ' = f(gate_γ)·up_γ``, ``β' = total' − f(gate − gate_β)·(up − up_β)``."""
    total = act(gate.total) * up.total
    beta = None
    if gate.beta is not None:
        beta = total - act(gate.total - gate.beta) * (up.total - up.get_beta())
    gamma = None if gate.gamma is None else act(gate.gamma) * up.get_gamma()
    return Parts(total, beta, gamma)


def rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x: Parts, cos: Tensor, sin: Tensor) -> Parts:
    """Rotary embedding on ``[..., B, T, H, d_head]`` with ``cos``/``sin`` ``[B|1, T, d_head]``: linear."""
    c, s = cos[:, :, None, :], sin[:, :, None, :]
    return x.map(lambda t: t * c + rotate_half(t) * s)


def attention_core(
    q: Float[Tensor, "... B Tq H dh"], k: Float[Tensor, "... B Tk Hkv dh"], v: Float[Tensor, "... B Tk Hkv dh"],
    mask: Float[Tensor, "B 1 Tq Tk"], scaling: float, softcap: float | None,
) -> Float[Tensor, "... B Tq H dh"]:
    """Eager softmax attention with grouped-query heads (HF's ``repeat_kv`` order: head ``h`` reads
    K/V head ``h // (H / Hkv)``), the model's additive mask, scaling and optional logit soft-cap."""
    *lead, b, tq, h, dh = q.shape
    hkv, tk = k.shape[-2], k.shape[-3]
    rep = h // hkv
    qg = q.reshape(*lead, b, tq, hkv, rep, dh).movedim(-4, -2)  # [..., B, Hkv, rep, Tq, dh]
    kt = k.movedim(-3, -2).unsqueeze(-3)  # [..., B, Hkv, 1, Tk, dh]
    vt = v.movedim(-3, -2).unsqueeze(-3)
    scores = torch.matmul(qg, kt.transpose(-1, -2)) * scaling  # [..., B, Hkv, rep, Tq, Tk]
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    scores = scores + mask[:, :, None]  # mask [B, 1, 1, Tq, Tk]
    probs = torch.softmax(scores, dim=-1)
    out = torch.matmul(probs, vt)  # [..., B, Hkv, rep, Tq, dh]
    return out.movedim(-2, -4).reshape(*lead, b, tq, h, dh)


def attention(
    q: Parts, k: Parts, v: Parts, mask: Tensor, scaling: float, softcap: float | None = None
) -> Parts:
    """Attention: ``γ' = attn(q_γ, k_γ, v_γ)``, ``β' = z − attn(q − q_β, k − k_β, v − v_β)``."""
    total = attention_core(q.total, k.total, v.total, mask, scaling, softcap)
    beta = gamma = None
    if q.beta is not None:
        beta = total - attention_core(q.total - q.beta, k.gamma_implicit(), v.gamma_implicit(), mask, scaling,
                                      softcap)
    if q.gamma is not None:
        gamma = attention_core(q.gamma, k.get_gamma(), v.get_gamma(), mask, scaling, softcap)
    return Parts(total, beta, gamma)
