"""The order in which a run visits its examples: a function of the seed, the epoch and the lengths only.

- **Determinism**: epoch ``e`` visits the examples in the order of ``torch.randperm``
  seeded with ``seed·1000 + e``, so a resumed run sees the same batches.
- **Length grouping** (``group_by_length=True``, off by default): as Hugging Face's
  ``group_by_length``, the epoch's permutation is cut into mega-batches of
  50 batches, each sorted by token length, so a batch pads to the length of
  similar examples instead of to the longest of a random draw; the batches are
  then visited in a seeded random order. On NusaX (100 examples, batch 16) this
  trains on 0.56x the padded tokens. The price: batches are no longer independent
  draws, and where length tracks the label they are label-skewed (NusaX's neutral
  texts are short). With fewer examples than one mega-batch every epoch repeats the
  same batches; on θ1's 50 Indonesian examples it lowered validation accuracy
  from 0.775 to 0.675 (one run), so the within-an-hour paper sweep groups target
  tuning only (examples/nusax_paper.toml).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from circuitlab.data.types import Example
from circuitlab.tasks import ClassificationTask
from circuitlab.tuning.trainer_config import TrainConfig


#: Batches per mega-batch of length grouping (Hugging Face's ``LengthGroupedSampler`` uses 50).
MEGABATCH = 50


def batch_order(lengths: Sequence[int], config: TrainConfig, epoch: int) -> list[list[int]]:
    """The batches (lists of example indices) of ``epoch``, a function of the seed, the epoch and the lengths only.

    Plain: consecutive slices of ``randperm(n)`` seeded with ``seed·1000 + epoch``. With
    ``group_by_length``, the same permutation is cut into mega-batches of
    :data:`MEGABATCH` batches, each is sorted longest first (ties keep the permutation's order)
    and sliced into batches, and the batches are shuffled by the same generator.
    """
    gen = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    order = torch.randperm(len(lengths), generator=gen).tolist()
    bs = config.batch_size
    if not config.group_by_length:
        return [order[i:i + bs] for i in range(0, len(order), bs)]
    batches: list[list[int]] = []
    mega = bs * MEGABATCH
    for m in range(0, len(order), mega):
        chunk = sorted(order[m:m + mega], key=lambda i: -lengths[i])
        batches += [chunk[i:i + bs] for i in range(0, len(chunk), bs)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def token_lengths(task: ClassificationTask, tokenizer, examples: Sequence[Example], max_length: int) -> list[int]:
    """Each example's prompt length in tokens as :meth:`ClassificationTask.encode` pads it (capped at max_length)."""
    return [min(max_length, len(tokenizer(task.render(e), add_special_tokens=True)["input_ids"])) for e in examples]


__all__ = ["MEGABATCH", "batch_order", "token_lengths"]
