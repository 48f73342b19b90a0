"""CT-SFT's directional relevance of every head on a gold continuation (CD-T decomposition).

The classification rule (:mod:`circuitlab.discovery.scorers.decomposition`) splits the
forward pass, for each source head ``s``, into ``β`` (due to ``z_s − μ_s``) and ``γ`` (the
rest) and reads ``β`` along the task direction at the label logits. For a sequence the
task direction is the gold response itself: the metric is its summed log-likelihood

    LL = Σ_t [ c(z_{y_t}) − LSE_v c(z_v) ]     (t over response positions)

which is exactly a multi-token "label" of one class read at every response position, so
the split is the one of :mod:`circuitlab.discovery.decomposition.readout`: the gold token's
logit split as everywhere else, the log-normaliser to first order
(``β(LSE) = ⟨β(norm x), Σ_v p_v c'(z_v) W_v⟩``). A head's score is ``β_s(LL)`` averaged over
the discovery rows: positive means the head's deviation from its mean pushes the model
toward the reference. ``μ`` is each head's mean over every real position of the rows
(:func:`circuitlab.generation.discovery.head_means`), as for the attribution rule.

Cost: one decomposition sweep per batch (every head's stream joins at its own layer); the
full-vocabulary softmax is taken from the clean total only, at the response positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from circuitlab.generation.translation import IGNORE, collate, pad_id
from circuitlab.tasks.task import Batch, LabelReads


def response_batch(rows: Sequence[dict], pad: int) -> Batch:
    """Right-padded rows as a :class:`~circuitlab.tasks.task.Batch` whose one "label" is the response."""
    b = collate(rows, pad, side="right")
    target = b["labels"][:, 1:]  # position j predicts token j + 1
    keep = target != IGNORE
    n_read = max(int(keep.sum(1).max()), 1)
    positions = torch.zeros(len(rows), n_read, dtype=torch.long)
    tokens = torch.zeros_like(positions)
    mask = torch.zeros(len(rows), n_read, dtype=torch.bool)
    for r in range(len(rows)):
        pos = keep[r].nonzero().flatten()
        positions[r, : len(pos)], tokens[r, : len(pos)], mask[r, : len(pos)] = pos, target[r, pos], True
    last = b["attention_mask"].sum(1) - 1
    reads = LabelReads(positions, tokens, mask, n_labels=1)
    return Batch(b["input_ids"], b["attention_mask"], last, torch.zeros(len(rows), dtype=torch.long), reads)


def sequence_directional_scores(
    model, rows: Sequence[dict], batch_size: int = 4, means: Tensor | None = None,
    stream_chunk: int | None = None, chunk_mb: int = 192, norm_rule: str = "difference",
    return_totals: bool = False,
) -> Float[Tensor, "layers heads"] | tuple[Tensor, Tensor]:
    """Directional relevance ``β_s(LL)`` of every head (module docstring), averaged over ``rows``.

    Args:
        model: a :class:`~circuitlab.models.LoadedModel`.
        rows: :meth:`~circuitlab.generation.translation.TranslationTask.encode` output.
        means: the baseline ``μ`` (default: :func:`~circuitlab.generation.discovery.head_means` of ``rows``).
        stream_chunk, chunk_mb, norm_rule: as in :class:`~circuitlab.discovery.scorers.decomposition.DecompositionConfig`.
        return_totals: also return each row's exact ``LL`` as the decomposition computed it (tests).
    """
    from circuitlab.discovery.decomposition import build_spec, propagate
    from circuitlab.discovery.runs import clean_pass
    from circuitlab.discovery.scorers.decomposition import auto_stream_chunk
    from circuitlab.generation.discovery import head_means
    from circuitlab.heads import Head

    g = model.geometry
    if not rows:
        raise ValueError("sequence_directional_scores needs at least one row.")
    mu = (means if means is not None else head_means(model, rows, batch_size)).float()
    spec = build_spec(model.hf_model)
    sources = [Head(layer, head) for layer in range(g.n_layers) for head in range(g.n_heads)]
    pad = pad_id(model.tokenizer)
    acc = torch.zeros(len(sources), dtype=torch.float64)
    totals = []
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            batch = response_batch(rows[i:i + batch_size], pad)
            chunk = stream_chunk or auto_stream_chunk(spec, batch.input_ids.numel(), chunk_mb)
            clean = clean_pass(model, batch, layers=range(g.n_layers))
            ll = propagate(spec, clean, mu, sources, reads=batch.reads, stream_chunk=chunk, norm_rule=norm_rule)
            acc += ll.get_beta()[..., 0].sum(-1).double().cpu()
            totals.append(ll.total[:, 0].cpu())
    scores = (acc / len(rows)).view(g.n_layers, g.n_heads).float()
    return (scores, torch.cat(totals)) if return_totals else scores
