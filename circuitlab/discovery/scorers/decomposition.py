"""Scorers built on the CD-T decomposition: ``directional`` (CT-SFT) and ``cdt-unsigned`` (CD-T).

Context
-------
For every source head ``s``, the engine (:mod:`circuitlab.discovery.decomposition`)
splits the forward pass into ``β`` (due to ``z_s − μ_s``) and ``γ`` (the rest), with
``β + γ`` equal to the clean activations at every layer. The two scorers read the
same split at the target differently:

``directional``
    logits: ``β-logit(gold) − mean β-logit(other labels)`` at the prediction position (for
    multi-token verbalizers the same margin of the split summed label log-probs, see
    :mod:`circuitlab.discovery.decomposition.readout`);
    heads: ``Σ_targets Σ_p ⟨β_{s→t}, z_t − μ_t⟩ / Σ_p ‖z_t − μ_t‖²`` (see
    :mod:`circuitlab.discovery.targets`). Signed; averaged over the discovery set.

``cdt-unsigned``
    ``‖β‖₁ / ‖γ‖₁`` at the target: over the label-row logits at the prediction
    position, or summed over the target heads' ``z`` (L1 over real positions and
    ``d_head`` per target). Non-negative; averaged over the discovery set.

Cost: one sweep per batch of examples in which every head's stream joins at its
own layer (each head costs the layers above it), processed ``stream_chunk``
streams at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from circuitlab.discovery.decomposition import Parts, build_spec, propagate
from circuitlab.discovery.decomposition.spec import NORM_RULES
from circuitlab.discovery.errors import DiscoveryError
from circuitlab.discovery.runs import clean_pass
from circuitlab.discovery.scorers import register_scorer
from circuitlab.discovery.scorers.base import Scorer, ScorerConfig, ScoringRun
from circuitlab.discovery.targets import HeadTarget, head_projection, position_mask
from circuitlab.tasks.task import task_margin


@dataclass
class DecompositionConfig(ScorerConfig):
    """Options of the decomposition scorers.

    Attributes:
        stream_chunk: source streams propagated together (memory grows linearly with it; the clean total is
            recomputed once per chunk). ``None``: as many as fit ``chunk_mb``.
        chunk_mb: with ``stream_chunk=None``, the size (MiB) allowed for one intermediate activation of a chunk
            (the widest is the MLP's hidden layer, ``streams x batch x positions x d_mlp`` floats).
        norm_rule: how norms split: ``"difference"`` (finite difference, default: stable on Gemma-3's
            post-norms) or ``"frozen"`` (CD-T's total statistics); see
            :mod:`circuitlab.discovery.decomposition.rules`.
    """

    stream_chunk: int | None = None
    chunk_mb: int = 192
    norm_rule: str = "difference"


def auto_stream_chunk(spec, n_tokens: int, chunk_mb: int) -> int:
    """Streams per chunk so that the widest activation (``streams x tokens x width`` floats) fits ``chunk_mb``."""
    widest = max(max(lyr.mlp.in_weight.shape[0], lyr.attn.q_weight.shape[0]) for lyr in spec.layers)
    return max(1, (chunk_mb << 20) // (n_tokens * widest * 4))


class _DecompositionScorer(Scorer):
    config_class = DecompositionConfig

    def _logit_metric(self, logits: Parts, labels: Tensor) -> Tensor:
        """``[S, B]`` per-source, per-example score from the split label logits."""
        raise NotImplementedError

    def _head_metric(self, beta: Tensor, total: Tensor, direction: Tensor, mask: Tensor) -> Tensor:
        """``[S, B]`` per-source, per-example score at one target head."""
        raise NotImplementedError

    def _score(self, run: ScoringRun) -> Tensor:
        model, target, mu = run.model, run.target, run.mu
        g = model.geometry
        spec = build_spec(model.hf_model)
        sources = run.candidates()
        acc = torch.zeros(len(sources), dtype=torch.float64)
        start = min(s.layer for s in sources)
        cfg: DecompositionConfig = self.config  # type: ignore[assignment]
        if cfg.norm_rule not in NORM_RULES:
            raise DiscoveryError(f"Unknown norm_rule {cfg.norm_rule!r}; choose one of {NORM_RULES}.")
        chunks = []
        for _, batch in tqdm(run.batches(), desc=self.name, disable=not self.config.progress, leave=False):
            chunk = cfg.stream_chunk or auto_stream_chunk(spec, batch.input_ids.numel(), cfg.chunk_mb)
            chunks.append(chunk)
            clean = clean_pass(model, batch, layers=range(start, g.n_layers))
            if isinstance(target, HeadTarget):
                mask = position_mask(batch.attention_mask, batch.last_pos, target.position)
                by_layer = target.heads.by_layer()

                def on_z(layer: int, src: list[int], z: Parts) -> None:
                    for head in by_layer.get(layer, []):
                        direction = z.total[..., head, :] - mu[layer, head]
                        m = self._head_metric(z.beta[..., head, :], z.total[..., head, :], direction, mask)
                        acc[src] += m.sum(-1).double().cpu()

                propagate(spec, clean, mu, sources, stop_layer=target.max_layer, on_z=on_z, stream_chunk=chunk,
                          norm_rule=cfg.norm_rule)
            else:
                labels = {"reads": batch.reads} if batch.reads is not None else {
                    "label_token_ids": run.task.label_token_ids}
                logits = propagate(spec, clean, mu, sources, **labels, stream_chunk=chunk, norm_rule=cfg.norm_rule)
                assert logits is not None
                acc += self._logit_metric(logits, batch.labels.to(logits.beta.device)).sum(-1).double().cpu()
        out = torch.full((g.n_layers, g.n_heads), float("nan"), dtype=torch.float64)
        for i, s in enumerate(sources):
            out[s.layer, s.head] = acc[i] / len(run.examples)
        run.notes["decomposition"] = {"family": spec.family, "stream_chunks": chunks, "norm_rule": cfg.norm_rule}
        return out


@register_scorer
class DirectionalScorer(_DecompositionScorer):
    """CT-SFT's task-directional relevance (the default)."""

    name = "directional"
    summary = "CD-T beta propagated to the target, read along the task direction (CT-SFT default)"

    def _logit_metric(self, logits: Parts, labels: Tensor) -> Tensor:
        return torch.stack([task_margin(b, labels) for b in logits.beta])

    def _head_metric(self, beta, total, direction, mask):
        return head_projection(beta, direction, mask)


@register_scorer
class CDTUnsignedScorer(_DecompositionScorer):
    """The original CD-T relevance ratio ``‖β‖₁ / ‖γ‖₁`` at the target."""

    name = "cdt-unsigned"
    summary = "original CD-T ratio |beta|_1 / |gamma|_1 at the same target"

    def _logit_metric(self, logits: Parts, labels: Tensor) -> Tensor:
        beta = logits.beta.abs().sum(-1)
        gamma = logits.gamma_implicit().abs().sum(-1)
        return beta / gamma.clamp_min(torch.finfo(gamma.dtype).tiny)

    def _head_metric(self, beta, total, direction, mask):
        m = mask.to(beta.dtype)
        b = (beta.abs().sum(-1) * m).sum(-1)
        gm = ((total - beta).abs().sum(-1) * m).sum(-1)
        return b / gm.clamp_min(torch.finfo(gm.dtype).tiny)
