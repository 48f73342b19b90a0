"""Discovery: score every attention head and choose circuits."""

from circuitlab.discovery.scores import HeadScores
from circuitlab.discovery.selection import STRATEGIES, resolve_k, select_heads

__all__ = ["HeadScores", "STRATEGIES", "resolve_k", "select_heads"]
