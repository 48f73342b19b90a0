"""Tuners: put a model in a trainable state, hand out its trainable tensors, and undo it.

Every method trains through one small interface, :class:`Tuner`:

- :meth:`~Tuner.install` freezes the whole model and makes exactly the method's
  elements trainable, returning ``{key: parameter}`` (stable keys, used for the
  optimizer order, checkpoints and resume);
- :meth:`~Tuner.merge` writes the trained values into the model's own parameters
  and restores its original modules, leaving a plain, frozen model;
- :attr:`~Tuner.mask` is the :class:`~circuitlab.tuning.masks.ParamMask` of the
  elements that may differ after :meth:`~Tuner.merge`.

:class:`MaskTuner` serves every head/norm/full method: whole tensors in the mask
simply get ``requires_grad``; partially masked projections are swapped for a
:class:`~circuitlab.tuning.sliced.SlicedProjection`. Nothing outside the mask
requires gradients, so autograd never runs backward below the lowest trainable
parameter, and the optimizer holds state for the mask's elements only.

:class:`LoraTuner` injects ``peft`` LoRA adapters into the attention projections
*inside* the Bridge (the Bridge's ``LinearBridge`` calls its wrapped module, which
becomes the ``peft`` layer), trains the adapters, and merges them back.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

from torch import nn

from circuitlab.tuning.families import PROJECTIONS, ModelIndex, canonical
from circuitlab.tuning.masks import ParamMask, TensorMask
from circuitlab.tuning.sliced import SlicedProjection


@runtime_checkable
class Tuner(Protocol):
    """What the trainer needs from a method (see module docstring)."""

    @property
    def mask(self) -> ParamMask: ...

    def install(self, model) -> dict[str, nn.Parameter]: ...

    def merge(self) -> None: ...

    def describe(self) -> dict: ...


def freeze(hf_model: nn.Module) -> None:
    for p in hf_model.parameters():
        p.requires_grad_(False)


class MaskTuner:
    """Train exactly the elements of a :class:`ParamMask` (whole tensors or slices)."""

    def __init__(self, mask: ParamMask):
        self._mask = mask
        self._swaps: list[tuple[nn.Module, SlicedProjection]] = []
        self._index: ModelIndex | None = None
        self._model = None

    @property
    def mask(self) -> ParamMask:
        return self._mask

    @property
    def installed(self) -> bool:
        return self._model is not None

    def install(self, model) -> dict[str, nn.Parameter]:
        if self._model is not None:
            raise RuntimeError("This tuner is already installed; call merge() first.")
        index = ModelIndex.build(model.hf_model, model.geometry.family)
        freeze(model.hf_model)
        trainables: dict[str, nn.Parameter] = {}
        partial: dict[str, dict[str, TensorMask]] = defaultdict(dict)
        for name, tm in self._mask.tensors.items():
            p = index.params.get(name)
            if p is None:
                raise KeyError(f"The mask names {name!r}, which this model does not have.")
            if tm.is_full:
                p.requires_grad_(True)
                trainables[name] = p
            else:
                partial[index.param_module[name]][name.rsplit(".", 1)[1]] = tm
        for path, masks in partial.items():
            if set(masks) - {"weight", "bias"}:
                raise ValueError(f"Only weights and biases of projections can be sliced, got {sorted(masks)} at {path}.")
            original = index.module(path)
            sliced = SlicedProjection(original, masks.get("weight"), masks.get("bias"))
            index.swap_module(original, sliced)
            self._swaps.append((original, sliced))
            trainables.update(sliced.named_pieces())
        self._index, self._model = index, model
        return dict(sorted(trainables.items()))

    def merge(self) -> None:
        if self._model is None:
            return
        for original, sliced in reversed(self._swaps):
            sliced.write_back()
            self._index.swap_module(sliced, original)
        self._swaps.clear()
        freeze(self._model.hf_model)
        self._model, self._index = None, None

    def describe(self) -> dict:
        return {"kind": "mask", "n_trainable": self._mask.n_trainable, "fraction": self._mask.fraction,
                "mask_fingerprint": self._mask.fingerprint(), **self._mask.info}


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters (PEFT's names).

    Attributes:
        r: adapter rank.
        alpha: scaling numerator (``lora_alpha``); the update is ``alpha / r · B A``.
        dropout: dropout on the adapter input (0 keeps training deterministic).
        projections: which attention projections get an adapter (``q``, ``k``, ``v``, ``o``).
    """

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    projections: tuple[str, ...] = PROJECTIONS


class LoraTuner:
    """A ``peft`` LoRA baseline on the attention projections of every layer."""

    def __init__(self, settings: LoraSettings = LoraSettings()):
        self.settings = settings
        self._model = None
        self._mask: ParamMask | None = None
        self._n_adapter = 0

    @property
    def mask(self) -> ParamMask:
        if self._mask is None:
            raise RuntimeError("The LoRA mask is known once the tuner has been installed on a model.")
        return self._mask

    def _targets(self, model, index: ModelIndex) -> list[tuple[str, nn.Module]]:
        out = []
        for layer in range(model.geometry.n_layers):
            for proj in self.settings.projections:
                path, module = index.projection(layer, proj)
                out.append((path, module))
        return out

    def install(self, model) -> dict[str, nn.Parameter]:
        try:
            from peft import LoraConfig, inject_adapter_in_model
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("The lora method needs peft: pip install 'circuitlab[lora]' (peft>=0.10).") from exc
        if self._model is not None:
            raise RuntimeError("This tuner is already installed; call merge() first.")
        index = ModelIndex.build(model.hf_model, model.geometry.family)
        targets = self._targets(model, index)
        wanted = {id(m) for _, m in targets}
        live = [n for n, m in model.hf_model.named_modules() if id(m) in wanted]
        self._mask = ParamMask.from_tensors(
            index, [TensorMask.whole(f"{p}.weight", index.params[f"{p}.weight"].shape) for p, _ in targets],
            {"lora": asdict(self.settings)},
        )
        freeze(model.hf_model)
        cfg = LoraConfig(
            r=self.settings.r, lora_alpha=self.settings.alpha, lora_dropout=self.settings.dropout,
            target_modules="^(" + "|".join(re.escape(n) for n in live) + ")$", bias="none",
        )
        import warnings

        with warnings.catch_warnings():  # GPT-2 mixes Linear (split Q/K/V) and Conv1D (O): peft adapts, and warns
            warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
            inject_adapter_in_model(cfg, model.hf_model)
        trainables = {}
        for name, p in model.hf_model.named_parameters():
            if "lora_" in name:
                p.requires_grad_(True)
                trainables[canonical(name)] = p
            else:
                p.requires_grad_(False)
        if not trainables:
            raise RuntimeError("peft injected no LoRA adapter: the attention projections were not found.")
        self._n_adapter = sum(p.numel() for p in trainables.values())
        self._model = model
        return dict(sorted(trainables.items()))

    def merge(self) -> None:
        if self._model is None:
            return
        from peft.tuners.lora import LoraLayer

        hf = self._model.hf_model
        layers = [m for m in hf.modules() if isinstance(m, LoraLayer)]
        parents: dict[int, list[tuple[nn.Module, str]]] = defaultdict(list)
        for mod in hf.modules():
            for attr, child in mod._modules.items():
                if child is not None:
                    parents[id(child)].append((mod, attr))
        for layer in layers:
            layer.merge()
            for parent, attr in parents[id(layer)]:
                parent._modules[attr] = layer.get_base_layer()
        if hasattr(hf, "peft_config"):
            del hf.peft_config
        freeze(hf)
        self._model = None

    @property
    def n_adapter_params(self) -> int:
        return self._n_adapter

    def describe(self) -> dict:
        return {"kind": "lora", **asdict(self.settings), "n_trainable": self._n_adapter}
