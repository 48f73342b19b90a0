"""Acceptance: `circuitlab demo` from a fresh clone, offline, on the embedded Gemma-3-270M (slow: minutes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.acceptance
def test_demo_from_a_fresh_clone_offline(tmp_path, nusax_dir):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": str(clone)}
    env.pop("CIRCUITLAB_NUSAX_DIR", None)
    out = tmp_path / "demo"
    code = "import circuitlab.cli.experiments; from circuitlab.cli import app; app()"
    res = subprocess.run([sys.executable, "-c", code, "demo", "--quiet", "--out", str(out), "--data-dir",
                          str(nusax_dir)], cwd=clone, env=env, capture_output=True, text=True, timeout=3600)
    assert res.returncode == 0, res.stderr[-3000:]
    for method in ("circuit", "nearzero", "full"):
        assert method in res.stdout
    assert "report:" in res.stdout and (out / "report.html").exists()
    df = pd.read_csv(out / "results.csv")
    assert set(df["method"]) == {"circuit", "nearzero", "full"}
    assert df[["target_acc", "target_acc_before", "proxy_acc_before", "proxy_acc_after"]].notna().all().all()
    manifest = json.loads((out / "manifest.json").read_text())
    # the code that ran is the clone's: the manifest records the clone's commit
    assert manifest["git"]["commit"] == head and manifest["budget"] == "demo"
