"""θ1 cache, pool sampling, the ctsft-auto rule and tune_cell: one cell as a pure function."""

from __future__ import annotations

import json

import pytest
import torch

from circuitlab.errors import UserError
from circuitlab.heads import HeadSet
from circuitlab.tuning import (
    CellConfig, CellExamples, DataProtocol, ModelSnapshot, ProxyConfig, TrainConfig, choose_branch, choose_heads,
    ensure_proxy, get_method, near_balanced_sample, tune_cell,
)
from circuitlab.tuning import trainer as trainer_mod

from ._tuning_helpers import random_scores

FAST = TrainConfig(lr=1e-3, epochs=1, batch_size=4)


def _data(nusax_dir) -> DataProtocol:
    return DataProtocol(data_dir=str(nusax_dir), test_limit=12, val_limit=9)


def test_proxy_checkpoint_is_cached_by_its_config(nusax_dir, tmp_path, monkeypatch):
    cfg = ProxyConfig("tiny-qwen2", "indonesian", n_src=6, data=_data(nusax_dir), train=FAST, lr_grid=(1e30, 1e-3))
    first = ensure_proxy(cfg, tmp_path, progress=False)
    assert first.path.is_dir() and (first.path / "config.json").exists()
    assert 0 <= first.metrics["proxy_val_acc"] <= 1 and first.metrics["steps"] == 2
    # The grid is searched on proxy validation; a diverging rate is recorded, never chosen.
    assert [c["status"] for c in first.info["candidates"]] == ["diverged", "ok"] and first.metrics["lr"] == 1e-3
    assert first.info["train_label_counts"] == {"negative": 2, "neutral": 2, "positive": 2}

    def no_training(*a, **k):
        raise AssertionError("a cached θ1 must not be trained again")

    monkeypatch.setattr(trainer_mod, "train", no_training)
    again = ensure_proxy(cfg, tmp_path, progress=False)
    assert again.path == first.path and again.key == first.key
    other = ProxyConfig("tiny-qwen2", "indonesian", n_src=9, data=_data(nusax_dir), train=FAST, lr_grid=(1e30, 1e-3))
    assert other.key() != cfg.key()
    # Where the data lives is not part of θ1's identity; its content is.
    moved = ProxyConfig("tiny-qwen2", "indonesian", n_src=6, data=DataProtocol(data_dir=str(nusax_dir) + "/",
                                                                               test_limit=12, val_limit=9), train=FAST,
                        lr_grid=(1e30, 1e-3))
    assert moved.key() == cfg.key()
    theta1 = first.load()
    assert theta1.geometry.n_layers == 3


def test_near_balanced_sample_fills_from_the_largest_labels(examples):
    from circuitlab.data import Example

    pool = [Example(str(i), f"t{i}", lab, "x") for i, lab in enumerate(["a"] * 5 + ["b"] * 2 + ["c"] * 5)]
    got = near_balanced_sample(pool, 10, seed=1)
    counts = {lab: sum(e.label == lab for e in got) for lab in "abc"}
    assert counts["b"] == 2 and counts["a"] + counts["c"] == 8 and abs(counts["a"] - counts["c"]) <= 1
    assert near_balanced_sample(pool, 10, seed=1) == got


def test_auto_branch_is_chosen_on_validation_never_test():
    circuit = {"val_acc": 0.6, "val_f1": 0.5, "target_acc": 0.9}
    nearzero = {"val_acc": 0.7, "val_f1": 0.5, "target_acc": 0.1}
    assert choose_branch(circuit, nearzero) == "nearzero"  # validation decides, even if test disagrees
    assert choose_branch({"val_acc": 0.5, "val_f1": 0.4}, {"val_acc": 0.5, "val_f1": 0.4}) == "circuit"
    assert choose_branch({"val_acc": float("nan")}, {"val_acc": 0.1}) == "nearzero"


def _cell_examples(model, nusax_dir) -> CellExamples:
    from circuitlab.tasks import make_task

    data = _data(nusax_dir)
    return CellExamples(make_task("nusax", model.tokenizer), data.target_train("javanese", 6, 3),
                        data.validation("javanese"), data.test("javanese"), data.test("indonesian"))


def _without_timing(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("wall_s", "train_s")}


def test_tune_cell_chooses_on_validation_skips_divergence_and_leaves_the_model_as_it_was(tiny_qwen2, nusax_dir):
    model = tiny_qwen2
    start = ModelSnapshot.take(model)
    examples = _cell_examples(model, nusax_dir)
    heads = choose_heads(get_method("circuit"), model.geometry, 2, random_scores(model))
    config = CellConfig("circuit", lr_grid=(1e-3, 1e30), seed=3, train=FAST, eval_batch_size=12)
    result = tune_cell(model, heads, examples, config)
    row = result.row
    assert row["status"] == "ok" and row["lr"] == 1e-3
    assert json.loads(row["val_acc_by_lr"])["1e+30"] == "diverged"  # recorded, never chosen
    assert [e["status"] for e in result.meta["tried"]] == ["ok", "diverged"]
    assert row["test_n"] == 12 and row["proxy_test_n"] == 12 and 0 <= row["target_acc"] <= 1
    assert 0 < row["param_fraction"] < 0.5 and row["n_params_changed"] <= row["n_params_updated"]
    assert row["heads"] == " ".join(map(str, heads))
    # The delta holds exactly the trained change, and the model is back at its start weights.
    assert result.delta is not None and result.delta.mask.n_trainable == row["n_params_updated"]
    now = ModelSnapshot.take(model).values
    assert set(now) == set(start.values) and all(torch.equal(now[n], v) for n, v in start.values.items())
    again = tune_cell(model, heads, examples, config, snapshot=start)
    assert _without_timing(again.row) == _without_timing(row)  # a pure function of its inputs


def test_tune_cell_refuses_what_it_cannot_train(tiny_qwen2, nusax_dir):
    examples = _cell_examples(tiny_qwen2, nusax_dir)
    with pytest.raises(UserError, match="non-empty HeadSet"):
        tune_cell(tiny_qwen2, None, examples, CellConfig("circuit", lr_grid=(1e-3,)))
    with pytest.raises(UserError, match="trains nothing itself"):
        CellConfig("ctsft-auto", lr_grid=(1e-3,))
    with pytest.raises(UserError, match="positive learning rates"):
        CellConfig("full", lr_grid=())
    with pytest.raises(UserError, match="Did you mean 'circuit'"):
        CellConfig("circut", lr_grid=(1e-3,))
    all_diverge = tune_cell(tiny_qwen2, HeadSet.of([(0, 1)]), examples,
                            CellConfig("random", lr_grid=(1e30,), train=FAST))
    assert all_diverge.row["status"] == "diverged" and all_diverge.delta is None and all_diverge.meta["error"]
