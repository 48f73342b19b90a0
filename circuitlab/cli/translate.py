"""``circuitlab translate``: generative CT-SFT on NusaX translation, scored by chrF++.

Finds the circuit on the proxy's gold continuations, fine-tunes on target pairs through
``transformers.Trainer`` and reports target and proxy chrF++ before and after
(:mod:`circuitlab.generation.pipeline`). ``--method none`` only evaluates.

Example::

    circuitlab translate --source javanese --method circuit --k 6 --out runs/mt-jv-circuit
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from circuitlab.cli.app import app
from circuitlab.cli.common import cli_errors, echo_table
from circuitlab.defaults import DEFAULT_MODEL


@app.command("translate")
@cli_errors
def translate_cmd(
    source: str = typer.Option("javanese", help="Source language of the target task (NusaX name or ISO code)."),
    target: str = typer.Option("english", help="Language translated into."),
    proxy: str = typer.Option("indonesian", help="Proxy source language: discovery and forgetting."),
    method: str = typer.Option("circuit", help="circuit, random, full, norms, lora, or none (evaluate only)."),
    k: int = typer.Option(6, min=1, help="Heads in the circuit (circuit, random)."),
    scorer: str = typer.Option("directional", help="directional (CT-SFT) or attribution."),
    model: str = typer.Option(DEFAULT_MODEL, help="Registered name, local HF folder or hub id."),
    n_train: int = typer.Option(40, min=1, help="Target training pairs."),
    n_test: int = typer.Option(100, min=1, help="Test pairs per language (NusaX has 400)."),
    n_discovery: int = typer.Option(16, min=1, help="Proxy pairs the heads are scored on."),
    epochs: float = typer.Option(2.0, min=0.01),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate (default 1e-4; full fine-tuning 2e-5)."),
    batch_size: int = typer.Option(8, min=1),
    max_length: int = typer.Option(256, min=8, help="Prompt + response cap in tokens (longer prompts are an error)."),
    max_new_tokens: int = typer.Option(48, min=1, help="Generation cap per hypothesis."),
    seed: int = typer.Option(31),
    data_dir: Optional[Path] = typer.Option(None, help="NusaX folder (else $CIRCUITLAB_NUSAX_DIR or ../shared/data)."),
    out: Optional[Path] = typer.Option(None, help="Folder for before.json, results.json and TensorBoard logs."),
    overwrite: bool = typer.Option(False, help="Write into an existing, non-empty --out."),
    device: str = typer.Option("cpu"),
) -> None:
    """Generative CT-SFT: discover heads on the proxy, tune on the target, chrF++ before and after."""
    from circuitlab.generation.pipeline import TranslationConfig, default_settings, run_translation
    from circuitlab.models import load_model

    settings = default_settings(method, epochs=epochs, batch_size=batch_size, max_length=max_length, seed=seed,
                                **({"lr": lr} if lr is not None else {}))
    config = TranslationConfig(source=source, target=target, proxy=proxy, method=method, k=k, scorer=scorer,
                               n_train=n_train, n_test=n_test, n_discovery=n_discovery,
                               max_new_tokens=max_new_tokens, seed=seed, settings=settings)
    if out is not None and out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} already exists and is not empty; choose another --out or pass --overwrite.")
    m = load_model(model, device=device)
    r = run_translation(m, config, data_dir, out, overwrite=overwrite, log=typer.echo)
    row = {"method": method, "heads": " ".join(f"L{a}H{b}" for a, b in r["heads"] or []) or "-",
           "target_before": f"{r['before']['target']['chrf']:.2f}", "proxy_before": f"{r['before']['proxy']['chrf']:.2f}"}
    if "after" in r:
        row.update(target_after=f"{r['after']['target']['chrf']:.2f}", proxy_after=f"{r['after']['proxy']['chrf']:.2f}",
                   forgetting=f"{r['forgetting']:+.2f}", steps=r["training"]["steps"])
    echo_table([row], list(row))
    if out is not None:
        typer.echo(f"wrote {out / 'results.json'}")
