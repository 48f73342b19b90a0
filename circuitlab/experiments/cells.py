"""The grid of cells, their stable ids, the shared stages they need, and the cell-function registry.

Context
-------
A *cell* is one point of the grid ``proxy × target × method × k × shots × seed``
and yields one results row. Cells are cheap to describe and expensive to run,
and many of them need the same expensive prerequisites:

- ``proxy``: the proxy competence checkpoint θ1 (one per proxy language);
- ``scores``: the discovery scores on θ1 (one per proxy language);
- ``baseline``: accuracy of θ1 (or of the base model, for ``direct``) on one
  language before any target tuning: A0 on a target, the "before" of forgetting
  on the proxy (one per model × language).

These are *stages*: computed once per run folder, cached there, and shared by
every cell that needs them. :func:`plan` turns a spec into the cells and the
stages, and says which stages each cell needs (by role).

Ids are content hashes. A cell's id hashes its coordinates *and* every setting
that can change its result (model, data, proxy tuning, discovery when the method
uses scores, the method's tuning settings, evaluation, backend), so an id never
names two different computations: a finished cell whose id is still in the grid
can always be reused, even after the spec was edited.

The work itself is done by a :class:`Backend` looked up by name in a registry
(:func:`register_backend`, :func:`get_backend`): ``"ctsft"`` runs the real
pipeline through :mod:`circuitlab.tuning` and :mod:`circuitlab.discovery`;
``"fake"`` is a tiny deterministic stand-in for testing the sweep machinery.
A backend may also be given as ``"package.module:object"``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from circuitlab import methods
from circuitlab.experiments.backends import (  # noqa: F401  (re-exported: the stages' and cells' interface)
    Backend, BackendFactory, RunContext, StageOutput, get_backend, list_backends, register_backend,
)
from circuitlab.experiments.spec import stable_hash
from circuitlab.results import CellResult

if TYPE_CHECKING:
    from circuitlab.experiments.spec import ExperimentSpec

StageKind = Literal["proxy", "scores", "baseline"]

#: Version of the way ids are computed: bump it whenever :func:`cell_identity` or a stage key changes
#: meaning, so that a run folder made by another version is recognised instead of silently recomputed.
ID_SCHEME = 1


#: The method table (one for every layer); ``MethodInfo`` is its row type.
METHODS = methods.METHODS
MethodInfo = methods.Method


# -- cells --------------------------------------------------------------------------------------


def _fmt_k(k: int | float | None) -> str:
    if k is None:
        return "-"
    return str(k) if isinstance(k, int) else f"{k:g}"


@dataclass(frozen=True)
class Cell:
    """One grid point. ``k`` is ``None`` for methods that take no head budget."""

    proxy: str
    target: str
    method: str
    k: int | float | None
    shots: int
    seed: int
    id: str = field(default="", compare=False)

    @property
    def info(self) -> MethodInfo:
        return METHODS[self.method]

    def coords(self) -> dict[str, Any]:
        """The six coordinates as a dict (the key columns of the results table)."""
        return {"proxy": self.proxy, "target": self.target, "method": self.method, "k": self.k,
                "shots": self.shots, "seed": self.seed}

    @property
    def label(self) -> str:
        """Short human-readable name: ``indonesian>javanese circuit k=6 n=25 seed=31``."""
        return f"{self.proxy}>{self.target} {self.method} k={_fmt_k(self.k)} n={self.shots} seed={self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {**self.coords(), "id": self.id}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Cell":
        return cls(d["proxy"], d["target"], d["method"], d["k"], int(d["shots"]), int(d["seed"]), d.get("id", ""))


def cell_identity(spec: "ExperimentSpec", cell: Cell) -> dict[str, Any]:
    """Every setting that can change ``cell``'s result (what its id hashes).

    A derived cell (``ctsft-auto``) is identified by its coordinates and the ids of the cells it chooses from.
    """
    ident = spec.identity()
    info = METHODS[cell.method]
    if info.derived_from:
        deps = [cell_id(spec, dataclasses.replace(cell, method=m)) for m in info.derived_from]
        return {"scheme": ID_SCHEME, "cell": cell.coords(), "derived_from": deps}
    out = {
        "scheme": ID_SCHEME, "cell": cell.coords(), "backend": ident["backend"], "backend_options": ident["backend_options"],
        "model": ident["model"], "data": ident["data"], "evaluation": ident["evaluation"],
        "tuning": _identity_of_tuning(spec, cell.method),
    }
    out["data"] = {k: v for k, v in out["data"].items() if k not in ("proxy", "targets")}
    if info.from_proxy:
        out["proxy_tuning"] = ident["proxy_tuning"]
    if needs_scores(spec, cell.method):
        out["discovery"] = discovery_identity(spec) if spec.discovery.scores_file else ident["discovery"]
    return out


def _identity_of_tuning(spec: "ExperimentSpec", method: str) -> dict[str, Any]:
    return spec.tuning.for_method(method).identity()


def needs_scores(spec: "ExperimentSpec", method: str) -> bool:
    """Whether ``method``'s cells read discovery scores (not when the spec names the heads itself)."""
    return METHODS[method].needs_scores and not spec.tuning.heads


def discovery_identity(spec: "ExperimentSpec") -> dict[str, Any]:
    """What decides the scores: the discovery settings, and a given table's content (not just its path)."""
    ident = {k: v for k, v in spec.identity()["discovery"].items() if k != "on_targets"}
    if spec.discovery.scores_file:
        import hashlib

        ident["scores_sha256"] = hashlib.sha256(Path(spec.discovery.scores_file).read_bytes()).hexdigest()
    return ident


def cell_id(spec: "ExperimentSpec", cell: Cell) -> str:
    """``indonesian-javanese-circuit-k6-n25-s31-1a2b3c4d5e``: readable coordinates plus a content hash.

    Methods without a head budget have no ``k`` part (``indonesian-javanese-full-n25-s31-…``).
    """
    h = stable_hash(cell_identity(spec, cell), 10)
    k = "" if cell.k is None else f"-k{_fmt_k(cell.k)}"
    return f"{cell.proxy}-{cell.target}-{cell.method}{k}-n{cell.shots}-s{cell.seed}-{h}"


def grid_methods(spec: "ExperimentSpec") -> list[str]:
    """The spec's methods plus the branches that derived methods need, derived methods last."""
    listed = list(spec.grid.methods)
    compute = [m for m in listed if not METHODS[m].derived_from]
    for m in listed:
        compute += [b for b in METHODS[m].derived_from if b not in compute]
    return compute + [m for m in listed if METHODS[m].derived_from]


def grid(spec: "ExperimentSpec") -> list[Cell]:
    """Every cell of the spec, each with its id, in execution order.

    Order (``grid.order = "target"``): proxy, target, shots, seed, then method and k,
    so that the first cells to finish already compare every method on one setting;
    ``"seed"`` puts the seed before the target (proxy, shots, seed, target, …), so that
    a run stopped early already spans every target. Methods without a head budget
    appear once per (proxy, target, shots, seed), with ``k = None``. A derived method
    (``ctsft-auto``) comes after the cells it chooses from, which are added when the
    spec does not list them.
    """
    g, d = spec.grid, spec.data
    methods = grid_methods(spec)
    if g.order == "seed":
        blocks = [(p, t, n, s) for p in d.proxy for n in g.shots for s in g.seeds for t in d.targets]
    else:
        blocks = [(p, t, n, s) for p in d.proxy for t in d.targets for n in g.shots for s in g.seeds]
    out: list[Cell] = []
    for proxy, target, shots, seed in blocks:
        for method in methods:
            ks: list[int | float | None] = list(g.k) if METHODS[method].uses_k else [None]
            for k in ks:
                c = Cell(proxy, target, method, k, shots, seed)
                out.append(dataclasses.replace(c, id=cell_id(spec, c)))
    return out


# -- stages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """A shared prerequisite, computed once per run folder.

    Attributes:
        kind: ``proxy`` (checkpoint θ1), ``scores`` (discovery on θ1) or ``baseline``
            (accuracy before target tuning).
        proxy: the proxy language of θ1, or ``None`` for the base model (a ``baseline``
            of the base model, used by ``direct``).
        language: the evaluated language of a ``baseline``; for ``scores``, ``None`` means
            the proxy language (what cells select heads from), a target language names a
            report-only discovery on that language.
        deps: ids of the stages this one needs, by role (``{"proxy": "proxy-indonesian-…"}``).
        key: every setting that can change the output (what ``id`` hashes).
        id: ``<kind>-<proxy|base>[-<language>]-<hash>``; also the folder name under ``stages/``.
    """

    kind: StageKind
    proxy: str | None
    language: str | None
    deps: tuple[tuple[str, str], ...]
    key: dict = field(compare=False, repr=False)
    id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "proxy": self.proxy, "language": self.language, "deps": dict(self.deps),
                "key": self.key, "id": self.id}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Stage":
        return cls(d["kind"], d["proxy"], d["language"], tuple(sorted(d["deps"].items())), d["key"], d["id"])


def _stage(kind: StageKind, proxy: str | None, language: str | None, deps: dict[str, str], key: dict) -> Stage:
    name = "-".join(x for x in (kind, proxy or "base", language) if x)
    return Stage(kind, proxy, language, tuple(sorted(deps.items())), key, f"{name}-{stable_hash(key, 10)}")


@dataclass
class Plan:
    """The cells of a spec, the stages they share, and which stage each cell needs by role.

    Roles: ``proxy`` (θ1), ``scores``, ``before_target`` and ``before_proxy`` (baselines
    of the starting model on the target and on the proxy language). ``extra`` lists
    stages no cell needs but the report uses (discovery on the target languages).
    """

    cells: list[Cell]
    stages: dict[str, Stage]
    needs: dict[str, dict[str, str]]
    extra: list[str] = field(default_factory=list)
    derived: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def compute_cells(self) -> list[Cell]:
        """The cells a backend computes (everything but derived cells)."""
        return [c for c in self.cells if c.id not in self.derived]

    def stage_order(self) -> list[Stage]:
        """Stages in an order where every stage comes after its dependencies."""
        done: set[str] = set()
        order: list[Stage] = []

        def visit(s: Stage) -> None:
            if s.id in done:
                return
            for _, dep in s.deps:
                visit(self.stages[dep])
            done.add(s.id)
            order.append(s)

        for s in sorted(self.stages.values(), key=lambda s: ("proxy", "scores", "baseline").index(s.kind)):
            visit(s)
        return order

    def stages_for(self, cells: list[Cell], extra: bool = False) -> list[Stage]:
        """The stages (with their dependencies) that ``cells`` need (plus ``self.extra``), in dependency order."""
        wanted: set[str] = set()

        def add(sid: str) -> None:
            if sid not in wanted:
                wanted.add(sid)
                for _, dep in self.stages[sid].deps:
                    add(dep)

        for c in cells:
            for sid in self.needs[c.id].values():
                add(sid)
        for sid in self.extra if extra else ():
            add(sid)
        return [s for s in self.stage_order() if s.id in wanted]


def plan(spec: "ExperimentSpec") -> Plan:
    """Cells, shared stages and the needs of each cell (see module docstring)."""
    ident = spec.identity()
    base = {"scheme": ID_SCHEME, "backend": ident["backend"], "backend_options": ident["backend_options"],
            "model": ident["model"],
            "data": {k: v for k, v in ident["data"].items() if k not in ("proxy", "targets")}}
    stages: dict[str, Stage] = {}

    def add(s: Stage) -> str:
        stages.setdefault(s.id, s)
        return s.id

    proxy_ids: dict[str, str] = {}
    score_ids: dict[tuple[str, str | None], str] = {}

    def proxy_stage(proxy: str) -> str:
        if proxy not in proxy_ids:
            proxy_ids[proxy] = add(_stage("proxy", proxy, None, {},
                                          {**base, "proxy": proxy, "proxy_tuning": ident["proxy_tuning"]}))
        return proxy_ids[proxy]

    disc = discovery_identity(spec)

    def scores_stage(proxy: str, language: str | None = None) -> str:
        if (proxy, language) not in score_ids:
            pid = proxy_stage(proxy)
            key = {"proxy_stage": pid, "discovery": disc, **({"language": language} if language else {})}
            score_ids[(proxy, language)] = add(_stage("scores", proxy, language, {"proxy": pid}, key))
        return score_ids[(proxy, language)]

    def baseline(proxy: str | None, language: str) -> str:
        deps = {"proxy": proxy_stage(proxy)} if proxy else {}
        key = {**base, "start": deps.get("proxy", "base"), "language": language, "evaluation": ident["evaluation"]}
        return add(_stage("baseline", proxy, language, deps, key))

    cells = grid(spec)
    by_coords = {(c.proxy, c.target, c.method, c.k, c.shots, c.seed): c.id for c in cells}
    needs: dict[str, dict[str, str]] = {}
    derived: dict[str, dict[str, str]] = {}
    for c in cells:
        info = c.info
        if info.derived_from:
            derived[c.id] = {m: by_coords[(c.proxy, c.target, m, c.k, c.shots, c.seed)] for m in info.derived_from}
            needs[c.id] = {}
            continue
        start = c.proxy if info.from_proxy else None
        roles: dict[str, str] = {}
        if info.from_proxy:
            roles["proxy"] = proxy_stage(c.proxy)
        if needs_scores(spec, c.method):
            roles["scores"] = scores_stage(c.proxy)
        roles["before_target"] = baseline(start, c.target)
        roles["before_proxy"] = baseline(start, c.proxy)
        needs[c.id] = roles
    extra: list[str] = []
    if spec.discovery.on_targets and not spec.discovery.scores_file and any(
            needs_scores(spec, m) for m in spec.grid.methods):
        for proxy in spec.data.proxy:
            extra += [scores_stage(proxy, t) for t in spec.data.targets if t != proxy]
    return Plan(cells, stages, needs, extra, derived)


def choose_branch(rows: dict[str, dict[str, Any]]) -> str:
    """The branch of ``ctsft-auto`` among the committed ``circuit`` and ``nearzero`` rows (see
    :func:`circuitlab.methods.choose_branch`)."""
    return methods.choose_branch(rows["circuit"], rows["nearzero"])


def derive_cell(cell: Cell, rows: dict[str, dict[str, Any]]) -> CellResult:
    """The row of a derived cell from the committed rows of the cells it chooses from (by method)."""
    info = METHODS[cell.method]
    if info.derived_from != ("circuit", "nearzero"):  # pragma: no cover - only ctsft-auto exists
        raise ValueError(f"No derivation rule for method {cell.method!r}.")
    branch = choose_branch(rows)
    row = {**rows[branch], **cell.coords(), "branch": branch}
    meta = {"derived_from": {m: {k: r.get(k) for k in ("cell_id", "val_acc", "val_f1", "target_acc")}
                             for m, r in rows.items()}, "branch": branch,
            "rule": "higher target validation accuracy, then macro-F1, then circuit"}
    return CellResult(row, meta)


__all__ = [
    "METHODS", "Backend", "Cell", "CellResult", "MethodInfo", "Plan", "RunContext", "Stage", "StageOutput",
    "cell_id", "cell_identity", "derive_cell", "get_backend", "grid", "grid_methods", "list_backends", "plan",
    "register_backend",
]
