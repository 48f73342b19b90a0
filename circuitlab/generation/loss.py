"""The SFT loss with the LM head applied only where there is a label.

A causal LM's forward multiplies every position's hidden state by the unembedding. For
Gemma-3-270M that is a 262,144-row matrix: at batch 8 × ~110 tokens the logits alone take
0.9 GB (×3 with their log-softmax and gradient); measured on a classification run
(``bench/bench_loop_vs_trainer.py``), the stock loss took 21.9 s/step and 13.5 GiB against
6.4 s/step and 6.2 GiB with the head on the answer position only. With the loss on the response only, most of those rows are discarded.
:class:`ResponseLossTrainer` hooks the output embedding during the loss so it receives just
the hidden states that predict a response token (``[n_response, d_model]``), then takes the
cross-entropy of those rows. The value equals the model's own shifted loss (tested), with the
Trainer's gradient-accumulation and multi-device scaling left in place (``compute_loss_func``).
Whatever follows the head (Gemma's logit soft-capping) is element-wise and still applies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int

from circuitlab.generation.translation import IGNORE

try:
    from transformers import Trainer
except ImportError:  # pragma: no cover
    Trainer = object  # type: ignore[misc,assignment]


def response_loss(outputs, labels: Int[torch.Tensor, "batch pos"], num_items_in_batch=None) -> torch.Tensor:
    """Cross-entropy of logits that hold only response rows (``[n_response, vocab]``)."""
    logits: Float[torch.Tensor, "n vocab"] = outputs.logits
    target = labels[:, 1:]
    target = target[target != IGNORE]
    if logits.shape[0] != target.numel():
        raise RuntimeError(f"{logits.shape[0]} logit rows for {target.numel()} response tokens: the output "
                           "embedding hook did not run (is the LM head called on [batch, pos, d_model]?).")
    loss = F.cross_entropy(logits.float(), target, reduction="sum")
    return loss / (num_items_in_batch if num_items_in_batch is not None else max(target.numel(), 1))


class ResponseLossTrainer(Trainer):
    """``transformers.Trainer`` whose loss computes logits only at response positions."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, compute_loss_func=response_loss, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        keep = inputs["labels"][:, 1:] != IGNORE  # [batch, pos-1]: hidden states that predict a label

        def only_response(module, args):
            return (args[0][:, :-1][keep],) + tuple(args[1:])

        head = self.accelerator.unwrap_model(model).get_output_embeddings()
        handle = head.register_forward_pre_hook(only_response)
        try:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            handle.remove()
