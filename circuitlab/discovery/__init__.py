"""Discovery: find the heads that carry a task, score them every way, and grow a circuit.

The pipeline, as CT-SFT runs it (``arXiv 2601.08146``)::

    build_discovery_set  ->  label_balanced_mean  ->  get_scorer(...).score  ->  select_heads / grow_circuit
                                                                            ->  faithfulness

- :mod:`.discovery_set`: M, a label-balanced sample of correctly classified proxy examples;
- :mod:`.mean`: μ(s), the label-balanced mean of every head's ``hook_z``;
- :mod:`.decomposition`: the CD-T β/γ split, exact at every layer, for GPT-2, Llama, Qwen2, Gemma-3;
- :mod:`.scorers`: ``directional`` (default), ``cdt-unsigned``, ``mean-/zero-/resample-ablation``,
  ``attribution``, one interface, one result type (:class:`HeadScores`);
- :mod:`.targets`: the label logits or a set of heads as what is scored against;
- :mod:`.selection`: top / nearzero / bottom / random k;
- :mod:`.growth`: CD-T's iteration by depth;
- :mod:`.faithfulness`: accuracy and margin with every head outside a circuit mean-ablated.
"""

from circuitlab.discovery.discovery_set import DiscoverySet, build_discovery_set
from circuitlab.discovery.errors import DiscoveryError, UnsupportedArchitectureError
from circuitlab.discovery.faithfulness import FaithfulnessResult, faithfulness
from circuitlab.discovery.growth import DepthResult, GrowthResult, grow_circuit
from circuitlab.discovery.mean import POOLINGS, HeadMean, label_balanced_mean
from circuitlab.discovery.scorers import (
    SCORERS, Scorer, ScorerConfig, available_scorers, get_scorer, register_scorer,
)
from circuitlab.discovery.scores import HeadScores
from circuitlab.discovery.selection import STRATEGIES, resolve_k, select_heads
from circuitlab.discovery.targets import HeadTarget, LogitTarget, Target

__all__ = [
    "POOLINGS", "SCORERS", "STRATEGIES", "DepthResult", "DiscoveryError", "DiscoverySet", "FaithfulnessResult",
    "GrowthResult", "HeadMean", "HeadScores", "HeadTarget", "LogitTarget", "Scorer", "ScorerConfig", "Target",
    "UnsupportedArchitectureError", "available_scorers", "build_discovery_set", "faithfulness", "get_scorer",
    "grow_circuit", "label_balanced_mean", "register_scorer", "resolve_k", "select_heads",
]
