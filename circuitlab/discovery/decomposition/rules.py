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

Two principles cover every non-linear operation:

- a **function of one input** (GELU, SiLU, soft-capping, the softmax over a row of
  scores, and by default every LayerNorm/RMSNorm, a function of its whole vector) is
  split by finite difference: ``γ' = f(γ)``, ``β' = f(total) − f(γ)`` (CD's rule for
  activations; captures saturation; ``|β'| ≤ Lip(f)·|β|``);
- a **product of two inputs** ``x ∘ y`` (the gate times the up-projection of a gated
  MLP, ``q·kᵀ``, ``P·v``) is split by the product rule around the clean values:
  ``β' = x_β ∘ y + x ∘ y_β`` (each factor's β-part times the *other factor's total*),
  ``γ' = total − β' = x_γ ∘ y + x ∘ y_γ − x ∘ y``.

Why these and not the textbook alternatives (both were tried on Gemma-3-270M with 8
Indonesian discovery examples, against exact mean ablation):

- *Norms with frozen total statistics* (CD-T's convention, available as
  ``norm_rule="frozen"``) treat ``β·(1/rms(total))`` as exact even when β is larger than
  the total; Gemma-3's post-norms (one after every attention and MLP block) then let β
  grow layer after layer (``|β|/|total|`` from 2 to 140 over the 18 layers for a layer-0
  head), and heads of layers 0–2 scored 100–300 (their exact effect is 0.03–0.5):
  Spearman 0.54 with mean ablation. The finite-difference rule keeps β bounded by what
  the norm can output: Spearman 0.93.
- *"Every term that touches β goes to β"* for products (``γ' = x_γ ∘ y_γ``) is quadratic
  in the parts: together with frozen norms it made β and γ grow to 1e26 and cancel (NaN
  by layer 13). The product rule is linear in β with clean-activation coefficients; the
  second-order term ``x_β ∘ y_β`` it leaves in γ is negligible when β is small.

========================  ============================================================
operation                 rule (``γ = total − β`` on the input side)
========================  ============================================================
linear map ``xWᵀ``         ``β' = βWᵀ`` (exact, no choice)
bias ``+ b``               shared elementwise in proportion to ``|β|`` and ``|γ|``:
                          ``β' += b·|β|/(|β|+|γ|)`` (all of ``b`` to ``γ`` where both are 0)
LayerNorm / RMSNorm        ``"difference"`` (default): ``β' = norm(total) − norm(total − β)``,
                          each with its own statistics; ``"frozen"``: statistics of the
                          *total* applied to each part (a linear map), LayerNorm bias shared
RoPE                       linear (a fixed rotation per position): applied to each part
QK-norm (Gemma-3)          an RMSNorm over ``d_head``: as the other norms
elementwise ``f``          ``β' = f(total) − f(total − β)``
gated MLP ``f(g)·u``       ``a_β = f(g) − f(g − g_β)`` (elementwise), then the product rule:
                          ``β' = a_β·u + f(g)·u_β``
attention scores           product rule on ``q·kᵀ``: ``s_β = (q_β·kᵀ + q·k_βᵀ)·scale``;
                          soft-capping elementwise; the mask belongs to γ
attention pattern          softmax rule: ``P_γ = softmax(s − s_β)``, ``P_β = P − P_γ``
                          (CD-T's ``P_β = softmax(q_β·k_βᵀ)`` is not used: it is a full
                          distribution, uniform rather than zero, when β is 0)
attention output           product rule on ``P·v``: ``z_β = P_β·v + P·v_β``
========================  ============================================================

So ``β = 0`` gives ``β' = 0`` everywhere, and ``β + γ`` is the clean activation at
every step by construction. On a model whose only non-linearities between a head and
the logits are its norms, the default rules give exactly the mean-ablation effect (γ is
then the ablated forward pass), and ``norm_rule="frozen"`` gives exactly the
mean-ablation effect with the norms' scales frozen; the tests check both.

Checked mode
------------
The fast path carries only β (its attention, :func:`_attention_beta`, folds the streams into
the rows of each matrix product instead of broadcasting the totals over them). Checked
mode (tests) also carries γ and computes it with the γ-form of every rule from γ and the
totals alone (``f(γ)``, the ``|γ|``-share of a bias, ``softmax(s_γ)``,
``x_γ ∘ y + x ∘ y_γ − x ∘ y`` ...), never as ``total − β``.
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
    beta = None
    if x.beta is not None:
        shifted = fn(x.total - x.beta)
        beta = torch.sub(total, shifted, out=shifted)  # reuse the temporary (no extra allocation)
    return Parts(total, beta, None if x.gamma is None else fn(x.gamma))


def rms_difference(x: Parts, weight: Tensor | None, eps: float) -> Parts:
    """RMSNorm by finite difference, ``β' = norm(total) − norm(total − β)`` (each with its own RMS).

    The same rule as :func:`elementwise` with ``f`` = the norm, in fewer passes over memory.
    """

    def norm(t: Tensor, out_inplace: bool) -> Tensor:
        inv = torch.rsqrt(torch.linalg.vector_norm(t, dim=-1, keepdim=True).square_().div_(t.shape[-1]).add_(eps))
        out = t.mul_(inv) if out_inplace else t * inv
        return out if weight is None else out.mul_(weight)

    total = norm(x.total, False)
    beta = None
    if x.beta is not None:
        shifted = norm(x.total - x.beta, True)
        beta = torch.sub(total, shifted, out=shifted)
    return Parts(total, beta, None if x.gamma is None else norm(x.gamma, False))


def product(x: Parts, y: Parts, op: Callable[[Tensor, Tensor], Tensor] = torch.mul) -> Parts:
    """A bilinear product ``op(x, y)`` by the product rule: ``β' = op(x_β, y) + op(x, y_β)``.

    γ-form: ``γ' = op(x_γ, y) + op(x, y_γ) − op(x, y)`` (see the module docstring).
    """
    total = op(x.total, y.total)
    beta = None
    if x.beta is not None:
        if op is torch.mul:
            beta = torch.addcmul(x.beta * y.total, x.total, y.get_beta())
        else:
            beta = op(x.beta, y.total).add_(op(x.total, y.get_beta()))
    gamma = None
    if x.gamma is not None:
        gamma = op(x.gamma, y.total) + op(x.total, y.get_gamma()) - total
    return Parts(total, beta, gamma)


def gated_product(gate: Parts, up: Parts, act: Callable[[Tensor], Tensor]) -> Parts:
    """``f(gate) · up`` (SwiGLU / GeGLU): the activation by finite difference, then the product rule."""
    return product(elementwise(gate, act), up)


def rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x: Parts, cos: Tensor, sin: Tensor) -> Parts:
    """Rotary embedding on ``[..., B, T, H, d_head]`` with ``cos``/``sin`` ``[B|1, T, d_head]``: linear.

    ``t·cos + rotate_half(t)·sin``, written with half-width multiply-adds (no concatenation).
    """
    c, s = cos[:, :, None, :], sin[:, :, None, :]
    half = c.shape[-1] // 2

    def rot(t: Tensor) -> Tensor:
        out = t * c
        out[..., :half].addcmul_(t[..., half:], s[..., :half], value=-1.0)
        out[..., half:].addcmul_(t[..., :half], s[..., half:])
        return out

    return x.map(rot)


def _group_q(q: Tensor, n_kv: int) -> Tensor:
    """``[..., B, Tq, H, dh]`` -> ``[..., B, Hkv, rep, Tq, dh]`` (head ``h`` reads K/V head ``h // rep``)."""
    *lead, b, tq, h, dh = q.shape
    return q.reshape(*lead, b, tq, n_kv, h // n_kv, dh).movedim(-4, -2)


def _kv(t: Tensor) -> Tensor:
    """``[..., B, Tk, Hkv, dh]`` -> ``[..., B, Hkv, 1, Tk, dh]``."""
    return t.movedim(-3, -2).unsqueeze(-3)


def _ungroup(out: Tensor) -> Tensor:
    """``[..., B, Hkv, rep, Tq, dh]`` -> ``[..., B, Tq, H, dh]``."""
    *lead, b, hkv, rep, tq, dh = out.shape
    return out.movedim(-2, -4).reshape(*lead, b, tq, hkv * rep, dh)


def attention_core(
    q: Float[Tensor, "... B Tq H dh"], k: Float[Tensor, "... B Tk Hkv dh"], v: Float[Tensor, "... B Tk Hkv dh"],
    mask: Float[Tensor, "B 1 Tq Tk"], scaling: float, softcap: float | None,
) -> Float[Tensor, "... B Tq H dh"]:
    """Eager softmax attention with grouped-query heads (HF's ``repeat_kv`` order), the model's additive
    mask, scaling and optional logit soft-cap: the model's own computation, on one part."""
    scores = torch.matmul(_group_q(q, k.shape[-2]), _kv(k).transpose(-1, -2)) * scaling
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    probs = torch.softmax(scores + mask[:, :, None], dim=-1)
    return _ungroup(torch.matmul(probs, _kv(v)))


def attention(
    q: Parts, k: Parts, v: Parts, mask: Tensor, scaling: float, softcap: float | None = None
) -> Parts:
    """Attention: product rule on ``q·kᵀ`` and on ``P·v``, softmax rule on the pattern (module docstring)."""
    if all(p.gamma is None and p.beta is not None for p in (q, k, v)) and mask.shape[1] == 1:
        return _attention_beta(q, k, v, mask, scaling, softcap)
    n_kv = k.total.shape[-2]
    qg, kt, vt = q.map(lambda t: _group_q(t, n_kv)), k.map(_kv), v.map(_kv)
    scores = product(qg, kt, lambda a, b: torch.matmul(a, b.transpose(-1, -2)) * scaling)
    if softcap is not None:
        cap = float(softcap)
        scores = elementwise(scores, lambda t: torch.tanh(t / cap) * cap)
    m = mask[:, :, None]  # [B, 1, 1, Tq, Tk]; the mask is a constant: it stays with γ
    scores = Parts(scores.total + m, scores.beta, None if scores.gamma is None else scores.gamma + m)
    probs = elementwise(scores, lambda t: torch.softmax(t, dim=-1))
    return product(probs, vt, torch.matmul).map(_ungroup)


def _attention_beta(
    q: Parts, k: Parts, v: Parts, mask: Float[Tensor, "B 1 Tq Tk"], scaling: float, softcap: float | None
) -> Parts:
    """:func:`attention`'s fast path (β carried, γ implicit): the same rules, laid out so no product
    broadcasts a total over the streams.

    A broadcasting ``matmul`` copies its smaller operand once per stream (and once per query head of a
    K/V group). Here the streams and the query heads of a group are folded into the *rows* of one matrix
    product per (example, K/V head): ``q_β·kᵀ`` is ``[S·rep·Tq, dh] @ [dh, Tk]``, ``q·k_βᵀ`` is computed
    as ``k_β·qᵀ`` (``[S·Tk, dh] @ [dh, rep·Tq]``) and transposed, ``P·v_β`` as ``P @ [Tk, S·dh]``. Only
    the β operands are rearranged (one copy each), and the output is written in the engine's layout
    ``[S, B, Tq, H, dh]`` in the same pass that adds the two terms of ``z_β``.
    """
    S, B, Tq, H, dh = q.beta.shape  # type: ignore[union-attr]
    Tk, n_kv = k.total.shape[1], k.total.shape[2]
    rep, rows = H // n_kv, (H // n_kv) * Tq
    q_t = q.total.view(B, Tq, n_kv, rep, dh).permute(0, 2, 3, 1, 4).reshape(B, n_kv, rows, dh)
    k_t, v_t = k.total.permute(0, 2, 1, 3), v.total.permute(0, 2, 1, 3)  # [B, Hkv, Tk, dh]
    q_b = q.beta.view(S, B, Tq, n_kv, rep, dh).permute(1, 3, 0, 4, 2, 5).reshape(B, n_kv, S * rows, dh)
    k_b = k.beta.permute(1, 3, 0, 2, 4).reshape(B, n_kv, S * Tk, dh)  # type: ignore[union-attr]
    v_b = v.beta.permute(1, 3, 2, 0, 4).reshape(B, n_kv, Tk, S * dh)  # type: ignore[union-attr]

    scores = torch.matmul(q_t, k_t.transpose(-1, -2)).mul_(scaling)  # [B, Hkv, rep·Tq, Tk]
    s_b = torch.matmul(q_b, k_t.transpose(-1, -2)).view(B, n_kv, S, rows, Tk)
    s_b.add_(torch.matmul(k_b, q_t.transpose(-1, -2)).view(B, n_kv, S, Tk, rows).transpose(-1, -2))
    s_b.mul_(scaling)
    if softcap is not None:
        cap = float(softcap)
        capped = torch.tanh(scores / cap) * cap
        s_b = torch.sub(capped[:, :, None], torch.tanh((scores[:, :, None] - s_b) / cap) * cap, out=s_b)
        scores = capped
    scores = scores + mask[:, :, None].expand(B, 1, rep, Tq, Tk).reshape(B, 1, rows, Tk)
    probs = torch.softmax(scores, dim=-1)
    p_b = torch.softmax(scores[:, :, None] - s_b, dim=-1)  # P_γ, then P_β = P − P_γ in place
    p_b = torch.sub(probs[:, :, None], p_b, out=p_b)

    z1 = torch.matmul(p_b.view(B, n_kv, S * rows, Tk), v_t).view(B, n_kv, S, rep, Tq, dh)
    z2 = torch.matmul(probs, v_b).view(B, n_kv, rep, Tq, S, dh)
    z_b = q.beta.new_empty((S, B, Tq, n_kv, rep, dh))  # type: ignore[union-attr]
    torch.add(z1.permute(2, 0, 4, 1, 3, 5), z2.permute(4, 0, 3, 1, 2, 5), out=z_b)
    z_t = torch.matmul(probs, v_t).view(B, n_kv, rep, Tq, dh).permute(0, 3, 1, 2, 4).reshape(B, Tq, H, dh)
    return Parts(z_t, z_b.view(S, B, Tq, H, dh), None)
