"""Classification as next-token prediction over a few label verbalizers.

A :class:`ClassificationTask` is a prompt template plus one verbalizer per label.
The model reads the filled-in prompt; each label gets a *score* and the prediction
is the label with the highest one.

- **One token per verbalizer** (the fast path): the score is the verbalizer token's
  logit at the last real position. Gemma-3's vocabulary has 262k entries, so the
  unembedding dominates a forward pass: it is never built, only the final residual
  at the prediction position meets the *label rows* of the unembedding.
- **Several tokens** (e.g. the Indonesian ``" netral"``): the score is the summed
  log-probability of the verbalizer's tokens after the prompt, computed exactly and
  batched. Every example becomes ``n_labels`` rows (prompt + that label's tokens);
  full-vocabulary log-softmax is taken only at the positions that predict a label
  token (:class:`LabelReads`).

Both are the same quantity up to a constant per example (a single-token log-prob is
the logit minus the prompt position's log-normaliser, shared by every label), so
argmax, softmax cross-entropy over the labels and the task margin agree exactly.
Evaluation, the training loss and discovery all read these scores
(:mod:`circuitlab.tasks.readout`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from circuitlab.data.types import Example
from circuitlab.errors import UserError


class TaskError(UserError):
    """The task cannot be built (bad template or verbalizers) or applied to these examples."""


@dataclass(frozen=True)
class LabelReads:
    """Where a multi-token task reads its label tokens.

    Row ``r`` of the batch is example ``r // n_labels`` followed by label ``r % n_labels``'s
    tokens; ``positions[r, j]`` is the position whose next-token distribution must give
    ``tokens[r, j]`` (``mask`` is false for padding reads of shorter verbalizers).
    """

    positions: Int[Tensor, "rows n_read"]
    tokens: Int[Tensor, "rows n_read"]
    mask: Bool[Tensor, "rows n_read"]
    n_labels: int

    def to(self, device: torch.device | str) -> "LabelReads":
        return LabelReads(self.positions.to(device), self.tokens.to(device), self.mask.to(device), self.n_labels)

    def repeat(self, reps: int) -> "LabelReads":
        """The reads of ``reps`` stacked copies of the batch."""
        if reps == 1:
            return self
        return LabelReads(*(t.repeat(reps, 1) for t in (self.positions, self.tokens, self.mask)), self.n_labels)


@dataclass(frozen=True)
class Batch:
    """Tokenised prompts ready for the model.

    ``last_pos[r]`` is the index of the last prompt token of row ``r`` (the prediction
    position), correct under left or right padding. ``labels`` has one entry per
    *example*; with ``reads`` (multi-token tasks) there are ``n_labels`` rows per example.
    """

    input_ids: Int[Tensor, "rows pos"]
    attention_mask: Int[Tensor, "rows pos"]
    last_pos: Int[Tensor, " rows"]
    labels: Int[Tensor, " batch"]
    reads: LabelReads | None = None

    def to(self, device: torch.device | str) -> "Batch":
        reads = None if self.reads is None else self.reads.to(device)
        return Batch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.last_pos, self.labels)),
                     reads)

    def __len__(self) -> int:
        """Rows (sequences) in the batch."""
        return self.input_ids.shape[0]

    @property
    def n_examples(self) -> int:
        return self.labels.shape[0]


@dataclass(frozen=True)
class ClassificationTask:
    """A prompt template and label verbalizers, bound to one tokenizer.

    Attributes:
        name: e.g. ``"nusax-senti"``.
        template: a ``str.format`` template over ``{text}`` (and ``{text_pair}`` for pairs).
        labels: the label names in a fixed order (index = class id).
        verbalizers: the text that stands for each label, in label order.
        label_tokens: the token ids of each verbalizer, in label order.
        sequence_scoring: score labels by summed log-probability over their tokens (true whenever a
            verbalizer is several tokens; a single-token task may set it to check the two paths agree).
    """

    name: str
    template: str
    labels: tuple[str, ...]
    verbalizers: tuple[str, ...]
    label_tokens: tuple[tuple[int, ...], ...]
    sequence_scoring: bool = False

    @classmethod
    def build(cls, name: str, template: str, verbalizers: Mapping[str, str], tokenizer) -> "ClassificationTask":
        """Bind ``template`` and ``{label: verbalizer}`` to ``tokenizer``, checking both.

        A verbalizer may be several tokens; none may be empty, equal to another or a token prefix of
        another (a prefix's summed log-probability is never below the longer label's, so the longer one
        could be outscored by its own start).
        """
        check_template(template)
        if len(verbalizers) < 2:
            raise TaskError(f"A task needs at least two labels; got verbalizers {dict(verbalizers)}.")
        tokens = {label: tuple(tokenizer.encode(word, add_special_tokens=False)) for label, word in verbalizers.items()}
        empty = [label for label, t in tokens.items() if not t]
        if empty:
            raise TaskError(f"The verbalizers of {empty} are empty strings (no tokens); give every label a text.")
        for a, ta in tokens.items():
            for b, tb in tokens.items():
                if a != b and tb[: len(ta)] == ta and (len(ta) < len(tb) or a < b):
                    pieces = lambda t: tokenizer.convert_ids_to_tokens(list(t))  # noqa: E731
                    same = "are the same tokens" if ta == tb else "is a token prefix of"
                    raise TaskError(
                        f"Verbalizer {verbalizers[a]!r} ({a}: {pieces(ta)}) {same} {verbalizers[b]!r} "
                        f"({b}: {pieces(tb)}): labels must differ before one of them ends. Choose verbalizers "
                        "that differ in their first token or in length-independent ways (e.g. ' bad' / ' good')."
                    )
        multi = any(len(t) > 1 for t in tokens.values())
        return cls(name, template, tuple(verbalizers), tuple(verbalizers.values()), tuple(tokens.values()), multi)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def single_token(self) -> bool:
        """Every verbalizer is one token (the label-row fast path applies unless ``sequence_scoring``)."""
        return all(len(t) == 1 for t in self.label_tokens)

    @property
    def label_token_ids(self) -> tuple[int, ...]:
        """The one token of each verbalizer (single-token tasks only)."""
        if not self.single_token:
            lens = {label: len(t) for label, t in zip(self.labels, self.label_tokens)}
            raise TaskError(f"Task {self.name!r} has multi-token verbalizers {lens}: it has no label token ids; "
                            "score it with circuitlab.tasks.label_scores.")
        return tuple(t[0] for t in self.label_tokens)

    def label_index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise TaskError(f"Label {label!r} is not one of this task's labels {self.labels}; check the "
                            "dataset's labels against the task's verbalizers.") from None

    def render(self, example: Example) -> str:
        """The prompt for one example."""
        return self.template.format(text=example.text, text_pair=example.text_pair or "")

    def encode(
        self, examples: Sequence[Example], tokenizer, max_length: int = 128, padding_side: str = "right",
        prompts_only: bool = False,
    ) -> Batch:
        """Tokenise examples into a padded :class:`Batch`.

        Prompts longer than ``max_length`` lose tokens from the start of the text (the
        special tokens and the template's suffix, where the label is read, are kept).
        A sequence-scored task gets ``n_labels`` rows per example (prompt + each label's
        tokens) unless ``prompts_only`` (activation means, head targets: the prompt alone).
        """
        if not examples:
            raise TaskError("Cannot encode an empty list of examples.")
        if padding_side not in ("right", "left"):
            raise TaskError(f"padding_side must be 'right' or 'left', got {padding_side!r}.")
        prompts = [tokenizer(self.render(e), add_special_tokens=True)["input_ids"] for e in examples]
        n_special = len(tokenizer("", add_special_tokens=True)["input_ids"])
        prompts = [r if len(r) <= max_length else r[:n_special] + r[len(r) - (max_length - n_special):]
                   for r in prompts]
        labels = torch.tensor([self.label_index(e.label) for e in examples])
        seq = self.sequence_scoring and not prompts_only
        rows = [p + list(t) for p in prompts for t in self.label_tokens] if seq else prompts
        ends = [len(p) - 1 for p in prompts for _ in self.label_tokens] if seq else [len(p) - 1 for p in prompts]
        width = max(map(len, rows))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        offsets = [0 if padding_side == "right" else width - len(r) for r in rows]
        for i, (r, off) in enumerate(zip(rows, offsets)):
            ids[i, off : off + len(r)] = torch.tensor(r)
            mask[i, off : off + len(r)] = 1
        last = torch.tensor([off + e for off, e in zip(offsets, ends)])
        return Batch(ids, mask, last, labels, self._reads(last) if seq else None)

    def _reads(self, last: Tensor) -> LabelReads:
        """Row ``r`` reads label ``r % L``'s tokens at the prompt end and the positions after it."""
        n_read = max(map(len, self.label_tokens))
        rows = last.shape[0]
        tokens = torch.zeros((rows, n_read), dtype=torch.long)
        valid = torch.zeros((rows, n_read), dtype=torch.bool)
        for r in range(rows):
            t = self.label_tokens[r % self.n_labels]
            tokens[r, : len(t)] = torch.tensor(t)
            valid[r, : len(t)] = True
        positions = (last[:, None] + torch.arange(n_read)[None]) * valid  # padding reads point at 0
        return LabelReads(positions, tokens, valid, self.n_labels)


def check_template(template: str) -> None:
    """A template must be a ``str.format`` string over ``{text}`` (and optionally ``{text_pair}``)."""
    import string

    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise TaskError(f"The template {template!r} is not a valid format string ({exc}); write literal braces "
                        "as '{{' and '}}'.") from None
    if "text" not in fields:
        raise TaskError(f"The template {template!r} has no {{text}} placeholder: the example text would never "
                        "reach the model. Add {text} (and {text_pair} for sentence pairs).")
    unknown = sorted(fields - {"text", "text_pair"})
    if unknown:
        raise TaskError(f"The template {template!r} uses unknown placeholders {unknown}; only {{text}} and "
                        "{text_pair} are filled in.")


# The readout lives in circuitlab.tasks.readout; these names stay importable from here.
from circuitlab.tasks.readout import (  # noqa: E402
    final_residual, label_logits, label_scores, last_block_mlp_at, logits_from_residual, scores_from_final,
    task_margin, unembed_rows,
)
