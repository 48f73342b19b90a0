"""The split of a multi-token label score: summed log-probabilities of each label's tokens.

Context
-------
A multi-token task scores label ``l`` of an example by
``s_l = Σ_j log p(t_{l,j} | prompt, t_{l,<j})`` (:mod:`circuitlab.tasks.task`), read at
several positions of ``n_labels`` rows per example. Each term is
``c(z_t) − LSE_v c(z_v)`` with ``z = W·norm(x)`` (+ bias) and ``c`` the optional soft-cap.

Rule
----
- The final norm and the soft-cap of the label token's own logit are split as everywhere
  else (:mod:`.rules`: finite difference by default); the token's logit is linear in the
  normalised residual.
- The log-normaliser ``LSE`` is a function of all 262k logits: splitting it by finite
  difference would need full-vocabulary logits *per source stream*. It is split to first
  order instead: ``β(LSE) = ⟨β(norm(x)), u⟩`` with ``u = Σ_v p_v c'(z_v) W_v`` (the expected
  unembedding row under the model's clean distribution), one ``d_model`` vector per read
  computed from the total alone.

At a prompt's last position ``u`` is the same for every label of the example, so its
term cancels in the margin: on single-token labels this reduces exactly to the
label-row rule of the fast path (``β-logit(gold) − mean β-logit(others)``).
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor

from circuitlab.discovery.decomposition import rules
from circuitlab.discovery.decomposition.rules import Parts
from circuitlab.discovery.decomposition.spec import DecompositionSpec, NormRule
from circuitlab.tasks.task import LabelReads


def read_label_scores(
    spec: DecompositionSpec, x: Parts, reads: LabelReads, norm_rule: NormRule = "difference"
) -> Parts:
    """Split label scores from the split final residual (``total [rows, T, d]``, ``beta [S, rows, T, d]``).

    Returns ``total [B, n_labels]`` (the exact summed log-probs) and ``beta [S, B, n_labels]``.
    """
    dev = x.total.device
    pos, tok, valid = (t.to(dev) for t in (reads.positions, reads.tokens, reads.mask))
    rows = torch.arange(pos.shape[0], device=dev)[:, None]
    at = Parts(x.total, x.get_beta()).map(lambda t: t[..., rows, pos, :])  # [.., rows, n_read, d]
    h = spec.final_norm(at, norm_rule)
    w, bias = spec.unembed_weight, spec.unembed_bias
    w_tok = w[tok]  # [rows, n_read, d]
    token = Parts((h.total * w_tok).sum(-1) + (0 if bias is None else bias[tok]), (h.get_beta() * w_tok).sum(-1))
    full = h.total @ w.T + (0 if bias is None else bias)  # [rows, n_read, V]: the clean total only
    cap = float(spec.final_softcap or 0)
    if cap:
        squashed = torch.tanh(full / cap)
        full, slope = squashed * cap, 1 - squashed.square()
        token = rules.elementwise(token, lambda t: torch.tanh(t / cap) * cap)
    else:
        slope = torch.ones_like(full)
    lse = torch.logsumexp(full, dim=-1)
    u = (full.softmax(-1) * slope) @ w  # [rows, n_read, d]: d LSE / d norm(x)
    total = (token.total - lse) * valid
    beta = (token.get_beta() - (h.get_beta() * u).sum(-1)) * valid
    n = reads.n_labels
    return Parts(total.sum(-1).view(-1, n), beta.sum(-1).view(beta.shape[0], -1, n))


__all__ = ["read_label_scores"]
