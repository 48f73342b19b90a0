"""The label-balanced mean μ(s) of every head's output: the neutral operating point.

Context
-------
CT-SFT needs no counterfactual inputs: a head's *relevant* part on an input is its
deviation from its average behaviour, ``β = z − μ``. Averaging over a
label-balanced set makes class-specific directions cancel in μ.

Pooling (how a sequence becomes one vector per head)
---------------------------------------------------
``z`` is the head's output *before* the output projection (``hook_z``,
``[pos, d_head]``). Padding positions are always excluded, whichever side the
batch is padded on.

- ``"mean"`` (default): average over the example's real tokens, then over examples.
  Every example weighs the same, whatever its length.
- ``"tokens"``: every real token of every example weighs the same (long examples
  weigh more).
- ``"last"``: only the prediction position (the last real token).

In every case the result is **label-balanced**: the pooled vectors are averaged
within each label, and the label averages are averaged with equal weight, so a
47/3 split of labels still gives each label half the weight. The same μ is used
at every position of every input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from circuitlab.data.types import Example
from circuitlab.discovery.errors import DiscoveryError
from circuitlab.discovery.runs import clean_pass
from circuitlab.evaluation.evaluate import iter_batches
from circuitlab.tasks.task import ClassificationTask

Pooling = Literal["mean", "tokens", "last"]
POOLINGS: tuple[str, ...] = ("mean", "tokens", "last")


@dataclass
class HeadMean:
    """μ of every head's ``hook_z``: ``values[layer, head]`` is a ``d_head`` vector.

    Attributes:
        values: ``[n_layers, n_heads, d_head]``.
        pooling: how positions were pooled (see module docstring).
        per_label: how many examples of each label contributed.
        n_examples: the number of examples.
        meta: model name, example ids.
    """

    values: Float[Tensor, "n_layers n_heads d_head"]
    pooling: str
    per_label: dict[str, int]
    n_examples: int
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"pooling": self.pooling, "per_label": self.per_label, "n_examples": self.n_examples,
                **{k: v for k, v in self.meta.items() if k != "ids"}}


def pool_z(
    z: Float[Tensor, "B T H dh"], attention_mask: Tensor, last_pos: Tensor, pooling: str
) -> tuple[Float[Tensor, "B H dh"], Tensor]:
    """Per-example pooled vectors and weights (token counts for ``"tokens"``, else 1)."""
    m = attention_mask.to(z.dtype)
    if pooling == "last":
        pooled = z[torch.arange(z.shape[0], device=z.device), last_pos.to(z.device)]
        return pooled, torch.ones(z.shape[0], dtype=z.dtype, device=z.device)
    count = m.sum(1)
    pooled = (z * m[:, :, None, None]).sum(1) / count[:, None, None].clamp_min(1)
    weight = count if pooling == "tokens" else torch.ones_like(count)
    return pooled, weight


@torch.no_grad()
def label_balanced_mean(
    model, task: ClassificationTask, examples: Sequence[Example], *, pooling: Pooling = "mean",
    batch_size: int = 16, max_length: int = 128, padding_side: str = "right", progress: bool = False,
) -> HeadMean:
    """μ of every head's output over ``examples``, balanced over labels (see module docstring)."""
    if not examples:
        raise DiscoveryError("Cannot compute a mean over an empty discovery set; give at least one example.")
    if pooling not in POOLINGS:
        raise DiscoveryError(f"Unknown pooling {pooling!r}; choose one of {POOLINGS}.")
    g = model.geometry
    n_labels = task.n_labels
    sums = torch.zeros(n_labels, g.n_layers, g.n_heads, g.d_head, dtype=torch.float64)
    weights = torch.zeros(n_labels, dtype=torch.float64)
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(g.n_layers)]
    # μ is taken over the prompts (label tokens appended for multi-token scoring are not part of the input).
    batches = list(iter_batches(task, model.tokenizer, examples, batch_size, max_length, padding_side,
                                prompts_only=True))
    for _, batch in tqdm(batches, desc="mean", disable=not progress, leave=False):
        batch = batch.to(model.device)
        run = clean_pass(model, batch, capture=names, layers=[])
        for layer, name in enumerate(names):
            pooled, w = pool_z(run.acts[name].float(), batch.attention_mask, batch.last_pos, pooling)
            for c in range(n_labels):
                sel = batch.labels.to(pooled.device) == c
                if sel.any():
                    sums[c, layer] += (pooled[sel] * w[sel, None, None]).sum(0).double().cpu()
                    if layer == 0:
                        weights[c] += w[sel].sum().double().cpu()
    present = weights > 0
    per_label = {task.labels[c]: sum(task.label_index(e.label) == c for e in examples) for c in range(n_labels)}
    values = (sums[present] / weights[present, None, None, None]).mean(0).float().to(model.device)
    return HeadMean(values, pooling, {k: v for k, v in per_label.items() if v}, len(examples),
                    {"model": model.name, "ids": [e.id for e in examples]})
