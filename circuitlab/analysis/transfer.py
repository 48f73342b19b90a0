"""The three difficulty measures of proxy → target transfers, computed in one call.

Context: the CT-SFT paper defines transfer difficulty as A0(ℓ), the proxy
checkpoint θ1's accuracy on target ℓ before any target tuning, and claims that
hard transfers favour editing the circuit while easy ones favour preserving it.
"Hard" could also mean *far from the proxy*, so :func:`transfer_difficulty`
measures three things per target and returns one tidy row per target, ready to
be joined to tuning results by :func:`~circuitlab.analysis.editing_vs_preserving`:

1. **behaviour**: ``a0`` (θ1's target accuracy), ``proxy_acc`` and ``gap =
   proxy_acc − a0`` (either given, or computed with
   :func:`~circuitlab.evaluation.evaluate`);
2. **vocabulary**: NusaX-Lexicon (Indonesian → target) ``lex_share_different``
   and ``lex_mean_nld`` (mean normalised Levenshtein), see
   :func:`~circuitlab.analysis.lexical_distance`; only defined when the proxy is
   Indonesian, NaN otherwise;
3. **representation**: linear CKA of θ1's mean residual streams over parallel
   proxy/target sentences, per layer (:func:`representation_similarity`),
   summarised as ``cka_mean`` (over layers) and ``cka_last``, beside the
   shuffled-pairing level ``cka_shuffled_mean``.

:data:`DIFFICULTY_MEASURES` says, for every column, which direction means harder,
so figures can label their axes honestly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from circuitlab.analysis.difficulty import lexical_distance, zero_shot_gap
from circuitlab.analysis.representations import representation_similarity


class Measure(NamedTuple):
    """One difficulty column: what it is and which direction is harder."""

    label: str
    harder: Literal["lower", "higher"]
    source: str


DIFFICULTY_MEASURES: dict[str, Measure] = {
    "a0": Measure("A0: θ1 accuracy on the target before tuning", "lower", "evaluation"),
    "gap": Measure("zero-shot gap: θ1 proxy accuracy − A0", "higher", "evaluation"),
    "lex_share_different": Measure("share of lexicon entries that differ", "higher", "NusaX-Lexicon"),
    "lex_mean_nld": Measure("mean normalised edit distance (lexicon)", "higher", "NusaX-Lexicon"),
    "cka_mean": Measure("linear CKA of θ1 residuals, mean over layers", "lower", "representations"),
    "cka_last": Measure("linear CKA of θ1 residuals, last layer", "lower", "representations"),
}


@dataclass(frozen=True)
class TransferDifficulty:
    """Result of :func:`transfer_difficulty`.

    Attributes:
        table: one row per target: ``proxy, target, a0, proxy_acc, gap,
            lex_share_different, lex_mean_nld, lex_n_entries, cka_mean, cka_last,
            cka_shuffled_mean, n_eval, n_cka`` (NaN where a measure was not computed).
        cka: the per-layer CKA, stacked: ``target, layer, relative_depth, cka, cka_shuffled``.
        config: how everything was computed (model, splits, limits, seeds), for the record.
    """

    table: pd.DataFrame
    cka: pd.DataFrame = field(repr=False)
    config: dict = field(repr=False)


def canonical_language(language: str, dataset: str) -> str:
    """A language as the dataset names it (NusaX: ``jav`` -> ``javanese``; XNLI: ``swahili`` -> ``sw``; a
    dataset folder: as its files spell it)."""
    from circuitlab.data import get_dataset

    return get_dataset(dataset).canonical_language(language)


def theta1_cells(results: pd.DataFrame) -> pd.DataFrame:
    """The cells of a sweep's results that start from θ1, whose ``*_acc_before`` columns measure θ1.

    ``start == "proxy"`` where the column exists; else every method but ``direct`` (it starts from the base).
    """
    if "start" in results.columns:
        return results[results["start"] == "proxy"]
    return results[results["method"] != "direct"] if "method" in results.columns else results


def theta1_accuracies(results: pd.DataFrame, proxy: str, dataset: str = "nusax") -> dict[str, float]:
    """θ1's accuracy per language (canonical names) as a sweep measured it, for :func:`transfer_difficulty`.

    Only cells of ``proxy`` count (a sweep may hold several proxies, each with its own θ1), and only cells
    that start from θ1 (:func:`theta1_cells`); the cells of one target share one "before" measurement, so
    their mean is that measurement.
    """
    from circuitlab.analysis._tables import require_columns

    require_columns(results, ["target", "target_acc_before", "proxy_acc_before"], "results table")
    rows = theta1_cells(results)
    proxy_c = canonical_language(proxy, dataset)
    if "proxy" in rows.columns:
        proxies = sorted({canonical_language(str(p), dataset) for p in rows["proxy"].dropna()})
        rows = rows[rows["proxy"].map(lambda p: canonical_language(str(p), dataset)) == proxy_c]
        if rows.empty:
            raise ValueError(f"The results table has no cell with proxy {proxy!r}; its proxies: {', '.join(proxies)}.")
    rows = rows.dropna(subset=["target_acc_before"])
    if rows.empty:
        raise ValueError("The results table has no cell that starts from θ1 with a measured target_acc_before "
                         "(only `direct`?); drop --results to evaluate θ1 instead.")
    targets = rows["target"].map(lambda t: canonical_language(str(t), dataset))
    acc = rows.groupby(targets)["target_acc_before"].mean().to_dict()
    acc[proxy_c] = float(rows["proxy_acc_before"].mean())
    return {str(k): float(v) for k, v in acc.items()}


def _accuracy_lookup(accuracies: Mapping[str, float] | pd.DataFrame | None, dataset: str) -> dict[str, float]:
    if accuracies is None:
        return {}
    if isinstance(accuracies, pd.DataFrame):
        missing = [c for c in ("language", "accuracy") if c not in accuracies.columns]
        if missing:
            raise ValueError(f"The accuracy table lacks {missing}; expected columns 'language' and 'accuracy'.")
        accuracies = dict(zip(accuracies["language"], accuracies["accuracy"]))
    return {canonical_language(str(k), dataset): float(v) for k, v in accuracies.items()}


def zero_shot_accuracies(
    model,
    languages: Sequence[str],
    task=None,
    dataset: str = "nusax",
    split: str = "test",
    limit: int | None = None,
    data_dir=None,
    batch_size: int = 16,
    max_length: int = 128,
    progress: bool = True,
) -> pd.DataFrame:
    """Accuracy and macro-F1 of ``model`` on ``split`` of every language: ``language, accuracy, macro_f1, n``.

    ``task`` defaults to the dataset's standard task for the model's tokenizer;
    ``limit`` keeps the first N examples of each split (the same sentences in every
    language of a parallel corpus).
    """
    from circuitlab.data import load_examples
    from circuitlab.evaluation import evaluate
    from circuitlab.tasks import make_task

    task = task or make_task(dataset, model.tokenizer)
    rows = []
    for language in tqdm(list(languages), desc="zero-shot accuracy", disable=not progress, leave=False):
        examples = load_examples(dataset, language, split, data_dir)[:limit]
        res = evaluate(model, task, examples, batch_size=batch_size, max_length=max_length, progress=False)
        rows.append({"language": canonical_language(language, dataset), "accuracy": res.accuracy,
                     "macro_f1": res.macro_f1, "n": res.n})
    out = pd.DataFrame(rows)
    out.attrs.update(model=model.name, dataset=dataset, split=split, limit=limit, task=task.name)
    return out


def transfer_difficulty(
    proxy: str,
    targets: Sequence[str],
    model=None,
    accuracies: Mapping[str, float] | pd.DataFrame | None = None,
    *,
    task=None,
    dataset: str = "nusax",
    data_dir=None,
    eval_split: str = "test",
    eval_limit: int | None = None,
    lexicon: bool = True,
    cka: bool = True,
    cka_split: str = "valid",
    cka_n: int | None = 100,
    cka_layers: Sequence[int] | None = None,
    batch_size: int = 16,
    max_length: int = 128,
    seed: int = 0,
    progress: bool = True,
) -> TransferDifficulty:
    """Difficulty measures of every ``proxy → target`` transfer (see the module docstring).

    Args:
        proxy: the proxy language (Indonesian for NusaX).
        targets: the target languages (names or ISO codes).
        model: θ1, the proxy checkpoint (a ``LoadedModel``). Needed for the CKA and for any
            accuracy not given in ``accuracies``; with neither, those columns are NaN.
        accuracies: θ1's accuracies per language (``{language: acc}`` or a table with
            ``language, accuracy``), e.g. from tuning results; missing ones are evaluated.
        task: the classification task (default: the dataset's standard one).
        dataset, data_dir: where examples come from: ``"nusax"`` (``data_dir`` is its root), ``"xnli"``
            or a dataset folder (with ``dataset.toml``; ``data_dir`` unused).
        eval_split, eval_limit: the split (and first-N limit) accuracies are measured on.
        lexicon: compute the NusaX-Lexicon distances (NusaX with an Indonesian proxy only).
        cka: compute the representation similarity (needs ``model``).
        cka_split, cka_n: the parallel sentences for CKA: the first ``cka_n`` shared ids of
            ``cka_split`` (default ``valid``, never the test split the accuracies use).
        cka_layers: the layers to compare (default all).
        seed: the seed of the shuffled-pairing CKA baseline.

    Returns:
        a :class:`TransferDifficulty`; its ``table`` joins on ``target`` with the
        tuning results (targets keep the spelling they were given in).
    """
    if not targets:
        raise ValueError("transfer_difficulty needs at least one target language.")
    from circuitlab.data import get_dataset

    dataset = get_dataset(dataset).name  # "NusaX" -> "nusax"; a dataset folder -> its resolved path
    proxy_c = canonical_language(proxy, dataset)
    acc = _accuracy_lookup(accuracies, dataset)
    wanted = [proxy_c] + [canonical_language(t, dataset) for t in targets]
    to_eval = [lang for lang in dict.fromkeys(wanted) if lang not in acc]
    n_eval: dict[str, int] = {}
    if to_eval and model is not None:
        evaluated = zero_shot_accuracies(model, to_eval, task, dataset, eval_split, eval_limit, data_dir,
                                         batch_size, max_length, progress)
        acc.update(dict(zip(evaluated["language"], evaluated["accuracy"])))
        n_eval.update(dict(zip(evaluated["language"], evaluated["n"])))
    if cka and model is None:
        raise ValueError("cka=True needs the proxy checkpoint as `model`; pass model=... or cka=False.")
    nan = float("nan")
    rows, cka_tables = [], []
    lexicon_note = None
    if cka:
        from circuitlab.data import load_examples

        def by_id(language: str) -> dict[str, str]:
            return {e.id: e.text for e in load_examples(dataset, language, cka_split, data_dir)}

        proxy_texts = by_id(proxy_c)
    for target in tqdm(list(targets), desc="transfer difficulty", disable=not progress, leave=False):
        target_c = canonical_language(target, dataset)
        a0, p = acc.get(target_c, nan), acc.get(proxy_c, nan)
        row = {"proxy": proxy, "target": target, "a0": a0, "proxy_acc": p, "gap": zero_shot_gap(p, a0),
               "lex_share_different": nan, "lex_mean_nld": nan, "lex_n_entries": 0}
        if lexicon and dataset == "nusax" and proxy_c == "indonesian":
            from circuitlab.data import load_lexicon

            lex = lexical_distance(load_lexicon(target_c, data_dir), "indonesian", "local")
            row.update(lex_share_different=lex.share_different, lex_mean_nld=lex.mean_normalised_levenshtein,
                       lex_n_entries=lex.n_entries)
        elif lexicon:
            lexicon_note = "NusaX-Lexicon maps Indonesian to the other languages: lexical distance needs proxy=indonesian"
        row.update(cka_mean=nan, cka_last=nan, cka_shuffled_mean=nan, n_eval=n_eval.get(target_c, 0), n_cka=0)
        if cka:
            target_texts = by_id(target_c)
            ids = [i for i in proxy_texts if i in target_texts][:cka_n]
            per_layer = representation_similarity(
                model, [proxy_texts[i] for i in ids], [target_texts[i] for i in ids], layers=cka_layers,
                batch_size=batch_size, max_length=max_length, seed=seed, progress=False,
            )
            row.update(cka_mean=float(per_layer["cka"].mean()), cka_last=float(per_layer["cka"].iloc[-1]),
                       cka_shuffled_mean=float(per_layer["cka_shuffled"].mean()), n_cka=len(ids))
            per_layer.insert(0, "target", target)
            cka_tables.append(per_layer)
        rows.append(row)
    table = pd.DataFrame(rows)
    cka_df = pd.concat(cka_tables, ignore_index=True) if cka_tables else pd.DataFrame(
        columns=["target", "layer", "relative_depth", "cka", "cka_shuffled"])
    config = {
        "proxy": proxy, "targets": list(targets), "model": getattr(model, "name", None), "dataset": dataset,
        "eval_split": eval_split, "eval_limit": eval_limit, "accuracies_given": sorted(k for k in acc if k not in n_eval),
        "lexicon": lexicon, "lexicon_note": lexicon_note, "cka": cka, "cka_split": cka_split, "cka_n": cka_n,
        "cka_layers": None if cka_layers is None else list(cka_layers), "seed": seed, "max_length": max_length,
        "measures": {k: m._asdict() for k, m in DIFFICULTY_MEASURES.items()},
    }
    table.attrs.update(config)
    return TransferDifficulty(table=table, cka=cka_df, config=config)


def harder_is_higher(measure: str) -> bool:
    """``True`` when a larger value of ``measure`` means a harder transfer (unknown measures: ``True``)."""
    m = DIFFICULTY_MEASURES.get(measure)
    return True if m is None else m.harder == "higher"


def as_hardness(table: pd.DataFrame, measure: str) -> np.ndarray:
    """``measure`` oriented so that larger = harder (negated when lower is harder)."""
    values = table[measure].to_numpy(dtype=float)
    return values if harder_is_higher(measure) else -values


__all__ = [
    "DIFFICULTY_MEASURES",
    "Measure",
    "TransferDifficulty",
    "as_hardness",
    "canonical_language",
    "harder_is_higher",
    "theta1_accuracies",
    "theta1_cells",
    "transfer_difficulty",
    "zero_shot_accuracies",
]
