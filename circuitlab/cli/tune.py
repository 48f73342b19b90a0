"""``circuitlab tune``: CT-SFT and its baselines from the proxy checkpoint to a results table and deltas.

Example (the issue's protocol on the embedded default)::

    circuitlab tune --model gemma-3-270m --proxy indonesian --target javanese --target acehnese \\
        --method circuit --method nearzero --method full --k 8 --shots 100 --seeds 31 777 --out runs/jav

Writes into ``--out``: ``results.csv`` / ``results.jsonl`` (one row per run, plus
``ctsft-auto`` rows), ``summary.csv`` / ``summary.md`` (mean ± std over seeds),
``before.json`` (θ1's and the base model's accuracies before target tuning),
``proxy.json`` (θ1), ``scores.csv`` (the head scores used) and
``runs/<run_id>/delta`` (sparse deltas). See :mod:`circuitlab.tuning.experiment`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Optional

import typer

from circuitlab.cli.app import app
from circuitlab.cli.common import cli_errors

_OUTPUTS = ("results.csv", "results.jsonl", "summary.csv", "summary.md", "before.json", "proxy.json", "config.json",
            "scores.csv", "scores.csv.meta.json", "runs", "snapshots")


def _split(values: list[str] | None) -> list[str]:
    """Repeated options and comma/space-separated lists alike: ``["31,777", "2025"]`` -> ``["31", "777", "2025"]``."""
    return [v for item in values or [] for v in re.split(r"[,\s]+", item.strip()) if v]


def _numbers(values: list[str], kind, what: str) -> list:
    try:
        return [kind(v) for v in values]
    except ValueError:
        raise ValueError(f"{what} must be numbers, got {values}.") from None


def _k(text: str) -> int | float:
    try:
        x = float(text)
    except ValueError:
        raise ValueError(f"--k must be a head count (8) or a fraction of all heads (0.05), got {text!r}.") from None
    return int(x) if x.is_integer() else x


def _prepare_out(out: Path, overwrite: bool, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; give a folder.")
    if out.exists() and any(out.iterdir()) and not resume:
        if not overwrite:
            raise FileExistsError(
                f"--out {out} exists and is not empty. Pass --resume to continue that experiment, --overwrite to "
                "replace its results, or choose another folder."
            )
        for name in _OUTPUTS:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()


@app.command("tune", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
@cli_errors
def tune_cmd(
    ctx: typer.Context,
    out: Path = typer.Option(..., help="Output folder (results table, summary, deltas)."),
    target: list[str] = typer.Option(..., help="Target language(s); repeat or comma-separate."),
    method: Optional[list[str]] = typer.Option(
        None, help="circuit, nearzero, least, random, norms, full, direct, lora or ctsft-auto (circuit + nearzero, "
                   "branch chosen on validation); repeat or comma-separate. Default: circuit."),
    model: str = typer.Option("gemma-3-270m", help="Base model: registered name, local HF folder or hub id."),
    proxy: str = typer.Option("indonesian", help="Proxy language of the competence checkpoint θ1."),
    k: str = typer.Option("8", help="Heads for head methods: a count, or a fraction of all heads in (0, 1)."),
    shots: int = typer.Option(100, min=1, help="Target tuning examples n (near-balanced, from pool B)."),
    seeds: Optional[list[str]] = typer.Option(None, help="Run seeds: --seeds 31 777 2025 12345 (default those four)."),
    data_dir: Optional[Path] = typer.Option(None, help="Local dataset folder (default: env var, ../shared, hub)."),
    dataset: str = typer.Option("nusax", help="Dataset (nusax; xnli with its own template)."),
    n_src: int = typer.Option(50, min=1, help="Proxy examples for θ1 (from pool A)."),
    epochs: int = typer.Option(5, min=1, help="Target tuning epochs."),
    lr: Optional[float] = typer.Option(None, help="A fixed learning rate (skips the grid search)."),
    lr_grid: Optional[list[str]] = typer.Option(
        None, help="Learning rates tried on target validation (default: each method's grid)."),
    method_lr_grid: Optional[list[str]] = typer.Option(
        None, help="A grid for one method, METHOD=LR,LR (repeatable), e.g. full=1e-5,5e-5."),
    lr_selection: str = typer.Option("per_run", help="per_run, or first_seed: search the grid on the first seed "
                                                     "only and reuse its choice for the other seeds."),
    order: str = typer.Option("target", help="Run order: target (a target's methods first) or method."),
    batch_size: int = typer.Option(16, min=1),
    max_length: int = typer.Option(128, min=8),
    warmup: float = typer.Option(0.1, min=0.0, max=0.99, help="Warm-up fraction of the steps."),
    weight_decay: float = typer.Option(0.01, min=0.0, help="AdamW weight decay (never touches frozen elements)."),
    recompute: str = typer.Option("selective", help="selective: recompute elementwise activations in backward "
                                                     "(less memory, same gradients); none: keep them."),
    group_by_length: bool = typer.Option(False, help="Target tuning: batch examples of similar token length "
                                                       "together (~0.56x the padded tokens on NusaX; θ1 keeps "
                                                       "random batches)."),
    kv_rule: str = typer.Option("any", help="GQA K/V rule: any (train shared K/V if any query head is "
                                            "selected), all, or none (K/V frozen)."),
    scores: Optional[Path] = typer.Option(None, help="Head-score table to reuse (CSV/parquet from discovery); "
                                                     "default: computed on θ1."),
    heads: Optional[str] = typer.Option(None, help="Explicit heads for head methods, e.g. 'L3H1,L5H0'."),
    scorer: str = typer.Option("directional", help="Discovery scorer when no --scores is given."),
    discovery_n: int = typer.Option(50, min=2, help="Discovery set size."),
    proxy_epochs: int = typer.Option(5, min=1, help="θ1 full fine-tuning epochs."),
    proxy_lr: float = typer.Option(5e-5, help="θ1 full fine-tuning learning rate."),
    proxy_lr_grid: Optional[list[str]] = typer.Option(
        None, help="θ1 learning rates; the best on proxy validation makes θ1 (overrides --proxy-lr)."),
    proxy_seed: int = typer.Option(0, help="Seed of θ1's examples and training order."),
    test_limit: Optional[int] = typer.Option(None, min=1, help="Evaluate on a stratified subset of N test examples."),
    val_limit: Optional[int] = typer.Option(None, min=1, help="Use a stratified subset of N validation examples."),
    lora_r: int = typer.Option(8, min=1), lora_alpha: int = typer.Option(16, min=1),
    save_full_deltas: bool = typer.Option(False, help="Also save full/direct deltas (~the whole model each)."),
    checkpoint_every: int = typer.Option(0, min=0, help="Trainer checkpoint every N steps (resume mid-run)."),
    cache_dir: Optional[Path] = typer.Option(None, help="Cache for θ1 (default $CIRCUITLAB_CACHE or ~/.cache)."),
    overwrite: bool = typer.Option(False, help="Replace the results in a non-empty --out."),
    resume: bool = typer.Option(False, help="Continue the experiment in --out, skipping finished runs."),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Tune θ1 (or the base model) on a target language with each method and seed; report test and forgetting."""
    from circuitlab.discovery import HeadScores
    from circuitlab.heads import Head, HeadSet
    from circuitlab.tuning import DataProtocol, Experiment, ExperimentConfig, LoraSettings, TrainConfig

    seed_values = _split(seeds)
    extra = list(ctx.args)
    if extra:  # `--seeds 31 777 2025`: click hands the values after the first to us as extra arguments
        if not seed_values or not all(re.fullmatch(r"-?\d+", a) for a in extra):
            raise ValueError(f"Unexpected argument(s) {extra}; lists are given as --seeds 31 777 or --target a,b.")
        seed_values += extra
    seed_list = _numbers(seed_values, int, "--seeds") if seed_values else [31, 777, 2025, 12345]
    grid = [lr] if lr is not None else (_numbers(_split(lr_grid), float, "--lr-grid") or None)
    per_method = {}
    for item in method_lr_grid or []:
        name, sep, values = item.partition("=")
        if not sep:
            raise ValueError(f"--method-lr-grid expects METHOD=LR,LR (e.g. full=1e-5,5e-5), got {item!r}.")
        per_method[name.strip()] = tuple(_numbers(_split([values]), float, f"--method-lr-grid {name}"))
    _prepare_out(out, overwrite, resume)
    train = TrainConfig(epochs=epochs, batch_size=batch_size, max_length=max_length, warmup_ratio=warmup,
                        weight_decay=weight_decay, recompute=recompute, group_by_length=group_by_length)
    config = ExperimentConfig(
        model=model, proxy=proxy, targets=tuple(_split(target)), methods=tuple(_split(method) or ["circuit"]),
        k=_k(k), shots=shots, seeds=tuple(seed_list), kv_rule=kv_rule, n_src=n_src, proxy_seed=proxy_seed,
        lr_grid=tuple(grid) if grid else None, train=train,
        proxy_train=TrainConfig(lr=proxy_lr, epochs=proxy_epochs, batch_size=batch_size, max_length=max_length,
                                warmup_ratio=warmup, weight_decay=weight_decay, recompute=recompute),
        data=DataProtocol(dataset=dataset, data_dir=str(data_dir) if data_dir else None, test_limit=test_limit,
                          val_limit=val_limit),
        lora=LoraSettings(r=lora_r, alpha=lora_alpha), scorer=scorer, discovery_n=discovery_n,
        proxy_lr_grid=tuple(_numbers(_split(proxy_lr_grid), float, "--proxy-lr-grid")) or None,
        save_full_deltas=save_full_deltas, checkpoint_every=checkpoint_every, method_lr_grids=per_method or None,
        lr_selection=lr_selection, order=order,
    )
    head_set = HeadSet.of(Head.parse(h) for h in _split(heads)) if heads else None
    table = HeadScores.load(scores) if scores else None
    exp = Experiment(config, out, scores=table, heads=head_set, cache_dir=cache_dir, resume=resume,
                     progress=not quiet, log=typer.echo)
    exp.run()
    typer.echo("")
    typer.echo((out / "summary.md").read_text() if (out / "summary.md").exists() else "no finished runs")
    typer.echo(f"results: {out / 'results.csv'}")
