"""Sweeps: each cell once, resume after an interruption (even SIGKILL), failures retried on the next run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from circuitlab.experiments import RunFolder, grid, run_sweep
from circuitlab.experiments.spec import dump_toml

CLI = "import circuitlab.cli.experiments; from circuitlab.cli import app; app()"


def calls(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_sequential_sweep_then_resume_computes_nothing(tmp_path, fake_spec):
    log = tmp_path / "calls.jsonl"
    spec = fake_spec(backend_options={"calls_log": str(log)})
    s = run_sweep(spec, tmp_path / "run", report=False)
    assert s.status == "completed" and s.n_run == s.n_done == 18 and not s.failures
    first = calls(log)
    # θ1; scores on the proxy and on 3 targets; 4 baselines (θ1 on the proxy and on 3 targets)
    assert Counter(c["kind"] for c in first) == {"cell": 18, "stage": 1 + 4 + 4}
    df = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert len(df) == 18 and df["cell_id"].is_unique
    assert set(df["cell_id"]) == {c.id for c in grid(spec)}
    assert df[["target_acc", "proxy_acc_before", "forgetting"]].notna().all().all()
    assert (tmp_path / "run" / "results.csv").exists()
    assert any((tmp_path / "run" / "artifacts").iterdir())
    s2 = run_sweep(spec, tmp_path / "run", report=False)
    assert s2.prepared == "resume" and s2.n_run == 0 and s2.n_done == 18
    assert calls(log) == first  # not one stage or cell ran again


def test_failed_cells_are_retried_on_the_next_run(tmp_path, fake_spec):
    flag = tmp_path / "fail.txt"
    flag.write_text("-sundanese-nearzero-\n")
    spec = fake_spec(backend_options={"fail_if_exists": str(flag)})
    s = run_sweep(spec, tmp_path / "run", report=False)
    assert s.n_failed == 2 and s.n_done == 16 and s.status == "incomplete"
    assert all("sundanese-nearzero" in cid for cid, _ in s.failures)
    events = RunFolder(tmp_path / "run").events()
    assert sum(e["event"] == "cell_failed" for e in events) == 2
    flag.unlink()
    s = run_sweep(spec, tmp_path / "run", report=False)
    assert s.n_run == 2 and s.n_done == 18 and s.status == "completed"


def _sweep_until(spec_file, out, n_cells: int):
    """Start `circuitlab sweep` in a subprocess and return (its command, the process) once n_cells are done."""
    cmd = [sys.executable, "-c", CLI, "sweep", str(spec_file), "--out", str(out), "--quiet", "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "cells").glob("*.json"))) < n_cells:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    return cmd, proc


def test_sigkill_midway_then_rerun(tmp_path, spec_dict):
    """kill -9 a sweep subprocess mid-run; the rerun completes it, every cell once, none recomputed."""
    log = tmp_path / "calls.jsonl"
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(dump_toml(spec_dict(backend_options={"sleep_s": 0.25, "calls_log": str(log)},
                                             grid={"seeds": [31, 777, 2025]})))
    out = tmp_path / "run"
    cmd, proc = _sweep_until(spec_file, out, 8)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished_before = {p.stem for p in (out / "cells").glob("*.json")}
    assert 8 <= len(finished_before) < 27
    n_calls_before = len(calls(log))

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr

    run = RunFolder(out)
    spec = run.spec()
    ids = [c.id for c in grid(spec)]
    files = sorted(p.stem for p in (out / "cells").iterdir())
    assert files == sorted(ids)  # every cell exactly once, no temporary left behind
    df = pd.read_parquet(out / "results.parquet")
    assert sorted(df["cell_id"]) == sorted(ids)
    # no finished cell was recomputed: the rerun started only the cells missing at the kill
    rerun_calls = calls(log)[n_calls_before:]
    started_again = {c["id"] for c in rerun_calls if c["kind"] == "cell"}
    assert not started_again & finished_before
    assert started_again == set(ids) - finished_before
    assert not [c for c in rerun_calls if c["kind"] == "stage"]  # stages were committed before the kill
    # the event log tells the same story, and the killed session is marked interrupted
    events = run.events()
    second_pid = {e["pid"] for e in events if e["event"] == "sweep_start"} - {proc.pid}
    restarted = {e["cell"] for e in events if e["event"] == "cell_start" and e["pid"] in second_pid}
    assert not restarted & finished_before
    done_events = Counter(e["cell"] for e in events if e["event"] == "cell_done")
    assert set(done_events.values()) == {1}  # no cell finished twice
    # the commit record is the cell file; the kill may fall between it and its (advisory) event line
    assert set(ids) - set(done_events) <= finished_before and len(set(ids) - set(done_events)) <= 1
    sessions = run.read_manifest()["sessions"]
    assert [s["status"] for s in sessions] == ["interrupted", "completed"]
    # the killed session ends at its last event, not never
    assert sessions[0]["finished"] and sessions[0]["started"] <= sessions[0]["finished"] <= sessions[1]["started"]


def test_sigterm_ends_a_sweep_like_ctrl_c(tmp_path, spec_dict):
    """`kill` (and a scheduler's time limit) closes the session and writes the results table."""
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(dump_toml(spec_dict(backend_options={"sleep_s": 0.25}, grid={"seeds": [31, 777]})))
    out = tmp_path / "run"
    _, proc = _sweep_until(spec_file, out, 3)
    proc.terminate()
    proc.wait(timeout=60)
    session = RunFolder(out).read_manifest()["sessions"][-1]
    assert session["status"] == "interrupted" and session["finished"]
    done = {p.stem for p in (out / "cells").glob("*.json")}
    assert set(pd.read_parquet(out / "results.parquet")["cell_id"]) == done


def test_a_failed_stage_blocks_only_the_cells_that_need_it(tmp_path, fake_spec):
    # discovery on a target is report-only: its failure blocks no cell; the proxy's discovery blocks circuit/nearzero
    spec = fake_spec(grid={"seeds": [31]}, backend_options={"fail_stages": ["scores-indonesian-sundanese-"]})
    s = run_sweep(spec, tmp_path / "a")
    assert s.status == "completed" and not s.failures
    page = (tmp_path / "a" / "report.html").read_text()
    assert "Shared stages that failed" in page and "scores-indonesian-sundanese-" in page
    spec = fake_spec(grid={"seeds": [31]}, backend_options={"fail_stages": ["scores-indonesian-"]})
    s = run_sweep(spec, tmp_path / "b", report=False)
    assert s.n_failed == 6 and s.n_done == 3  # circuit and nearzero x 3 targets blocked; full ran
    assert all("stage scores-indonesian-" in err for _, err in s.failures)


def test_every_method_the_spec_accepts_is_a_cell(tmp_path, fake_spec):
    """Each name of METHODS (lora and the derived ctsft-auto included) plans, runs and lands in the results."""
    from circuitlab.experiments import METHODS

    spec = fake_spec(grid={"methods": list(METHODS), "k": [3], "shots": [25], "seeds": [31]},
                     data={"targets": ["javanese"]})
    s = run_sweep(spec, tmp_path / "run", report=False)
    assert s.status == "completed", s.failures
    assert sorted(s.results["method"]) == sorted(METHODS)
