"""Experiment specs: one TOML (or YAML) file names everything a sweep does.

Context
-------
A sweep is a grid of *cells* (proxy × target × method × k × shots × seed) plus
the settings that make each cell reproducible: the model, the data, the proxy
competence tuning, the discovery scorer, the tuning hyper-parameters, the
evaluation budget, and how the work is executed. A spec file is the single
source of truth for all of it; every CLI flag maps to one of its fields
(``--set tuning.lr=1e-4`` reaches any field).

The spec is a tree of frozen pydantic models (:mod:`.spec_types` has the field
types and the base model; :mod:`.spec_io` reads and writes files). Each field
carries its help text as its ``description`` (the config is the documentation,
as in PEFT), and fields marked ``identity=False`` (where the data lives, how the
work is executed, the run's name) do not change results, so they are left out of
the fingerprint that decides whether an existing run folder can be resumed.
``identity="unless-default"`` marks fields added after runs existed: at their
default they leave every fingerprint and cell id as it was.

Validation is strict and names the bad field::

    SpecError: examples/bad.toml: grid.shots[1]: expected a positive integer, got -3.

Unknown keys are errors too (with a "did you mean" hint), because a misspelt
``[tunning]`` table that is silently ignored is how sweeps go wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator, model_validator

from circuitlab.defaults import DEFAULT_MODEL, DEFAULT_PROXY
from circuitlab.experiments.spec_io import (
    KNOWN_SPEC_SUFFIXES, dump_toml, load_spec, parse_assignment, read_spec_file, set_dotted,
)
from circuitlab.experiments.spec_types import (
    Bool, Count, Fraction, Int, Invalid, LearningRate, ListOf, NonNegativeFloat, NonNegativeInt, OptionalStr,
    PositiveInt, SpecError, SpecModel, Str, Table, describe_error, did_you_mean, identity_of, plain, spec_error,
    stable_hash,
    spec_field as _f,
)


def _unique(values: list[Any], what: str = "values") -> list[Any]:
    dupes = sorted({str(x) for x in values if values.count(x) > 1})
    if dupes:
        raise Invalid("", f"{what} {dupes} are listed more than once.")
    return values


def _methods() -> dict[str, Any]:
    from circuitlab.methods import METHODS

    return METHODS


def _unknown_method(m: str, sub: str) -> Invalid:
    methods = _methods()
    return Invalid(sub, f"unknown method {m!r}; known: {', '.join(methods)}.{did_you_mean(m, methods)}")


# -- the spec tree ------------------------------------------------------------------------------


class ModelSpec(SpecModel):
    """Which model every cell starts from."""

    name: Str = _f(DEFAULT_MODEL, "Registered model name (`circuitlab models`), a local HF folder or a hub id.")
    dtype: Literal["float32", "bfloat16", "float16"] = _f("float32", "Parameter dtype for tuning and evaluation.")
    matmul_precision: Literal["highest", "high", "medium"] = _f(
        "highest", "Float32 matmul precision: 'highest' = exact; 'medium' = bfloat16 products with float32 "
                   "accumulation (1.2-2x faster steps and cells on an AMX CPU, measured); 'high' = TF32 on "
                   "NVIDIA GPUs.",
        identity="unless-default")
    device: Str = _f("cpu", "torch device for the driver and each worker ('cpu', 'cuda', 'cuda:1').", identity=False)


class DataSpec(SpecModel):
    """Dataset, languages and how the example pools are drawn."""

    dataset: Str = _f("nusax", "Dataset: 'nusax', 'xnli', or the path of a dataset folder (with dataset.toml; a "
                               "relative path is from the working directory, like data_dir, and is stored "
                               "resolved).")
    proxy: ListOf[Str] = _f(help="Proxy language(s): the higher-resource language(s) tuned on first.",
                            factory=lambda: [DEFAULT_PROXY], validate_default=True)
    targets: ListOf[Str] = _f(help="Target languages the proxy checkpoint is adapted to.",
                              factory=lambda: ["javanese"], validate_default=True)
    data_dir: OptionalStr = _f(None, "Local copy of the dataset (else $CIRCUITLAB_<DATASET>_DIR, else a folder found "
                                     "beside the repo, else the hub).", identity=False)
    train_split: Str = _f("", "Split the proxy pools and the target examples are drawn from ('' = the dataset's "
                              "default: 'train' for NusaX and dataset folders, 'dev' for XNLI).")
    valid_split: Str = _f("", "Split for learning-rate and branch selection ('' = 'valid' for NusaX and dataset "
                              "folders; XNLI carves it out of 'dev').")
    test_split: Str = _f("test", "Split every reported accuracy is measured on.")
    pool_seed: Int = _f(0, "Seed of the proxy pools (A: competence + discovery, B: held out).")
    dataset_sha256: OptionalStr = _f(None, "Set when the spec is read: sha256 of a dataset folder's dataset.toml "
                                           "and data files, so that a changed folder is a different run (none for "
                                           "nusax and xnli).", identity="unless-default", validate_default=True)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str, info: ValidationInfo) -> str:
        """A registered name (canonical spelling) or a dataset folder (its resolved path)."""
        from circuitlab.data import DataError, get_dataset, is_dataset_path

        try:
            return get_dataset(name).name
        except DataError as exc:
            if is_dataset_path(name) and not _check_files(info):
                return name  # a finished run's spec, re-read where its folder is not
            raise Invalid("", str(exc)) from None

    @field_validator("proxy", "targets")
    @classmethod
    def _canonical_languages(cls, values: list[str], info: ValidationInfo) -> list[str]:
        """Canonical language names of the dataset (``"jav"`` -> ``"javanese"``), each once."""
        ds = _dataset_of(info)
        if ds is None:  # the dataset itself is wrong (that error is reported), or its folder is not here
            return values
        from circuitlab.data.errors import DataError

        if not values:
            raise Invalid("", "give at least one language.")
        out = []
        for i, v in enumerate(values):
            try:
                out.append(ds.canonical_language(v))
            except DataError as exc:
                raise Invalid(f"[{i}]", str(exc)) from None
        return _unique(out, "languages")

    @field_validator("dataset_sha256")
    @classmethod
    def _dataset_content(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A folder's content hash, computed afresh (kept as given where the folder is not checked)."""
        ds = _dataset_of(info)
        if ds is None or not _check_files(info):
            return value
        if ds.folder is None:
            return None
        from circuitlab.data import dataset_sha256

        return dataset_sha256(ds.name)


def _check_files(info: ValidationInfo) -> bool:
    return bool((info.context or {}).get("check_files", True))


def _dataset_of(info: ValidationInfo) -> Any:
    """The validated dataset's :class:`~circuitlab.data.DatasetSpec`, or ``None`` if it is invalid or absent."""
    if "dataset" not in info.data:
        return None
    from circuitlab.data import DataError, get_dataset

    try:
        return get_dataset(info.data["dataset"])
    except DataError:
        return None


class GridSpec(SpecModel):
    """The cells: every combination of these values is one results row."""

    methods: ListOf[Str] = _f(help="Tuning methods (circuit, nearzero, random, least, norms, full, direct, "
                                   "lora, ctsft-auto).", factory=lambda: ["circuit", "nearzero", "full"])
    k: ListOf[Count] = _f(help="Head budgets: a count of heads, or a fraction of all heads in (0, 1). Methods "
                               "that update no selected heads (full, direct, norms) ignore it.", factory=lambda: [6])
    shots: ListOf[PositiveInt] = _f(help="Numbers of target training examples (the paper's n).",
                                    factory=lambda: [25])
    seeds: ListOf[Int] = _f(help="Seeds: target sample, head sampling (random) and training order.",
                            factory=lambda: [31])
    order: Literal["target", "seed"] = _f(
        "target", "Execution order of the cells: 'target' finishes every seed of one target first; 'seed' finishes "
                  "one seed on every target first (a partial run then already spans all targets). Ids and "
                  "results do not depend on it.", identity=False)

    @field_validator("methods", "k", "shots", "seeds")
    @classmethod
    def _some_and_unique(cls, values: list[Any]) -> list[Any]:
        if not values:
            raise Invalid("", "give at least one value.")
        return _unique(values)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, values: list[str]) -> list[str]:
        for i, m in enumerate(values):
            if m not in _methods():
                raise _unknown_method(m, f"[{i}]")
        return values

    @field_validator("k")
    @classmethod
    def _head_budgets(cls, values: list[int | float]) -> list[int | float]:
        for i, k in enumerate(values):
            if isinstance(k, float) and not 0 < k < 1:
                raise Invalid(f"[{i}]", f"a fractional k must be in (0, 1), got {k}; use an integer for a count "
                                        "of heads.")
            if isinstance(k, int) and k < 1:
                raise Invalid(f"[{i}]", f"expected a positive integer (a count of heads), got {k}.")
        return values


class ProxyTuningSpec(SpecModel):
    """Stage 0: full fine-tuning of the base model on the proxy language (checkpoint θ1)."""

    n_src: PositiveInt = _f(50, "Proxy training examples (the paper's n_src).")
    pool_a: NonNegativeInt = _f(400, "Size of proxy pool A (competence tuning, mean and discovery are drawn "
                                     "from it).")
    pool_b: NonNegativeInt = _f(100, "Size of proxy pool B (held out).")
    epochs: PositiveInt = _f(5, "Epochs of proxy competence tuning.")
    lr: LearningRate = _f(5e-5, "AdamW learning rate of proxy competence tuning (used when lr_grid is empty).")
    lr_grid: ListOf[LearningRate] = _f(help="θ1's learning rates: each is tried and the best on proxy validation "
                                            "is kept (empty: proxy_tuning.lr).",
                                       factory=list, identity="unless-default")
    batch_size: PositiveInt = _f(16, "Batch size.")
    max_length: PositiveInt = _f(128, "Token limit per example.")
    warmup: Fraction = _f(0.1, "Fraction of steps with linear learning-rate warm-up.")
    seed: Int = _f(0, "Seed of the proxy sample and training order (one θ1 shared by every seed of the grid).")
    options: Table = _f(help="Extra keyword arguments passed to the tuning package unchanged.", factory=dict)

    @model_validator(mode="after")
    def _n_src_fits(self) -> "ProxyTuningSpec":
        if self.n_src > self.pool_a:
            raise Invalid("n_src", f"n_src={self.n_src} must fit in pool A (proxy_tuning.pool_a={self.pool_a}).")
        return self


class DiscoverySpec(SpecModel):
    """Stages 1–5: the discovery set, the mean baseline and the head scores on θ1."""

    scorer: Str = _f("directional", "Head scorer registered in circuitlab.discovery (e.g. 'directional').")
    scores_file: OptionalStr = _f(None, "A head-score table (CSV or parquet, as written by `circuitlab discover`) "
                                        "used instead of running discovery.", identity="unless-default")
    n_examples: PositiveInt = _f(50, "Size of the label-balanced discovery set M (correctly classified proxy "
                                     "examples).")
    max_pool: NonNegativeInt = _f(0, "Classify only this many pool-A examples (seeded shuffle) to find M's "
                                     "candidates (0 = all of pool A).")
    require_correct: Bool = _f(True, "Only correctly classified examples may enter M (the paper's rule; turn off "
                                     "only for untrained test models).")
    seed: Int = _f(0, "Seed of the discovery sample.")
    depth: NonNegativeInt = _f(0, "Circuit growth iterations beyond depth 0 (CD-T); 0 = score heads against the "
                                  "logits only.")
    per_depth: Count = _f(0.02, "Heads added per depth: a count, or a fraction of all heads.")
    batch_size: PositiveInt = _f(8, "Batch size of the scorer.")
    on_targets: Bool = _f(False, "Also score the heads of θ1 on each target language (same scorer and rules, the "
                                 "target's pool A), for the report's proxy-vs-target circuit overlap. Costs one "
                                 "discovery per target, and fails (noted in the log and report) where θ1 classifies "
                                 "too few target examples correctly for a balanced discovery set.",
                          identity=False)
    options: Table = _f(help="Extra keyword arguments passed to the scorer unchanged.", factory=dict)

    @field_validator("scorer")
    @classmethod
    def _registered_scorer(cls, name: str) -> str:
        from circuitlab.discovery.scorers import SCORERS  # imports torch: only for a scorer the spec names

        if name not in SCORERS:
            raise Invalid("", f"unknown scorer {name!r}; registered: {', '.join(sorted(SCORERS))}."
                              f"{did_you_mean(name, sorted(SCORERS))}")
        return name

    @field_validator("scores_file")
    @classmethod
    def _scores_file_exists(cls, path: str | None, info: ValidationInfo) -> str | None:
        if path is None or not (info.context or {}).get("check_files", True):
            return path
        if not Path(path).expanduser().is_file():
            raise Invalid("", f"no head-score table at {path!r} (from {Path.cwd()}); give the CSV or parquet "
                              "file that `circuitlab discover` wrote, or leave discovery.scores_file unset to run "
                              "discovery.")
        return path

    @field_validator("per_depth")
    @classmethod
    def _per_depth(cls, v: int | float) -> int | float:
        if isinstance(v, float) and not 0 < v < 1:
            raise Invalid("", f"a fraction must be in (0, 1), got {v}.")
        if isinstance(v, int) and v < 1:
            raise Invalid("", f"expected a positive count, got {v}.")
        return v


class TuningSpec(SpecModel):
    """Stage 6: target tuning of every cell, starting from θ1 (or the base model for 'direct')."""

    epochs: PositiveInt = _f(5, "Epochs over the target examples.")
    lr: LearningRate = _f(5e-5, "AdamW learning rate (used when lr_grid is empty).")
    lr_grid: ListOf[LearningRate] = _f(help="Learning rates tried per cell; the best on validation is kept and "
                                            "reported.", factory=list)
    batch_size: PositiveInt = _f(16, "Batch size.")
    max_length: PositiveInt = _f(128, "Token limit per example.")
    warmup: Fraction = _f(0.1, "Fraction of steps with linear learning-rate warm-up.")
    weight_decay: NonNegativeFloat = _f(0.01, "AdamW weight decay (never applied to masked slices).")
    kv_rule: Literal["any", "all", "none"] = _f("any", "Grouped-query attention: train a K/V group when any / "
                                                       "all / none of its query heads are selected.")
    heads: ListOf[Str] = _f(help="Explicit heads for the head methods, as 'L3H1' strings (empty: select them from "
                                 "the discovery scores).", factory=list, identity="unless-default")
    per_method: dict[str, dict[str, Any]] = _f(
        help="Per-method overrides of the fields above, e.g. {full = {lr_grid = [1e-5, 3e-5]}}.", factory=dict)
    options: Table = _f(help="Extra keyword arguments passed to the tuning package unchanged.", factory=dict)

    @field_validator("heads")
    @classmethod
    def _head_names(cls, values: list[str]) -> list[str]:
        """Each head parses (``"L3H1"``, ``"3.1"``) and is kept as ``"L3H1"``; the range is checked by preflight."""
        from circuitlab.heads import Head

        out = []
        for i, text in enumerate(values):
            try:
                out.append(str(Head.parse(text)))
            except ValueError as exc:
                raise Invalid(f"[{i}]", str(exc)) from None
        return _unique(out, "heads")

    @field_validator("per_method", mode="before")
    @classmethod
    def _per_method(cls, value: Any) -> dict[str, dict[str, Any]]:
        """Known methods, known tuning fields, each value validated as that field (and kept coerced)."""
        if not isinstance(value, Mapping):
            raise Invalid("", f"expected a table, got {value!r}.")
        names = [n for n in cls.model_fields if n != "per_method"]
        out = {}
        for m, over in value.items():
            m = str(m)
            if m not in _methods():
                raise _unknown_method(m, m)
            if not isinstance(over, Mapping):
                raise Invalid(m, f"expected a table of tuning fields, got {over!r}.")
            for key in over:
                if key not in names:
                    raise Invalid(f"{m}.{key}", f"not a tuning field; valid: {', '.join(names)}."
                                                f"{did_you_mean(key, names)}")
            try:
                checked = cls.model_validate(dict(over), context=None)
            except ValidationError as exc:
                sub, message = describe_error(exc, cls)
                raise Invalid(f"{m}.{sub}", message) from None
            out[m] = {str(key): getattr(checked, str(key)) for key in over}
        return out

    def for_method(self, method: str) -> "TuningSpec":
        """These settings with ``per_method[method]`` applied (validated when the spec was loaded)."""
        return self.model_copy(update={"per_method": {}, **self.per_method.get(method, {})})


class EvaluationSpec(SpecModel):
    """What every accuracy is measured on."""

    n_test: NonNegativeInt = _f(400, "Test examples per language (0 = the whole split; the same ids in every "
                                     "language).")
    n_valid: NonNegativeInt = _f(100, "Validation examples per language for lr / branch selection (0 = whole "
                                      "split).")
    batch_size: PositiveInt = _f(16, "Evaluation batch size.")
    max_length: PositiveInt = _f(128, "Token limit per example.")


class RuntimeSpec(SpecModel):
    """How the sweep is executed. None of these fields changes a result."""

    executor: Literal["sequential", "ray"] = _f("sequential", "Run cells one after another, or as Ray tasks.",
                                                identity=False)
    address: OptionalStr = _f(None, "Ray cluster address ('auto', 'ray://host:10001'); none = start a local "
                                    "instance.", identity=False)
    num_cpus: NonNegativeInt = _f(0, "CPUs of a local Ray instance (0 = all).", identity=False)
    cpus_per_cell: PositiveInt = _f(1, "CPUs reserved per Ray cell task (also torch threads in the worker).",
                                    identity=False)
    ship_stages: Literal["auto", "always", "never"] = _f(
        "auto", "Send shared-stage files to Ray workers through the object store ('auto': only when an address is "
                "given, i.e. the workers may not see this run folder).", identity=False)
    on_error: Literal["continue", "stop"] = _f("continue", "After a failed cell: run the others (it is retried on "
                                                           "the next run), or stop.", identity=False)
    threads: NonNegativeInt = _f(0, "torch threads in the driver (0 = torch's default).", identity=False)
    quiet: Bool = _f(False, "No progress bars or console logging (the log file is always written).",
                     identity=False)

    @model_validator(mode="after")
    def _address_needs_ray(self) -> "RuntimeSpec":
        if self.address is not None and self.executor != "ray":
            raise Invalid("address", "an address only makes sense with runtime.executor = 'ray' (--executor ray).")
        return self


class ExperimentSpec(SpecModel):
    """A whole experiment. Load one with :func:`load_spec`; build one in code with :func:`spec_from_dict`."""

    name: Str = _f("experiment", "Short name of the run (shown in the report).", identity=False)
    description: Str = _f("", "Free text shown at the top of the report.", identity=False)
    budget: Str = _f("custom", "Label of the compute budget ('demo', 'paper', 'custom'); shown in the report.",
                     identity=False)
    backend: Str = _f("ctsft", "Cell function from the registry ('ctsft', 'fake', or 'package.module:object').")
    backend_options: Table = _f(help="Keyword arguments for the backend (e.g. the fake backend's sleep_s).",
                                factory=dict)
    model: ModelSpec = _f(help=ModelSpec.__doc__, factory=ModelSpec)
    data: DataSpec = _f(help=DataSpec.__doc__, factory=DataSpec)
    grid: GridSpec = _f(help=GridSpec.__doc__, factory=GridSpec)
    proxy_tuning: ProxyTuningSpec = _f(help=ProxyTuningSpec.__doc__, factory=ProxyTuningSpec)
    discovery: DiscoverySpec = _f(help=DiscoverySpec.__doc__, factory=DiscoverySpec)
    tuning: TuningSpec = _f(help=TuningSpec.__doc__, factory=TuningSpec)
    evaluation: EvaluationSpec = _f(help=EvaluationSpec.__doc__, factory=EvaluationSpec)
    runtime: RuntimeSpec = _f(help=RuntimeSpec.__doc__, factory=RuntimeSpec)

    # -- views --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON/TOML-ready dict of every field (the *resolved* spec)."""
        return plain(self.model_dump())

    def fingerprint(self) -> str:
        """sha256 of :meth:`identity` (and the id scheme): the same fingerprint means the same cells and results."""
        from circuitlab.experiments.cells import ID_SCHEME

        return stable_hash({"scheme": ID_SCHEME, **self.identity()})

    def replace(self, **changes: Any) -> "ExperimentSpec":
        """A copy with dotted-path changes applied and re-validated: ``spec.replace(**{"tuning.lr": 1e-4})``."""
        data = self.to_dict()
        for dotted, value in changes.items():
            set_dotted(data, dotted, value)
        return spec_from_dict(data)


def field_help(cls: type[BaseModel] = ExperimentSpec, prefix: str = "") -> dict[str, str]:
    """``{"tuning.lr": "AdamW learning rate ...", ...}`` for every leaf field (used by ``--help`` texts)."""
    out: dict[str, str] = {}
    for name, info in cls.model_fields.items():
        tp, path = info.annotation, f"{prefix}{name}"
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            out.update(field_help(tp, path + "."))
        else:
            out[path] = info.description or ""
    return out


def spec_from_dict(data: Mapping[str, Any], source: str | None = None, *, check_files: bool = True) -> ExperimentSpec:
    """Build and validate a spec from nested dicts (as read from TOML); errors name the bad field.

    ``check_files=False`` skips checking that files the spec names (``discovery.scores_file``) exist,
    for re-reading a finished run's spec on a machine without them.
    """
    try:
        return ExperimentSpec.model_validate(data, context={"check_files": check_files})
    except ValidationError as exc:
        raise spec_error(exc, ExperimentSpec, source) from None
    except SpecError as exc:
        if source and not exc.source:
            raise SpecError(exc.field, exc.message, source) from None
        raise


__all__ = [
    "KNOWN_SPEC_SUFFIXES", "DataSpec", "DiscoverySpec", "EvaluationSpec", "ExperimentSpec", "GridSpec", "ModelSpec",
    "ProxyTuningSpec", "RuntimeSpec", "SpecError", "TuningSpec", "dump_toml", "field_help", "identity_of",
    "load_spec", "parse_assignment", "read_spec_file", "spec_from_dict", "stable_hash",
]
