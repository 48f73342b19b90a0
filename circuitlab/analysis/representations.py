"""How similarly does a model represent two languages? Linear CKA per layer.

Context: NusaX is parallel: sentence ``id`` 17 is the same sentence in
Indonesian and in Javanese. If a checkpoint maps the two translations to
similar points of its residual stream, a mechanism learned on one language has
a good chance of working on the other; if the geometries differ, the transfer
is harder. This module measures that, layer by layer.

Intuition:

1. **Pool.** Every sentence becomes one vector per layer: the mean of
   ``blocks.{l}.hook_resid_post`` over its tokens. Padding is never averaged
   (right padding, masked out) and special tokens such as ``<bos>`` are left out
   by default: the BOS residual is the same for every sentence and, in many
   models, huge (an attention sink), so averaging it in would add a
   length-dependent constant that has nothing to do with the language.
2. **Compare.** With ``n`` parallel sentences, language A gives ``X_l [n, d]``
   and language B ``Y_l [n, d]`` at layer ``l``; :func:`linear_cka` of the two
   (1 = the same geometry up to rotation and scale).
3. **Read against chance.** Linear CKA is biased upward when ``n`` is small
   against ``d``, so the same CKA is also computed with the rows of ``Y``
   shuffled (the pairing broken), ``cka_shuffled``. Only ``cka`` well above
   ``cka_shuffled`` says that translations are represented alike.

The forward pass stops after the deepest layer asked for, so the (for Gemma,
262k-wide) unembedding is never computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from circuitlab.errors import UserError
from circuitlab.analysis.difficulty import linear_cka

HOOK = "blocks.{layer}.hook_resid_post"


class _Stop(Exception):
    """Raised from the last hook to end the forward pass early."""


def _encode(tokenizer, texts: Sequence[str], max_length: int, exclude_special: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Right-padded ids, attention mask and pooling mask (attention mask minus special tokens)."""
    rows, pools = [], []
    for text in texts:
        enc = tokenizer(text, add_special_tokens=True, truncation=True, max_length=max_length,
                        return_special_tokens_mask=True)
        ids = list(enc["input_ids"])
        special = list(enc.get("special_tokens_mask") or [0] * len(ids))
        pool = [0 if (exclude_special and s) else 1 for s in special]
        if not any(pool):
            raise UserError(
                f"Text {text[:40]!r} has no token left to average once special tokens are excluded; "
                "pass a non-empty text or exclude_special=False."
            )
        rows.append(ids)
        pools.append(pool)
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    pool_mask = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, (r, p) in enumerate(zip(rows, pools)):
        ids[i, : len(r)] = torch.tensor(r)
        attn[i, : len(r)] = 1
        pool_mask[i, : len(r)] = torch.tensor(p, dtype=torch.float32)
    return ids, attn, pool_mask


def mean_residuals(
    model,
    texts: Sequence[str],
    layers: Sequence[int] | None = None,
    batch_size: int = 16,
    max_length: int = 128,
    exclude_special: bool = True,
    progress: bool = True,
) -> Float[Tensor, "n_layers n_texts d_model"]:
    """Mean residual stream (``blocks.{l}.hook_resid_post``) per layer and text.

    Args:
        model: a :class:`~circuitlab.models.LoadedModel`.
        texts: raw sentences (no prompt template: the representation of the text itself).
        layers: the layers to read (default: all), in the order of the output's first axis.
        batch_size, max_length: batching and truncation (tokens, special tokens included).
        exclude_special: leave special tokens (``<bos>``, ``<eos>``) out of the mean.
        progress: show a tqdm bar.

    Returns:
        ``[len(layers), len(texts), d_model]`` float32 on the CPU, texts in input order.
        The mean is over real tokens only: padding never enters it, so a text gets the
        same vector whatever it is batched with.
    """
    n_layers = model.geometry.n_layers
    layers = list(range(n_layers)) if layers is None else [int(l) for l in layers]
    bad = [l for l in layers if not 0 <= l < n_layers]
    if bad or not layers:
        raise UserError(f"layers must be a non-empty list in 0..{n_layers - 1} for {model.name!r}, got {layers}.")
    if len(texts) == 0:
        raise UserError("mean_residuals got no texts.")
    texts = [str(t) for t in texts]
    out = torch.empty(len(layers), len(texts), model.geometry.d_model)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths together: less padding
    last = max(layers)
    slot = {l: j for j, l in enumerate(layers)}
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    device = model.device
    for idx in tqdm(batches, desc="mean residuals", disable=not progress, leave=False):
        ids, attn, pool = _encode(model.tokenizer, [texts[i] for i in idx], max_length, exclude_special)
        pool = pool.to(device)
        counts = pool.sum(1, keepdim=True)

        def grab(x: Tensor, hook, layer: int) -> None:
            pooled = (x.float() * pool[..., None]).sum(1) / counts
            out[slot[layer], idx] = pooled.detach().cpu()
            if layer == last:
                raise _Stop

        hooks = [(HOOK.format(layer=l), lambda x, hook, l=l: grab(x, hook, l)) for l in layers]
        with torch.inference_mode(), model.bridge.hooks(fwd_hooks=hooks):
            try:
                model.bridge(ids.to(device), attention_mask=attn.to(device), return_type=None)
            except _Stop:
                pass
    return out


def cka_by_layer(
    reps_a: Float[Tensor, "n_layers n d_model"],
    reps_b: Float[Tensor, "n_layers n d_model"],
    layers: Sequence[int] | None = None,
    n_shuffles: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Linear CKA between two stacks of representations of the same ``n`` items, per layer.

    ``reps_a[l]`` and ``reps_b[l]`` must describe the same items in the same order
    (parallel sentences). ``cka_shuffled`` is the mean CKA over ``n_shuffles``
    seeded permutations of ``reps_b``'s rows (the pairing broken): the level the
    measure reaches with no correspondence at all.

    Returns columns ``layer, cka, cka_shuffled`` (``layer`` from ``layers``, default 0..);
    ``attrs`` holds ``n``, ``n_shuffles`` and ``seed``.
    """
    a, b = torch.as_tensor(reps_a), torch.as_tensor(reps_b)
    if a.ndim != 3 or b.ndim != 3 or a.shape[:2] != b.shape[:2]:
        raise UserError(
            f"cka_by_layer needs two [n_layers, n, d] stacks with the same n_layers and n (the same items), "
            f"got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    layers = list(range(a.shape[0])) if layers is None else [int(l) for l in layers]
    if len(layers) != a.shape[0]:
        raise UserError(f"Got {len(layers)} layer labels for {a.shape[0]} layers of representations.")
    rng = np.random.default_rng(seed)
    perms = [torch.as_tensor(rng.permutation(a.shape[1])) for _ in range(n_shuffles)]
    rows = []
    for j, layer in enumerate(layers):
        shuffled = [linear_cka(a[j], b[j][p]) for p in perms]
        rows.append((layer, linear_cka(a[j], b[j]), float(np.mean(shuffled)) if shuffled else float("nan")))
    out = pd.DataFrame(rows, columns=["layer", "cka", "cka_shuffled"])
    out.attrs.update(n=int(a.shape[1]), n_shuffles=n_shuffles, seed=seed)
    return out


def representation_similarity(
    model,
    texts_a: Sequence[str],
    texts_b: Sequence[str],
    layers: Sequence[int] | None = None,
    batch_size: int = 16,
    max_length: int = 128,
    exclude_special: bool = True,
    n_shuffles: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Per-layer linear CKA of ``model``'s mean residual streams over parallel texts.

    ``texts_a[i]`` and ``texts_b[i]`` must be translations of each other (e.g. two
    columns of :func:`~circuitlab.data.load_nusax_parallel`). Returns ``layer,
    relative_depth, cka, cka_shuffled`` with ``relative_depth = (layer + 0.5) /
    n_layers``; ``attrs`` records the model, ``n`` and the pooling.
    """
    if len(texts_a) != len(texts_b):
        raise UserError(
            f"texts_a and texts_b must be parallel (the same sentences in two languages), got {len(texts_a)} "
            f"and {len(texts_b)} texts."
        )
    if len(texts_a) < 3:
        raise UserError(f"CKA over fewer than 3 sentences is meaningless; got {len(texts_a)}.")
    kw = dict(layers=layers, batch_size=batch_size, max_length=max_length, exclude_special=exclude_special,
              progress=progress)
    reps_a = mean_residuals(model, texts_a, **kw)
    reps_b = mean_residuals(model, texts_b, **kw)
    used = list(range(model.geometry.n_layers)) if layers is None else [int(l) for l in layers]
    out = cka_by_layer(reps_a, reps_b, used, n_shuffles=n_shuffles, seed=seed)
    out.insert(1, "relative_depth", (out["layer"] + 0.5) / model.geometry.n_layers)
    out.attrs.update(model=model.name, hook=HOOK, pooling="mean over real tokens"
                     + (", special tokens excluded" if exclude_special else ""), max_length=max_length)
    return out


__all__ = ["HOOK", "cka_by_layer", "mean_residuals", "representation_similarity"]
