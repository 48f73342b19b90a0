"""The run folder: everything a sweep produces, laid out so that it can be resumed and shared.

Layout::

    RUN/
      manifest.json        resolved spec, fingerprint, versions, git commit, host, sessions (start/end)
      spec.toml            the resolved spec, re-loadable with `circuitlab sweep RUN/spec.toml`
      sweep.log            the log of every session (appended)
      events.jsonl         one JSON line per stage/cell start, finish or failure (appended)
      stages/<stage id>/   shared stages: stage.json + artifacts (θ1 checkpoint, head scores …)
      cells/<cell id>.json one finished cell: coordinates, results row, metadata (written atomically)
      artifacts/<cell id>/ a cell's files (sparse deltas …), moved in place before its JSON is written
      scores/              head-score tables (parquet + csv), one per discovery stage
      results.parquet      one row per finished cell of the grid (also results.csv)
      figures/             the report's figures as plotly JSON
      report.html          the self-contained report

Context: a cell's JSON file is its commit record. It is written to a temporary
file in the same folder, flushed to disk and renamed over its final name
(``os.replace`` is atomic on POSIX), so after any interruption, even
``kill -9``, a cell is either entirely there or not at all. Stage folders are
committed the same way (a temporary folder renamed into place). Everything else
(results table, report) is derived and can be rebuilt from ``cells/``.

The pieces it is built from, each re-exported here: atomic writes
(:mod:`~circuitlab.experiments.runfolder_files`), manifest provenance
(:mod:`~circuitlab.experiments.runfolder_provenance`), the results table
(:mod:`~circuitlab.experiments.runfolder_results`) and the sweep log
(:mod:`~circuitlab.experiments.runfolder_log`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from circuitlab.errors import UserError
from circuitlab.experiments.cells import ID_SCHEME
from circuitlab.experiments.runfolder_files import (
    _fsync_dir,
    _json_default,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_table,
    atomic_write_text,
)
from circuitlab.experiments.runfolder_log import run_logging
from circuitlab.experiments.runfolder_provenance import (  # VERSIONED_PACKAGES: re-exported
    VERSIONED_PACKAGES,
    git_info,
    host_info,
    now,
    package_versions,
)
from circuitlab.experiments.runfolder_results import KEY_COLUMNS, METRIC_COLUMNS, results_frame
from circuitlab.experiments.spec import ExperimentSpec, dump_toml, spec_from_dict

MANIFEST_VERSION = 1


#: Summary entries of a stage that name its files (relative to the stage folder): θ1's checkpoint, head scores.
STAGE_FILES = ("checkpoint", "scores")


class RunFolderError(UserError):
    """The run folder cannot be used as asked (another spec, another sweep running, not a run folder)."""


# -- the folder -----------------------------------------------------------------------------------


class RunFolder:
    """One run folder (see the module docstring for its layout)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()

    # paths
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def cells_dir(self) -> Path:
        return self.path / "cells"

    @property
    def stages_dir(self) -> Path:
        return self.path / "stages"

    @property
    def artifacts_dir(self) -> Path:
        return self.path / "artifacts"

    @property
    def scores_dir(self) -> Path:
        return self.path / "scores"

    @property
    def figures_dir(self) -> Path:
        return self.path / "figures"

    @property
    def log_path(self) -> Path:
        return self.path / "sweep.log"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    @property
    def results_path(self) -> Path:
        return self.path / "results.parquet"

    def is_run(self) -> bool:
        return self.manifest_path.is_file()

    # manifest / spec
    def read_manifest(self) -> dict[str, Any]:
        if not self.is_run():
            raise RunFolderError(f"{self.path} is not a run folder (no manifest.json); run `circuitlab sweep` "
                                 "into it first.")
        return json.loads(self.manifest_path.read_text())

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.manifest_path, manifest)

    def spec(self) -> ExperimentSpec:
        """The resolved spec the folder was created with."""
        return spec_from_dict(self.read_manifest()["spec"], source=str(self.manifest_path), check_files=False)

    def prepare(self, spec: ExperimentSpec, *, force: bool = False, overwrite: bool = False,
                spec_source: str | None = None) -> str:
        """Create the folder for ``spec`` or check that it may be resumed.

        Returns ``"new"``, ``"resume"`` (same fingerprint) or ``"forced"`` (a different
        spec accepted with ``force``: finished cells and stages whose ids are still
        in the new grid are kept, since ids hash everything that affects them).
        ``overwrite`` empties an existing *run* folder first. A non-empty folder that
        is not a run folder is never touched. Call it with :meth:`lock` held.
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path} exists and is not a folder; choose another --out.")
        if self.path.is_dir() and any(p.name != ".lock" for p in self.path.iterdir()) and not self.is_run():
            raise RunFolderError(
                f"{self.path} exists, is not empty and is not a circuitlab run folder (no manifest.json); "
                "refusing to write into it. Choose a new or empty folder for --out."
            )
        if self.is_run() and overwrite:
            for child in self.path.iterdir():
                if child.name == ".lock":
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        if self.is_run():
            manifest = self.read_manifest()
            old_fp = manifest.get("fingerprint")
            if old_fp == spec.fingerprint():
                status = "resume"
            elif force:
                status = "forced"
                manifest.setdefault("previous_specs", []).append(
                    {"spec": manifest["spec"], "fingerprint": old_fp, "replaced": now()})
            else:
                diff = spec_diff(manifest["spec"], spec.to_dict())
                if not diff:
                    raise RunFolderError(
                        f"{self.path} was made by another version of circuitlab (id scheme "
                        f"{manifest.get('id_scheme', 'unknown')}, this one uses {ID_SCHEME}) whose cell ids differ, "
                        "although the spec is the same. Use another --out, or pass --force to continue in it (its "
                        "finished cells will be computed again), or --overwrite to start over."
                    )
                lines = "\n".join(f"  {k}: {a!r} -> {b!r}" for k, (a, b) in list(diff.items())[:20])
                raise RunFolderError(
                    f"{self.path} holds a run of a different spec; these fields differ:\n{lines}\n"
                    "Use another --out, or pass --force to continue it with the new spec (finished cells that "
                    "the new spec still contains are kept), or --overwrite to delete its results and start over."
                )
            manifest["spec"] = spec.to_dict()
            manifest["fingerprint"] = spec.fingerprint()
            manifest["id_scheme"] = ID_SCHEME
        else:
            status = "new"
            self.path.mkdir(parents=True, exist_ok=True)
            manifest = {
                "circuitlab_run": MANIFEST_VERSION, "name": spec.name, "budget": spec.budget,
                "created": now(), "started": None, "finished": None,
                "spec": spec.to_dict(), "fingerprint": spec.fingerprint(), "id_scheme": ID_SCHEME, "sessions": [],
            }
        manifest["spec_source"] = spec_source or manifest.get("spec_source")
        for d in (self.cells_dir, self.stages_dir, self.artifacts_dir):
            d.mkdir(exist_ok=True)
        self.write_manifest(manifest)
        atomic_write_text(self.path / "spec.toml", _spec_toml(spec))
        return status

    def start_session(self, executor: str, n_cells: int, n_done: int) -> int:
        """Record a new session (versions, git, host, start time); returns its index."""
        m = self.read_manifest()
        for i, s in enumerate(m["sessions"]):
            if s.get("status") == "running":  # the process that wrote it died (kill -9, power loss)
                s["status"] = "interrupted"
                nxt = m["sessions"][i + 1]["started"] if i + 1 < len(m["sessions"]) else None
                s["finished"] = s.get("finished") or self.last_event_time(s.get("started"), nxt)
                s["finished_from"] = "last event (the process died)"
        session = {
            "started": now(), "finished": None, "status": "running", "executor": executor,
            "cells_total": n_cells, "cells_done_at_start": n_done, "cells_run": 0, "cells_failed": 0,
            "host": host_info(), "argv": sys.argv,
        }
        m["sessions"].append(session)
        m["started"] = m.get("started") or session["started"]
        m["versions"] = package_versions()
        m["git"] = git_info()
        m["host"] = session["host"]
        self.write_manifest(m)
        return len(m["sessions"]) - 1

    def end_session(self, index: int, status: str, cells_run: int, cells_failed: int, n_done: int,
                    n_cells: int, stage_seconds: dict[str, float] | None = None) -> None:
        m = self.read_manifest()
        s = m["sessions"][index]
        s.update(finished=now(), status=status, cells_run=cells_run, cells_failed=cells_failed,
                 stage_seconds=stage_seconds or {})
        m["cells_done"], m["cells_total"] = n_done, n_cells
        if n_done == n_cells:
            m["finished"] = s["finished"]
        self.write_manifest(m)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """An exclusive lock on the folder (released by the OS if the process dies)."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / ".lock", "a+")
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    fh.seek(0)
                    raise RunFolderError(
                        f"Another sweep is running in {self.path} ({fh.read().strip() or 'unknown pid'}); wait "
                        "for it to finish or stop it, then run this command again."
                    ) from None
                raise
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {now()}")
            fh.flush()
            yield
        finally:
            fh.close()

    # events
    def event(self, kind: str, **fields: Any) -> None:
        """Append one event line (``{"t", "event", "pid", ...}``) to events.jsonl."""
        line = json.dumps({"t": now(), "event": kind, "pid": os.getpid(), **fields}, default=_json_default) + "\n"
        fd = os.open(self.events_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def last_event_time(self, since: str | None, until: str | None = None) -> str | None:
        """Time of the last event in ``[since, until)`` (how long a session that died without a word ran)."""
        times = [e["t"] for e in self.events() if "t" in e and (since is None or e["t"] >= since)
                 and (until is None or e["t"] < until)]
        return max(times) if times else None

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut short by kill -9
                out.append(json.loads(line))
        return out

    # cells
    def cell_path(self, cid: str) -> Path:
        return self.cells_dir / f"{cid}.json"

    def read_cell(self, cid: str) -> dict[str, Any] | None:
        """One committed cell record, or ``None``."""
        path = self.cell_path(cid)
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def write_cell(self, record: dict[str, Any]) -> Path:
        """Commit one finished cell (``record["cell"]["id"]`` names it) atomically."""
        return atomic_write_json(self.cell_path(record["cell"]["id"]), record)

    def read_cells(self) -> dict[str, dict[str, Any]]:
        """Every committed cell record by id; leftovers of interrupted writes are removed."""
        out: dict[str, dict[str, Any]] = {}
        if not self.cells_dir.is_dir():
            return out
        for p in self.cells_dir.iterdir():
            if p.name.startswith(".") and p.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    p.unlink()
                continue
            if p.suffix != ".json":
                continue
            try:
                rec = json.loads(p.read_text())
            except (json.JSONDecodeError, OSError):  # cannot happen with atomic writes; be safe anyway
                continue
            out[p.stem] = rec
        return out

    # stages
    def stage_path(self, sid: str) -> Path:
        return self.stages_dir / sid

    def has_stage(self, sid: str) -> bool:
        """Whether stage ``sid`` is committed *with its files* (a folder committed to git without its θ1
        checkpoint has the record but not the stage: :meth:`stage_record` still reads the record)."""
        record = self.stage_record(sid)
        if record is None:
            return False
        summary, folder = record.get("summary") or {}, self.stage_path(sid)
        if summary.get("checkpoint") and not any((folder / summary["checkpoint"]).glob("*.safetensors")):
            return False  # θ1's folder without its weights
        return all((folder / summary[k]).exists() for k in STAGE_FILES if summary.get(k))

    def stage_record(self, sid: str) -> dict[str, Any] | None:
        """The committed ``stage.json`` of ``sid``, or ``None``."""
        path = self.stage_path(sid) / "stage.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def read_stage(self, sid: str) -> dict[str, Any]:
        return json.loads((self.stage_path(sid) / "stage.json").read_text())

    def checkpoint(self, proxy: str) -> Path:
        """θ1 of ``proxy`` in this run (a Hugging Face folder: ``load_model(str(run.checkpoint(proxy)))``)."""
        for folder in sorted(self.stages_dir.glob(f"proxy-{proxy}-*")):
            if (folder / "stage.json").exists():
                return folder / json.loads((folder / "stage.json").read_text())["summary"]["checkpoint"]
        raise RunFolderError(f"{self.path} holds no θ1 for {proxy!r} yet: run its sweep first.")

    def new_work_dir(self, prefix: str) -> Path:
        """A private temporary folder inside the run folder (same file system, so renames are atomic)."""
        tmp = self.path / ".work"
        tmp.mkdir(exist_ok=True)
        return Path(tempfile.mkdtemp(dir=tmp, prefix=f"{prefix}-"))

    def commit_dir(self, work: Path, final: Path) -> Path:
        """Move a finished work folder to ``final`` atomically (replacing an older copy)."""
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(work, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(work, final)
        _fsync_dir(final.parent)
        return final

    def clean_work(self) -> None:
        """Remove leftovers of interrupted stages and cells (call with the lock held)."""
        shutil.rmtree(self.path / ".work", ignore_errors=True)
        for d in (self.stages_dir, self.artifacts_dir):
            if d.is_dir():
                for p in d.iterdir():
                    if p.name.startswith(".") and ".old-" in p.name:
                        shutil.rmtree(p, ignore_errors=True)

    # results
    def results(self, cell_ids: list[str] | None = None) -> pd.DataFrame:
        """The results table from ``cells/`` (only ``cell_ids``, in that order, when given)."""
        recs = self.read_cells()
        ids = cell_ids if cell_ids is not None else sorted(recs)
        rows = [{**recs[i]["row"], "cell_id": i} for i in ids if i in recs]
        return results_frame(rows)

    def write_results(self, df: pd.DataFrame) -> tuple[Path, Path]:
        """Write ``results.parquet`` and ``results.csv`` atomically."""
        return atomic_write_table(df, self.results_path), atomic_write_table(df, self.path / "results.csv")


def spec_diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """``{"tuning.lr": (old, new)}`` for every leaf that differs between two spec dicts."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        path = f"{prefix}{key}"
        if isinstance(va, dict) and isinstance(vb, dict):
            out.update(spec_diff(va, vb, path + "."))
        elif va != vb:
            out[path] = (va, vb)
    return out


def _spec_toml(spec: ExperimentSpec) -> str:
    header = (f"# Resolved spec of this run (fingerprint {spec.fingerprint()[:16]}), written by circuitlab.\n"
              "# Re-run or resume with: circuitlab sweep <this file> --out <this folder>\n")
    return header + dump_toml(spec.to_dict())


__all__ = [
    "KEY_COLUMNS", "METRIC_COLUMNS", "RunFolder", "RunFolderError", "atomic_write_bytes", "atomic_write_json",
    "atomic_write_table", "atomic_write_text", "git_info", "host_info", "package_versions", "results_frame",
    "run_logging", "spec_diff",
]
