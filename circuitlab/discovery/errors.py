"""Errors raised by discovery, each saying what was wrong and how to fix it."""

from __future__ import annotations

from circuitlab.errors import UserError


class DiscoveryError(UserError):
    """Discovery cannot run on this input (empty or unbalanced discovery set, bad target, bad option)."""


class UnsupportedArchitectureError(DiscoveryError):
    """The decomposition has no exact rules for this model family; it refuses rather than approximates."""
