"""The attention geometry that discovery and tuning need to know about a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NormType = Literal["layernorm", "rmsnorm"]


@dataclass(frozen=True)
class ModelGeometry:
    """Shape facts about a decoder-only transformer.

    Attributes:
        name: the name the model was loaded under.
        family: the HF ``model_type`` (``"gpt2"``, ``"qwen2"``, ``"llama"``, ``"gemma3_text"``).
        n_layers: number of transformer blocks.
        n_heads: query heads per layer.
        n_kv_heads: key/value heads per layer (``< n_heads`` under grouped-query attention).
        d_head: dimension of one head.
        d_model: residual-stream width.
        norm_type: ``"layernorm"`` (GPT-2) or ``"rmsnorm"``.
        vocab_size: tokenizer/unembedding vocabulary size.
    """

    name: str
    family: str
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_head: int
    d_model: int
    norm_type: NormType
    vocab_size: int

    @property
    def total_heads(self) -> int:
        return self.n_layers * self.n_heads

    @property
    def group_size(self) -> int:
        """Query heads that share one K/V head."""
        return self.n_heads // self.n_kv_heads

    def kv_head_of(self, head: int) -> int:
        """The K/V head a query head reads (HF's ``repeat_kv`` order)."""
        return head // self.group_size
