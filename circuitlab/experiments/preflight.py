"""Checks of a spec against the world, before any model is loaded.

The spec's own validation (:mod:`circuitlab.experiments.spec`) knows types,
ranges and names. What it cannot know is the model's head grid and the data:
a ``k`` of 100 on Gemma-3-270M (72 heads), an explicit head ``L20H0`` on an
18-layer model, 200 shots from a pool of 100 or a train split too small for its
pools would otherwise fail minutes into a run, after θ1 was trained. Here they
fail in a second, each as a :class:`~circuitlab.experiments.spec.SpecError`
naming the field; so does a model family that tuning or the chosen scorer does
not support (:func:`family_support`, the one place that says what each family can do). Reading the head grid needs only the model's registry entry or
``config.json``; reading the data needs its files (no weights); a dataset folder must
also have every split the protocol reads, for every language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from circuitlab.data.errors import DataError
from circuitlab.experiments.spec import SpecError
from circuitlab.methods import get_method

if TYPE_CHECKING:
    from circuitlab.experiments.spec import ExperimentSpec


def check_heads(spec: "ExperimentSpec") -> None:
    """Every head budget and explicit head fits the model's grid (when it can be known without loading)."""
    from circuitlab.heads import Head
    from circuitlab.models.registry import head_grid

    grid = head_grid(spec.model.name)
    if grid is None:
        return
    n_layers, n_heads = grid
    total = n_layers * n_heads
    for i, k in enumerate(spec.grid.k):
        if not isinstance(k, float) and k > total:
            raise SpecError(f"grid.k[{i}]", f"k={k} is larger than the {total} heads of {spec.model.name!r} "
                                            f"({n_layers} layers x {n_heads} heads); choose k <= {total} or a "
                                            "fraction in (0, 1).")
    for i, text in enumerate(spec.tuning.heads):
        h = Head.parse(text)
        if h.layer >= n_layers or h.head >= n_heads:
            raise SpecError(f"tuning.heads[{i}]", f"{text} is outside {spec.model.name!r}, which has layers "
                                                  f"0..{n_layers - 1} and heads 0..{n_heads - 1}.")


def check_data(spec: "ExperimentSpec") -> None:
    """The pools fit each language's train split, and every shot count fits pool B."""
    from circuitlab.experiments.ctsft.config import protocol_for

    pt = spec.proxy_tuning
    for i, n in enumerate(spec.grid.shots):
        if n > pt.pool_b:
            raise SpecError(f"grid.shots[{i}]", f"{n} target examples cannot be drawn from pool B of "
                                                f"{pt.pool_b} (proxy_tuning.pool_b); lower the shots or raise "
                                                "pool_b.")
    if spec.backend != "ctsft":
        return
    protocol = protocol_for(spec)
    languages = list(dict.fromkeys([*spec.data.proxy, *spec.data.targets]))
    check_folder_splits(spec, protocol, languages)
    for language in languages:
        try:
            protocol.pools(language)  # a missing file or a split too small for pool_a + pool_b: DataError
        except DataError as exc:
            if "disjoint pools" not in str(exc):
                raise
            raise SpecError("proxy_tuning.pool_a", f"{language}: {exc} Set proxy_tuning.pool_a and "
                            f"proxy_tuning.pool_b (now {pt.pool_a} and {pt.pool_b}; CLI: --set "
                            "proxy_tuning.pool_a=N) so that they fit.") from None


def check_folder_splits(spec: "ExperimentSpec", protocol, languages: list[str]) -> None:
    """A dataset folder has the train, validation and test splits the protocol reads, for every language."""
    from circuitlab.data import get_dataset

    ds = get_dataset(spec.data.dataset)
    if ds.folder is None or ds.has_local is None:
        return
    for name, split in (("data.train_split", protocol.train_split), ("data.valid_split", protocol.valid_split),
                        ("data.test_split", protocol.test_split)):
        for language in languages:
            if not ds.has_local(ds.folder, language, split):
                has = [s for s in ds.splits if ds.has_local(ds.folder, language, s)]
                raise SpecError(name, f"dataset {ds.display!r} has no {split!r} split for {language!r} (it has "
                                      f"{has}); set {name} to one of them, or add the rows to {ds.folder}.")


def family_support(family: str) -> dict[str, bool]:
    """What circuitlab can do with a model family (HF ``model_type``): the one policy every check reads.

    ``tuning``: head/norm masks and tuners know where its projections and norms live
    (:mod:`circuitlab.tuning.families`); ``decomposition``: CD-T has exact rules for it
    (:mod:`circuitlab.discovery.decomposition`), which the ``directional`` and ``cdt-unsigned``
    scorers need. Ablation and attribution scorers work on any family the Bridge boots.
    """
    from circuitlab.discovery.decomposition import FAMILIES as DECOMPOSITION
    from circuitlab.tuning.families import FAMILIES as TUNING

    return {"tuning": family in TUNING, "decomposition": family in DECOMPOSITION}


def check_family(spec: "ExperimentSpec") -> None:
    """The model's family supports what the spec asks of it (when the family is known without loading)."""
    from circuitlab.discovery.scorers import SCORERS
    from circuitlab.discovery.scorers.decomposition import _DecompositionScorer
    from circuitlab.experiments.cells import needs_scores
    from circuitlab.models.registry import model_family

    family = model_family(spec.model.name)
    if family is None or spec.backend != "ctsft":
        return
    support = family_support(family)
    if not support["tuning"] and any(not get_method(m).derived_from for m in spec.grid.methods):
        raise SpecError("model.name", f"{spec.model.name!r} is a {family!r} model, which the tuning package has "
                                      "no adapter for (circuitlab.tuning.register_family adds one).")
    uses_scores = any(needs_scores(spec, m) for m in spec.grid.methods) and not spec.discovery.scores_file
    scorer = SCORERS.get(spec.discovery.scorer)
    if uses_scores and scorer is not None and issubclass(scorer, _DecompositionScorer) and \
            not support["decomposition"]:
        raise SpecError("discovery.scorer", f"{spec.discovery.scorer!r} needs the CD-T decomposition, which has no "
                                            f"exact rules for {family!r} models; use an ablation or 'attribution' "
                                            "scorer, or give discovery.scores_file.")


def preflight(spec: "ExperimentSpec") -> None:
    """All checks that need no weights (see the module docstring); raises the first problem."""
    check_heads(spec)
    check_family(spec)
    check_data(spec)


__all__ = ["check_data", "check_family", "check_folder_splits", "check_heads", "family_support", "preflight"]
