"""The ``ctsft`` backend: the real pipeline (θ1, discovery, baselines, :func:`circuitlab.tuning.tune_cell`).

- :mod:`.config`: the spec's sections as the tuning package's configs;
- :mod:`.discovery`: the discovery set M and CD-T's growth order;
- :mod:`.backend`: the stages and cells.
"""

from circuitlab.experiments.ctsft.backend import CTSFTBackend
from circuitlab.experiments.ctsft.config import (
    DEFAULT_SPLITS, RESERVED, cell_config, protocol_for, proxy_config, train_config,
)
from circuitlab.experiments.ctsft.discovery import circuit_from_order, discovery_set, growth_order

__all__ = ["CTSFTBackend", "DEFAULT_SPLITS", "RESERVED", "cell_config", "circuit_from_order", "discovery_set",
           "growth_order", "protocol_for", "proxy_config", "train_config"]
