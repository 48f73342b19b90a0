"""The Ray executor on a real local Ray instance (skipped when Ray is not installed)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from circuitlab.experiments import RunFolder, run_sweep

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("ship", ["never", "always"])
def test_ray_matches_sequential_and_writes_the_same_folder(tmp_path, fake_spec, local_ray, ship):
    spec = fake_spec(grid={"seeds": [31]})
    seq = run_sweep(spec, tmp_path / "seq", report=False)
    rspec = fake_spec(grid={"seeds": [31]}, runtime={"executor": "ray", "ship_stages": ship})
    assert rspec.fingerprint() == spec.fingerprint()
    res = run_sweep(rspec, tmp_path / "ray", report=False)
    assert res.status == "completed" and res.n_run == 9
    cols = ["cell_id", "target_acc", "proxy_acc_after", "forgetting"]
    a = seq.results[cols].sort_values("cell_id").reset_index(drop=True)
    b = res.results[cols].sort_values("cell_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    run = RunFolder(tmp_path / "ray")
    recs = run.read_cells()
    assert {r["pid"] for r in recs.values()} - {os.getpid()}  # computed in Ray worker processes
    assert all(r["artifacts"] and (run.path / r["artifacts"] / "delta.json").exists() for r in recs.values())
    # resuming with the sequential executor reuses the Ray results
    again = run_sweep(spec, tmp_path / "ray", report=False)
    assert again.prepared == "resume" and again.n_run == 0


def test_ray_failures_are_recorded_and_retried(tmp_path, fake_spec, local_ray):
    flag = tmp_path / "fail.txt"
    flag.write_text("-javanese-full-\n")
    spec = fake_spec(grid={"seeds": [31]}, backend_options={"fail_if_exists": str(flag)},
                     runtime={"executor": "ray"})
    s = run_sweep(spec, tmp_path / "run", report=False)
    assert s.n_failed == 1 and "javanese-full" in s.failures[0][0] and s.n_done == 8
    flag.unlink()
    s = run_sweep(spec, tmp_path / "run", report=False)
    assert s.n_run == 1 and s.status == "completed"

