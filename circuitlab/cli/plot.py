"""``circuitlab plot``: the standard figures from saved score/result tables, into a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from circuitlab.cli.app import app
from circuitlab.cli.common import cli_errors
from circuitlab.errors import UserError

TABLE_SUFFIXES = (".csv", ".parquet", ".tsv", ".json", ".jsonl")


def read_table(path: Path, what: str):
    """A DataFrame from ``.csv``/``.tsv``/``.parquet``/``.json``/``.jsonl``; a folder reads every table in it."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in TABLE_SUFFIXES and not p.name.endswith(".meta.json")
                       and p.name != "figures.json")
        if not files:
            raise FileNotFoundError(f"The {what} folder {path} holds no table ({', '.join(TABLE_SUFFIXES)}).")
        return pd.concat([read_table(p, what) for p in files], ignore_index=True)
    if not path.is_file():
        raise FileNotFoundError(f"No {what} at {path}; give the path of a saved .csv or .parquet table.")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".tsv":
        return pd.read_csv(path, sep="\t")
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    if path.suffix == ".json":
        return pd.read_json(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    raise UserError(f"Cannot read the {what} {path}: expected one of {', '.join(TABLE_SUFFIXES)}.")


def _read_many(paths: list[Path] | None, what: str):
    import pandas as pd

    if not paths:
        return None
    return pd.concat([read_table(p, what) for p in paths], ignore_index=True)


def refuse_fake(tables: dict[str, object], allow_fake: bool) -> int:
    """The number of fake-backend rows in ``tables`` ({what: DataFrame or None}); a one-line error unless allowed."""
    from circuitlab.synthetic import n_fake_rows

    found = {what: n for what, table in tables.items() if (n := n_fake_rows(table))}
    if found and not allow_fake:
        where = ", ".join(f"{n} row(s) of the {what}" for what, n in found.items())
        raise UserError(f"{where} come from the fake test backend (backend = 'fake'): synthetic numbers, not "
                        "measurements; pass --allow-fake to plot them anyway (their titles then say FAKE BACKEND).")
    return sum(found.values())


def parse_formats(values: list[str] | None) -> list[str]:
    """``["html,png", "pdf"]`` -> ``["html", "png", "pdf"]`` (default HTML + PNG)."""
    if not values:
        return ["html", "png"]
    out = [f.strip().lower().lstrip(".") for v in values for f in v.split(",") if f.strip()]
    return list(dict.fromkeys(out))


@app.command("plot")
@cli_errors
def plot_cmd(
    out_dir: Path = typer.Argument(..., help="Folder to write the figures into (created if needed)."),
    scores: Optional[list[Path]] = typer.Option(
        None, "--scores", "-s", help="Head-score table(s) (.csv/.parquet, or a folder of them); repeatable."),
    results: Optional[list[Path]] = typer.Option(
        None, "--results", "-r", help="Tuning-results table(s); repeatable."),
    difficulty: Optional[Path] = typer.Option(
        None, "--difficulty", "-d", help="Transfer-difficulty table (one row per target)."),
    cka: Optional[Path] = typer.Option(
        None, "--cka", help="Per-layer CKA table (TransferDifficulty.cka saved as .csv/.parquet)."),
    fmt: Optional[list[str]] = typer.Option(
        None, "--format", "-f", help="Output formats, repeatable or comma-separated: html, png, svg, pdf (default: html,png)."),
    k: int = typer.Option(6, min=1, help="Heads outlined in heatmaps and compared by top-k Jaccard."),
    reference: str = typer.Option("indonesian", help="Language the overlap curves and differences are drawn against."),
    n_perm: int = typer.Option(1000, min=1, help="Permutations of the chance baseline."),
    n_bins: Optional[int] = typer.Option(None, min=1, help="Relative-depth bins for two models (default: the smaller layer count)."),
    k_bins: int = typer.Option(3, min=1, help="Top depth bins compared between two models."),
    measure: Optional[list[str]] = typer.Option(
        None, "--measure", "-m", help="Difficulty column(s) for the trade-off (default: every known one present)."),
    editing: str = typer.Option("circuit", help="The editing method of the trade-off."),
    preserving: str = typer.Option("nearzero", help="The preserving method of the trade-off."),
    n_boot: int = typer.Option(2000, min=1, help="Bootstrap resamples of the rank correlation."),
    seed: int = typer.Option(0, help="Seed of the permutation and bootstrap steps."),
    allow_fake: bool = typer.Option(
        False, "--allow-fake", help="Plot rows of the fake test backend (titled FAKE BACKEND); refused by default."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Render the standard figures (heatmaps, overlaps, trade-off, forgetting, CKA) from saved tables into OUT_DIR.

    Writes <name>.<format> per figure, figures.json (what each was made from, what was
    skipped and why) and index.html. Tables holding rows of the fake test backend
    (``backend = "fake"``: synthetic numbers) are refused unless --allow-fake.
    """
    from circuitlab.plots.export import FigureExportError
    from circuitlab.plots.standard import save_figures, standard_figures

    formats = parse_formats(fmt)
    tables = {"head-score table": _read_many(scores, "head-score table"),
              "results table": _read_many(results, "results table"),
              "difficulty table": read_table(difficulty, "difficulty table") if difficulty else None,
              "CKA table": read_table(cka, "CKA table") if cka else None}
    n_fake = refuse_fake(tables, allow_fake)
    figs = standard_figures(
        *tables.values(),  # scores, results, difficulty, cka, in the signature's order
        k=k, reference=reference, n_perm=n_perm, n_bins=n_bins, k_bins=k_bins, measures=measure,
        editing=editing, preserving=preserving, n_boot=n_boot, seed=seed,
    )
    if not figs.figures:
        reasons = "; ".join(f"{w}: {why}" for w, why in figs.skipped.items()) or "no figure applies"
        raise UserError(f"No figure could be drawn from these tables ({reasons}).")
    sources = {"scores": [str(p) for p in scores or []], "results": [str(p) for p in results or []],
               "difficulty": str(difficulty) if difficulty else None,
               "cka": str(cka) if cka else None, "k": k, "reference": reference,
               "n_perm": n_perm, "seed": seed, "fake_rows": n_fake}
    try:
        manifest = save_figures(figs, out_dir, formats=formats, sources=sources, progress=not quiet)
    except FigureExportError as exc:  # Kaleido/Chromium missing: the message says how to install them
        raise UserError(str(exc)) from exc
    typer.echo(f"wrote {len(figs.figures)} figure(s) x {len(formats)} format(s) to {out_dir}")
    for name in figs.figures:
        typer.echo(f"  {name}")
    for what, why in figs.skipped.items():
        typer.echo(f"  skipped {what}: {why}")
    typer.echo(f"manifest: {manifest}")
    if n_fake:
        typer.secho(f"note: {n_fake} row(s) from the fake test backend were plotted; their figures' titles say "
                    "FAKE BACKEND.", err=True, fg=typer.colors.YELLOW)
