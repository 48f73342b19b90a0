"""Clean forward passes that remember how each block was called, and resuming from any block.

Context
-------
Every scorer starts from one clean forward pass of the Bridge. Two things from it
are reused many times:

- the residual stream entering each block (``resid_pre``), so an ablation of a
  head in layer ``L`` can restart at block ``L`` instead of recomputing blocks
  ``0..L-1`` (the Bridge's own ``start_at_layer`` still *executes* the earlier
  blocks and discards their output, so it saves nothing: we drive the Bridge's
  blocks ourselves);
- the exact extra inputs the model gave each block: the additive attention mask
  (causal, padding and, on Gemma-3, the sliding window) and the RoPE ``cos``/``sin``
  (local or global base per layer). The decomposition uses these very tensors, so
  it can never disagree with the model about masking or positions.

Resumed blocks are the Bridge's own ``blocks[l]``, so ``blocks.{l}.attn.hook_z`` and
every other hook fire as in a normal forward. The pass stops after the final norm
(``ln_final``) and reads only the prediction position; the unembedding is never run.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from circuitlab.tasks.task import Batch

_CACHE_ARGS = ("cache", "past_key_values", "past_key_value", "layer_past")


class StopForward(Exception):
    """Raised from a hook to end a forward pass early."""


@dataclass
class BlockCall:
    """How the model called one block in the clean pass.

    Attributes:
        hidden: the residual stream entering the block, ``[B, T, d_model]``.
        kwargs: every other argument, by name, with any KV cache removed (ready to resume).
        mask: the additive attention mask ``[B, 1, T, T]`` the block's attention used.
        rope: ``(cos, sin)`` ``[B|1, T, d_head]``, or ``None`` for models without RoPE.
    """

    hidden: Tensor
    kwargs: dict
    mask: Tensor
    rope: tuple[Tensor, Tensor] | None


@dataclass
class CleanPass:
    """One clean forward pass over a batch: block calls, captured activations, final residual."""

    batch: Batch
    blocks: dict[int, BlockCall] = field(default_factory=dict)
    acts: dict[str, Tensor] = field(default_factory=dict)
    final: Tensor | None = None  # normalised final residual at the prediction position [rows, d_model]
    #                              (every position, [rows, pos, d_model], for a multi-token task's batch)


def _blocks(bridge) -> Sequence[torch.nn.Module]:
    return bridge.blocks


def _signature(block: torch.nn.Module) -> inspect.Signature:
    inner = getattr(block, "original_component", None) or block
    return inspect.signature(inner.forward)


def additive_mask(mask: Tensor | None, batch: Batch, dtype: torch.dtype) -> Tensor:
    """The block's mask as an additive float ``[B, 1, T, T]`` tensor (built causally if the model passed none)."""
    if mask is None:
        t = batch.input_ids.shape[1]
        keep = torch.ones(t, t, dtype=torch.bool, device=batch.input_ids.device).tril()
        keep = keep[None, None] & batch.attention_mask.bool()[:, None, None, :]
        mask = keep
    if mask.dtype == torch.bool:
        mask = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
    return mask.to(dtype)


def clean_pass(
    model, batch: Batch, *, capture: Sequence[str] = (), layers: Sequence[int] | None = None,
    stop_after: str | None = "ln_final.hook_out", extra_hooks: Sequence = (),
) -> CleanPass:
    """Run the Bridge on ``batch``, recording block calls (``layers``, default all) and hook activations.

    Args:
        model: a :class:`~circuitlab.models.LoadedModel`.
        batch: the tokenised batch (on the model's device).
        capture: hook names whose activations to keep (e.g. ``"blocks.3.attn.hook_z"``).
        layers: blocks whose calls to record (default: every block).
        stop_after: the hook after which the pass stops (default: the final norm).
        extra_hooks: more ``(name, fn)`` forward hooks for this pass.
    """
    bridge = model.bridge
    out = CleanPass(batch)
    wanted = set(range(len(_blocks(bridge)))) if layers is None else set(layers)
    handles = []

    def make_pre(idx: int, block: torch.nn.Module):
        sig = _signature(block)

        def pre(_mod, args, kwargs):
            bound = sig.bind_partial(*args, **kwargs).arguments
            extra = bound.pop("kwargs", {}) or {}
            names = list(bound)
            hidden = bound.pop(names[0])
            call = {**bound, **extra}
            for name in _CACHE_ARGS:
                if name in call:
                    call[name] = None
            if "use_cache" in call:
                call["use_cache"] = False
            rope = call.get("position_embeddings")
            out.blocks[idx] = BlockCall(
                hidden=hidden, kwargs=call, mask=additive_mask(call.get("attention_mask"), batch, hidden.dtype),
                rope=tuple(rope) if rope is not None else None,
            )

        return pre

    for idx, block in enumerate(_blocks(bridge)):
        if idx in wanted:
            handles.append(block.register_forward_pre_hook(make_pre(idx, block), with_kwargs=True))

    def keeper(name: str):  # store under the requested name (hook_z is an alias of attn.o.hook_in)
        def keep(x: Tensor, hook) -> None:
            out.acts[name] = x.detach()

        return keep

    def stop(x: Tensor, hook) -> None:
        if hook.name == "ln_final.hook_out":
            idx = torch.arange(x.shape[0], device=x.device)
            out.final = (x[idx, batch.last_pos.to(x.device)] if batch.reads is None else x).detach()
        raise StopForward

    hooks = [(name, keeper(name)) for name in capture] + list(extra_hooks)
    if stop_after is not None:
        hooks.append((stop_after, stop))
    try:
        with bridge.hooks(fwd_hooks=hooks):
            try:
                bridge(batch.input_ids, attention_mask=batch.attention_mask, return_type=None)
            except StopForward:
                pass
    finally:
        for h in handles:
            h.remove()
    return out


def _repeat(value, times: int, batch_size: int):
    """Replicate a per-example tensor argument along the batch axis (leave shared ones alone)."""
    if isinstance(value, Tensor) and value.ndim >= 1 and value.shape[0] == batch_size and times > 1:
        return value.repeat(times, *([1] * (value.ndim - 1)))
    if isinstance(value, tuple):
        return tuple(_repeat(v, times, batch_size) for v in value)
    return value


def run_blocks(
    model, clean: CleanPass, start: int, hidden: Tensor, *, stop_layer: int | None = None,
    final_positions: Tensor | None = None, all_positions: bool = False,
) -> Tensor | None:
    """Run the Bridge's blocks ``start..`` on ``hidden`` (``[R·B, T, d]``, ``R`` stacked copies of the batch).

    Hooks installed by the caller (``bridge.hooks``) fire as usual. Returns the final norm's output at
    ``final_positions`` (``[R·B]`` indices; default each row's prediction position), or ``None`` when
    ``stop_layer`` is given (the caller reads what it needs from hooks, or a hook raises
    :class:`StopForward`). ``all_positions``: the final norm's output at every position (multi-token tasks).
    """
    bridge = model.bridge
    b = clean.batch.input_ids.shape[0]
    reps = hidden.shape[0] // b
    last = stop_layer if stop_layer is not None else len(_blocks(bridge)) - 1
    for idx in range(start, last + 1):
        call = clean.blocks[idx]
        kwargs = {k: _repeat(v, reps, b) for k, v in call.kwargs.items()}
        res = _blocks(bridge)[idx](hidden, **kwargs)
        hidden = res[0] if isinstance(res, tuple) else res
    if stop_layer is not None:
        return None
    if all_positions:
        return bridge.ln_final(hidden)
    pos = clean.batch.last_pos.to(hidden.device).repeat(reps) if final_positions is None else final_positions
    rows = hidden[torch.arange(hidden.shape[0], device=hidden.device), pos]
    return bridge.ln_final(rows)


@contextlib.contextmanager
def frozen_parameters(module: torch.nn.Module) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on every parameter (restored afterwards)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
