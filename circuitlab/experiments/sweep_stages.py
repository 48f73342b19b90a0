"""Shared stages of a sweep (θ1 checkpoint, discovery scores, baselines): computed once, in the driver.

A stage runs in a private work folder and is committed atomically under
``stages/<id>/`` (``stage.json`` last, then one rename), so a stage either exists
whole or is computed again; a stage whose dependency failed is skipped, not run.
"""

from __future__ import annotations

import shutil
import socket
import time
import traceback
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from circuitlab.experiments.cells import Backend, Cell, Plan, RunContext, Stage, StageOutput
from circuitlab.experiments.runfolder import RunFolder, RunFolderError, atomic_write_json, atomic_write_table, now
from circuitlab.experiments.spec import ExperimentSpec


def stage_output(run: RunFolder, stage: Stage) -> StageOutput:
    """A committed stage as the backend sees it: the stage, its folder, its summary."""
    return StageOutput(stage, run.stage_path(stage.id), run.read_stage(stage.id)["summary"])


#: Summary entries that may differ between two computations of the same stage (timings, file names).
VOLATILE = frozenset({"seconds", "train_s", "wall_s", "checkpoint", "scores"})


def stage_changes(earlier: dict, now: dict) -> dict[str, tuple]:
    """``{entry: (earlier, now)}`` for the summary entries both computations report and that differ."""
    return {k: (earlier[k], now[k]) for k in sorted(set(earlier) & set(now) - VOLATILE) if earlier[k] != now[k]}


def ensure_stages(run: RunFolder, spec: ExperimentSpec, p: Plan, cells: list[Cell], backend: Backend,
                  log, progress: bool, cache: dict, seconds: dict[str, float]) -> dict[str, str]:
    """Compute the stages ``cells`` need that are not committed yet; returns ``{stage id: error}`` of failures.

    A stage whose record is committed but whose files are not (a run folder kept in git without θ1's
    checkpoint) is computed again and must come out the same: its summary (θ1's weight hash, accuracies,
    losses) is compared with the record the committed cells, scores and baselines were computed from. A
    different result fails the stage: the cells that need it wait and nothing committed is touched (mixing
    two θ1s in one folder would pair cells that started from different models).
    """
    failed: dict[str, str] = {}
    needed = p.stages_for(cells, extra=True)
    todo = [s for s in needed if not run.has_stage(s.id)]
    if needed:
        log.info("shared stages: %d needed, %d cached, %d to compute", len(needed), len(needed) - len(todo), len(todo))
    for stage in tqdm(todo, desc="shared stages", unit="stage", disable=not progress or not todo, leave=False):
        bad = [dep for _, dep in stage.deps if dep in failed]
        if bad:
            failed[stage.id] = f"depends on failed stage {bad[0]}"
            continue
        deps = {role: stage_output(run, p.stages[sid]) for role, sid in stage.deps}
        work = run.new_work_dir(f"stage-{stage.kind}")
        ctx = RunContext(spec=spec, work_dir=work, progress=progress, logger=log, cache=cache)
        log.info("stage %s: start", stage.id)
        run.event("stage_start", stage=stage.id)
        t0 = time.perf_counter()
        try:
            summary = backend.run_stage(stage, deps, ctx)
        except Exception as exc:  # noqa: BLE001 - recorded and reported, the sweep decides whether to stop
            failed[stage.id] = f"{type(exc).__name__}: {exc}"
            log.error("stage %s failed: %s\n%s", stage.id, exc, traceback.format_exc())
            run.event("stage_failed", stage=stage.id, error=failed[stage.id])
            shutil.rmtree(work, ignore_errors=True)
            if spec.runtime.on_error == "stop":
                raise
            continue
        dt = time.perf_counter() - t0
        seconds[stage.kind] = seconds.get(stage.kind, 0.0) + dt
        record = {"stage": stage.to_dict(), "summary": summary or {}, "seconds": dt, "finished": now(),
                  "host": socket.gethostname()}
        earlier = run.stage_record(stage.id)
        if earlier is not None:
            before = earlier.get("summary") or {}
            changed = stage_changes(before, summary or {})
            unverifiable = stage.kind == "proxy" and "weights_sha256" not in before
            if changed or unverifiable:
                shown = "; ".join(f"{k}: {_brief(a)} -> {_brief(b)}" for k, (a, b) in list(changed.items())[:4])
                why = (f"differs from the committed one that the finished cells used ({shown})" if changed else
                       "cannot be checked against the committed one (its record has no weights_sha256)")
                failed[stage.id] = (
                    f"recomputed {stage.id} (its files were not in the run folder) {why}. Restore its files, run "
                    f"where it was made (host {earlier.get('host', '?')}: same hardware, same thread count), or "
                    "start a new run folder.")
                log.error("stage %s: %s", stage.id, failed[stage.id])
                run.event("stage_failed", stage=stage.id, error=failed[stage.id])
                shutil.rmtree(work, ignore_errors=True)
                if spec.runtime.on_error == "stop":
                    raise RunFolderError(failed[stage.id])
                continue
            earlier = {k: v for k, v in earlier.items() if k != "recomputed"}  # one level, not a chain per session
            record["recomputed"] = {"earlier": earlier}  # a changed one was refused above
            log.info("stage %s: recomputed (its files were missing); same result as the committed record", stage.id)
        atomic_write_json(work / "stage.json", record)
        run.commit_dir(work, run.stage_path(stage.id))
        run.event("stage_done", stage=stage.id, seconds=round(dt, 3))
        log.info("stage %s: done in %.1f s %s", stage.id, dt, _short(summary))
    return failed


def _brief(v) -> str:
    text = f"{v:.6g}" if isinstance(v, float) else str(v)
    return text if len(text) <= 24 else text[:12] + "…"


def _short(summary: dict | None) -> str:
    if not summary:
        return ""
    items = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()
             if isinstance(v, (int, float, str)) and not isinstance(v, bool) and len(str(v)) <= 80]
    return "(" + ", ".join(items[:6]) + ")"


def export_score_tables(run: RunFolder, p: Plan) -> list[Path]:
    """Copy every committed discovery stage's head scores to ``scores/<proxy>-<scorer>.{parquet,csv}``."""
    written = []
    for s in p.stages.values():
        if s.kind != "scores" or not run.has_stage(s.id):
            continue
        rel = run.read_stage(s.id)["summary"].get("scores")
        src = run.stage_path(s.id) / rel if rel else None
        if src is None or not src.exists():
            continue
        run.scores_dir.mkdir(exist_ok=True)
        df = pd.read_parquet(src) if src.suffix == ".parquet" else pd.read_csv(src)
        lang = f"-on-{s.language}" if s.language else ""
        stem = f"{s.proxy}{lang}-{s.key['discovery']['scorer']}"
        written.append(atomic_write_table(df, run.scores_dir / f"{stem}.parquet"))
        atomic_write_table(df, run.scores_dir / f"{stem}.csv")
    return written


__all__ = ["ensure_stages", "export_score_tables", "stage_changes", "stage_output"]
