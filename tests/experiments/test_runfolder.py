"""Run folders: refusing other specs, --force, --overwrite, locking, atomic files."""

from __future__ import annotations

import json

import pytest

from circuitlab.experiments import RunFolder, RunFolderError, run_sweep
from circuitlab.experiments.runfolder import atomic_write_json, git_info, package_versions


def test_manifest_records_provenance(tmp_path, fake_spec):
    spec = fake_spec()
    s = run_sweep(spec, tmp_path / "run", report=False)
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert m["spec"] == spec.to_dict() and m["fingerprint"] == spec.fingerprint()
    assert m["versions"]["pandas"] and m["versions"]["python"]
    assert "commit" in m["git"] and m["host"]["hostname"] and m["host"]["cpu_count"]
    (session,) = m["sessions"]
    assert session["status"] == "completed" and session["started"] <= session["finished"]
    assert m["finished"] and m["cells_done"] == s.n_cells == 18
    assert (tmp_path / "run" / "spec.toml").read_text().count("[grid]") == 1
    assert "sweep" in (tmp_path / "run" / "sweep.log").read_text() or (tmp_path / "run" / "sweep.log").stat().st_size


def test_refuses_a_different_spec_then_force_keeps_what_still_belongs(tmp_path, fake_spec):
    out = tmp_path / "run"
    run_sweep(fake_spec(), out, report=False)
    changed = fake_spec(grid={"seeds": [31, 2025]}, tuning={"per_method": {"full": {"lr": 1e-5}}})
    with pytest.raises(RunFolderError) as info:
        run_sweep(changed, out, report=False)
    msg = str(info.value)
    assert "grid.seeds" in msg and "tuning.per_method" in msg and "--force" in msg and "--overwrite" in msg
    s = run_sweep(changed, out, force=True, report=False)
    # seed 31 of circuit/nearzero (3 targets x 2 methods) is reused; full (new lr) and seed 2025 are new
    assert s.prepared == "forced" and s.n_cells == 18 and s.n_run == 12 and s.n_done == 18
    assert len(list((out / "cells").glob("*.json"))) == 18 + 12  # replaced cells stay on disk, unused
    assert json.loads((out / "manifest.json").read_text())["previous_specs"]


def test_overwrite_starts_over(tmp_path, fake_spec):
    out = tmp_path / "run"
    run_sweep(fake_spec(), out, report=False)
    s = run_sweep(fake_spec(grid={"seeds": [5]}), out, overwrite=True, report=False)
    assert s.prepared == "new" and s.n_run == 9 and len(list((out / "cells").glob("*.json"))) == 9


def test_never_writes_into_a_foreign_folder(tmp_path, fake_spec):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    for kwargs in ({}, {"overwrite": True}, {"force": True}):
        with pytest.raises(RunFolderError, match="not a circuitlab run folder"):
            run_sweep(fake_spec(), foreign, report=False, **kwargs)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_lock_excludes_a_second_sweep(tmp_path, fake_spec):
    run = RunFolder(tmp_path / "run")
    with run.lock():
        with pytest.raises(RunFolderError, match="Another sweep is running"):
            run_sweep(fake_spec(), run.path, report=False)
    run_sweep(fake_spec(), run.path, report=False)


def test_atomic_write_leaves_no_temporary(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    atomic_write_json(tmp_path / "a.json", {"x": 2})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_versions_and_git_helpers():
    v = package_versions(["pandas", "surely-not-installed-pkg"])
    assert v["pandas"] and v["surely-not-installed-pkg"] is None
    assert "commit" in git_info()


def test_a_folder_from_another_id_scheme_is_recognised(tmp_path, fake_spec):
    out = tmp_path / "run"
    run_sweep(fake_spec(), out, report=False)
    m = json.loads((out / "manifest.json").read_text())
    m["fingerprint"], m["id_scheme"] = "0" * 64, 0  # as if written by an older circuitlab
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(RunFolderError, match="another version of circuitlab"):
        run_sweep(fake_spec(), out, report=False)
