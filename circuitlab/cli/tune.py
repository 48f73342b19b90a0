"""``circuitlab tune``: a sweep written as flags.

Every flag sets one field of an experiment spec (the help says which); the spec
is checked (names, ranges, k against the model's heads, shots against the pool)
before anything is loaded, then run by the one sweep engine, exactly as
``circuitlab sweep`` runs a spec file. The run folder is a sweep run folder:
``spec.toml`` (the resolved spec: ``circuitlab sweep <out>/spec.toml`` repeats the
run), ``results.csv``/``results.parquet``, ``report.html``, ``cells/`` and the
deltas under ``artifacts/``. Running the same command again resumes it.

Example (the paper's protocol on the embedded default)::

    circuitlab tune --target javanese --target acehnese --method circuit,nearzero,full \\
        --k 8 --shots 100 --seeds 31,777 --out runs/jav
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import typer

from circuitlab.cli.app import app
from circuitlab.cli.common import cli_errors
from circuitlab.errors import UserError


def _split(values: list[str] | None) -> list[str]:
    """Repeated options and comma/space-separated lists alike: ``["31,777", "2025"]`` -> ``["31", "777", "2025"]``."""
    return [v for item in values or [] for v in re.split(r"[,\s]+", item.strip()) if v]


def _numbers(values: list[str], kind, what: str) -> list:
    try:
        return [kind(v) for v in values]
    except ValueError:
        raise UserError(f"{what} must be numbers, got {values}.") from None


def _k(text: str) -> int | float:
    try:
        x = float(text)
    except ValueError:
        raise UserError(f"--k must be a head count (8) or a fraction of all heads (0.05), got {text!r}.") from None
    return int(x) if x.is_integer() else x


def tune_overrides(*, target: list[str], method: list[str] | None = None, model: str | None = None,
                   proxy: str | None = None, k: list[str] | None = None, shots: list[str] | None = None,
                   seeds: list[str] | None = None, lr: float | None = None, lr_grid: list[str] | None = None,
                   method_lr_grid: list[str] | None = None, method_grids: bool = False, **fields: Any) -> dict:
    """The dotted spec fields the flags set (flags left at ``None`` keep the spec's defaults)."""
    from circuitlab.methods import get_method

    out: dict[str, Any] = {"data.targets": _split(target)}
    if method:
        out["grid.methods"] = _split(method)
    for key, value in (("model.name", model), ("data.proxy", [proxy] if proxy else None)):
        if value is not None:
            out[key] = value
    if k:
        out["grid.k"] = [_k(x) for x in _split(k)]
    if shots:
        out["grid.shots"] = _numbers(_split(shots), int, "--shots")
    if seeds:
        out["grid.seeds"] = _numbers(_split(seeds), int, "--seeds")
    if lr is not None:
        out["tuning.lr_grid"] = [lr]
    elif lr_grid:
        out["tuning.lr_grid"] = _numbers(_split(lr_grid), float, "--lr-grid")
    per_method: dict[str, dict] = {}
    if method_grids:
        for m in out.get("grid.methods", []):
            info = get_method(m)
            for name in info.derived_from or (m,):
                per_method[name] = {"lr_grid": list(get_method(name).lr_grid)}
    for item in method_lr_grid or []:
        name, sep, values = item.partition("=")
        if not sep:
            raise UserError(f"--method-lr-grid expects METHOD=LR,LR (e.g. full=1e-5,5e-5), got {item!r}.")
        per_method[name.strip()] = {"lr_grid": _numbers(_split([values]), float, f"--method-lr-grid {name}")}
    if per_method:
        out["tuning.per_method"] = per_method
    for dotted, value in fields.items():
        if value is not None:
            out[dotted] = value
    return out


@app.command("tune", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
@cli_errors
def tune_cmd(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (created, or resumed when it holds this run)."),
    target: list[str] = typer.Option(..., help="Target language(s); repeat or comma-separate (data.targets)."),
    method: Optional[list[str]] = typer.Option(
        None, help="circuit, nearzero, least, random, norms, full, direct, lora or ctsft-auto (circuit or nearzero, "
                   "chosen on validation); repeat or comma-separate (grid.methods)."),
    model: Optional[str] = typer.Option(None, help="Base model: registered name, local HF folder or hub id "
                                                   "(model.name)."),
    proxy: Optional[str] = typer.Option(None, help="Proxy language of θ1 (data.proxy)."),
    k: Optional[list[str]] = typer.Option(None, help="Head budgets: counts, or fractions of all heads in (0, 1) "
                                                     "(grid.k)."),
    shots: Optional[list[str]] = typer.Option(None, help="Target tuning examples n, from pool B (grid.shots)."),
    seeds: Optional[list[str]] = typer.Option(None, help="Seeds: --seeds 31,777 or --seeds 31 777 (grid.seeds)."),
    data_dir: Optional[Path] = typer.Option(None, help="Local dataset folder (data.data_dir)."),
    dataset: Optional[str] = typer.Option(None, help="nusax, xnli, or a dataset folder (with dataset.toml) (data.dataset)."),
    n_src: Optional[int] = typer.Option(None, help="Proxy examples for θ1 (proxy_tuning.n_src)."),
    epochs: Optional[int] = typer.Option(None, help="Target tuning epochs (tuning.epochs)."),
    lr: Optional[float] = typer.Option(None, help="One learning rate, no search (tuning.lr_grid = [LR])."),
    lr_grid: Optional[list[str]] = typer.Option(None, help="Learning rates tried on target validation "
                                                           "(tuning.lr_grid)."),
    method_lr_grid: Optional[list[str]] = typer.Option(
        None, help="A grid for one method, METHOD=LR,LR, repeatable (tuning.per_method.METHOD.lr_grid)."),
    method_grids: bool = typer.Option(False, help="Search each method's suggested grid (circuitlab.methods; "
                                                  "LoRA's is higher)."),
    batch_size: Optional[int] = typer.Option(None, help="tuning.batch_size."),
    max_length: Optional[int] = typer.Option(None, help="Token limit of tuning and evaluation "
                                                        "(tuning.max_length, evaluation.max_length)."),
    warmup: Optional[float] = typer.Option(None, help="Warm-up fraction of the steps (tuning.warmup)."),
    weight_decay: Optional[float] = typer.Option(None, help="AdamW weight decay, never on frozen elements "
                                                            "(tuning.weight_decay)."),
    kv_rule: Optional[str] = typer.Option(None, help="GQA K/V rule: any, all or none (tuning.kv_rule)."),
    group_by_length: bool = typer.Option(False, help="Batch target examples of similar token length together "
                                                     "(tuning.options.group_by_length; θ1 keeps random batches)."),
    recompute: Optional[str] = typer.Option(None, help="selective (default: recompute elementwise activations in "
                                                       "backward, same gradients) or none "
                                                       "(tuning.options.recompute)."),
    scores: Optional[Path] = typer.Option(None, help="Head-score table to use instead of discovery "
                                                     "(discovery.scores_file)."),
    heads: Optional[str] = typer.Option(None, help="Explicit heads for head methods, e.g. 'L3H1,L5H0' "
                                                   "(tuning.heads)."),
    scorer: Optional[str] = typer.Option(None, help="Discovery scorer (discovery.scorer)."),
    discovery_n: Optional[int] = typer.Option(None, help="Discovery set size (discovery.n_examples)."),
    proxy_epochs: Optional[int] = typer.Option(None, help="θ1 epochs (proxy_tuning.epochs)."),
    proxy_lr: Optional[float] = typer.Option(None, help="θ1 learning rate (proxy_tuning.lr)."),
    proxy_lr_grid: Optional[list[str]] = typer.Option(None, help="θ1 learning rates, best on proxy validation "
                                                                 "(proxy_tuning.lr_grid)."),
    proxy_seed: Optional[int] = typer.Option(None, help="Seed of θ1's examples and order (proxy_tuning.seed)."),
    test_limit: Optional[int] = typer.Option(None, help="Test examples per language, 0 = all (evaluation.n_test)."),
    val_limit: Optional[int] = typer.Option(None, help="Validation examples, 0 = all (evaluation.n_valid)."),
    save_full_deltas: bool = typer.Option(False, help="Also save full/direct deltas (~the whole model each)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="FIELD=VALUE for any other spec field."),
    overwrite: bool = typer.Option(False, help="Delete the run folder's results first and start over."),
    force: bool = typer.Option(False, help="Continue a run folder made with other settings (keeps the cells "
                                           "these settings still contain)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the settings, print the spec, run nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or console log."),
) -> None:
    """Tune θ1 on each target with each method and seed: a one-command sweep (see `circuitlab sweep`)."""
    from circuitlab.cli.experiments import _finish, _overrides
    from circuitlab.experiments import run_sweep, spec_from_dict
    from circuitlab.experiments.preflight import preflight
    from circuitlab.experiments.spec import dump_toml

    seed_values = list(seeds or [])
    extra = list(ctx.args)
    if extra:  # `--seeds 31 777 2025`: click hands the values after the first to us as extra arguments
        if not seed_values or not all(re.fullmatch(r"-?\d+", a) for a in extra):
            raise UserError(f"Unexpected argument(s) {extra}; lists are given as --seeds 31 777 or --target a,b.")
        seed_values += extra
    fields = {
        "data.data_dir": str(data_dir) if data_dir else None, "data.dataset": dataset,
        "proxy_tuning.n_src": n_src, "tuning.epochs": epochs, "tuning.batch_size": batch_size,
        "tuning.max_length": max_length, "evaluation.max_length": max_length, "tuning.warmup": warmup,
        "tuning.weight_decay": weight_decay, "tuning.kv_rule": kv_rule,
        "discovery.scores_file": str(scores.expanduser().resolve()) if scores else None, "tuning.heads": _split([heads]) if heads else None,
        "discovery.scorer": scorer, "discovery.n_examples": discovery_n, "proxy_tuning.epochs": proxy_epochs,
        "proxy_tuning.lr": proxy_lr, "proxy_tuning.seed": proxy_seed, "evaluation.n_test": test_limit,
        "evaluation.n_valid": val_limit,
        "proxy_tuning.lr_grid": _numbers(_split(proxy_lr_grid), float, "--proxy-lr-grid") if proxy_lr_grid else None,
        "tuning.options.save_full_deltas": True if save_full_deltas else None,
        "tuning.options.group_by_length": True if group_by_length else None,
        "tuning.options.recompute": recompute,
    }
    over = tune_overrides(target=target, method=method, model=model, proxy=proxy, k=k, shots=shots,
                          seeds=seed_values, lr=lr, lr_grid=lr_grid, method_lr_grid=method_lr_grid,
                          method_grids=method_grids, **fields)
    over.update(_overrides(None, None, quiet, set_))
    spec = spec_from_dict({"name": out.name or "tune", "description": "circuitlab tune"}).replace(**over)
    preflight(spec)
    if dry_run:
        typer.echo(dump_toml(spec.to_dict()), nl=False)
        return
    summary = run_sweep(spec, out, force=force, overwrite=overwrite, spec_source="circuitlab tune")
    _finish(summary, list(spec.grid.methods))
