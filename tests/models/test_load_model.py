"""load_model: every tiny family boots as a Bridge that reproduces HF, with the right geometry."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from circuitlab.heads import HeadSet
from circuitlab.models import MODELS, ModelLoadError, load_model, resolve_model_path

EXPECTED_KV = {"tiny-gpt2": 4, "tiny-qwen2": 2, "tiny-llama": 2, "tiny-gemma3": 1}


def test_geometry(tiny_model):
    g = tiny_model.geometry
    assert (g.n_layers, g.n_heads, g.d_head, g.d_model) == (3, 4, 8, 32)
    assert g.n_kv_heads == EXPECTED_KV[tiny_model.name]
    assert g.norm_type == ("layernorm" if g.family == "gpt2" else "rmsnorm")
    assert g.vocab_size == len(tiny_model.tokenizer)


def test_bridge_reproduces_hf_logits(tiny_model):
    hf = AutoModelForCausalLM.from_pretrained(tiny_model.path, attn_implementation="eager").eval()
    ids = torch.tensor([[1, 40, 41, 42, 43, 44], [1, 50, 51, 52, 0, 0]])
    mask = torch.tensor([[1] * 6, [1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        ours = tiny_model.bridge(ids, attention_mask=mask)
        ref = hf(ids, attention_mask=mask).logits
    real = mask.bool()
    torch.testing.assert_close(ours[real], ref[real], atol=1e-5, rtol=1e-5)


def test_hook_z_is_per_head(tiny_model):
    _, cache = tiny_model.bridge.run_with_cache(torch.tensor([[1, 5, 6, 7]]), names_filter=lambda n: n.endswith("hook_z"))
    assert cache["blocks.0.attn.hook_z"].shape == (1, 4, 4, 8)


def test_tiny_models_are_deterministic(tmp_path):
    a = load_model("tiny-qwen2", cache_dir=tmp_path / "a", seed=3)
    b = load_model("tiny-qwen2", cache_dir=tmp_path / "b", seed=3)
    c = load_model("tiny-qwen2", cache_dir=tmp_path / "c", seed=4)
    pa, pb, pc = (dict(m.hf_model.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[n], pb[n]) for n in pa)
    assert not all(torch.equal(pa[n], pc[n]) for n in pa)


def test_device_dtype_and_device_map_are_passed_through(monkeypatch, tmp_path):
    from transformer_lens.model_bridge import TransformerBridge

    seen = {}

    def fake_boot(path, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(TransformerBridge, "boot_transformers", staticmethod(fake_boot))
    with pytest.raises(ModelLoadError, match="stop here"):
        load_model("tiny-gpt2", cache_dir=tmp_path, device_map={"": "cpu"}, dtype=torch.float64, max_memory={0: "1GiB"})
    assert seen["device_map"] == {"": "cpu"} and seen["dtype"] is torch.float64 and seen["max_memory"] == {0: "1GiB"}
    assert "device" not in seen
    seen.clear()
    with pytest.raises(ModelLoadError):
        load_model("tiny-gpt2", cache_dir=tmp_path, device="cpu")
    assert seen["device"] == "cpu" and "device_map" not in seen


def test_float64_load(tmp_path):
    m = load_model("tiny-gpt2", cache_dir=tmp_path, dtype=torch.float64)
    assert next(m.hf_model.parameters()).dtype == torch.float64


def test_unknown_model_name_is_explained():
    with pytest.raises(ModelLoadError, match="circuitlab models"):
        load_model("no-such-model")


def test_a_local_folder_is_named_by_its_resolved_path(tmp_path, monkeypatch):
    folder = resolve_model_path("tiny-gpt2", cache_dir=tmp_path)
    monkeypatch.chdir(folder.parent)
    m = load_model(f"./{folder.name}")
    assert m.name == str(folder.resolve())  # scores from "./x" and "/abs/x" then group as one model


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="config.json"):
        resolve_model_path(str(tmp_path))


def test_hub_name_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="local-dir"):
        resolve_model_path("some-org/some-model-that-is-not-cached")


def test_missing_gguf_package(monkeypatch):
    from circuitlab.models.registry import ModelSpec

    monkeypatch.setitem(MODELS, "ghost", ModelSpec("ghost", "gguf", "x", package="no_such_pkg_xyz", install_hint="pip install ghost"))
    with pytest.raises(ModelLoadError, match="pip install ghost"):
        resolve_model_path("ghost")


def test_headset_validates_against_geometry(tiny_qwen2):
    g = tiny_qwen2.geometry
    assert len(HeadSet.of([(0, 1), (2, 3), (0, 1)], geometry=g)) == 2
    with pytest.raises(ValueError, match="out of range"):
        HeadSet.of([(3, 0)], geometry=g)
    with pytest.raises(ValueError, match="out of range"):
        HeadSet.of([(0, 4)], geometry=g)


@pytest.mark.slow
def test_gemma_default_geometry(gemma):
    g = gemma.geometry
    assert (g.n_layers, g.n_heads, g.n_kv_heads, g.d_head, g.d_model, g.vocab_size) == (18, 4, 1, 256, 640, 262144)
    assert gemma.path.name == "gemma-3-270m" and (gemma.path / "model.safetensors").exists()
