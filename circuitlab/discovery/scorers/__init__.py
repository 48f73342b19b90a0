"""Head scorers behind one interface, found by name in a registry.

======================  ===========================================================================
name                    what it computes
======================  ===========================================================================
``directional``         CT-SFT's default: CD-T β propagated to the target, read along the task
                        direction (β-margin of the label logits), averaged over the discovery set
``cdt-unsigned``        the original CD-T ratio ‖β‖₁ / ‖γ‖₁ at the same target
``mean-ablation``       exact change of the target when a head's output is replaced by μ
``zero-ablation``       ... replaced by 0
``resample-ablation``   ... replaced by another discovery example's output (right-aligned)
``attribution``         gradient of the target w.r.t. ``hook_z`` times ``(z − μ)``, all heads from
                        one forward and one backward pass
======================  ===========================================================================

Add a scorer by subclassing :class:`Scorer` and decorating it with :func:`register_scorer`.
"""

from __future__ import annotations

from typing import Any

from circuitlab.discovery.errors import DiscoveryError
from circuitlab.discovery.scorers.base import Scorer, ScorerConfig, ScoringRun

SCORERS: dict[str, type[Scorer]] = {}


def register_scorer(cls: type[Scorer]) -> type[Scorer]:
    """Class decorator: make ``cls`` available as ``get_scorer(cls.name)``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty `name` to be registered.")
    SCORERS[cls.name] = cls
    return cls


def get_scorer(name: str, **options: Any) -> Scorer:
    """A scorer instance by name, with its config options (e.g. ``get_scorer("mean-ablation", max_replicas=4)``)."""
    if name not in SCORERS:
        raise DiscoveryError(f"Unknown scoring method {name!r}; choose one of {sorted(SCORERS)}.")
    return SCORERS[name](**options)


def available_scorers() -> dict[str, str]:
    """``{name: one-line summary}`` of every registered scorer."""
    return {name: cls.summary for name, cls in sorted(SCORERS.items())}


from circuitlab.discovery.scorers import ablation, attribution, decomposition  # noqa: E402,F401  (registration)
from circuitlab.discovery.scorers.ablation import (  # noqa: E402
    MeanAblationScorer, ResampleAblationScorer, ZeroAblationScorer,
)
from circuitlab.discovery.scorers.attribution import AttributionScorer  # noqa: E402
from circuitlab.discovery.scorers.decomposition import CDTUnsignedScorer, DirectionalScorer  # noqa: E402

__all__ = [
    "SCORERS", "AttributionScorer", "CDTUnsignedScorer", "DirectionalScorer", "MeanAblationScorer",
    "ResampleAblationScorer", "Scorer", "ScorerConfig", "ScoringRun", "ZeroAblationScorer", "available_scorers",
    "get_scorer", "register_scorer",
]
