"""Experiment specs: one TOML (or YAML) file names everything a sweep does.

Context
-------
A sweep is a grid of *cells* (proxy × target × method × k × shots × seed) plus
the settings that make each cell reproducible: the model, the data, the proxy
competence tuning, the discovery scorer, the tuning hyper-parameters, the
evaluation budget, and how the work is executed. A spec file is the single
source of truth for all of it; every CLI flag maps to one of its fields
(``--set tuning.lr=1e-4`` reaches any field).

The spec is a tree of frozen dataclasses. Each field carries its help text in
``metadata["help"]`` (the config is the documentation, as in PEFT), and fields
marked ``identity=False`` (where the data lives, how the work is executed,
the run's name) do not change results, so they are left out of the
fingerprint that decides whether an existing run folder can be resumed.

Validation is strict and names the bad field::

    SpecError: examples/bad.toml: grid.shots[1]: expected a positive integer, got -3.

Unknown keys are errors too (with a "did you mean" hint), because a misspelt
``[tunning]`` table that is silently ignored is how sweeps go wrong.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Head-masked and baseline methods the tuning layer offers (see ``cells.METHODS``).
KNOWN_SPEC_SUFFIXES = (".toml", ".yaml", ".yml", ".json")


class SpecError(ValueError):
    """A spec is invalid. ``field`` is the dotted path of the bad field (``"grid.shots[1]"``)."""

    def __init__(self, field_path: str, message: str, source: str | None = None) -> None:
        self.field = field_path
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field_path}: {message}" if field_path else f"{where}{message}")


def _f(default: Any = dataclasses.MISSING, help: str = "", identity: bool | Literal["unless-default"] = True,
       factory: Any = None) -> Any:
    """A dataclass field carrying its help text and whether it belongs to the run's identity.

    ``identity="unless-default"`` is for fields added after runs existed: at their default
    they leave the fingerprint (and every cell id) as it was.
    """
    meta = {"help": help, "identity": identity}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# -- the spec tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """Which model every cell starts from."""

    name: str = _f("gemma-3-270m", "Registered model name (`circuitlab models`), a local HF folder or a hub id.")
    dtype: Literal["float32", "bfloat16", "float16"] = _f("float32", "Parameter dtype for tuning and evaluation.")
    matmul_precision: Literal["highest", "high", "medium"] = _f(
        "highest", "Float32 matmul precision: 'highest' = exact; 'medium' = bfloat16 products with float32 "
                   "accumulation (1.2-2x faster steps and cells on an AMX CPU, measured); 'high' = TF32 on "
                   "NVIDIA GPUs.",
        identity="unless-default")
    device: str = _f("cpu", "torch device for the driver and each worker ('cpu', 'cuda', 'cuda:1').", identity=False)


@dataclass(frozen=True)
class DataSpec:
    """Dataset, languages and how the example pools are drawn."""

    dataset: Literal["nusax", "xnli"] = _f("nusax", "Dataset name: 'nusax' or 'xnli'.")
    proxy: list[str] = _f(help="Proxy language(s): the higher-resource language(s) tuned on first.",
                          factory=lambda: ["indonesian"])
    targets: list[str] = _f(help="Target languages the proxy checkpoint is adapted to.", factory=lambda: ["javanese"])
    data_dir: str | None = _f(None, "Local copy of the dataset (else $CIRCUITLAB_<DATASET>_DIR, else a folder found "
                                    "beside the repo, else the hub).", identity=False)
    train_split: str = _f("", "Split the proxy pools and the target examples are drawn from ('' = the dataset's "
                              "default: 'train' for NusaX, 'dev' for XNLI).")
    valid_split: str = _f("", "Split for learning-rate and branch selection ('' = 'valid' for NusaX; XNLI carves "
                              "it out of 'dev').")
    test_split: str = _f("test", "Split every reported accuracy is measured on.")
    pool_seed: int = _f(0, "Seed of the proxy pools (A: competence + discovery, B: held out).")


@dataclass(frozen=True)
class GridSpec:
    """The cells: every combination of these values is one results row."""

    methods: list[str] = _f(help="Tuning methods (circuit, nearzero, random, least, norms, full, direct, "
                                 "lora, ctsft-auto).", factory=lambda: ["circuit", "nearzero", "full"])
    k: list[int | float] = _f(help="Head budgets: a count of heads, or a fraction of all heads in (0, 1). Methods "
                                   "that update no selected heads (full, direct, norms) ignore it.",
                              factory=lambda: [6])
    shots: list[int] = _f(help="Numbers of target training examples (the paper's n).", factory=lambda: [25])
    seeds: list[int] = _f(help="Seeds: target sample, head sampling (random) and training order.",
                          factory=lambda: [31])


@dataclass(frozen=True)
class ProxyTuningSpec:
    """Stage 0: full fine-tuning of the base model on the proxy language (checkpoint θ1)."""

    n_src: int = _f(50, "Proxy training examples (the paper's n_src).")
    pool_a: int = _f(400, "Size of proxy pool A (competence tuning, mean and discovery are drawn from it).")
    pool_b: int = _f(100, "Size of proxy pool B (held out).")
    epochs: int = _f(5, "Epochs of proxy competence tuning.")
    lr: float = _f(5e-5, "AdamW learning rate of proxy competence tuning.")
    batch_size: int = _f(16, "Batch size.")
    max_length: int = _f(128, "Token limit per example.")
    warmup: float = _f(0.1, "Fraction of steps with linear learning-rate warm-up.")
    seed: int = _f(0, "Seed of the proxy sample and training order (one θ1 shared by every seed of the grid).")
    options: dict[str, Any] = _f(help="Extra keyword arguments passed to the tuning package unchanged.",
                                 factory=dict)


@dataclass(frozen=True)
class DiscoverySpec:
    """Stages 1–5: the discovery set, the mean baseline and the head scores on θ1."""

    scorer: str = _f("directional", "Head scorer registered in circuitlab.discovery (e.g. 'directional').")
    n_examples: int = _f(50, "Size of the label-balanced discovery set M (correctly classified proxy examples).")
    max_pool: int = _f(0, "Classify only this many pool-A examples (seeded shuffle) to find M's candidates "
                          "(0 = all of pool A).")
    require_correct: bool = _f(True, "Only correctly classified examples may enter M (the paper's rule; turn off "
                                     "only for untrained test models).")
    seed: int = _f(0, "Seed of the discovery sample.")
    depth: int = _f(0, "Circuit growth iterations beyond depth 0 (CD-T); 0 = score heads against the logits only.")
    per_depth: int | float = _f(0.02, "Heads added per depth: a count, or a fraction of all heads.")
    batch_size: int = _f(8, "Batch size of the scorer.")
    on_targets: bool = _f(False, "Also score the heads of θ1 on each target language (same scorer and rules, the "
                                 "target's pool A), for the report's proxy-vs-target circuit overlap. Costs one "
                                 "discovery per target, and fails (noted in the log and report) where θ1 classifies "
                                 "too few target examples correctly for a balanced discovery set.",
                          identity=False)
    options: dict[str, Any] = _f(help="Extra keyword arguments passed to the scorer unchanged.", factory=dict)


@dataclass(frozen=True)
class TuningSpec:
    """Stage 6: target tuning of every cell, starting from θ1 (or the base model for 'direct')."""

    epochs: int = _f(5, "Epochs over the target examples.")
    lr: float = _f(5e-5, "AdamW learning rate (used when lr_grid is empty).")
    lr_grid: list[float] = _f(help="Learning rates tried per cell; the best on validation is kept and reported.",
                              factory=list)
    batch_size: int = _f(16, "Batch size.")
    max_length: int = _f(128, "Token limit per example.")
    warmup: float = _f(0.1, "Fraction of steps with linear learning-rate warm-up.")
    weight_decay: float = _f(0.01, "AdamW weight decay (never applied to masked slices).")
    kv_rule: Literal["any", "all", "none"] = _f("any", "Grouped-query attention: train a K/V group when any / all / "
                                                       "none of its query heads are selected.")
    per_method: dict[str, dict[str, Any]] = _f(
        help="Per-method overrides of the fields above, e.g. {full = {lr_grid = [1e-5, 3e-5]}}.", factory=dict)
    options: dict[str, Any] = _f(help="Extra keyword arguments passed to the tuning package unchanged.",
                                 factory=dict)

    def for_method(self, method: str) -> "TuningSpec":
        """These settings with ``per_method[method]`` applied (validated when the spec was loaded)."""
        over = self.per_method.get(method, {})
        return dataclasses.replace(self, per_method={}, **over) if over else dataclasses.replace(self, per_method={})


@dataclass(frozen=True)
class EvaluationSpec:
    """What every accuracy is measured on."""

    n_test: int = _f(400, "Test examples per language (0 = the whole split; the same ids in every language).")
    n_valid: int = _f(100, "Validation examples per language for lr / branch selection (0 = whole split).")
    batch_size: int = _f(16, "Evaluation batch size.")
    max_length: int = _f(128, "Token limit per example.")


@dataclass(frozen=True)
class RuntimeSpec:
    """How the sweep is executed. None of these fields changes a result."""

    executor: Literal["sequential", "ray"] = _f("sequential", "Run cells one after another, or as Ray tasks.",
                                                identity=False)
    address: str | None = _f(None, "Ray cluster address ('auto', 'ray://host:10001'); none = start a local "
                                   "instance.", identity=False)
    num_cpus: int = _f(0, "CPUs of a local Ray instance (0 = all).", identity=False)
    cpus_per_cell: int = _f(1, "CPUs reserved per Ray cell task (also torch threads in the worker).",
                            identity=False)
    ship_stages: Literal["auto", "always", "never"] = _f(
        "auto", "Send shared-stage files to Ray workers through the object store ('auto': only when an address is "
                "given, i.e. the workers may not see this run folder).", identity=False)
    on_error: Literal["continue", "stop"] = _f("continue", "After a failed cell: run the others (it is retried on "
                                                           "the next run), or stop.", identity=False)
    threads: int = _f(0, "torch threads in the driver (0 = torch's default).", identity=False)
    quiet: bool = _f(False, "No progress bars or console logging (the log file is always written).",
                     identity=False)


@dataclass(frozen=True)
class ExperimentSpec:
    """A whole experiment. Load one with :func:`load_spec`; build one in code with :func:`spec_from_dict`."""

    name: str = _f("experiment", "Short name of the run (shown in the report).", identity=False)
    description: str = _f("", "Free text shown at the top of the report.", identity=False)
    budget: str = _f("custom", "Label of the compute budget ('demo', 'paper', 'custom'); shown in the report.",
                     identity=False)
    backend: str = _f("ctsft", "Cell function from the registry ('ctsft', 'fake', or 'package.module:object').")
    backend_options: dict[str, Any] = _f(help="Keyword arguments for the backend (e.g. the fake backend's "
                                              "sleep_s).", factory=dict)
    model: ModelSpec = _f(factory=ModelSpec)
    data: DataSpec = _f(factory=DataSpec)
    grid: GridSpec = _f(factory=GridSpec)
    proxy_tuning: ProxyTuningSpec = _f(factory=ProxyTuningSpec)
    discovery: DiscoverySpec = _f(factory=DiscoverySpec)
    tuning: TuningSpec = _f(factory=TuningSpec)
    evaluation: EvaluationSpec = _f(factory=EvaluationSpec)
    runtime: RuntimeSpec = _f(factory=RuntimeSpec)

    # -- views --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON/TOML-ready dict of every field (the *resolved* spec)."""
        return _plain(dataclasses.asdict(self))

    def identity(self) -> dict[str, Any]:
        """The fields that decide results (everything but ``identity=False`` fields)."""
        return _identity_of(self)

    def fingerprint(self) -> str:
        """sha256 of :meth:`identity` (and the id scheme): the same fingerprint means the same cells and results."""
        from circuitlab.experiments.cells import ID_SCHEME

        return stable_hash({"scheme": ID_SCHEME, **self.identity()})

    def replace(self, **changes: Any) -> "ExperimentSpec":
        """A copy with dotted-path changes applied and re-validated: ``spec.replace(**{"tuning.lr": 1e-4})``."""
        data = self.to_dict()
        for dotted, value in changes.items():
            _set_dotted(data, dotted, value)
        return spec_from_dict(data)


def stable_hash(obj: Any, n: int | None = None) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace); the same in every process and on every host."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return digest[:n] if n else digest


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _identity_of(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            rule, value = f.metadata.get("identity", True), getattr(obj, f.name)
            if rule is True or (rule == "unless-default" and value != f.default):
                out[f.name] = _identity_of(value)
        return out
    return _plain(obj)


# -- building and validating --------------------------------------------------------------------


def field_help(cls: type = ExperimentSpec, prefix: str = "") -> dict[str, str]:
    """``{"tuning.lr": "AdamW learning rate ...", ...}`` for every leaf field (used by ``--help`` texts)."""
    out: dict[str, str] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            out.update(field_help(tp, path + "."))
        else:
            out[path] = f.metadata.get("help", "")
    return out


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a table"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            type(None): "nothing (omit the field)", Any: "any value"}.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (converting scalars to one-item lists, ints to floats)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        guess = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
        hint = f" Did you mean {guess[0]!r}?" if guess else ""
        raise SpecError(path, f"expected {_type_name(tp)}, got {value!r}.{hint}")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        # int before float so that 6 stays a count and 0.05 a fraction.
        for arg in sorted((a for a in args if a is not type(None)), key=lambda a: a is float):
            try:
                return _coerce(value, arg, path)
            except SpecError:
                continue
        raise SpecError(path, f"expected {_type_name(tp)}, got {value!r}.")
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise SpecError(path, f"expected a table, got {value!r}.")
        return {str(k): copy.deepcopy(v) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise SpecError(path, f"expected true or false, got {value!r}.")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
            return int(value)
        raise SpecError(path, f"expected an integer, got {value!r}.")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise SpecError(path, f"expected a number, got {value!r}.")
    if tp is str:
        if isinstance(value, str):
            return value
        raise SpecError(path, f"expected a string, got {value!r}.")
    raise SpecError(path, f"unsupported field type {tp!r}.")  # pragma: no cover - a bug in the spec tree


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise SpecError(prefix.rstrip("."), f"expected a table, got {data!r}.")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        key = unknown[0]
        guess = difflib.get_close_matches(key, names, n=1)
        hint = f" Did you mean {guess[0]!r}?" if guess else ""
        where = f"[{prefix.rstrip('.')}]" if prefix else "the top level"
        raise SpecError(f"{prefix}{key}", f"unknown field in {where}; valid fields: {', '.join(names)}.{hint}")
    kwargs = {}
    for name in names:
        if name not in data:
            continue
        tp, path = hints[name], f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, data[name], path + ".")
        else:
            kwargs[name] = _coerce(data[name], tp, path)
    return cls(**kwargs)


def _check(cond: bool, path: str, message: str) -> None:
    if not cond:
        raise SpecError(path, message)


def _check_tuning(tu: TuningSpec, prefix: str, only: set[str] | None = None) -> None:
    """Semantic checks of tuning settings (``only``: just these fields, for per-method overrides)."""

    def want(name: str) -> bool:
        return only is None or name in only

    for name in ("epochs", "batch_size", "max_length"):
        if want(name):
            v = getattr(tu, name)
            _check(v >= 1, f"{prefix}.{name}", f"expected a positive integer, got {v}.")
    if want("lr"):
        _check(tu.lr > 0, f"{prefix}.lr", f"expected a positive learning rate, got {tu.lr}.")
    if want("lr_grid"):
        for i, v in enumerate(tu.lr_grid):
            _check(v > 0, f"{prefix}.lr_grid[{i}]", f"expected a positive learning rate, got {v}.")
    if want("warmup"):
        _check(0 <= tu.warmup < 1, f"{prefix}.warmup", f"expected a fraction in [0, 1), got {tu.warmup}.")
    if want("weight_decay"):
        _check(tu.weight_decay >= 0, f"{prefix}.weight_decay", f"expected >= 0, got {tu.weight_decay}.")


def _validate(spec: ExperimentSpec) -> ExperimentSpec:
    """Semantic checks beyond types; returns the spec with canonical language names."""
    from circuitlab.data import get_dataset
    from circuitlab.data.errors import DataError, check_choice
    from circuitlab.experiments.cells import METHODS

    g, d = spec.grid, spec.data
    ds = get_dataset(d.dataset)
    aliases = {}
    if ds.name == "nusax":
        from circuitlab.data.nusax import NUSAX_CODES

        aliases = {code: name for name, code in NUSAX_CODES.items()}
    else:
        from circuitlab.data import xnli

        aliases = dict(getattr(xnli, "_LANGUAGE_ALIASES", {}))

    def canon(values: list[str], path: str) -> list[str]:
        _check(len(values) > 0, path, "give at least one language.")
        out = []
        for i, v in enumerate(values):
            try:
                out.append(check_choice("language", v, ds.languages, aliases=aliases, dataset=ds.display))
            except DataError as exc:
                raise SpecError(f"{path}[{i}]", str(exc)) from None
        dupes = sorted({x for x in out if out.count(x) > 1})
        _check(not dupes, path, f"languages {dupes} are listed more than once.")
        return out

    proxies, targets = canon(d.proxy, "data.proxy"), canon(d.targets, "data.targets")
    for name, values in (("methods", g.methods), ("k", g.k), ("shots", g.shots), ("seeds", g.seeds)):
        _check(len(values) > 0, f"grid.{name}", "give at least one value.")
        dupes = sorted({str(x) for x in values if list(values).count(x) > 1})
        _check(not dupes, f"grid.{name}", f"values {dupes} are listed more than once.")
    for i, m in enumerate(g.methods):
        if m not in METHODS:
            guess = difflib.get_close_matches(m, list(METHODS), n=1)
            hint = f" Did you mean {guess[0]!r}?" if guess else ""
            raise SpecError(f"grid.methods[{i}]", f"unknown method {m!r}; known: {', '.join(METHODS)}.{hint}")
    for i, k in enumerate(g.k):
        if isinstance(k, float):
            _check(0 < k < 1, f"grid.k[{i}]", f"a fractional k must be in (0, 1), got {k}; use an integer for a "
                                               "count of heads.")
        else:
            _check(k >= 1, f"grid.k[{i}]", f"expected a positive integer (a count of heads), got {k}.")
    for i, n in enumerate(g.shots):
        _check(n >= 1, f"grid.shots[{i}]", f"expected a positive integer, got {n}.")
    pt, disc, tu, ev, rt = spec.proxy_tuning, spec.discovery, spec.tuning, spec.evaluation, spec.runtime
    positives = {
        "proxy_tuning.n_src": pt.n_src, "proxy_tuning.epochs": pt.epochs, "proxy_tuning.batch_size": pt.batch_size,
        "proxy_tuning.max_length": pt.max_length, "discovery.n_examples": disc.n_examples,
        "discovery.batch_size": disc.batch_size, "evaluation.batch_size": ev.batch_size,
        "evaluation.max_length": ev.max_length, "runtime.cpus_per_cell": rt.cpus_per_cell,
    }
    for path, v in positives.items():
        _check(v >= 1, path, f"expected a positive integer, got {v}.")
    for path, v in {"proxy_tuning.pool_a": pt.pool_a, "proxy_tuning.pool_b": pt.pool_b,
                    "discovery.depth": disc.depth, "discovery.max_pool": disc.max_pool,
                    "evaluation.n_test": ev.n_test, "evaluation.n_valid": ev.n_valid,
                    "runtime.num_cpus": rt.num_cpus, "runtime.threads": rt.threads}.items():
        _check(v >= 0, path, f"expected an integer >= 0, got {v}.")
    _check(pt.n_src <= pt.pool_a, "proxy_tuning.n_src",
           f"n_src={pt.n_src} must fit in pool A (proxy_tuning.pool_a={pt.pool_a}).")
    _check(pt.lr > 0, "proxy_tuning.lr", f"expected a positive learning rate, got {pt.lr}.")
    _check(0 <= pt.warmup < 1, "proxy_tuning.warmup", f"expected a fraction in [0, 1), got {pt.warmup}.")
    _check_tuning(tu, "tuning")
    if isinstance(disc.per_depth, float):
        _check(0 < disc.per_depth < 1, "discovery.per_depth", f"a fraction must be in (0, 1), got {disc.per_depth}.")
    else:
        _check(disc.per_depth >= 1, "discovery.per_depth", f"expected a positive count, got {disc.per_depth}.")
    # per-method overrides: known methods, known fields, right types.
    tuning_hints = typing.get_type_hints(TuningSpec)
    per_method = {}
    for m, over in tu.per_method.items():
        path = f"tuning.per_method.{m}"
        _check(m in METHODS, path, f"unknown method {m!r}; known: {', '.join(METHODS)}.")
        _check(isinstance(over, Mapping), path, f"expected a table of tuning fields, got {over!r}.")
        fixed = {}
        for key, value in over.items():
            _check(key in tuning_hints and key not in ("per_method",), f"{path}.{key}",
                   f"not a tuning field; valid: {', '.join(k for k in tuning_hints if k != 'per_method')}.")
            fixed[key] = _coerce(value, tuning_hints[key], f"{path}.{key}")
        _check_tuning(dataclasses.replace(tu, **fixed), path, only=set(fixed))
        per_method[m] = fixed
    _check(rt.address is None or rt.executor == "ray", "runtime.address",
           "an address only makes sense with runtime.executor = 'ray' (--executor ray).")
    return dataclasses.replace(
        spec,
        data=dataclasses.replace(d, proxy=proxies, targets=targets),
        tuning=dataclasses.replace(tu, per_method=per_method),
    )


def spec_from_dict(data: Mapping[str, Any], source: str | None = None) -> ExperimentSpec:
    """Build and validate a spec from nested dicts (as read from TOML); errors name the bad field."""
    try:
        return _validate(_build(ExperimentSpec, data, ""))
    except SpecError as exc:
        if source and not exc.source:
            raise SpecError(exc.field, str(exc).split(": ", 1)[1] if exc.field else str(exc), source) from None
        raise


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The raw nested dict of a ``.toml`` / ``.yaml`` / ``.json`` spec file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No spec file at {path}; see examples/*.toml for templates.")
    suffix = path.suffix.lower()
    text = path.read_text()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError("", f"not valid TOML: {exc}", str(path)) from None
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SpecError("", "YAML specs need PyYAML (pip install pyyaml); or write the spec as TOML.",
                            str(path)) from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise SpecError("", f"not valid YAML: {exc}", str(path)) from None
        return data
    if suffix == ".json":
        return json.loads(text)
    raise SpecError("", f"unknown spec format {suffix!r}; use one of {', '.join(KNOWN_SPEC_SUFFIXES)}.", str(path))


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ExperimentSpec:
    """Read, apply dotted ``overrides`` (``{"runtime.executor": "ray"}``) and validate a spec file."""
    data = read_spec_file(path)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    return spec_from_dict(data, source=str(path))


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise SpecError(dotted, f"{p!r} is not a table, cannot set {dotted!r}.")
    node[parts[-1]] = value


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"tuning.lr=1e-4"`` -> ``("tuning.lr", 1e-4)``; the value is read as TOML, else kept as a string."""
    if "=" not in text:
        raise SpecError("", f"--set expects FIELD=VALUE (e.g. tuning.lr=1e-4 or grid.seeds=[31,777]), got {text!r}.")
    key, raw = (s.strip() for s in text.split("=", 1))
    if key not in field_help() and not any(key.startswith(p + ".") for p in ("tuning.per_method", "backend_options",
                                                                              "proxy_tuning.options",
                                                                              "discovery.options", "tuning.options")):
        guess = difflib.get_close_matches(key, list(field_help()), n=1)
        hint = f" Did you mean {guess[0]!r}?" if guess else ""
        raise SpecError(key, f"no such spec field.{hint}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def dump_toml(data: Mapping[str, Any]) -> str:
    """A small TOML writer for resolved specs (tables, scalars, lists, inline tables; ``None`` is omitted)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, Mapping):
            return "{" + ", ".join(f"{_key(k)} = {scalar(x)}" for k, x in v.items() if x is not None) + "}"
        raise TypeError(f"cannot write {v!r} as TOML")

    def _key(k: str) -> str:
        return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)

    lines: list[str] = []
    tables = []
    for k, v in data.items():
        if isinstance(v, Mapping) and k not in ("backend_options",):
            tables.append((k, v))
        elif v is not None:
            lines.append(f"{_key(k)} = {scalar(v)}")
    for k, v in tables:
        lines.append(f"\n[{k}]")
        for kk, vv in v.items():
            if vv is not None:
                lines.append(f"{_key(kk)} = {scalar(vv)}")
    return "\n".join(lines) + "\n"


__all__ = [
    "DataSpec", "DiscoverySpec", "EvaluationSpec", "ExperimentSpec", "GridSpec", "ModelSpec", "ProxyTuningSpec",
    "RuntimeSpec", "SpecError", "TuningSpec", "dump_toml", "field_help", "load_spec", "parse_assignment",
    "read_spec_file", "spec_from_dict", "stable_hash",
]
