"""Sparse deltas: share what a method changed, apply and revert it exactly, export plain HF folders.

A head-masked run changes a few slices and the norms of a model: a few MB of a
1 GB checkpoint. A :class:`SparseDelta` stores exactly the elements of the run's
:class:`~circuitlab.tuning.masks.ParamMask`:

``<dir>/delta.safetensors``
    the values *after* tuning, one entry per masked block, keyed
    ``name|dim|start|stop`` (or ``name`` for a whole tensor);
``<dir>/before.safetensors``
    the values of the same blocks in the model the delta was computed against
    (the proxy checkpoint θ1), so the delta can be *reverted* exactly and
    :func:`apply_delta` can check it is applied to the right base;
``<dir>/manifest.json``
    the base model, the method, the heads, the mask, the metrics, versions and a
    SHA-256 of each tensor file.

Applying and reverting copy values (never add differences), so both are exact:
``revert(apply(θ1)) == θ1`` element for element.

:func:`export_hf` writes the live model as a plain Hugging Face folder that
``transformers.AutoModelForCausalLM.from_pretrained`` loads without circuitlab (for
GPT-2 the split Q/K/V are fused back into ``c_attn``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from circuitlab.errors import UserError
from circuitlab.tuning.families import ModelIndex
from circuitlab.tuning.masks import ParamMask, TensorMask
from circuitlab.tuning.trainer import write_json

DELTA_FORMAT = "circuitlab-sparse-delta/1"


class DeltaError(UserError):
    """A delta does not fit the model it is applied to (wrong base, shape or file)."""


def _entries(m: TensorMask) -> list[tuple[str, tuple[slice, ...]]]:
    if m.is_full:
        return [(m.name, (slice(None),))]
    return [(m.key(b), m.index(b)) for b in m.blocks]


class _DiskValues(Mapping):
    """A read-only ``{name: tensor}`` backed by a safetensors file; each access reads one tensor."""

    def __init__(self, path: Path):
        from safetensors import safe_open

        self.path = path
        with safe_open(str(path), framework="pt") as f:
            self._keys = list(f.keys())

    def __getitem__(self, key: str) -> Tensor:
        from safetensors import safe_open

        with safe_open(str(self.path), framework="pt") as f:
            return f.get_tensor(key)

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class ModelSnapshot:
    """A copy of a model's parameters (all of them, or a mask's elements only), restorable exactly.

    With ``path`` the copy is written to a safetensors file and read back one tensor at a time on
    :meth:`restore`, so a full snapshot costs disk, not memory (1 GB for Gemma-3-270M).
    """

    def __init__(self, values: Mapping[str, Tensor], mask: ParamMask | None):
        self.values, self.mask = values, mask

    @classmethod
    def take(cls, model, mask: ParamMask | None = None, path: str | Path | None = None) -> "ModelSnapshot":
        index = ModelIndex.build(model.hf_model, model.geometry.family)
        with torch.no_grad():
            if mask is None and path is not None:
                from safetensors.torch import save_file

                path = Path(path)
                path.parent.mkdir(parents=True, exist_ok=True)
                save_file({n: p.detach().contiguous() for n, p in index.params.items()}, str(path))
                return cls(_DiskValues(path), None)
            if mask is None:
                return cls({n: p.detach().clone() for n, p in index.params.items()}, None)
            vals = {k: index.params[m.name].detach()[ix].clone() for m in mask.tensors.values() for k, ix in _entries(m)}
        return cls(vals, mask)

    @torch.no_grad()
    def restore(self, model) -> None:
        index = ModelIndex.build(model.hf_model, model.geometry.family)
        if self.mask is None:
            for n in self.values:
                index.params[n].copy_(self.values[n])
            return
        for m in self.mask.tensors.values():
            for k, ix in _entries(m):
                index.params[m.name][ix].copy_(self.values[k])

    def get(self, name: str) -> Tensor:
        return self.values[name]


@dataclass
class SparseDelta:
    """The masked elements of a tuned model, before and after (see module docstring)."""

    mask: ParamMask
    after: dict[str, Tensor]
    before: dict[str, Tensor] | None
    manifest: dict = field(default_factory=dict)

    @property
    def n_elements(self) -> int:
        return self.mask.n_trainable

    def n_changed(self) -> int:
        """Elements whose value differs from the base (needs ``before``)."""
        if self.before is None:
            raise DeltaError("This delta has no 'before' values; cannot count changed elements.")
        return int(sum((self.after[k] != self.before[k]).sum() for k in self.after))


def compute_delta(model, mask: ParamMask, base: ModelSnapshot | None = None, manifest: dict | None = None) -> SparseDelta:
    """The mask's elements of ``model`` now (``after``) and in ``base`` (``before``, a snapshot of θ1)."""
    index = ModelIndex.build(model.hf_model, model.geometry.family)
    after, before = {}, ({} if base is not None else None)
    with torch.no_grad():
        for m in mask.tensors.values():
            for k, ix in _entries(m):
                after[k] = index.params[m.name].detach()[ix].clone().contiguous()
                if base is not None:
                    src = base.values[k] if base.mask is not None else base.values[m.name][ix]
                    before[k] = src.clone().contiguous()
    return SparseDelta(mask, after, before, dict(manifest or {}))


@torch.no_grad()
def count_changed(model, mask: ParamMask, base: ModelSnapshot) -> int:
    """Elements of ``mask`` whose value in ``model`` differs from ``base`` (no copies made)."""
    index = ModelIndex.build(model.hf_model, model.geometry.family)
    n = 0
    for m in mask.tensors.values():
        for k, ix in _entries(m):
            ref = base.values[k] if base.mask is not None else base.values[m.name][ix]
            n += int((index.params[m.name][ix] != ref).sum())
    return n


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_delta(delta: SparseDelta, out_dir: str | Path) -> Path:
    """Write ``delta.safetensors``, ``before.safetensors`` and ``manifest.json`` into ``out_dir``."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file(delta.after, str(out / "delta.safetensors"), metadata={"format": DELTA_FORMAT})
    files = {"delta.safetensors": _sha256(out / "delta.safetensors")}
    if delta.before is not None:
        save_file(delta.before, str(out / "before.safetensors"), metadata={"format": DELTA_FORMAT})
        files["before.safetensors"] = _sha256(out / "before.safetensors")
    manifest = {
        "format": DELTA_FORMAT, **delta.manifest, "n_elements": delta.mask.n_trainable,
        "fraction": delta.mask.fraction, "mask": delta.mask.to_dict(), "files": files,
    }
    if delta.before is not None:
        manifest["n_changed"] = delta.n_changed()
    write_json(out / "manifest.json", manifest)
    return out


def load_delta(path: str | Path, verify: bool = True) -> SparseDelta:
    """Read a delta folder written by :func:`save_delta` (checking file hashes if ``verify``)."""
    from safetensors.torch import load_file

    path = Path(path)
    mpath = path / "manifest.json"
    if not mpath.exists():
        raise DeltaError(f"{path} is not a circuitlab delta: no manifest.json (expected files from save_delta).")
    manifest = json.loads(mpath.read_text())
    if manifest.get("format") != DELTA_FORMAT:
        raise DeltaError(f"{mpath}: unknown format {manifest.get('format')!r}, expected {DELTA_FORMAT!r}.")
    if verify:
        for name, digest in manifest.get("files", {}).items():
            if _sha256(path / name) != digest:
                raise DeltaError(f"{path / name} does not match the SHA-256 in its manifest: the file is corrupt.")
    after = load_file(str(path / "delta.safetensors"))
    before = load_file(str(path / "before.safetensors")) if (path / "before.safetensors").exists() else None
    mask = ParamMask.from_dict(manifest.pop("mask"))
    return SparseDelta(mask, after, before, manifest)


def _check_fits(index: ModelIndex, delta: SparseDelta) -> None:
    for m in delta.mask.tensors.values():
        p = index.params.get(m.name)
        if p is None:
            raise DeltaError(f"The delta changes {m.name!r}, which this model does not have (another architecture?).")
        if tuple(p.shape) != m.shape:
            raise DeltaError(f"{m.name}: the delta is for shape {m.shape}, the model has {tuple(p.shape)}.")


@torch.no_grad()
def apply_delta(model, delta: SparseDelta, check_base: bool = True) -> None:
    """Write the delta's ``after`` values into ``model``.

    With ``check_base`` the model's current values must equal the delta's ``before``
    exactly (the delta was computed against this base); otherwise a :class:`DeltaError`
    names the first tensor that differs and nothing is changed.
    """
    index = ModelIndex.build(model.hf_model, model.geometry.family)
    _check_fits(index, delta)
    if check_base and delta.before is not None:
        for m in delta.mask.tensors.values():
            for k, ix in _entries(m):
                if not torch.equal(index.params[m.name][ix], delta.before[k]):
                    raise DeltaError(
                        f"The model's {k} differs from the base this delta was computed against "
                        f"({delta.manifest.get('base', {})}). Load that base first, or pass check_base=False."
                    )
    for m in delta.mask.tensors.values():
        for k, ix in _entries(m):
            index.params[m.name][ix].copy_(delta.after[k])


@torch.no_grad()
def revert_delta(model, delta: SparseDelta) -> None:
    """Undo :func:`apply_delta` exactly (writes the ``before`` values back)."""
    if delta.before is None:
        raise DeltaError("This delta has no 'before' values, so it cannot be reverted; reload the base model.")
    index = ModelIndex.build(model.hf_model, model.geometry.family)
    _check_fits(index, delta)
    for m in delta.mask.tensors.values():
        for k, ix in _entries(m):
            index.params[m.name][ix].copy_(delta.before[k])


def hf_state_dict(model) -> dict[str, Tensor]:
    """The live parameters under plain Hugging Face names (GPT-2: ``c_attn`` rebuilt from Q/K/V)."""
    index = ModelIndex.build(model.hf_model, model.geometry.family)
    state = {n: p.detach() for n, p in index.params.items()}
    if index.adapter.to_hf is not None:
        state = index.adapter.to_hf(state, model.geometry.n_layers)
    return state


def export_hf(model, out_dir: str | Path, source: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write ``model`` (a LoadedModel, e.g. θ1 with a delta applied) as a plain HF folder.

    The architecture, config and generation config come from ``source`` (default: the
    folder the model was loaded from); every weight comes from the live model and is
    checked to have been copied bit for bit.
    """
    from transformers import AutoModelForCausalLM

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; pass overwrite=True to replace it.")
        shutil.rmtree(out)
    source = Path(source or model.path)
    plain = AutoModelForCausalLM.from_pretrained(str(source), dtype=next(model.hf_model.parameters()).dtype)
    state = hf_state_dict(model)
    target = dict(plain.named_parameters())
    unknown = sorted(set(state) - set(target))
    missing = sorted(set(target) - set(state))
    if unknown or missing:
        raise DeltaError(
            f"Cannot map the live model onto {type(plain).__name__}: names only in the live model {unknown[:5]}, "
            f"only in the HF model {missing[:5]}."
        )
    with torch.no_grad():
        for n, p in target.items():
            p.copy_(state[n])
        for n, p in plain.named_parameters():
            if not torch.equal(p, state[n]):  # pragma: no cover - a broken mapping
                raise DeltaError(f"Export check failed: {n} was not copied exactly.")
    out.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(str(out))
    model.tokenizer.save_pretrained(str(out))
    return out
