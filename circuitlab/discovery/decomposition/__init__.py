"""CD-T decomposition of a forward pass into a source head's relevant part β and the rest γ.

- :mod:`.rules`: one function per kind of operation (linear/bias share, norms, elementwise,
  gated products, RoPE, attention), each documented with its exact rule;
- :mod:`.spec`: a model as a stack of typed layer specs;
- :mod:`.families`: per-architecture adapters from HF modules to specs, keyed by ``model_type``;
- :mod:`.engine`: the sweep that carries every source's β to the logits or to target heads.
"""

from circuitlab.discovery.decomposition.engine import propagate
from circuitlab.discovery.decomposition.families import FAMILIES, build_spec, register_family
from circuitlab.discovery.decomposition.rules import Parts
from circuitlab.discovery.decomposition.spec import DecompositionSpec

__all__ = ["FAMILIES", "DecompositionSpec", "Parts", "build_spec", "propagate", "register_family"]
