"""Tiny random models with a small offline tokenizer: real architectures in seconds.

Each tiny model is a genuine Hugging Face model of its family (GPT-2, Qwen2,
Llama, Gemma-3) with random weights drawn from a fixed seed and a byte-level BPE
tokenizer trained on a small built-in corpus, so that every verbalizer the
package ships (``" negative"``, ``" entailment"``, …) is a single token. They are
built once into the cache folder and booted like any local model, so every
command can be tried end to end without downloads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch

from circuitlab.errors import UserError

# Words that must be single tokens in the tiny vocabulary (verbalizers and prompt words).
_SPECIAL_WORDS = [
    " negative", " neutral", " positive", " entailment", " contradiction", " entail",
    " negatif", " netral", " positif", " yes", " no", " maybe",
    "Kalimat", "Sentimen", "Sentiment", "Sentence", "Premise", "Hypothesis", "Relation", "Label",
]
_CORPUS = """
Kalimat: Saya sangat senang dengan pelayanan restoran ini, makanannya enak sekali.
Sentimen: positive
Kalimat: Tempatnya kotor dan pelayannya tidak ramah, saya kecewa.
Sentimen: negative
Kalimat: Hotel ini berada di pusat kota dekat stasiun.
Sentimen: neutral
Sentence: The food was great and the staff were friendly. Sentiment: positive
Premise: A man is playing a guitar. Hypothesis: A person makes music. Relation: entailment
Premise: A woman sleeps. Hypothesis: A woman is running. Relation: contradiction
Premise: Kids play outside. Hypothesis: The kids are happy. Relation: neutral
Aku seneng banget karo panganan iki. Kula mboten remen. Abdi resep pisan.
"""

TINY_VERSION = 1  # bump when the recipe below changes, so cached tiny models are rebuilt

# Shared tiny dimensions: 3 layers, 4 query heads of width 8.
_D_MODEL, _N_LAYERS, _N_HEADS, _D_HEAD, _D_MLP, _VOCAB = 32, 3, 4, 8, 64, 512


def build_tokenizer(vocab_size: int = _VOCAB):
    """A byte-level BPE tokenizer trained on the built-in corpus (deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [_CORPUS] * 4 + [w * 8 for w in _SPECIAL_WORDS]
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_tokens(_SPECIAL_WORDS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )


def _gpt2_config(vocab: int):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab, n_positions=256, n_embd=_D_MODEL, n_layer=_N_LAYERS, n_head=_N_HEADS,
        n_inner=_D_MLP, activation_function="gelu_new", bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )


def _qwen2_config(vocab: int):
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=vocab, hidden_size=_D_MODEL, intermediate_size=_D_MLP, num_hidden_layers=_N_LAYERS,
        num_attention_heads=_N_HEADS, num_key_value_heads=2, head_dim=_D_HEAD, max_position_embeddings=256,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )


def _llama_config(vocab: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab, hidden_size=_D_MODEL, intermediate_size=_D_MLP, num_hidden_layers=_N_LAYERS,
        num_attention_heads=_N_HEADS, num_key_value_heads=2, head_dim=_D_HEAD, max_position_embeddings=256,
        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )


def _gemma3_config(vocab: int):
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(
        vocab_size=vocab, hidden_size=_D_MODEL, intermediate_size=_D_MLP, num_hidden_layers=_N_LAYERS,
        num_attention_heads=_N_HEADS, num_key_value_heads=1, head_dim=_D_HEAD, max_position_embeddings=256,
        sliding_window=4, layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        query_pre_attn_scalar=_D_HEAD, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )


TINY_FAMILIES: dict[str, Callable] = {
    "tiny-gpt2": _gpt2_config,
    "tiny-qwen2": _qwen2_config,
    "tiny-llama": _llama_config,
    "tiny-gemma3": _gemma3_config,
}


def build_tiny_model(name: str, out_dir: Path, seed: int = 0) -> Path:
    """Write the tiny model ``name`` (random weights from ``seed``) to ``out_dir``."""
    from transformers import AutoModelForCausalLM

    if name not in TINY_FAMILIES:
        raise UserError(f"Unknown tiny model {name!r}; choose one of {sorted(TINY_FAMILIES)}.")
    tokenizer = build_tokenizer()
    config = TINY_FAMILIES[name](len(tokenizer))
    config.attn_implementation = "eager"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
        # Non-trivial norm weights, so tests see them act (HF initialises them to constants).
        for n, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in n or "ln" in n):
                p.data.add_(0.1 * torch.randn_like(p))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "circuitlab.json").write_text(json.dumps({"tiny": name, "seed": seed}))
    return out_dir
