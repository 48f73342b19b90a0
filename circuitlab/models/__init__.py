"""Models: names to hooked TransformerBridges with a typed attention geometry."""

from circuitlab.models.cache import cache_root
from circuitlab.models.geometry import ModelGeometry
from circuitlab.models.loader import LoadedModel, ModelLoadError, geometry_from_config, load_model, resolve_model_path
from circuitlab.models.plain import plain_hf
from circuitlab.models.precision import PRECISIONS, matmul_precision
from circuitlab.models.registry import DEFAULT_MODEL, MODELS, ModelSpec, head_grid, model_id

__all__ = [
    "DEFAULT_MODEL", "MODELS", "PRECISIONS", "LoadedModel", "ModelGeometry", "ModelLoadError", "ModelSpec",
    "cache_root", "geometry_from_config", "head_grid", "load_model", "matmul_precision", "model_id", "plain_hf",
    "resolve_model_path",
]
