"""`circuitlab tune` is a sweep written as flags: the same cell through both gives the same row."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from circuitlab.cli import app
from circuitlab.experiments.spec import dump_toml

runner = CliRunner()
#: Columns that measure time, not results.
TIMING = ["wall_s", "train_s"]

FLAGS = ["--model", "tiny-qwen2", "--target", "javanese", "--method", "circuit,random,full", "--k", "2",
         "--shots", "6", "--seeds", "31", "--epochs", "1", "--batch-size", "6", "--n-src", "9", "--proxy-epochs", "1",
         "--discovery-n", "6", "--test-limit", "12", "--val-limit", "9", "--lr-grid", "1e-4,1e-3",
         "--set", "discovery.require_correct=false", "--set", "discovery.max_pool=30",
         "--set", "proxy_tuning.batch_size=9", "--quiet"]


def _spec_file(tmp_path, nusax_dir):
    """The same settings as FLAGS, written by hand as a spec file."""
    spec = {
        "name": "by-hand", "model": {"name": "tiny-qwen2"},
        "data": {"targets": ["javanese"], "data_dir": str(nusax_dir)},
        "grid": {"methods": ["circuit", "random", "full"], "k": [2], "shots": [6], "seeds": [31]},
        "proxy_tuning": {"n_src": 9, "epochs": 1, "batch_size": 9},
        "discovery": {"n_examples": 6, "require_correct": False, "max_pool": 30},
        "tuning": {"epochs": 1, "batch_size": 6, "max_length": 128, "lr_grid": [1e-4, 1e-3]},
        "evaluation": {"n_test": 12, "n_valid": 9, "max_length": 128},
    }
    path = tmp_path / "spec.toml"
    path.write_text(dump_toml(spec))
    return path


def _rows(out) -> pd.DataFrame:
    return pd.read_parquet(out / "results.parquet").drop(columns=TIMING).sort_values("cell_id").reset_index(drop=True)


def test_tune_and_sweep_run_the_same_cells_to_the_same_rows(tmp_path, nusax_dir):
    tuned = runner.invoke(app, ["tune", *FLAGS, "--data-dir", str(nusax_dir), "--out", str(tmp_path / "tune")])
    assert tuned.exit_code == 0, tuned.output
    swept = runner.invoke(app, ["sweep", str(_spec_file(tmp_path, nusax_dir)), "--out", str(tmp_path / "sweep"),
                                "--quiet"])
    assert swept.exit_code == 0, swept.output
    a, b = _rows(tmp_path / "tune"), _rows(tmp_path / "sweep")
    assert len(a) == 3 and (a["status"] == "ok").all() and (a["backend"] == "ctsft").all()
    assert list(a["cell_id"]) == list(b["cell_id"])  # same cells, by content hash
    pd.testing.assert_frame_equal(a, b)
    assert set(a["method"]) == {"circuit", "random", "full"}
    assert a["val_acc_by_lr"].str.contains("0.001").all()  # every learning rate of the grid was tried
    again = runner.invoke(app, ["tune", *FLAGS, "--data-dir", str(nusax_dir), "--out", str(tmp_path / "tune")])
    assert again.exit_code == 0 and "3/3 cells done (0 this run)" in again.output, again.output
    other = runner.invoke(app, ["tune", *FLAGS, "--shots", "7", "--out", str(tmp_path / "tune")])
    assert other.exit_code == 2 and "--force" in other.output  # another grid in the same folder: told what to do


def test_dry_run_prints_the_spec_and_writes_nothing(tmp_path, nusax_dir):
    out = tmp_path / "tune"
    dry = runner.invoke(app, ["tune", *FLAGS, "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "[grid]" in dry.output and 'methods = ["circuit", "random", "full"]' in dry.output
    assert not out.exists()  # a dry run writes nothing


@pytest.mark.parametrize("flags, field", [
    (["--k", "100"], "grid.k[0]"),
    (["--scorer", "directionl"], "discovery.scorer"),
    (["--method", "circut"], "grid.methods[0]"),
    (["--shots", "500"], "grid.shots[0]"),
    (["--heads", "L20H0"], "tuning.heads[0]"),
    (["--lr", "-1"], "tuning.lr_grid[0]"),
    (["--target", "klingon"], "data.targets[1]"),
])
def test_bad_settings_fail_in_one_line_before_any_model_loads(tmp_path, monkeypatch, flags, field):
    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the settings were checked")

    monkeypatch.setattr("circuitlab.models.loader.load_model", no_loading)
    monkeypatch.setattr("circuitlab.models.load_model", no_loading)
    res = runner.invoke(app, ["tune", "--model", "gemma-3-270m", "--target", "javanese", *flags,
                              "--out", str(tmp_path / "bad")])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), res.output
    assert not (tmp_path / "bad").exists()


def _model_folder(tmp_path, model_type: str):
    import json

    folder = tmp_path / model_type
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "num_hidden_layers": 2,
                                                    "num_attention_heads": 4}))
    return str(folder)


def test_model_families_are_checked_against_one_policy_before_loading(tmp_path):
    from circuitlab.experiments import spec_from_dict
    from circuitlab.experiments.preflight import family_support, preflight
    from circuitlab.experiments.spec import SpecError

    assert family_support("gemma3_text") == {"tuning": True, "decomposition": True}
    assert family_support("mistral") == {"tuning": True, "decomposition": False}
    mistral = spec_from_dict({"model": {"name": _model_folder(tmp_path, "mistral")},
                              "grid": {"methods": ["circuit"], "k": [2]}})
    with pytest.raises(SpecError, match="discovery.scorer.*no exact rules for 'mistral'"):
        preflight(mistral)
    preflight(mistral.replace(**{"discovery.scorer": "attribution"}))  # a scorer that needs no rules is fine
    bloom = mistral.replace(**{"model.name": _model_folder(tmp_path, "bloom")})
    with pytest.raises(SpecError, match="model.name.*'bloom'.*no adapter"):
        preflight(bloom)
