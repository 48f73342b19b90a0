"""The head mask inside transformers.Trainer and TRL's SFTTrainer: frozen slices stay bit-identical."""

from __future__ import annotations

import math

import pytest
import torch

from circuitlab.generation import SFTSettings, TranslationPair, reporters, sft, sft_trl
from circuitlab.models import load_model
from circuitlab.tuning import LoraTuner, MaskTuner, NonFiniteLossError, ParamMask, SlicedProjection
from circuitlab.tuning.families import ModelIndex
from circuitlab.tuning.hf_trainer import HeadMaskCallback

PAIRS = [TranslationPair(str(i), f"aku seneng {i} banget", f"i like it {i}", "javanese", "english") for i in range(12)]
# A large learning rate and weight decay: if decay or a step could reach a frozen element, it would.
AGGRESSIVE = SFTSettings(epochs=2, batch_size=4, lr=1e-2, weight_decay=0.5, logging_steps=1, report_to=())


def _params(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in ModelIndex.build(model.hf_model, model.geometry.family).params.items()}


def _assert_only_mask_changed(model, before, mask: ParamMask) -> None:
    after = _params(model)
    assert after.keys() == before.keys()
    changed = 0
    for name, value in after.items():
        diff = value != before[name]
        allowed = mask.bool_mask(name)
        if allowed is None:
            assert torch.equal(value, before[name]), f"{name} is frozen but changed"
        else:
            assert not (diff & ~allowed).any(), f"{name}: frozen elements changed"
            changed += int(diff.sum())
    assert changed > 0.5 * mask.n_trainable  # training did move the masked elements
    assert not any(isinstance(m, SlicedProjection) for m in model.hf_model.modules())  # merged back


@pytest.mark.parametrize("name", ["tiny-qwen2", "tiny-gpt2", "tiny-gemma3"])
def test_trainer_keeps_frozen_slices_bit_identical(name, tmp_path):
    model = load_model(name)
    mask = ParamMask.for_heads(model, [(0, 1), (2, 3)])
    before = _params(model)
    result = sft(model, MaskTuner(mask), PAIRS, AGGRESSIVE, tmp_path)
    assert result.n_trainable == mask.n_trainable and result.steps == 6
    assert math.isfinite(result.train_loss)
    _assert_only_mask_changed(model, before, mask)


def test_sft_trainer_keeps_frozen_slices_bit_identical(tmp_path):
    pytest.importorskip("trl")
    model = load_model("tiny-qwen2", seed=3)
    mask = ParamMask.for_heads(model, [(1, 2)], norms=False)
    before = _params(model)
    result = sft_trl(model, MaskTuner(mask), PAIRS, AGGRESSIVE, tmp_path)
    assert result.n_trainable == mask.n_trainable and result.steps == 6
    _assert_only_mask_changed(model, before, mask)


def test_callback_hands_the_optimizer_only_the_mask():
    model = load_model("tiny-qwen2", seed=4)
    mask = ParamMask.for_heads(model, [(1, 0)])
    cb = HeadMaskCallback(model, mask)
    try:
        trainable = [p for p in cb.hf_model.parameters() if p.requires_grad]
        assert sum(p.numel() for p in trainable) == cb.n_trainable == mask.n_trainable
    finally:
        cb.merge()
    cb.merge()  # idempotent
    assert not any(p.requires_grad for p in model.hf_model.parameters())


def test_lora_goes_through_the_same_trainer_and_merges(tmp_path):
    model = load_model("tiny-llama", seed=5)
    result = sft(model, LoraTuner(), PAIRS, AGGRESSIVE, tmp_path)
    assert result.n_trainable > 0 and result.steps == 6
    assert not any("lora" in n for n, _ in model.hf_model.named_parameters())


def test_tensorboard_events_are_written(tmp_path):
    pytest.importorskip("tensorboard")
    model = load_model("tiny-qwen2", seed=6)
    settings = SFTSettings(epochs=1, batch_size=4, logging_steps=1, report_to=("tensorboard",))
    sft(model, MaskTuner(ParamMask.for_norms(model)), PAIRS, settings, tmp_path)
    events = list(tmp_path.rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    assert reporters(["tensorboard", "no-such-logger"]) == ["tensorboard"]


def test_non_finite_loss_stops_training(tmp_path):
    model = load_model("tiny-qwen2", seed=7)
    emb = model.hf_model.get_input_embeddings()
    handle = emb.register_forward_hook(lambda m, i, o: o * float("nan"))
    before = _params(model)
    try:
        with pytest.raises(NonFiniteLossError, match="before applying that update"):
            sft(model, MaskTuner(ParamMask.for_norms(model)), PAIRS, AGGRESSIVE, tmp_path)
    finally:
        handle.remove()
    after = _params(model)
    assert all(torch.equal(after[n], before[n]) for n in before)  # the bad update never landed
    assert not any(isinstance(m, SlicedProjection) for m in model.hf_model.modules())


def test_mlflow_run_is_logged(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "circuitlab-test")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow-skinny has no SQL backend
    model = load_model("tiny-qwen2", seed=6)
    settings = SFTSettings(epochs=1, batch_size=4, logging_steps=1, report_to=("mlflow",))
    result = sft(model, MaskTuner(ParamMask.for_norms(model)), PAIRS, settings, tmp_path / "out")
    assert reporters(["tensorboard", "mlflow"])[-1] == "mlflow"
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "circuitlab-test"]
    (run,) = client.search_runs([experiment.experiment_id])
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert len(losses) == result.steps and all(math.isfinite(m.value) for m in losses)
    assert run.data.params["learning_rate"] == str(settings.lr)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert "mlflow" not in reporters(["mlflow"])  # installed but not configured: no ./mlruns
