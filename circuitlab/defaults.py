"""The defaults every entry point shares (CLI flags, the spec, θ1's config, notebooks), in one place.

Torch-free, so that specs and flags can read them before anything heavy is imported.
"""

#: The embedded model every command uses unless told otherwise.
DEFAULT_MODEL = "gemma-3-270m"
#: The higher-resource language θ1 is tuned on and the circuit is found in.
DEFAULT_PROXY = "indonesian"

__all__ = ["DEFAULT_MODEL", "DEFAULT_PROXY"]
