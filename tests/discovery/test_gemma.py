"""The embedded default model (Gemma-3-270M) on real Indonesian NusaX data (slow: minutes on 2 CPU cores)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from circuitlab.data import load_nusax
from circuitlab.discovery import (
    HeadTarget, build_discovery_set, get_scorer, grow_circuit, label_balanced_mean,
)
from circuitlab.discovery.decomposition import build_spec, propagate
from circuitlab.discovery.runs import clean_pass
from circuitlab.heads import Head, HeadSet
from circuitlab.tasks import make_task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(gemma, nusax_dir):
    task = make_task("nusax", gemma.tokenizer)
    pool = load_nusax("indonesian", "train", nusax_dir)
    dset = build_discovery_set(gemma, task, pool, 4, seed=0, labels=["negative", "positive"], max_pool=24,
                               batch_size=8)
    examples = list(dset.examples)
    mean = label_balanced_mean(gemma, task, examples, batch_size=4)
    return gemma, task, examples, mean


def test_discovery_set_on_real_data(setup):
    model, task, examples, mean = setup
    assert len(examples) == 4 and sorted(e.label for e in examples) == ["negative", "negative", "positive",
                                                                        "positive"]
    assert mean.values.shape == (18, 4, 256)


def test_decomposition_is_exact_on_gemma(setup):
    model, task, examples, mean = setup
    batch = task.encode(examples, model.tokenizer, padding_side="left")
    names = [f"blocks.{l}.hook_out" for l in range(18)]
    with torch.no_grad():
        clean = clean_pass(model, batch, capture=names)
    sources = [Head(0, 0), Head(5, 2), Head(11, 1), Head(16, 3)]  # sliding and full-attention layers
    record: dict = {}
    logits = propagate(build_spec(model.hf_model), clean, mean.values, sources,
                       label_token_ids=task.label_token_ids, checked=True, record=record)
    real = batch.attention_mask.bool()[..., None]
    for layer in range(1, 17):
        resid, ref = record[layer]["resid"], clean.acts[f"blocks.{layer}.hook_out"]
        scale = (ref * real).abs().max()
        assert ((resid.total - ref) * real).abs().max() / scale < 1e-4, layer
        assert ((resid.beta + resid.gamma - resid.total) * real).abs().max() / scale < 1e-4, layer
    assert (logits.beta + logits.gamma - logits.total).abs().max() / logits.total.abs().max() < 1e-4


def test_scorers_agree_on_the_logit_target(setup):
    model, task, examples, mean = setup
    out = {}
    for method in ("mean-ablation", "directional", "attribution", "cdt-unsigned"):
        scores = get_scorer(method).score(model, task, examples, mean=mean, batch_size=4)
        assert len(scores.table) == 72 and scores.table["score"].notna().all()
        out[method] = scores.table["score"]
    rho = pd.DataFrame(out).corr(method="spearman")["mean-ablation"]
    assert rho["directional"] > 0.5 and rho["attribution"] > 0.5, rho


def test_every_ablation_against_early_target_heads_and_growth(setup):
    model, task, examples, mean = setup
    target = HeadTarget(HeadSet.of([(3, 0), (3, 2)]))
    for method in ("zero-ablation", "resample-ablation", "mean-ablation", "directional"):
        t = get_scorer(method).score(model, task, examples, mean=mean, target=target, batch_size=4).to_tensor()
        assert torch.isfinite(t[:3]).all() and torch.isnan(t[3:]).all()
    growth = grow_circuit(model, task, examples, scorer="attribution", depth=1, k=2, mean=mean, batch_size=4)
    assert len(growth.circuit()) == 4
