"""Generative tasks: translation on NusaX's parallel rows, head discovery on sequences, SFT on the HF stack.

- :mod:`.translation`: pairs joined by id, prompts, and labels that count the response only;
- :mod:`.evaluate`: greedy generation and chrF++ (sacrebleu);
- :mod:`.discovery`: attribution of every head on the gold continuation's log-likelihood;
- :mod:`.directional`: CT-SFT's directional relevance (CD-T β) of every head on the same metric;
- :mod:`.loss`: the SFT loss with the LM head only at response positions (a ``Trainer`` subclass);
- :mod:`.pipeline`: one run end to end (what ``circuitlab translate`` runs);
- :mod:`.sft`: one fine-tuning run through ``transformers.Trainer`` or TRL's ``SFTTrainer`` for any
  tuner (head mask, full, LoRA), the mask plugged in by :mod:`circuitlab.tuning.hf_trainer`.
"""

from circuitlab.generation.discovery import head_means, response_loglik, sequence_head_scores
from circuitlab.generation.directional import response_batch, sequence_directional_scores
from circuitlab.generation.evaluate import TranslationResult, chrf, evaluate_translation, translate
from circuitlab.generation.loss import ResponseLossTrainer, response_loss
from circuitlab.generation.pipeline import TranslationConfig, random_heads, run_translation, top_heads
from circuitlab.generation.sft import SFTResult, SFTSettings, reporters, sft, sft_trl
from circuitlab.generation.translation import (
    Collator, TranslationPair, TranslationTask, collate, load_translation_pairs,
)

__all__ = [
    "Collator", "ResponseLossTrainer", "SFTResult", "SFTSettings", "TranslationConfig", "TranslationPair",
    "TranslationResult", "TranslationTask", "chrf", "collate", "evaluate_translation", "head_means",
    "load_translation_pairs", "random_heads", "reporters", "response_batch", "response_loglik", "response_loss",
    "run_translation", "sequence_directional_scores", "sequence_head_scores", "sft", "sft_trl", "top_heads",
    "translate",
]
