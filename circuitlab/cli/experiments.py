"""``circuitlab sweep``, ``report`` and ``demo``: thin wrappers over :mod:`circuitlab.experiments`.

Every flag maps to a spec field: ``--executor`` is ``runtime.executor``,
``--address`` is ``runtime.address``, ``--quiet`` is ``runtime.quiet``,
``--matmul-precision`` is ``model.matmul_precision``, and
``--set FIELD=VALUE`` reaches any other field (``--set tuning.lr=1e-4``,
``--set grid.seeds=[31,777]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from circuitlab.cli.app import app
from circuitlab.cli.common import cli_errors, echo_table

SHORT_COLUMNS = ["proxy", "target", "method", "k", "shots", "seeds", "target_acc", "target_acc_before",
                 "proxy_acc_after", "forgetting", "params %"]


def print_headline(results, methods: list[str] | None = None) -> None:
    """The short results table (mean ± std over seeds)."""
    from circuitlab.experiments.report import format_headline, headline_table

    rows = format_headline(headline_table(results, methods))
    if not rows:
        typer.echo("(no finished cells yet)")
        return
    cols = [c for c in SHORT_COLUMNS if any(c in r for r in rows)]
    if any(r.get("branch") for r in rows):
        cols.append("branch")
    echo_table(rows, cols)


def _overrides(executor: str | None, address: str | None, quiet: bool, assignments: list[str] | None,
               matmul_precision: str | None = None) -> dict:
    from circuitlab.experiments.spec import parse_assignment

    out = dict(parse_assignment(a) for a in assignments or [])
    if matmul_precision is not None:
        out["model.matmul_precision"] = matmul_precision
    if executor is not None:
        out["runtime.executor"] = executor
    if address is not None:
        out["runtime.address"] = address
        out.setdefault("runtime.executor", "ray")
    if quiet:
        out["runtime.quiet"] = True
    return out


def _finish(summary, methods: list[str]) -> None:
    typer.echo("")
    print_headline(summary.results, methods)
    run = summary.run
    typer.echo(f"\n{summary.n_done}/{summary.n_cells} cells done ({summary.n_run} this run) in "
               f"{summary.seconds.get('total', 0):.0f} s.")
    typer.echo(f"results: {run.results_path} (and results.csv)")
    if run.report_path.exists():
        typer.echo(f"report:  {run.report_path}")
    if summary.failures:
        typer.secho(f"{len(summary.failures)} cell(s) failed (details in {run.log_path}); run the same command "
                    "again to retry them:", err=True, fg=typer.colors.RED)
        for cid, err in summary.failures[:10]:
            typer.secho(f"  {cid}: {err}", err=True)
        raise typer.Exit(1)


@app.command("sweep")
@cli_errors
def sweep_cmd(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="Experiment spec (.toml, .yaml or .json)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (created, or resumed if it holds this spec)."),
    executor: Optional[str] = typer.Option(None, help="sequential or ray (runtime.executor)."),
    address: Optional[str] = typer.Option(None, help="Ray cluster address, implies --executor ray "
                                                     "(runtime.address; default: a local instance)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or console log (runtime.quiet)."),
    force: bool = typer.Option(False, help="Continue a run folder made by a different spec (keeps the cells "
                                           "the new spec still contains)."),
    overwrite: bool = typer.Option(False, help="Delete the run folder's results first and start over."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="FIELD=VALUE spec override, repeatable "
                                                                 "(e.g. tuning.lr=1e-4)."),
    no_report: bool = typer.Option(False, "--no-report", help="Do not rebuild report.html at the end."),
    matmul_precision: Optional[str] = typer.Option(
        None, help="highest (exact float32, default) or medium (bfloat16 matmuls: faster on AMX CPUs) "
                   "(model.matmul_precision)."),
) -> None:
    """Run every cell of SPEC into --out, once each; rerun the same command to resume after an interruption."""
    from circuitlab.experiments import load_spec, run_sweep

    spec = load_spec(spec_path, _overrides(executor, address, quiet, set_, matmul_precision))
    summary = run_sweep(spec, out, force=force, overwrite=overwrite, spec_source=str(spec_path.resolve()),
                        report=not no_report)
    _finish(summary, list(spec.grid.methods))


@app.command("report")
@cli_errors
def report_cmd(
    run_dir: Path = typer.Argument(..., metavar="DIR", help="A run folder made by `circuitlab sweep` or `demo`."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print the report's path."),
) -> None:
    """Rebuild DIR/report.html (self-contained, offline) and DIR/results.* from the finished cells."""
    from circuitlab.experiments import RunFolder
    from circuitlab.experiments.cells import plan
    from circuitlab.experiments.report import write_report

    run = RunFolder(run_dir)
    spec = run.spec()
    results = run.results([c.id for c in plan(spec).cells])
    run.write_results(results)
    path = write_report(run, results)
    if not quiet:
        print_headline(results, list(spec.grid.methods))
        typer.echo("")
    typer.echo(f"report: {path}")


@app.command("demo")
@cli_errors
def demo_cmd(
    target: str = typer.Option("javanese", help="Target language (NusaX name or ISO code)."),
    full: bool = typer.Option(False, "--full", help="The paper's budget instead of the demo budget "
                                                    "(hours on a CPU)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default runs/demo-<target>[-full])."),
    data_dir: Optional[Path] = typer.Option(None, help="NusaX folder (default: $CIRCUITLAB_NUSAX_DIR, else "
                                                        "../shared/data/nusax or ./data/nusax if present, else "
                                                        "the hub)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or console log."),
    executor: Optional[str] = typer.Option(None, help="sequential (default) or ray."),
    force: bool = typer.Option(False, help="Continue a run folder made by a different spec."),
    overwrite: bool = typer.Option(False, help="Start the run folder over."),
    matmul_precision: Optional[str] = typer.Option(
        None, help="highest (exact float32, default) or medium (bfloat16 matmuls: faster on AMX CPUs) "
                   "(model.matmul_precision)."),
) -> None:
    """The main job: Gemma-3-270M tuned on Indonesian, its circuit found, then adapted to a target language.

    Proxy competence tuning on Indonesian, discovery of the task circuit, then
    circuit, nearzero and full fine-tuning on the target, with target and proxy
    accuracy measured before and after; ends with a results table and report.html.
    The default is a DEMO budget (about 10 minutes on a 2-core CPU); --full uses the
    paper's settings.
    """
    from circuitlab.experiments import run_sweep
    from circuitlab.experiments.demo import DEMO_NOTE, default_out, demo_spec, find_data_dir

    spec = demo_spec(target=target, full=full, data_dir=data_dir if data_dir else find_data_dir())
    over = _overrides(executor, None, quiet, None, matmul_precision)
    if over:
        spec = spec.replace(**over)
    out = out or default_out(spec)
    if not quiet:
        typer.echo(DEMO_NOTE["full" if full else "demo"].format(target=spec.data.targets[0], out=out,
                                                                data=spec.data.data_dir or "the hub"))
    summary = run_sweep(spec, out, force=force, overwrite=overwrite, spec_source="circuitlab demo"
                        + (" --full" if full else ""))
    _finish(summary, list(spec.grid.methods))
