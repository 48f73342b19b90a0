"""``circuitlab difficulty``: how hard each proxy → target transfer is, as one table for ``plot --difficulty``.

    circuitlab difficulty --checkpoint runs/paper/stages/proxy-…/proxy/<key> --proxy indonesian \\
        --target javanese --target acehnese --data-dir ../shared/data/nusax \\
        --results runs/paper/results.csv --out difficulty.csv

One row per target (see :func:`circuitlab.analysis.transfer_difficulty`): θ1's zero-shot
accuracy A0 and its gap to the proxy, NusaX-Lexicon distances (Indonesian proxy only),
and the linear CKA of θ1's residual streams over parallel sentences. With ``--results``,
A0 and the proxy accuracy are read from a sweep's results (the numbers its cells were
measured against) instead of evaluated again. The per-layer CKA goes to
``<stem>.cka<suffix>`` (for ``plot --cka``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from circuitlab.defaults import DEFAULT_MODEL, DEFAULT_PROXY
from circuitlab.errors import UserError
from circuitlab.cli.app import app
from circuitlab.cli.common import cli_errors, echo_table


@app.command("difficulty")
@cli_errors
def difficulty_cmd(
    out: Path = typer.Option(..., "--out", help="Where to write the table (.csv or .parquet)."),
    target: list[str] = typer.Option(..., "--target", "-t", help="Target language; repeatable."),
    proxy: str = typer.Option(DEFAULT_PROXY, help="The proxy language."),
    checkpoint: Optional[Path] = typer.Option(None, help="θ1, the proxy checkpoint folder (else --model's weights)."),
    model: str = typer.Option(DEFAULT_MODEL, help="Registered name, local HF folder or hub id."),
    dataset: str = typer.Option("nusax", help="nusax, xnli, or a dataset folder (with dataset.toml)."),
    data_dir: Optional[Path] = typer.Option(None, help="Local copy of the dataset (else env var, else the hub)."),
    results: Optional[Path] = typer.Option(
        None, help="A sweep's results table: take A0 and the proxy accuracy from it instead of evaluating."),
    eval_split: str = typer.Option("test", help="Split the accuracies are measured on."),
    eval_limit: Optional[int] = typer.Option(None, help="First N examples of --eval-split per language."),
    cka: bool = typer.Option(True, help="Compute the representation similarity (linear CKA; needs the model)."),
    cka_n: int = typer.Option(100, help="Parallel sentences of the CKA (from --cka-split)."),
    cka_split: str = typer.Option("valid", help="Split of the CKA sentences (never the accuracies' split)."),
    batch_size: int = typer.Option(16, help="Examples per forward pass."),
    seed: int = typer.Option(0, help="Seed of the shuffled-pairing CKA baseline."),
    overwrite: bool = typer.Option(False, help="Replace existing output files."),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Transfer-difficulty measures of PROXY -> each TARGET (see the module docstring)."""
    from circuitlab.analysis import theta1_accuracies, transfer_difficulty
    from circuitlab.analysis.transfer import canonical_language
    from circuitlab.cli.plot import read_table

    if out.suffix not in (".csv", ".parquet"):
        raise typer.BadParameter(f"{out} must end in .csv or .parquet.", param_hint="--out")
    if cka_n < 2:
        raise typer.BadParameter(f"CKA needs at least 2 sentences, got {cka_n}.", param_hint="--cka-n")
    if checkpoint is not None and not (checkpoint / "config.json").is_file():
        raise typer.BadParameter(f"{checkpoint} is not a model folder (no config.json).", param_hint="--checkpoint")
    cka_out = out.with_name(f"{out.stem}.cka{out.suffix}")
    outputs = [out, *([cka_out] if cka else []), Path(str(out) + ".meta.json")]
    existing = [str(p) for p in outputs if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); choose another --out or pass --overwrite.")

    accuracies = theta1_accuracies(read_table(results, "results table"), proxy, dataset) if results else None
    if accuracies is not None:
        missing = [t for t in target if canonical_language(t, dataset) not in accuracies]
        if missing:
            there = sorted(a for a in accuracies if a != canonical_language(proxy, dataset))
            raise UserError(f"The results table has no θ1 cell for {', '.join(missing)}; targets there: "
                             f"{', '.join(there)}.")
    if accuracies is not None and cka and checkpoint is None:
        typer.echo(f"note: A0 comes from the sweep's θ1 but the CKA is computed on {model!r}; pass --checkpoint "
                   "<θ1 folder> to measure both on θ1.", err=True)
    t0 = time.perf_counter()
    m = None
    if cka or accuracies is None:
        from circuitlab.models import load_model

        m = load_model(str(checkpoint) if checkpoint is not None else model)
    res = transfer_difficulty(
        proxy, target, m, accuracies, dataset=dataset, data_dir=data_dir, eval_split=eval_split,
        eval_limit=eval_limit, cka=cka, cka_split=cka_split, cka_n=cka_n, batch_size=batch_size, seed=seed,
        progress=not quiet,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    for table, path in ((res.table, out), *(((res.cka, cka_out),) if cka else ())):
        if path.suffix == ".parquet":
            table.to_parquet(path, index=False)
        else:
            table.to_csv(path, index=False)
    meta = {**res.config, "checkpoint": str(checkpoint) if checkpoint else None,
            "model": m.name if m is not None else None,
            "results": str(results) if results else None, "seconds": time.perf_counter() - t0}
    Path(str(out) + ".meta.json").write_text(json.dumps(meta, indent=2, default=str))
    cols = ["target", "a0", "gap", "lex_share_different", "lex_mean_nld", "cka_mean"]
    echo_table([{c: (f"{r[c]:.3f}" if isinstance(r[c], float) else r[c]) for c in cols if c in r}
                for r in res.table.to_dict("records")], [c for c in cols if c in res.table.columns])
    typer.echo(f"wrote {out}" + (f" and {cka_out}" if cka else ""))
