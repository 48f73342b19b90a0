"""``circuitlab models`` and ``circuitlab languages``: what can be used here, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from circuitlab.cli.app import app
from circuitlab.cli.common import cli_errors, echo_table
from circuitlab.models.cache import cache_root
from circuitlab.models.registry import DEFAULT_MODEL, MODELS


@app.command("models")
@cli_errors
def models_cmd(cache_dir: Optional[Path] = typer.Option(None, help="Cache folder (default $CIRCUITLAB_CACHE or ~/.cache/circuitlab).")) -> None:
    """List the named models, whether each is available offline, and whether it is already converted."""
    root = cache_root(cache_dir) / "models"
    rows = []
    for name, spec in MODELS.items():
        cached = spec.kind == "tiny" or (root / name / "config.json").exists()
        rows.append({
            "name": name + (" (default)" if name == DEFAULT_MODEL else ""), "kind": spec.kind,
            "offline": "yes" if spec.available() else f"no: {spec.install_hint}",
            "cached": "yes" if cached else "no (converted on first load)", "description": spec.description,
        })
    echo_table(rows, ["name", "kind", "offline", "cached", "description"])
    typer.echo("\nAlso accepted: any local Hugging Face model folder, or a hub id (org/model) when online.")


@app.command("languages")
@cli_errors
def languages_cmd(
    dataset: Optional[str] = typer.Option(
        None, help="Only this dataset: nusax, xnli, or a dataset folder (with dataset.toml)."),
    data_dir: Optional[Path] = typer.Option(None, help="Local copy to check (else the dataset's environment variable)."),
) -> None:
    """List datasets and languages, and which languages have data available locally."""
    from circuitlab.data import available_languages, get_dataset, list_datasets

    for name in [dataset] if dataset else list_datasets():
        spec = get_dataset(name)
        if spec.folder is not None:  # a dataset folder is its own data: list each language's splits
            typer.echo(f"{spec.display} ({spec.name}): labels {', '.join(spec.labels)}; "
                       f"splits {', '.join(spec.splits)}")
            for lang in spec.languages:
                has = [s for s in spec.splits if available_languages(spec.name, split=s)[lang]]
                typer.echo(f"  {lang}: {', '.join(has)}")
            continue
        avail = available_languages(spec.name, data_dir if dataset or data_dir is None else None)
        local = [lang for lang, ok in avail.items() if ok]
        typer.echo(f"{spec.name}: labels {', '.join(spec.labels)}; splits {', '.join(spec.splits)}")
        typer.echo(f"  local data ({len(local)}/{len(spec.languages)}): {', '.join(local) or 'none found'}")
        missing = [lang for lang in spec.languages if not avail.get(lang)]
        if missing:
            typer.echo(f"  hub only: {', '.join(missing)}  (set {spec.env_var} or --data-dir to a local copy)")
