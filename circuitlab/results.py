"""What one cell yields, shared by the tuning package and the sweep (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CellResult:
    """The outcome of one cell.

    ``row`` holds the scalar metrics (the results-table columns); ``meta`` holds
    anything else worth keeping (the learning rates tried, the tuner …), stored in
    the cell's JSON record but not in the table; ``delta`` is the trained change
    (a :class:`circuitlab.tuning.SparseDelta`) when the cell function kept it.
    """

    row: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    delta: Any = None


__all__ = ["CellResult"]
