"""From the spec to the tuning package's configs: the data protocol, θ1's config, one cell's config.

Every value comes from the spec's sections; ``options`` tables pass the
tuning package's remaining settings through unchanged (``tuning.options.schedule``,
``tuning.options.lora = {r = 16}``), and a key the spec sets elsewhere is refused
with the field that sets it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from circuitlab.experiments.cells import Cell
    from circuitlab.experiments.spec import ExperimentSpec

#: Default split names per dataset: (train pools, validation, test).
DEFAULT_SPLITS = {"nusax": ("train", "valid", "test"), "xnli": ("dev", "dev", "test")}


def _protocol_class():
    from circuitlab.data import load_examples
    from circuitlab.tuning import DataProtocol

    @dataclass(frozen=True)
    class SpecProtocol(DataProtocol):
        """:class:`~circuitlab.tuning.DataProtocol` with the spec's split names.

        When validation comes from the same split as the pools (XNLI ``dev``), it is
        drawn from the examples in neither pool, so that no validation example is ever
        trained on or used for discovery.
        """

        train_split: str = "train"
        valid_split: str = "valid"
        test_split: str = "test"

        def _split(self, language: str, split: str):
            real = {"train": self.train_split, "valid": self.valid_split, "test": self.test_split}.get(split, split)
            return load_examples(self.dataset, language, real, self.data_dir)

        def validation(self, language: str):
            if self.valid_split != self.train_split:
                return super().validation(language)
            a, b = self.pools(language)
            used = {e.id for e in a} | {e.id for e in b}
            rest = [e for e in self._split(language, "valid") if e.id not in used]
            return self._limited(rest, self.val_limit)

    return SpecProtocol


def protocol_for(spec: "ExperimentSpec"):
    """The data protocol of ``spec`` (pools, splits, evaluation subsets).

    Without ``data.data_dir``, a local copy found by :func:`circuitlab.data.find_data` is used
    (``$CIRCUITLAB_<DATASET>_DIR``, or ``../shared/data`` beside the checkout), else the hub.
    """
    from circuitlab.data import find_data

    d, ev, pt = spec.data, spec.evaluation, spec.proxy_tuning
    data_dir = d.data_dir or find_data(d.dataset)
    train, valid, test = DEFAULT_SPLITS.get(d.dataset, ("train", "valid", "test"))
    return _protocol_class()(
        dataset=d.dataset, data_dir=str(data_dir) if data_dir else None, pool_a=pt.pool_a, pool_b=pt.pool_b, pool_seed=d.pool_seed,
        test_limit=ev.n_test or None, val_limit=ev.n_valid or None, train_split=d.train_split or train,
        valid_split=d.valid_split or valid, test_split=d.test_split or test,
    )


#: Settings the spec's own fields set; never through ``options``.
RESERVED = {
    "model": "model.name", "proxy": "data.proxy", "targets": "data.targets", "methods": "grid.methods",
    "method": "grid.methods", "k": "grid.k", "shots": "grid.shots", "seeds": "grid.seeds", "seed": "grid.seeds",
    "kv_rule": "tuning.kv_rule", "n_src": "proxy_tuning.n_src", "proxy_seed": "proxy_tuning.seed",
    "lr_grid": "tuning.lr_grid", "method_lr_grids": "tuning.per_method", "train": "tuning",
    "proxy_train": "proxy_tuning", "data": "data", "scorer": "discovery.scorer", "discovery_n": "discovery.n_examples",
    "eval_batch_size": "evaluation.batch_size", "eval_max_length": "evaluation.max_length", "lr": "tuning.lr",
    "heads": "tuning.heads", "keep_delta": "tuning.options.save_full_deltas",
    "order": "the sweep's cell order", "lr_selection": "tuning.lr_grid (each cell searches its own grid)",
}
#: Options of a cell that are not training hyper-parameters.
CELL_OPTIONS = {"save_deltas": True, "save_full_deltas": False, "lora": None}


def _split_options(options: dict[str, Any], classes: list[type], path: str,
                   own: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Distribute ``options`` over the dataclasses whose field they name (``own`` keys go last)."""
    from circuitlab.experiments.spec import SpecError

    out: list[dict[str, Any]] = [{} for _ in range(len(classes) + 1)]
    for key, value in options.items():
        if key in RESERVED:
            raise SpecError(f"{path}.{key}", f"set by the spec ({RESERVED[key]}), not through options.")
        for i, cls in enumerate(classes):
            if key in {f.name for f in dataclasses.fields(cls)}:
                out[i][key] = tuple(value) if isinstance(value, list) else value
                break
        else:
            if own and key in own:
                out[-1][key] = value
                continue
            valid = sorted({f.name for cls in classes for f in dataclasses.fields(cls)} | set(own or {}))
            raise SpecError(f"{path}.{key}", f"not an option of the tuning package; valid: {', '.join(valid)}.")
    return out


def train_config(section, lr: float | None = None, extra: dict[str, Any] | None = None):
    """A :class:`circuitlab.tuning.TrainConfig` from a spec section (``proxy_tuning`` or ``tuning``)."""
    from circuitlab.tuning import TrainConfig

    return TrainConfig(lr=lr if lr is not None else section.lr, epochs=section.epochs, batch_size=section.batch_size,
                       max_length=section.max_length, warmup_ratio=section.warmup,
                       **({"weight_decay": section.weight_decay} if hasattr(section, "weight_decay") else {}),
                       **(extra or {}))


def proxy_config(spec: "ExperimentSpec", proxy: str):
    """The :class:`circuitlab.tuning.ProxyConfig` of θ1 for ``proxy``."""
    from circuitlab.tuning import ProxyConfig, TrainConfig

    pt = spec.proxy_tuning
    train_opts, _ = _split_options(pt.options, [TrainConfig], "proxy_tuning.options")
    return ProxyConfig(spec.model.name, proxy, pt.n_src, pt.seed, protocol_for(spec),
                       train_config(pt, extra=train_opts), tuple(pt.lr_grid) or None)


def cell_config(spec: "ExperimentSpec", cell: "Cell"):
    """The :class:`circuitlab.tuning.CellConfig` of one cell (its method's tuning settings and seed)."""
    from circuitlab.experiments.spec import SpecError
    from circuitlab.tuning import CellConfig, LoraSettings, TrainConfig

    tu = spec.tuning.for_method(cell.method)
    train_opts, own = _split_options(tu.options, [TrainConfig], "tuning.options", own=CELL_OPTIONS)
    own = {**CELL_OPTIONS, **own}
    try:
        lora = LoraSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in (own["lora"] or {}).items()})
    except TypeError as exc:
        raise SpecError("tuning.options.lora", f"{exc}; LoRA settings are r, alpha, dropout, projections.") from None
    dense = cell.info.dense
    return CellConfig(
        method=cell.method, lr_grid=tuple(tu.lr_grid) or (tu.lr,), seed=cell.seed,
        train=train_config(tu, extra=train_opts), kv_rule=tu.kv_rule, lora=lora,
        eval_batch_size=spec.evaluation.batch_size, eval_max_length=spec.evaluation.max_length,
        keep_delta=bool(own["save_deltas"]) and (not dense or bool(own["save_full_deltas"])),
    )


__all__ = ["DEFAULT_SPLITS", "RESERVED", "cell_config", "protocol_for", "proxy_config", "train_config"]
