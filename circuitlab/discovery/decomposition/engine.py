"""The propagation engine: carry every source head's β through the rest of the model in one sweep.

Context
-------
For a source head ``s = (L, h)`` the relevant part starts at the head's output,
``β = z_s − μ_s`` (zero at padding positions), is pushed through head ``h``'s column
block of the output projection and then through every later operation with the
rules of :mod:`~circuitlab.discovery.decomposition.rules`.

Intuition
---------
One sweep per batch of examples goes from the lowest source layer to the top.
The stack holds the clean *total* (recomputed by the engine from the residual the
Bridge fed the first block it needs, with the model's own masks and RoPE tables)
and one β per source stream. A head's stream joins the stack at its own layer (its
β before that is zero), so every source costs exactly the layers above it, and
heads of all layers share one pass. Streams are independent given the total, so
they are processed in chunks of ``stream_chunk`` to bound memory (the total is
recomputed per chunk: ``1/stream_chunk`` extra work).

With a logit target the last layer is evaluated at the prediction position only
(keys and values still at every position), then the final norm and the *label rows*
of the unembedding give β-logits. With a head target the sweep stops at the
deepest target layer's attention output (``hook_z``) and hands the split ``z`` of
every layer it passes to a callback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from circuitlab.discovery.decomposition import rules
from circuitlab.discovery.decomposition.rules import Parts
from circuitlab.discovery.decomposition.spec import (
    AttentionSpec, DecompositionSpec, LayerSpec, NormRule, NormSpec,
)
from circuitlab.discovery.decomposition.readout import read_label_scores
from circuitlab.discovery.runs import CleanPass
from circuitlab.heads import Head
from circuitlab.tasks.task import LabelReads

ZCallback = Callable[[int, list[int], Parts], None]


def _select(x: Parts, sl: slice) -> Parts:
    return Parts(x.total, None if x.beta is None else x.beta[sl], None if x.gamma is None else x.gamma[sl])


def _cat(parts: list[Parts]) -> Parts:
    betas, gammas = [p.beta for p in parts], [p.gamma for p in parts]
    beta = None if any(b is None for b in betas) else torch.cat(betas)  # type: ignore[arg-type]
    gamma = None if any(g is None for g in gammas) else torch.cat(gammas)  # type: ignore[arg-type]
    return Parts(parts[0].total, beta, gamma)


def _rows_parts(x: Parts, pos: Tensor, batch_axis_from_end: int) -> Parts:
    """Gather the prediction position for every part; ``batch_axis_from_end`` locates ``B`` in ``total``."""

    def g(t: Tensor) -> Tensor:
        b_axis = t.ndim - batch_axis_from_end
        idx = torch.arange(pos.shape[0], device=t.device)
        index = [slice(None)] * b_axis + [idx, pos]
        return t[tuple(index)].unsqueeze(b_axis + 1)

    return x.map(g)


def _heads(x: Parts, n: int, d_head: int) -> Parts:
    return x.map(lambda t: t.reshape(*t.shape[:-1], n, d_head))


def attention_part(
    layer: LayerSpec, x: Parts, mask: Tensor, rope: tuple[Tensor, Tensor] | None, query_pos: Tensor | None,
    norm_rule: NormRule = "difference",
) -> Parts:
    """ln1 -> q, k, v -> [QK-norm] -> [RoPE] -> attention: the split ``z`` ``[..., B, Tq, H, d_head]``."""
    a: AttentionSpec = layer.attn
    h = layer.ln1(x, norm_rule)
    hq = h if query_pos is None else _rows_parts(h, query_pos, 3)
    q = _heads(rules.linear(hq, a.q_weight, a.q_bias), a.n_heads, a.d_head)
    k = _heads(rules.linear(h, a.k_weight, a.k_bias), a.n_kv_heads, a.d_head)
    v = _heads(rules.linear(h, a.v_weight, a.v_bias), a.n_kv_heads, a.d_head)
    if a.q_norm is not None:
        q = a.q_norm(q, norm_rule)
    if a.k_norm is not None:
        k = a.k_norm(k, norm_rule)
    if a.rotary:
        if rope is None:
            raise RuntimeError("This layer uses RoPE but the model passed no position_embeddings to it.")
        cos, sin = rope
        k = rules.rope(k, cos, sin)
        if query_pos is not None:
            b = query_pos.shape[0]
            idx = torch.arange(b, device=cos.device)
            cos, sin = (t.expand(b, *t.shape[1:])[idx, query_pos][:, None] for t in (cos, sin))
        q = rules.rope(q, cos, sin)
    if query_pos is not None:
        idx = torch.arange(query_pos.shape[0], device=mask.device)
        mask = mask[idx, :, query_pos][:, :, None]
    return rules.attention(q, k, v, mask, a.scaling, a.softcap)


def rest_of_layer(layer: LayerSpec, x: Parts, z: Parts, norm_rule: NormRule = "difference") -> Parts:
    """o_proj -> [post-attn norm] -> +x -> ln2 -> MLP -> [post-MLP norm] -> +: the residual after the block."""
    a = layer.attn
    attn_out = rules.linear(z.map(lambda t: t.flatten(-2)), a.o_weight, a.o_bias)
    if layer.post_attn_norm is not None:
        attn_out = layer.post_attn_norm(attn_out, norm_rule)
    mid = x + attn_out
    m = layer.mlp(layer.ln2(mid, norm_rule))
    if layer.post_mlp_norm is not None:
        m = layer.post_mlp_norm(m, norm_rule)
    return mid + m


def _norm_logits(
    spec: DecompositionSpec, x: Parts, token_ids: Sequence[int], norm_rule: NormRule = "difference"
) -> Parts:
    norm: NormSpec = spec.final_norm
    x = norm(x, norm_rule)
    idx = torch.tensor(list(token_ids), device=spec.unembed_weight.device)
    bias = None if spec.unembed_bias is None else spec.unembed_bias[idx]
    logits = rules.linear(x, spec.unembed_weight[idx], bias)
    if spec.final_softcap:
        cap = float(spec.final_softcap)
        logits = rules.elementwise(logits, lambda t: torch.tanh(t / cap) * cap)
    return logits


@torch.no_grad()
def propagate(
    spec: DecompositionSpec,
    clean: CleanPass,
    mean: Float[Tensor, "n_layers n_heads d_head"],
    sources: Sequence[Head],
    *,
    label_token_ids: Sequence[int] | None = None,
    reads: LabelReads | None = None,
    stop_layer: int | None = None,
    on_z: ZCallback | None = None,
    stream_chunk: int = 32,
    checked: bool = False,
    record: dict | None = None,
    norm_rule: NormRule = "difference",
) -> Parts | None:
    """Decompose the forward pass of ``clean.batch`` with one β stream per source head.

    Args:
        spec: the model's decomposition spec (:func:`~circuitlab.discovery.decomposition.build_spec`).
        clean: a :class:`~circuitlab.discovery.runs.CleanPass` with the block calls of every layer from the
            lowest source layer up.
        mean: μ of every head's ``hook_z`` (the irrelevant baseline).
        sources: the source heads, one stream each (stream order = this order).
        label_token_ids: with ``stop_layer=None``, the tokens whose logits to return (single-token labels).
        reads: instead of ``label_token_ids``, a multi-token task's label reads (``clean.batch.reads``): the
            split summed label log-probs are returned (:mod:`.readout`), and the last layer runs at every
            position.
        stop_layer: run only up to this layer's attention output (head targets); ``None`` = to the logits.
        on_z: called as ``on_z(layer, source_indices, z_parts)`` with the split attention output
            ``[.., B, T, H, d_head]`` of every layer, for the streams already present there.
        stream_chunk: streams processed together (memory vs. the cost of recomputing the total).
        checked: also propagate γ explicitly with the γ-forms of the rules (tests).
        record: if a dict, filled with ``{layer: {"resid": Parts, "z": Parts}}`` (tests; memory-hungry).
        norm_rule: ``"difference"`` (each norm split by finite difference, default) or ``"frozen"`` (CD-T's
            total statistics); see :mod:`circuitlab.discovery.decomposition.rules`.

    Returns:
        The split label logits or scores (``total [B, n_labels]``, ``beta [S, B, n_labels]`` in ``sources``
        order), or
        ``None`` when ``stop_layer`` is given.
    """
    if not sources:
        raise ValueError("propagate() needs at least one source head.")
    n_layers = spec.n_layers
    end = n_layers - 1 if stop_layer is None else stop_layer
    if stop_layer is None and label_token_ids is None and reads is None:
        raise ValueError("Give label_token_ids or reads to read the labels, or a stop_layer for a head target.")
    batch = clean.batch
    real = batch.attention_mask.bool().to(mean.device)
    last = batch.last_pos.to(mean.device)
    start = min(s.layer for s in sources)
    x_total = clean.blocks[start].hidden
    empty = x_total.new_zeros((0, *x_total.shape))
    x = Parts(x_total, empty, empty.clone() if checked else None)
    ids: list[int] = []
    for layer_idx in range(start, end + 1):
        layer = spec.layers[layer_idx]
        call = clean.blocks[layer_idx]
        final = stop_layer is None and layer_idx == n_layers - 1 and reads is None  # trim to the prediction row
        qpos = last if final else None
        stop_here = layer_idx == stop_layer
        outs: list[Parts] = []
        z_rec: list[Parts] = []
        n_old = x.n_streams
        chunks = [slice(i, min(i + stream_chunk, n_old)) for i in range(0, n_old, stream_chunk)] or [slice(0, 0)]
        z_total = None
        for sl in chunks:
            xc = _select(x, sl)
            zc = attention_part(layer, xc, call.mask, call.rope, qpos, norm_rule)
            z_total = zc.total
            if sl.stop > sl.start:
                if on_z is not None:
                    on_z(layer_idx, ids[sl], zc)
                if record is not None:
                    z_rec.append(zc)
            if stop_here:
                continue
            if sl.stop > sl.start:
                outs.append(rest_of_layer(layer, _rows_parts(xc, qpos, 3) if final else xc, zc, norm_rule))
        if stop_here:
            break
        assert z_total is not None
        new = [i for i, s in enumerate(sources) if s.layer == layer_idx]
        real_q = real[torch.arange(real.shape[0]), last][:, None] if final else real
        x_in = x_total if not final else x_total[torch.arange(x_total.shape[0]), last][:, None]
        for c in range(0, len(new), stream_chunk):
            part = new[c : c + stream_chunk]
            beta_z = z_total.new_zeros((len(part), *z_total.shape))
            for j, i in enumerate(part):
                h = sources[i].head
                beta_z[j, ..., h, :] = (z_total[..., h, :] - mean[layer_idx, h]) * real_q[..., None]
            zc = Parts(z_total, beta_z, (z_total - beta_z) if checked else None)
            zeros = x_in.new_zeros((len(part), *x_in.shape))
            xc = Parts(x_in, zeros, x_in.expand_as(zeros).clone() if checked else None)
            outs.append(rest_of_layer(layer, xc, zc, norm_rule))
            if record is not None:
                z_rec.append(zc)
        ids += new
        x = _cat(outs)  # never empty: the sweep starts at the lowest source layer
        x_total = x.total
        if record is not None:
            record[layer_idx] = {"resid": x, "z": _cat(z_rec) if z_rec else None}
    if stop_layer is not None:
        return None
    if reads is not None:
        scores = read_label_scores(spec, x, reads, norm_rule)
        order = torch.tensor(ids, device=scores.beta.device).argsort()
        return Parts(scores.total, scores.beta[order])
    logits = _norm_logits(spec, x.map(lambda t: t.squeeze(-2)), label_token_ids, norm_rule)  # type: ignore[arg-type]
    order = torch.tensor(ids, device=logits.beta.device).argsort()
    return Parts(logits.total, logits.beta[order], None if logits.gamma is None else logits.gamma[order])
