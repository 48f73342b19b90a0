"""Selective recomputation: keep the matmul outputs, recompute the cheap elementwise rest in backward.

Context
-------
With few trainable parameters (a handful of heads plus the norms), a training
step's memory is dominated by the activations autograd keeps for backward, not
by gradients or optimizer state. Most of those are outputs of cheap elementwise
operations: RMSNorm's normalised input, GELU's output and the gate product of a
gated MLP, the rotated queries and keys, the repeated K/V of grouped-query
attention, softmax probabilities.

:func:`selective_recompute` wraps every transformer block's forward in PyTorch's
*selective activation checkpointing* (``torch.utils.checkpoint`` with
``create_selective_checkpoint_contexts``): the outputs of the weight matrix
products (``mm``/``addmm``) are stored as usual, everything else (including the
small attention ``bmm``s) is recomputed from them during backward. Recomputing elementwise ops costs a few percent of a
step; the stored activations shrink by about half. Gradients are the same
function of the same inputs (recomputed values are bit-identical on CPU).

The wrapping is an instance attribute on each block's ``forward`` and is removed
on exit, so the Bridge and its hooks are otherwise untouched.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch.utils.checkpoint import CheckpointPolicy, checkpoint, create_selective_checkpoint_contexts

_aten = torch.ops.aten
#: Operations whose outputs are stored; everything else inside a block is recomputed in backward. The
#: attention products (``bmm``: scores and probabilities x values) are recomputed too: they are small
#: matmuls (batch x heads x T x T x d_head) whose outputs are as large as the projections'.
SAVED_OPS = frozenset({_aten.mm.default, _aten.addmm.default})


def _policy(ctx, op, *args, **kwargs) -> CheckpointPolicy:
    return CheckpointPolicy.MUST_SAVE if op in SAVED_OPS else CheckpointPolicy.PREFER_RECOMPUTE


def _context():
    return create_selective_checkpoint_contexts(_policy)


def _blocks(model) -> list[torch.nn.Module]:
    blocks = getattr(model.bridge, "blocks", None)
    if blocks is None:
        raise ValueError("selective recomputation needs the Bridge's `blocks`; this model has none.")
    return list(blocks)


@contextlib.contextmanager
def selective_recompute(model, enabled: bool = True) -> Iterator[None]:
    """Within the block, every transformer block of ``model`` recomputes its elementwise ops in backward."""
    if not enabled:
        yield
        return
    blocks = _blocks(model)
    for block in blocks:
        original = block.forward

        @functools.wraps(original)
        def forward(*args, __original=original, **kwargs):
            if not torch.is_grad_enabled():
                return __original(*args, **kwargs)
            return checkpoint(__original, *args, use_reentrant=False, context_fn=_context, **kwargs)

        # Not `block.forward = …`: Bridge components forward attribute writes to the wrapped HF module.
        block.__dict__["forward"] = forward
    try:
        yield
    finally:
        for block in blocks:
            block.__dict__.pop("forward", None)


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Loading a model leaves freed buffers in the allocator's heap; trimming before training keeps
    them out of the process's resident memory for the rest of the run.
    """
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
