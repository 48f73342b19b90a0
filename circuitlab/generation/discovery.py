"""Which heads carry a generative task: attribution on the gold continuation's log-likelihood.

The rule
--------
For a prompt ``x`` and its gold response ``y = y_1 … y_T`` the metric is the summed
log-likelihood ``LL = Σ_t log p(y_t | x, y_<t)`` (the negative of the SFT loss, summed
over response tokens). A head's output ``z_h`` (the input of the output projection, one
``d_head`` block per head) is mean-ablated, ``z_h → μ_h``, with ``μ_h`` its mean over
every real position of the discovery set. The head's score is the first-order estimate
of how much the ablation *lowers* ``LL``:

    s_h = E_examples [ Σ_positions  ∂LL/∂z_h · (z_h − μ_h) ]

so a large positive score marks a head the model needs to produce the reference, and
``circuit`` takes the top ``k``. All heads come from one forward and one backward per
batch; the gradient is taken in one graph, so it includes every path through later
heads. Only the response positions' logits are computed (left padding puts them at the
end, ``logits_to_keep``), never the full vocabulary at every position.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from circuitlab.generation.translation import IGNORE, collate, pad_id
from circuitlab.tuning.families import ModelIndex


def positions(attention_mask: Tensor) -> Tensor:
    """Position ids that start at 0 on each row's first real token (left padding must not shift them:
    GPT-2's absolute position embeddings would see other positions than in training or generation)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


def response_loglik(hf_model, batch: dict[str, Tensor]) -> Float[Tensor, " batch"]:
    """Summed log-probability of each row's response tokens (rows left-padded)."""
    labels = batch["labels"]
    n = labels.shape[1]
    has = (labels != IGNORE).any(0).nonzero()
    first = int(has.min()) if len(has) else n - 1
    keep = n - first + 1  # logits at positions first-1 … n-1 predict tokens first … n
    out = hf_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=positions(batch["attention_mask"]), logits_to_keep=keep)
    logits = out.logits[:, :-1]  # predicts labels[:, n-keep+1:]
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    target = labels[:, n - keep + 1:]
    logp = torch.log_softmax(logits, -1)
    valid = target != IGNORE
    tok = logp.gather(-1, target.clamp_min(0)[..., None]).squeeze(-1)
    return (tok * valid).sum(1)


class _Capture:
    """Forward pre-hooks on every layer's output projection: record (and optionally replace) ``z``."""

    def __init__(self, model):
        index = ModelIndex.build(model.hf_model, model.geometry.family)
        self.geometry = model.geometry
        self.modules = [index.projection(layer, "o")[1] for layer in range(model.geometry.n_layers)]
        self.z: list[Tensor] = []
        self.edit = None  # optional fn(layer, z) -> z
        self._handles = []

    def __enter__(self):
        for layer, m in enumerate(self.modules):
            self._handles.append(m.register_forward_pre_hook(self._hook(layer)))
        return self

    def _hook(self, layer: int):
        def f(module, args):
            z = args[0]
            if self.edit is not None:
                z = self.edit(layer, z)
            self.z.append(z)
            return (z,) + tuple(args[1:])
        return f

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles.clear()


def _heads(z: Tensor, n_heads: int) -> Tensor:
    return z.reshape(*z.shape[:-1], n_heads, -1)


def head_means(model, rows: Sequence[dict], batch_size: int = 4) -> Float[Tensor, "layers heads d_head"]:
    """Each head's mean output over every real position of ``rows``."""
    g = model.geometry
    pad = pad_id(model.tokenizer)
    total = torch.zeros(g.n_layers, g.n_heads, g.d_head, dtype=torch.float64)
    count = 0
    with torch.no_grad(), _Capture(model) as cap:
        for i in range(0, len(rows), batch_size):
            batch = collate(rows[i:i + batch_size], pad, side="left")
            cap.z.clear()
            model.hf_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           position_ids=positions(batch["attention_mask"]), logits_to_keep=1)
            m = batch["attention_mask"].bool()
            for layer, z in enumerate(cap.z):
                total[layer] += _heads(z, g.n_heads)[m].double().sum(0).cpu()
            count += int(m.sum())
    return (total / count).float()


def sequence_head_scores(
    model, rows: Sequence[dict], batch_size: int = 4, means: Tensor | None = None,
) -> Float[Tensor, "layers heads"]:
    """Attribution score of every head on the gold response's log-likelihood (module docstring).

    Args:
        model: a :class:`~circuitlab.models.LoadedModel`.
        rows: :meth:`~circuitlab.generation.translation.TranslationTask.encode` output.
        means: the ablation values (default: :func:`head_means` of ``rows``).
    """
    g = model.geometry
    hf = model.hf_model
    pad = pad_id(model.tokenizer)
    # s_h = Σ g·(z − μ) = Σ g·z − μ·Σ g: one forward and backward also gives μ (Σ z / positions).
    gz = torch.zeros(g.n_layers, g.n_heads, dtype=torch.float64)
    g_sum = torch.zeros(g.n_layers, g.n_heads, g.d_head, dtype=torch.float64)
    z_sum = torch.zeros_like(g_sum)
    positions = 0
    embed = hf.get_input_embeddings()
    handle = embed.register_forward_hook(lambda m, i, o: o.requires_grad_(True) if not o.requires_grad else o)
    flags = [p.requires_grad for p in hf.parameters()]
    try:
        for p in hf.parameters():
            p.requires_grad_(False)
        with _Capture(model) as cap:
            for i in range(0, len(rows), batch_size):
                batch = {k: v.to(model.device) for k, v in collate(rows[i:i + batch_size], pad, side="left").items()}
                cap.z.clear()
                grads = torch.autograd.grad(response_loglik(hf, batch).sum(), cap.z)
                m = batch["attention_mask"].bool()
                positions += int(m.sum())
                for layer, (z, gr) in enumerate(zip(cap.z, grads)):
                    zh, gh = _heads(z.detach(), g.n_heads)[m].double(), _heads(gr, g.n_heads)[m].double()
                    gz[layer] += (zh * gh).sum((0, 2)).cpu()
                    g_sum[layer] += gh.sum(0).cpu()
                    z_sum[layer] += zh.sum(0).cpu()
    finally:
        handle.remove()
        for p, f in zip(hf.parameters(), flags):
            p.requires_grad_(f)
    mu = means.double().cpu() if means is not None else z_sum / positions
    scores = gz - (mu * g_sum).sum(-1)
    return (scores / len(rows)).float()
