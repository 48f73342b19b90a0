"""``circuitlab evaluate``: zero-shot (or checkpoint) accuracy on one language split."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from circuitlab.defaults import DEFAULT_MODEL, DEFAULT_PROXY
from circuitlab.errors import UserError
from circuitlab.cli.app import app
from circuitlab.cli.common import cli_errors, echo_table, write_json


def parse_verbalizers(items: list[str] | None) -> dict[str, str] | None:
    """``["negative= negative", ...]`` -> ``{"negative": " negative", ...}``."""
    if not items:
        return None
    out = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--verbalizer expects LABEL=WORD (e.g. 'positive= positive'), got {item!r}.")
        label, word = item.split("=", 1)
        out[label.strip()] = word
    return out


@app.command("evaluate")
@cli_errors
def evaluate_cmd(
    model: str = typer.Option(DEFAULT_MODEL, help="Registered name, local HF folder or hub id."),
    language: str = typer.Option(DEFAULT_PROXY, help="Language (NusaX name, XNLI code, or as a dataset folder names it)."),
    dataset: str = typer.Option("nusax", help="nusax, xnli, or a dataset folder (with dataset.toml)."),
    split: str = typer.Option("test", help="train / valid / test (NusaX, dataset folders) or dev / test (XNLI)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N examples."),
    data_dir: Optional[Path] = typer.Option(None, help="Local copy of the dataset (else env var, else the hub)."),
    batch_size: int = typer.Option(16, min=1),
    max_length: int = typer.Option(128, min=8),
    template: Optional[str] = typer.Option(None, help="Prompt template with {text} (and {text_pair})."),
    verbalizer: Optional[list[str]] = typer.Option(None, help="LABEL=WORD, repeatable; a WORD of several tokens is scored by its summed log-probability."),
    device: str = typer.Option("cpu"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write metrics and predictions here."),
    overwrite: bool = typer.Option(False, help="Replace an existing --json file."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Evaluate MODEL on one split, reading only the label scores (label-token logits, or summed log-probs)."""
    from circuitlab.data import get_dataset, load_examples
    from circuitlab.evaluation import evaluate
    from circuitlab.models import load_model
    from circuitlab.tasks import make_task

    if json_path is not None and json_path.exists() and not overwrite:
        raise FileExistsError(f"{json_path} already exists; choose another path or pass --overwrite.")
    examples = load_examples(dataset, language, split, data_dir)[:limit]
    t0 = time.perf_counter()
    m = load_model(model, device=device)
    task = make_task(dataset, m.tokenizer, template, parse_verbalizers(verbalizer))
    t1 = time.perf_counter()
    res = evaluate(m, task, examples, batch_size=batch_size, max_length=max_length, progress=not quiet)
    t2 = time.perf_counter()
    echo_table(
        [{"model": model, "language": language, "split": split, "n": res.n, "accuracy": f"{res.accuracy:.3f}",
          "macro_f1": f"{res.macro_f1:.3f}", "predicted": " ".join(f"{k}:{v}" for k, v in res.pred_counts.items()),
          "seconds": f"{t2 - t1:.1f}"}],
        ["model", "language", "split", "n", "accuracy", "macro_f1", "predicted", "seconds"],
    )
    if json_path is not None:
        payload = {
            "model": model, "dataset": get_dataset(dataset).name, "language": language, "split": split, "limit": limit,
            "template": task.template, "verbalizers": dict(zip(task.labels, task.verbalizers)),
            "label_tokens": {lab: len(t) for lab, t in zip(task.labels, task.label_tokens)},
            "load_seconds": t1 - t0, "eval_seconds": t2 - t1, **res.to_dict(),
        }
        write_json(json_path, payload, overwrite=overwrite)
        typer.echo(f"wrote {json_path}")
