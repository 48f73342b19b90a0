"""``circuitlab discover``: score every attention head (and optionally grow a circuit by depth).

    circuitlab discover --model gemma-3-270m --language indonesian --method directional \\
        --n-examples 50 --depth 2 --k 4 --checkpoint runs/proxy/theta1 --out scores.csv

Builds the discovery set (label-balanced, correctly classified examples of the split),
the label-balanced mean, scores every head, prints the top heads and writes the table
(``.csv`` or ``.parquet``, metadata in ``<out>.meta.json``). With ``--depth D > 0`` the
circuit is grown for ``D`` more rounds against the previous round's heads; the depth-0
table goes to ``--out``, deeper ones to ``<stem>.depth<d><suffix>``, and the circuit per
depth to ``<out>.circuit.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from circuitlab.defaults import DEFAULT_MODEL, DEFAULT_PROXY
from circuitlab.cli.app import app
from circuitlab.cli.common import cli_errors, echo_table


def _depth_path(out: Path, depth: int) -> Path:
    return out.with_name(f"{out.stem}.depth{depth}{out.suffix}")


@app.command("discover")
@cli_errors
def discover_cmd(
    out: Path = typer.Option(..., "--out", help="Where to write the head-score table (.csv or .parquet)."),
    model: str = typer.Option(DEFAULT_MODEL, help="Registered name, local HF folder or hub id (the base model)."),
    checkpoint: Optional[Path] = typer.Option(
        None, help="A fine-tuned checkpoint folder (the proxy-competent θ1) to load instead of --model's weights."
    ),
    language: str = typer.Option(DEFAULT_PROXY, help="The proxy language whose examples form the discovery set."),
    dataset: str = typer.Option("nusax", help="nusax, xnli, or a dataset folder (with dataset.toml)."),
    split: str = typer.Option("train", help="The split the discovery set is drawn from (pool A)."),
    data_dir: Optional[Path] = typer.Option(None, help="Local copy of the dataset (else env var, else the hub)."),
    method: str = typer.Option("directional", help="Scoring method (see `circuitlab discover --help`)."),
    n_examples: int = typer.Option(50, help="Discovery set size (label-balanced, correctly classified)."),
    labels: Optional[str] = typer.Option(
        None, help="Comma-separated labels to keep (e.g. 'negative,positive' when the model never gets one right)."
    ),
    include_incorrect: bool = typer.Option(False, help="Allow misclassified examples in the discovery set."),
    max_pool: Optional[int] = typer.Option(None, help="Evaluate only this many pool examples (seeded shuffle)."),
    pooling: str = typer.Option("mean", help="How μ pools positions: mean, tokens or last."),
    depth: int = typer.Option(0, help="Grow the circuit to this depth (0 = score against the logits only)."),
    k: Optional[int] = typer.Option(None, "--k", help="Heads added per depth (a count)."),
    share: Optional[float] = typer.Option(None, "--share", help="Heads added per depth as a share of all heads "
                                          "(default 0.02, the paper's 2 %)."),
    seed: int = typer.Option(0, help="Seeds the discovery set, resampling and random draws."),
    batch_size: int = typer.Option(16, help="Examples per forward pass."),
    top: int = typer.Option(10, help="How many top heads to print."),
    overwrite: bool = typer.Option(False, help="Replace existing output files."),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Score every head of MODEL on a discovery set and write the table (see the module docstring)."""
    from circuitlab.discovery import POOLINGS, SCORERS, build_discovery_set, get_scorer, label_balanced_mean

    if method not in SCORERS:
        raise typer.BadParameter(f"unknown method {method!r}; choose one of {', '.join(sorted(SCORERS))}.",
                                 param_hint="--method")
    if out.suffix not in (".csv", ".parquet"):
        raise typer.BadParameter(f"{out} must end in .csv or .parquet.", param_hint="--out")
    if n_examples < 1:
        raise typer.BadParameter(f"must be at least 1, got {n_examples}.", param_hint="--n-examples")
    if depth < 0:
        raise typer.BadParameter(f"must be >= 0, got {depth}.", param_hint="--depth")
    if batch_size < 1:
        raise typer.BadParameter(f"must be at least 1, got {batch_size}.", param_hint="--batch-size")
    if k is not None and share is not None:
        raise typer.BadParameter("give --k or --share, not both.", param_hint="--k/--share")
    if k is not None and k < 1:
        raise typer.BadParameter(f"must be at least 1, got {k}.", param_hint="--k")
    if share is not None and not 0 < share < 1:
        raise typer.BadParameter(f"must be in (0, 1), got {share}.", param_hint="--share")
    if pooling not in POOLINGS:
        raise typer.BadParameter(f"choose one of {', '.join(POOLINGS)}.", param_hint="--pooling")
    if checkpoint is not None and not (checkpoint / "config.json").is_file():
        raise typer.BadParameter(f"{checkpoint} is not a model folder (no config.json).", param_hint="--checkpoint")
    outputs = [out, Path(str(out) + ".meta.json")]
    if depth > 0:
        outputs += [_depth_path(out, d) for d in range(1, depth + 1)] + [Path(str(out) + ".circuit.json")]
    existing = [str(p) for p in outputs if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); choose another --out or pass --overwrite.")

    from circuitlab.data import get_dataset, load_examples
    from circuitlab.discovery import grow_circuit
    from circuitlab.models import load_model
    from circuitlab.tasks import make_task

    pool = load_examples(dataset, language, split, data_dir)
    t0 = time.perf_counter()
    m = load_model(str(checkpoint) if checkpoint is not None else model)
    task = make_task(dataset, m.tokenizer)
    chosen_labels = [s.strip() for s in labels.split(",") if s.strip()] if labels else None
    dset = build_discovery_set(
        m, task, pool, n_examples, seed=seed, labels=chosen_labels, require_correct=not include_incorrect,
        max_pool=max_pool, batch_size=batch_size, progress=not quiet,
    )
    typer.echo(f"discovery set: {len(dset)} examples from {language}/{split} "
               f"(model accuracy on the evaluated pool {dset.accuracy:.3f})")
    typer.echo(dset.report())
    examples = list(dset.examples)
    scorer = get_scorer(method, pooling=pooling, progress=not quiet)
    mean = label_balanced_mean(m, task, examples, pooling=pooling, batch_size=batch_size, progress=not quiet)
    per_depth = k if k is not None else (share if share is not None else 0.02)
    extra = {"discovery_set": dset.to_dict(), "checkpoint": str(checkpoint) if checkpoint else None,
             "base_model": model, "dataset": get_dataset(dataset).name, "split": split}
    if depth == 0:
        scores = scorer.score(m, task, examples, mean=mean, seed=seed, batch_size=batch_size)
        scores.meta.update(extra)
        tables, growth = [scores], None
    else:
        growth = grow_circuit(m, task, examples, scorer=scorer, depth=depth, k=per_depth, mean=mean, seed=seed,
                              batch_size=batch_size)
        tables = [d.scores for d in growth.depths]
        for d in growth.depths:
            d.scores.meta.update({**extra, "depth": d.depth})
    elapsed = time.perf_counter() - t0

    head = tables[0].top(top)
    typer.echo(f"\ntop {len(head)} heads by {method} (against the label logits):")
    echo_table([{"rank": int(r["rank"]), "head": f"L{int(r['layer'])}H{int(r['head'])}",
                 "score": f"{r['score']:+.5f}"} for _, r in head.iterrows()], ["rank", "head", "score"])
    tables[0].save(out)
    typer.echo(f"wrote {out}")
    if growth is not None:
        for d in growth.depths:
            line = f"depth {d.depth} (target {d.target}): added {d.chosen} -> circuit of {len(d.circuit)} heads"
            typer.echo(line + (f"  [{d.note}]" if d.note else ""))
            if d.depth > 0:
                d.scores.save(_depth_path(out, d.depth))
                typer.echo(f"wrote {_depth_path(out, d.depth)}")
        circuit_path = Path(str(out) + ".circuit.json")
        circuit_path.write_text(json.dumps({**growth.to_dict(), "seconds": elapsed}, indent=2, default=str))
        typer.echo(f"wrote {circuit_path}")
    elif k is not None or share is not None:
        typer.echo(f"top-{per_depth} circuit: {tables[0].select(per_depth)}")
    typer.echo(f"({elapsed:.1f} s)")
