"""Exact ablation scorers: replace one head's output and measure the change of the target.

Context
-------
The most direct relevance of a head is what happens when it is switched off:
``score = metric(clean) − metric(head's hook_z replaced)``, with the replacement

- ``mean-ablation``: μ (the label-balanced mean, the same baseline as ``directional``);
- ``zero-ablation``: 0;
- ``resample-ablation``: the same head's output on another discovery example
  (a seeded derangement of the set; ``n_draws`` draws averaged). Prompts have different
  lengths, so positions are **right-aligned**: the k-th token before the prediction
  position receives the donor's k-th token before *its* prediction position; where the
  donor is shorter, its mean over its own real tokens is used.

Replacement is at every position. The metric is the target's (see
:mod:`circuitlab.discovery.targets`).

How it is made fast (all exact)
-------------------------------
- **Batched heads**: ``max_replicas`` heads of one layer are ablated in one forward:
  the batch is stacked that many times and the hook on ``blocks.{L}.attn.hook_z``
  replaces a different head in each copy.
- **Resume at the ablated layer**: blocks ``0..L-1`` are not recomputed; the Bridge's
  blocks ``L..`` are run on the clean residual that entered block ``L``, with the masks
  and RoPE tables of the clean pass (:func:`circuitlab.discovery.runs.run_blocks`).
- **Label rows only**: the forward stops at the final norm, at the prediction position,
  and multiplies by the label rows of the unembedding; the last block's MLP runs at the
  prediction position only. A head target stops at the deepest target head's ``hook_z``.
  Multi-token verbalizers instead read the summed label log-probs at every label token
  (:mod:`circuitlab.tasks`): the last block runs in full.

``freeze_norms=True`` holds every normalisation's scale (``hook_scale``) at its clean
value during the ablated pass; the result is then the exact effect in the model
linearised at its norms, which is what ``directional`` computes for linear paths.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from circuitlab.discovery.errors import DiscoveryError
from circuitlab.discovery.runs import CleanPass, StopForward, clean_pass, run_blocks
from circuitlab.discovery.scorers import register_scorer
from circuitlab.discovery.scorers.base import Scorer, ScorerConfig, ScoringRun
from circuitlab.discovery.targets import HeadTarget, head_projection, position_mask
from circuitlab.heads import Head
from circuitlab.tasks.task import last_block_mlp_at, scores_from_final, task_margin


@dataclass
class AblationConfig(ScorerConfig):
    """Options of the ablation scorers.

    Attributes:
        max_replicas: heads ablated together in one forward (the batch is stacked this many times).
        freeze_norms: hold every norm's scale at its clean value in the ablated pass (see module docstring).
    """

    max_replicas: int = 8
    freeze_norms: bool = False


@dataclass
class ResampleConfig(AblationConfig):
    """Options of ``resample-ablation``.

    Attributes:
        n_draws: independent donor assignments; the scores are averaged over them.
    """

    n_draws: int = 1


def _scale_hooks(model) -> list[str]:
    return [n for n in model.bridge.hook_dict if n.endswith("hook_scale")]


def _frozen_scale(clean: CleanPass, name: str, reps: int):
    """A hook returning the clean pass's norm scale, stacked ``reps`` times (prediction rows for ln_final)."""
    scale = clean.acts[name]
    batch = clean.batch
    if name == "ln_final.hook_scale" and batch.reads is None:  # run_blocks applies ln_final to prediction rows
        scale = scale[torch.arange(scale.shape[0], device=scale.device), batch.last_pos.to(scale.device)]
    stacked = scale.repeat(reps, *([1] * (scale.ndim - 1)))
    return lambda x, hook: stacked


def _layer_of(hook_name: str) -> int | None:
    parts = hook_name.split(".")
    return int(parts[1]) if parts[0] == "blocks" else None


class _AblationScorer(Scorer):
    config_class = AblationConfig

    def _replacement(self, run: ScoringRun, clean: CleanPass, batch_idx: list[int], layer: int, head: int,
                     z: Tensor, draw: int) -> Tensor:
        """The value that replaces ``z[..., head, :]`` (``[B, T, d_head]`` or broadcastable)."""
        raise NotImplementedError

    def _prepare(self, run: ScoringRun) -> None:
        """Hook for scorers that need a pre-pass (resampling)."""

    def _n_draws(self) -> int:
        return 1

    def _score(self, run: ScoringRun) -> Tensor:
        model, target, mu = run.model, run.target, run.mu
        g = model.geometry
        cfg: AblationConfig = self.config  # type: ignore[assignment]
        if cfg.max_replicas < 1:
            raise DiscoveryError(f"max_replicas must be at least 1, got {cfg.max_replicas}.")
        self._prepare(run)
        candidates = run.candidates()
        by_layer: dict[int, list[int]] = {}
        for s in candidates:
            by_layer.setdefault(s.layer, []).append(s.head)
        acc = torch.zeros(g.n_layers, g.n_heads, dtype=torch.float64)
        scale_names = _scale_hooks(model) if cfg.freeze_norms else []
        head_target = isinstance(target, HeadTarget)
        target_names = {t: f"blocks.{t.layer}.attn.hook_z" for t in target.heads} if head_target else {}
        batches = run.batches()
        total_steps = self._n_draws() * len(batches)
        bar = tqdm(total=total_steps, desc=self.name, disable=not cfg.progress, leave=False)
        for draw in range(self._n_draws()):
            for batch_idx, batch in batches:
                b = len(batch)
                capture = list(dict.fromkeys([*scale_names, *target_names.values()]))
                with torch.no_grad():
                    clean = clean_pass(model, batch, capture=capture)
                if head_target:
                    mask = position_mask(batch.attention_mask, batch.last_pos, target.position)
                    base = {t: clean.acts[n] for t, n in target_names.items()}
                else:
                    base_margin = task_margin(scores_from_final(model.hf_model, run.task, batch, clean.final),
                                              batch.labels.to(clean.final.device))
                for layer, heads in sorted(by_layer.items()):
                    for c in range(0, len(heads), cfg.max_replicas):
                        group = heads[c : c + cfg.max_replicas]
                        r = len(group)
                        replacements = [
                            self._replacement(run, clean, batch_idx, layer, h, clean.blocks[layer].hidden, draw)
                            for h in group
                        ]

                        def ablate(z: Tensor, hook, group=group, replacements=replacements, r=r) -> Tensor:
                            z = z.clone().view(r, b, *z.shape[1:])
                            for i, (h, rep) in enumerate(zip(group, replacements)):
                                z[i, :, :, h, :] = rep
                            return z.view(r * b, *z.shape[2:])

                        hooks = [(f"blocks.{layer}.attn.hook_z", ablate)]
                        for name in scale_names:
                            lyr = _layer_of(name)
                            if lyr is None or lyr >= layer:
                                hooks.append((name, _frozen_scale(clean, name, r)))
                        hidden = clean.blocks[layer].hidden.repeat(r, 1, 1)
                        with torch.no_grad(), warnings.catch_warnings():
                            warnings.simplefilter("ignore")  # the Bridge warns on every edited hook_scale
                            if head_target:
                                effect = self._head_effect(model, clean, layer, hidden, hooks, target_names, base,
                                                           mu, mask, r, b)
                            else:
                                single = batch.reads is None  # multi-token tasks read several positions
                                if single:
                                    hooks.append(last_block_mlp_at(g.n_layers - 1, batch.last_pos, r))
                                with model.bridge.hooks(fwd_hooks=hooks):
                                    final = run_blocks(model, clean, layer, hidden, all_positions=not single)
                                scores = scores_from_final(model.hf_model, run.task, batch, final, reps=r)
                                labels = batch.labels.to(scores.device).repeat(r)
                                abl = task_margin(scores, labels).view(r, batch.n_examples)
                                effect = base_margin[None] - abl
                        acc[layer, group] += effect.sum(-1).double().cpu()
                bar.update(1)
        bar.close()
        out = torch.full((g.n_layers, g.n_heads), float("nan"), dtype=torch.float64)
        for s in candidates:
            out[s.layer, s.head] = acc[s.layer, s.head] / (len(run.examples) * self._n_draws())
        return out

    def _head_effect(self, model, clean, layer, hidden, hooks, target_names, base, mu, mask, r, b) -> Tensor:
        """Σ over targets above ``layer`` of the projected change of the target's ``z``: ``[r, b]``."""
        live = {t: n for t, n in target_names.items() if t.layer > layer}
        stop_layer = max(t.layer for t in live)
        got: dict[Head, Tensor] = {}

        def grab(t: Head):
            def fn(z: Tensor, hook) -> None:
                got[t] = z.view(r, b, *z.shape[1:])[..., t.head, :]
                if t.layer == stop_layer and len(got) == len(live):
                    raise StopForward
            return fn

        extra = [(n, grab(t)) for t, n in live.items()]
        with model.bridge.hooks(fwd_hooks=hooks + extra):
            try:
                run_blocks(model, clean, layer, hidden, stop_layer=stop_layer)
            except StopForward:
                pass
        effect = torch.zeros(r, b, dtype=torch.float64, device=hidden.device)
        for t in live:
            clean_z = base[t][..., t.head, :]
            direction = clean_z - mu[t.layer, t.head]
            effect += head_projection(clean_z[None] - got[t], direction, mask).double()
        return effect


@register_scorer
class MeanAblationScorer(_AblationScorer):
    """Exact effect of replacing a head's output by its label-balanced mean μ."""

    name = "mean-ablation"
    summary = "exact change of the target when a head's output is replaced by its mean (batched)"

    def _replacement(self, run, clean, batch_idx, layer, head, z, draw):
        return run.mu[layer, head]


@register_scorer
class ZeroAblationScorer(_AblationScorer):
    """Exact effect of replacing a head's output by zero."""

    name = "zero-ablation"
    summary = "exact change of the target when a head's output is set to zero (batched)"

    def _replacement(self, run, clean, batch_idx, layer, head, z, draw):
        return torch.zeros((), dtype=z.dtype, device=z.device)


@register_scorer
class ResampleAblationScorer(_AblationScorer):
    """Exact effect of replacing a head's output by its output on another discovery example."""

    name = "resample-ablation"
    summary = "exact change of the target when a head's output comes from another example (right-aligned)"
    config_class = ResampleConfig

    def _n_draws(self) -> int:
        return self.config.n_draws  # type: ignore[attr-defined]

    def _prepare(self, run: ScoringRun) -> None:
        """One clean pass over the set: every example's ``hook_z`` at every layer (real tokens only)."""
        n = len(run.examples)
        if run.task.sequence_scoring and not isinstance(run.target, HeadTarget):
            raise DiscoveryError(
                f"resample-ablation does not support multi-token verbalizers yet (task {run.task.name!r}); use "
                "directional, attribution or mean-ablation, which score the summed label log-probs.")
        if n < 2:
            raise DiscoveryError("resample-ablation needs at least 2 discovery examples (a donor must differ).")
        if self._n_draws() < 1:
            raise DiscoveryError(f"n_draws must be at least 1, got {self._n_draws()}.")
        g = run.model.geometry
        names = [f"blocks.{layer}.attn.hook_z" for layer in range(g.n_layers)]
        self._z: list[Tensor | None] = [None] * n  # [len_i, n_layers, H, dh], real tokens in order
        with torch.no_grad():
            for idx, batch in run.batches():
                clean = clean_pass(run.model, batch, capture=names, layers=[])
                z = torch.stack([clean.acts[nm] for nm in names], dim=2)  # [B, T, L, H, dh]
                for row, i in enumerate(idx):
                    self._z[i] = z[row][batch.attention_mask[row].bool()].clone()
        rng = random.Random(run.seed)
        self._donors = []
        for _ in range(self._n_draws()):
            while True:
                perm = list(range(n))
                rng.shuffle(perm)
                if all(p != i for i, p in enumerate(perm)):
                    break
            self._donors.append(perm)
        run.notes["resample"] = {"alignment": "right (prediction positions aligned)", "n_draws": self._n_draws()}

    def _replacement(self, run, clean, batch_idx, layer, head, z, draw):
        batch = clean.batch
        b, t = batch.input_ids.shape
        out = torch.empty(b, t, run.mu.shape[-1], dtype=run.mu.dtype, device=run.mu.device)
        for row, i in enumerate(batch_idx):
            donor = self._z[self._donors[draw][i]][:, layer, head]  # [len_j, dh]
            out[row] = donor.mean(0)
            real = batch.attention_mask[row].bool().nonzero().squeeze(-1)  # positions of real tokens
            k = min(len(real), donor.shape[0])
            out[row, real[len(real) - k :]] = donor[donor.shape[0] - k :]
        return out
