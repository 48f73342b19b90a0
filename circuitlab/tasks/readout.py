"""Reading label scores out of the model: the final residual, label rows, summed label log-probs.

Context
-------
The forward pass is stopped at the final norm (``ln_final.hook_out``): the unembedding
is never run over every position. Single-token tasks multiply the residual at the
prediction position by the label rows only; multi-token tasks (``task.sequence_scoring``)
take the full-vocabulary log-softmax only at the positions that predict a label token
(:class:`~circuitlab.tasks.task.LabelReads`) and sum each label's token log-probs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from jaxtyping import Float, Int
from torch import Tensor

if TYPE_CHECKING:
    from circuitlab.tasks.task import Batch, ClassificationTask


class _StopForward(Exception):
    """Raised from a hook to end the forward pass once the final norm has run."""


def last_block_mlp_at(last_layer: int, last_pos: Tensor, reps: int = 1) -> tuple:
    """A hook that runs the last block's MLP branch at the prediction position only.

    It hands the MLP-branch norm (``blocks.{last}.ln2``) the prediction row alone (``[R·B, 1, d]``);
    the block's residual add then broadcasts that row's MLP output over every position, which is
    right at the prediction position, the only one read afterwards. Saves most of a layer per pass
    (and its backward: no other position's loss flows through the last MLP). Single-token tasks only:
    a multi-token task reads several positions.
    """
    pos = last_pos.repeat(reps)

    def hook(x: Tensor, hook) -> Tensor:
        return x[torch.arange(x.shape[0], device=x.device), pos.to(x.device)][:, None]

    return (f"blocks.{last_layer}.ln2.hook_in", hook)


# Hook points of the last block that fire before its MLP branch: they see every position as usual.
_BEFORE_LAST_MLP = ("hook_in", "hook_resid_pre", "hook_attn_in", "hook_q_input", "hook_k_input", "hook_v_input",
                    "hook_attn_out", "ln1.", "ln1_post.", "attn.")


def _can_trim_last_block(names: Sequence, last: int) -> bool:
    """True unless a hook watches the last block's MLP side or the final norm (it would see one row)."""
    prefix = f"blocks.{last}."
    for name in names:
        if not isinstance(name, str):  # a filter function: it could match anything
            return False
        if name.startswith(("ln_final.", "unembed.", "hook_unembed")):
            return False
        if name.startswith(prefix) and not name[len(prefix):].startswith(_BEFORE_LAST_MLP):
            return False
    return True


def final_residual(
    bridge, batch: Batch, fwd_hooks: Sequence = (), bwd_hooks: Sequence = (), all_positions: bool = False,
) -> Float[Tensor, "rows d_model"] | Float[Tensor, "rows pos d_model"]:
    """The normalised final residual at each row's prediction position (or every position).

    Runs the Bridge (with any extra hooks) and stops right after ``ln_final``, so the
    unembedding is never computed. The last block's MLP branch runs at the prediction
    position only (:func:`last_block_mlp_at`) when no gradient is recorded, only the
    prediction position is read and no given hook watches that part of the model. With
    gradients (training) the whole block runs, so a step's gradients stay bit-identical with
    and without selective recomputation (a recomputed block re-runs in backward, after the
    hooks are gone).
    """
    captured: dict[str, Tensor] = {}

    def grab(x: Tensor, hook) -> None:
        captured["x"] = x
        raise _StopForward

    hooks = [*fwd_hooks, ("ln_final.hook_out", grab)]
    last = len(bridge.blocks) - 1
    names = [n for n, _ in (*fwd_hooks, *bwd_hooks)]
    if not all_positions and not torch.is_grad_enabled() and _can_trim_last_block(names, last):
        hooks.append(last_block_mlp_at(last, batch.last_pos))
    with bridge.hooks(fwd_hooks=hooks, bwd_hooks=list(bwd_hooks)):
        try:
            bridge(batch.input_ids, attention_mask=batch.attention_mask, return_type=None)
        except _StopForward:
            pass
    if "x" not in captured:
        raise RuntimeError("The forward pass never reached ln_final.hook_out; a hook stopped it earlier.")
    x = captured["x"]
    return x if all_positions else x[torch.arange(x.shape[0], device=x.device), batch.last_pos.to(x.device)]


def unembed_rows(hf_model: torch.nn.Module, token_ids: Sequence[int] | Tensor) -> tuple[Tensor, Tensor | None]:
    """The unembedding rows ``[n, d_model]`` (and bias) for the given token ids."""
    head = hf_model.get_output_embeddings()
    idx = torch.as_tensor(token_ids, device=head.weight.device)
    bias = head.bias[idx] if getattr(head, "bias", None) is not None else None
    return head.weight[idx], bias


def softcap(hf_model: torch.nn.Module, logits: Tensor) -> Tensor:
    """Gemma-style final-logit soft-capping ``cap · tanh(x / cap)`` when the model sets it."""
    cap = getattr(hf_model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def logits_from_residual(
    hf_model: torch.nn.Module, task: ClassificationTask, resid: Float[Tensor, "batch d_model"]
) -> Float[Tensor, "batch n_labels"]:
    """Label logits from the normalised final residual (single-token tasks: the label-row fast path)."""
    w, b = unembed_rows(hf_model, task.label_token_ids)
    logits = resid @ w.T
    if b is not None:
        logits = logits + b
    return softcap(hf_model, logits)


def read_log_probs(
    hf_model: torch.nn.Module, final: Float[Tensor, "rows pos d_model"], positions: Int[Tensor, "rows n_read"],
    tokens: Int[Tensor, "rows n_read"], mask: Tensor,
) -> Float[Tensor, "rows n_read"]:
    """``log p(tokens[r, j] | prefix up to positions[r, j])``, zero where ``mask`` is false.

    The full-vocabulary logits are built for the masked-in reads only (one row each).
    """
    rows = torch.arange(final.shape[0], device=final.device)[:, None].expand_as(positions)
    sel = mask.to(final.device)
    h = final[rows[sel], positions.to(final.device)[sel]]  # [n, d]
    head = hf_model.get_output_embeddings()
    logits = softcap(hf_model, head(h)).float()
    tok = tokens.to(final.device)[sel]
    lp = logits.gather(1, tok[:, None]).squeeze(1) - torch.logsumexp(logits, dim=-1)
    out = torch.zeros(positions.shape, dtype=lp.dtype, device=final.device)
    out[sel] = lp
    return out


def scores_from_final(
    hf_model: torch.nn.Module, task: ClassificationTask, batch: Batch,
    final: Float[Tensor, "rows d_model"] | Float[Tensor, "rows pos d_model"], reps: int = 1,
) -> Float[Tensor, "examples n_labels"]:
    """Label scores from the normalised final residual of ``batch`` (stacked ``reps`` times).

    Single-token tasks take the prediction row (``final`` may already be ``[rows, d]``) and the
    label rows; sequence-scored tasks need every position (``[rows, pos, d]``) and return the
    summed log-probability of each label's tokens, ``[reps · n_examples, n_labels]``.
    """
    if batch.reads is None:
        if final.ndim == 3:
            last = batch.last_pos.to(final.device).repeat(reps)
            final = final[torch.arange(final.shape[0], device=final.device), last]
        return logits_from_residual(hf_model, task, final)
    if final.ndim != 3:
        raise ValueError("A sequence-scored task needs the final residual at every position ([rows, pos, d]).")
    r = batch.reads.repeat(reps)
    lp = read_log_probs(hf_model, final, r.positions, r.tokens, r.mask)
    return lp.sum(-1).view(-1, r.n_labels)


def label_scores(
    model, task: ClassificationTask, batch: Batch, fwd_hooks: Sequence = (), bwd_hooks: Sequence = ()
) -> Float[Tensor, "examples n_labels"]:
    """Each label's score for each example (``model`` is a LoadedModel): see :mod:`circuitlab.tasks.task`.

    Single-token tasks: the label tokens' logits at the prediction position. Multi-token: the summed
    log-probability of each verbalizer's tokens after the prompt. Hooks see every row of the batch
    (``n_labels`` rows per example for a multi-token task).
    """
    batch = batch.to(model.device)
    final = final_residual(model.bridge, batch, fwd_hooks, bwd_hooks, all_positions=batch.reads is not None)
    return scores_from_final(model.hf_model, task, batch, final)


#: The former name, from when every verbalizer had to be one token.
label_logits = label_scores


def task_margin(logits: Float[Tensor, "batch n_labels"], labels: Int[Tensor, " batch"]) -> Float[Tensor, " batch"]:
    """Gold score minus the mean score of the other labels: the task direction CT-SFT scores along."""
    gold = logits.gather(1, labels[:, None]).squeeze(1)
    others = (logits.sum(1) - gold) / (logits.shape[1] - 1)
    return gold - others
