"""θ1 cache, the experiment runner end to end on a tiny model, ctsft-auto and resume."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from circuitlab.tuning import (
    AUTO_METHOD, DataProtocol, ExperimentConfig, ProxyConfig, TrainConfig, add_auto_rows, choose_branch, ensure_proxy,
    near_balanced_sample, run_experiment,
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
    rows = [
        {"proxy": "indonesian", "target": "javanese", "seed": 1, "k": 8, "shots": 100, "method": "circuit",
         "status": "ok", "val_acc": 0.6, "val_f1": 0.5, "target_acc": 0.9, "run_id": "javanese-circuit-k8-n100-s1"},
        {"proxy": "indonesian", "target": "javanese", "seed": 1, "k": 8, "shots": 100, "method": "nearzero",
         "status": "ok", "val_acc": 0.7, "val_f1": 0.5, "target_acc": 0.1, "run_id": "javanese-nearzero-k8-n100-s1"},
    ]
    df = add_auto_rows(pd.DataFrame(rows))
    auto = df[df["method"] == AUTO_METHOD].iloc[0]
    assert auto["auto_branch"] == "nearzero" and auto["target_acc"] == 0.1  # validation decides, even if test disagrees
    assert choose_branch({"val_acc": 0.5, "val_f1": 0.4}, {"val_acc": 0.5, "val_f1": 0.4}) == "circuit"
    assert choose_branch({"val_acc": float("nan")}, {"val_acc": 0.1}) == "nearzero"


def test_experiment_end_to_end_with_divergence_auto_and_resume(nusax_dir, tmp_path, monkeypatch):
    cfg = ExperimentConfig(
        model="tiny-qwen2", targets=("javanese",), methods=(AUTO_METHOD, "full"), k=2, shots=8, seeds=(3,),
        n_src=6, lr_grid=(1e-3, 1e30), train=FAST, proxy_train=FAST, data=_data(nusax_dir),
    )
    assert cfg.methods == ("circuit", "nearzero", "full")
    from circuitlab.models import load_model

    scores = random_scores(load_model("tiny-qwen2"))
    out = tmp_path / "exp"
    df = run_experiment(cfg, out, scores=scores, cache_dir=tmp_path / "cache", progress=False, log=lambda s: None)
    runs = df[df["method"] != AUTO_METHOD].set_index("method")
    assert list(runs.index) == ["circuit", "nearzero", "full"] and set(runs["status"]) == {"ok"}
    for m, r in runs.iterrows():
        by_lr = json.loads(r["val_acc_by_lr"])
        assert by_lr["1e+30"] == "diverged" and r["lr"] == 1e-3  # the diverging rate is recorded and skipped
        assert r["forgetting"] == pytest.approx(r["proxy_acc_before"] - r["proxy_acc_after"])
        assert 0 < r["frac_params_trainable"] <= 1 and r["n_params_changed"] <= r["n_params_trainable"]
        assert r["test_n"] == 12 and r["proxy_test_n"] == 12
    assert runs.loc["full", "frac_params_trainable"] == 1.0 and runs.loc["circuit", "frac_params_trainable"] < 0.5
    assert (out / "runs" / runs.loc["circuit", "run_id"] / "delta" / "manifest.json").exists()
    assert not (out / "runs" / runs.loc["full", "run_id"] / "delta").exists()  # full deltas only on request
    auto = df[df["method"] == AUTO_METHOD].iloc[0]
    assert auto["auto_branch"] in ("circuit", "nearzero")
    assert auto["val_acc"] == max(runs.loc["circuit", "val_acc"], runs.loc["nearzero", "val_acc"])
    before = json.loads((out / "before.json").read_text())
    assert set(before) == {"proxy"} and "javanese" in before["proxy"]["targets"]
    assert (out / "summary.md").read_text().count("|") > 20
    # Resume: every run is done, so nothing trains again and the table is the same.
    monkeypatch.setattr("circuitlab.tuning.experiment.train", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    again = run_experiment(cfg, out, scores=scores, cache_dir=tmp_path / "cache", progress=False, resume=True,
                           log=lambda s: None)
    pd.testing.assert_frame_equal(again.drop(columns=["versions"]), df.drop(columns=["versions"]))
    with pytest.raises(ValueError, match="config differs"):
        run_experiment(ExperimentConfig(**{**cfg.__dict__, "shots": 9}), out, scores=scores, resume=True,
                       cache_dir=tmp_path / "cache", progress=False, log=lambda s: None)
    assert not math.isnan(float(runs.loc["circuit", "target_acc"]))


def test_experiment_config_grids_and_validation():
    cfg = ExperimentConfig(methods=(AUTO_METHOD, "full", "lora"), method_lr_grids={"full": [1e-5, 5e-5]},
                           lr_grid=(5e-5, 2e-4), order="method", lr_selection="first_seed")
    assert cfg.methods == ("circuit", "nearzero", "full", "lora")
    assert cfg.grid_for("full") == (1e-5, 5e-5) and cfg.grid_for("circuit") == (5e-5, 2e-4)
    assert ExperimentConfig().grid_for("lora") != ExperimentConfig().grid_for("circuit")  # each method its own default
    for bad in ({"order": "random"}, {"lr_selection": "test"}, {"kv_rule": "x"}, {"methods": ("nope",)},
                {"method_lr_grids": {"nope": (1e-3,)}}, {"targets": ("indonesian",)}):
        with pytest.raises(ValueError):
            ExperimentConfig(**bad)
