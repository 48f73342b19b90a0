"""Classification as next-token prediction over a few label tokens.

A :class:`ClassificationTask` is a prompt template plus one verbalizer per label.
The model reads the filled-in prompt and its prediction is the label whose
verbalizer token has the highest logit at the last real (non-padding) position.

Context: Gemma-3's vocabulary has 262k entries, so the unembedding dominates the
cost of a forward pass. We never build full-vocabulary logits: the forward pass is
stopped at the final norm (``ln_final.hook_out``) and only the final residual at
the prediction position is multiplied by the *label rows* of the unembedding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from circuitlab.errors import UserError
from circuitlab.data.types import Example


class TaskError(UserError):
    """The task cannot be built for this tokenizer (e.g. a verbalizer is not one token)."""


@dataclass(frozen=True)
class Batch:
    """Tokenised prompts ready for the model.

    ``last_pos[i]`` is the index of the last real token of row ``i`` (the prediction
    position), correct under left or right padding.
    """

    input_ids: Int[Tensor, "batch pos"]
    attention_mask: Int[Tensor, "batch pos"]
    last_pos: Int[Tensor, " batch"]
    labels: Int[Tensor, " batch"]

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.last_pos, self.labels)))

    def __len__(self) -> int:
        return self.input_ids.shape[0]


@dataclass(frozen=True)
class ClassificationTask:
    """A prompt template and label verbalizers, bound to one tokenizer.

    Attributes:
        name: e.g. ``"nusax-senti"``.
        template: a ``str.format`` template over ``{text}`` (and ``{text_pair}`` for pairs).
        labels: the label names in a fixed order (index = class id).
        verbalizers: the string whose single token stands for each label.
        label_token_ids: the token id of each verbalizer, in label order.
    """

    name: str
    template: str
    labels: tuple[str, ...]
    verbalizers: tuple[str, ...]
    label_token_ids: tuple[int, ...]

    @classmethod
    def build(cls, name: str, template: str, verbalizers: Mapping[str, str], tokenizer) -> "ClassificationTask":
        """Bind ``template`` and ``{label: verbalizer}`` to ``tokenizer``, checking each is one token."""
        if not verbalizers:
            raise TaskError("A task needs at least two labels; got no verbalizers.")
        ids, problems = [], []
        for label, word in verbalizers.items():
            toks = tokenizer.encode(word, add_special_tokens=False)
            if len(toks) != 1:
                pieces = tokenizer.convert_ids_to_tokens(toks)
                problems.append(f"{label!r} -> {word!r} is {len(toks)} tokens {pieces} (ids {toks})")
            else:
                ids.append(toks[0])
        if problems:
            raise TaskError(
                "Every verbalizer must be a single token of this tokenizer, but: " + "; ".join(problems)
                + ". Choose another word (a leading space often helps, e.g. ' positive'), see `circuitlab "
                "evaluate --help` for --verbalizers."
            )
        if len(set(ids)) != len(ids):
            raise TaskError(f"Two verbalizers map to the same token: {dict(zip(verbalizers, ids))}.")
        return cls(name, template, tuple(verbalizers), tuple(verbalizers.values()), tuple(ids))

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def label_index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise TaskError(f"Label {label!r} is not one of this task's labels {self.labels}.") from None

    def render(self, example: Example) -> str:
        """The prompt for one example."""
        return self.template.format(text=example.text, text_pair=example.text_pair or "")

    def encode(
        self, examples: Sequence[Example], tokenizer, max_length: int = 128, padding_side: str = "right"
    ) -> Batch:
        """Tokenise examples into a padded :class:`Batch`.

        Prompts longer than ``max_length`` lose tokens from the start of the text (the
        special tokens and the template's suffix, where the label is read, are kept).
        """
        if not examples:
            raise TaskError("Cannot encode an empty list of examples.")
        rows = [tokenizer(self.render(e), add_special_tokens=True)["input_ids"] for e in examples]
        n_special = len(tokenizer("", add_special_tokens=True)["input_ids"])
        rows = [r if len(r) <= max_length else r[:n_special] + r[len(r) - (max_length - n_special):] for r in rows]
        width = max(map(len, rows))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            sl = slice(0, len(r)) if padding_side == "right" else slice(width - len(r), width)
            ids[i, sl] = torch.tensor(r)
            mask[i, sl] = 1
        last = torch.tensor([len(r) - 1 if padding_side == "right" else width - 1 for r in rows])
        labels = torch.tensor([self.label_index(e.label) for e in examples])
        return Batch(ids, mask, last, labels)


class _StopForward(Exception):
    """Raised from a hook to end the forward pass once the final norm has run."""


def last_block_mlp_at(last_layer: int, last_pos: Tensor, reps: int = 1) -> tuple:
    """A hook that runs the last block's MLP branch at the prediction position only.

    It hands the MLP-branch norm (``blocks.{last}.ln2``) the prediction row alone (``[R·B, 1, d]``);
    the block's residual add then broadcasts that row's MLP output over every position, which is
    right at the prediction position, the only one read afterwards. Saves most of a layer per pass
    (and its backward: no other position's loss flows through the last MLP).
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
    bridge, batch: Batch, fwd_hooks: Sequence = (), bwd_hooks: Sequence = ()
) -> Float[Tensor, "batch d_model"]:
    """The normalised final residual at each row's prediction position.

    Runs the Bridge (with any extra hooks) and stops right after ``ln_final``, so the
    unembedding is never computed. The last block's MLP branch runs at the prediction
    position only (:func:`last_block_mlp_at`) when no gradient is recorded and no given
    hook watches that part of the model. With gradients (training) the whole block runs,
    so a step's gradients stay bit-identical with and without selective recomputation
    (a recomputed block re-runs in backward, after the hooks are gone).
    """
    captured: dict[str, Tensor] = {}

    def grab(x: Tensor, hook) -> None:
        captured["x"] = x
        raise _StopForward

    hooks = [*fwd_hooks, ("ln_final.hook_out", grab)]
    last = len(bridge.blocks) - 1
    if not torch.is_grad_enabled() and _can_trim_last_block([n for n, _ in (*fwd_hooks, *bwd_hooks)], last):
        hooks.append(last_block_mlp_at(last, batch.last_pos))
    with bridge.hooks(fwd_hooks=hooks, bwd_hooks=list(bwd_hooks)):
        try:
            bridge(batch.input_ids, attention_mask=batch.attention_mask, return_type=None)
        except _StopForward:
            pass
    if "x" not in captured:
        raise RuntimeError("The forward pass never reached ln_final.hook_out; a hook stopped it earlier.")
    x = captured["x"]
    return x[torch.arange(x.shape[0], device=x.device), batch.last_pos.to(x.device)]


def unembed_rows(hf_model: torch.nn.Module, token_ids: Sequence[int]) -> tuple[Tensor, Tensor | None]:
    """The unembedding rows ``[n_labels, d_model]`` (and bias) for the given token ids."""
    head = hf_model.get_output_embeddings()
    idx = torch.tensor(list(token_ids), device=head.weight.device)
    bias = head.bias[idx] if getattr(head, "bias", None) is not None else None
    return head.weight[idx], bias


def logits_from_residual(
    hf_model: torch.nn.Module, task: ClassificationTask, resid: Float[Tensor, "batch d_model"]
) -> Float[Tensor, "batch n_labels"]:
    """Label logits from the normalised final residual (applies Gemma-style soft-capping if set)."""
    w, b = unembed_rows(hf_model, task.label_token_ids)
    logits = resid @ w.T
    if b is not None:
        logits = logits + b
    cap = getattr(hf_model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


def label_logits(
    model, task: ClassificationTask, batch: Batch, fwd_hooks: Sequence = (), bwd_hooks: Sequence = ()
) -> Float[Tensor, "batch n_labels"]:
    """Logits of the label tokens at the prediction position (``model`` is a LoadedModel)."""
    resid = final_residual(model.bridge, batch.to(model.device), fwd_hooks, bwd_hooks)
    return logits_from_residual(model.hf_model, task, resid)


def task_margin(logits: Float[Tensor, "batch n_labels"], labels: Int[Tensor, " batch"]) -> Float[Tensor, " batch"]:
    """Gold logit minus the mean logit of the other labels: the task direction CT-SFT scores along."""
    gold = logits.gather(1, labels[:, None]).squeeze(1)
    others = (logits.sum(1) - gold) / (logits.shape[1] - 1)
    return gold - others
