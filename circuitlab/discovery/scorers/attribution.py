"""Attribution patching: a first-order estimate of mean ablation for every head at once.

Context
-------
Replacing ``z_s`` by ``μ_s`` changes the target by about
``∂metric/∂z_s · (z_s − μ_s)`` (a first-order Taylor expansion around the clean run).
Every head's gradient comes from the same backward pass, so all heads cost one
forward and one backward per batch, whatever their number.

Details
-------
- The gradient is taken with respect to every layer's ``hook_z`` *in the same graph*
  (no detaching in between), so it includes every path through later heads.
- Parameters are frozen during the pass (no parameter gradients are computed), the
  forward stops at the final norm, using only the label rows of the unembedding, and the
  last block's MLP runs at the prediction position only. A multi-token task's metric is the
  margin of the summed label log-probs (:mod:`circuitlab.tasks`): every label row of an
  example carries the ablation, and ``z − μ`` is summed over all of their positions.
- The product is summed over ``d_head`` and the real (non-padding) positions, then
  averaged over the discovery set; the metric is the target's
  (:mod:`circuitlab.discovery.targets`; for head targets the direction ``z_t − μ_t`` is
  held constant).
- ``freeze_norms=True`` treats every norm's scale as a constant in the backward pass
  (the gradient of the model linearised at its norms); on a model that is linear from
  the heads to the logits apart from its norms, this equals exact mean ablation with
  frozen norms, which the tests check.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from circuitlab.discovery.runs import StopForward, frozen_parameters
from circuitlab.discovery.scorers import register_scorer
from circuitlab.discovery.scorers.base import Scorer, ScorerConfig, ScoringRun
from circuitlab.discovery.targets import HeadTarget, head_projection, position_mask
from circuitlab.tasks.task import last_block_mlp_at, scores_from_final, task_margin


@dataclass
class AttributionConfig(ScorerConfig):
    """Options of ``attribution``.

    Attributes:
        freeze_norms: treat every normalisation scale as a constant in the backward pass.
    """

    freeze_norms: bool = False


@register_scorer
class AttributionScorer(Scorer):
    """Gradient × (a − μ) for every head, from one forward and one backward pass per batch."""

    name = "attribution"
    summary = "gradient of the target w.r.t. hook_z times (z - mu), all heads from one forward + backward"
    config_class = AttributionConfig

    def _score(self, run: ScoringRun) -> Tensor:
        model, target, mu = run.model, run.target, run.mu
        g = model.geometry
        bridge = model.bridge
        cfg: AttributionConfig = self.config  # type: ignore[assignment]
        head_target = isinstance(target, HeadTarget)
        # Source layers: every layer for the logits, the layers below the deepest target for heads.
        layers = list(range(target.max_layer if head_target else g.n_layers))
        acc = torch.zeros(g.n_layers, g.n_heads, dtype=torch.float64)
        scale_names = [n for n in bridge.hook_dict if n.endswith("hook_scale")] if cfg.freeze_norms else []
        stop_layer = target.max_layer if head_target else None
        for _, batch in tqdm(run.batches(), desc=self.name, disable=not cfg.progress, leave=False):
            zs: dict[int, Tensor] = {}  # clean z (detached)
            outs: dict[int, Tensor] = {}  # z in the graph, as seen downstream: d metric / d outs[l] is the gradient
            captured: dict[str, Tensor] = {}

            def track(layer: int):
                def fn(z: Tensor, hook) -> Tensor:
                    if not z.requires_grad:  # the first layer: nothing upstream is differentiated, z becomes a leaf
                        z = z.detach().requires_grad_()
                    zs[layer], outs[layer] = z.detach(), z
                    if layer == stop_layer:
                        raise StopForward
                    return z  # returned, so the tensor downstream is this one (a view of it), in the graph
                return fn

            def final(x: Tensor, hook) -> None:
                single = batch.reads is None  # multi-token tasks read several positions per row
                captured["final"] = x[torch.arange(x.shape[0], device=x.device), batch.last_pos.to(x.device)] \
                    if single else x
                raise StopForward

            last = stop_layer if head_target else g.n_layers - 1
            hooks = [(f"blocks.{layer}.attn.hook_z", track(layer)) for layer in range(last + 1)]
            hooks += [(name, lambda s, hook: s.detach()) for name in scale_names]
            if not head_target:
                hooks.append(("ln_final.hook_out", final))
                if batch.reads is None:
                    hooks.append(last_block_mlp_at(g.n_layers - 1, batch.last_pos))
            with frozen_parameters(model.hf_model), torch.enable_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the Bridge warns when a hook edits hook_scale
                with bridge.hooks(fwd_hooks=hooks):
                    try:
                        bridge(batch.input_ids, attention_mask=batch.attention_mask, return_type=None)
                    except StopForward:
                        pass
                if head_target:
                    mask = position_mask(batch.attention_mask, batch.last_pos, target.position)
                    metric = 0.0
                    for t in target.heads:
                        zt = outs[t.layer][..., t.head, :]
                        direction = zs[t.layer][..., t.head, :] - mu[t.layer, t.head]
                        metric = metric + head_projection(zt, direction, mask).sum()
                        if t.layer < target.max_layer:
                            # A target's own output is not an effect *on* it: remove the self-term
                            # d proj_t / d z_t · (z_t − μ_t) = proj_t(δ_t) (exactly 1 per example).
                            acc[t.layer, t.head] -= float(head_projection(direction, direction, mask).sum())
                else:
                    scores = scores_from_final(model.hf_model, run.task, batch, captured["final"])
                    metric = task_margin(scores, batch.labels.to(scores.device)).sum()
                grads = torch.autograd.grad(metric, [outs[layer] for layer in layers], allow_unused=True)
            real = batch.attention_mask.to(mu.dtype).to(mu.device)
            for layer, grad in zip(layers, grads):
                if grad is None:
                    continue
                delta = zs[layer] - mu[layer][None, None]
                contrib = (grad * delta).sum(-1) * real[:, :, None]  # [B, T, H]
                acc[layer] += contrib.sum((0, 1)).double().cpu()
        out = acc / len(run.examples)
        if head_target:
            for layer in range(g.n_layers):
                if layer >= target.max_layer:
                    out[layer] = float("nan")
        return out
