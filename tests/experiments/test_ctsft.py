"""The ctsft backend end to end on a tiny random model (real tuning and discovery code, seconds per cell)."""

from __future__ import annotations

import json

import pytest

from circuitlab.experiments import grid, run_sweep, spec_from_dict
from circuitlab.experiments.ctsft import cell_config, circuit_from_order, protocol_for


def tiny_spec(nusax_dir, **over):
    d = {
        "name": "tiny", "backend": "ctsft", "runtime": {"quiet": True},
        "model": {"name": "tiny-qwen2"},
        "data": {"dataset": "nusax", "proxy": ["indonesian"], "targets": ["javanese"], "data_dir": str(nusax_dir)},
        "grid": {"methods": ["circuit", "full", "direct", "ctsft-auto"], "k": [2], "shots": [6], "seeds": [31]},
        "proxy_tuning": {"n_src": 9, "epochs": 1, "batch_size": 9},
        "discovery": {"n_examples": 6, "max_pool": 30, "require_correct": False, "batch_size": 6,
                      "on_targets": False},
        "tuning": {"epochs": 1, "batch_size": 6},
        "evaluation": {"n_test": 12, "n_valid": 9, "batch_size": 12},
    }
    d.update(over)
    return spec_from_dict(d)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, nusax_dir):
    out = tmp_path_factory.mktemp("ctsft") / "run"
    summary = run_sweep(tiny_spec(nusax_dir), out, report=False)
    return summary


def test_every_cell_has_real_metrics(tiny_run):
    s = tiny_run
    assert s.status == "completed", s.failures
    df = s.results.set_index("method")
    assert set(df.index) == {"circuit", "nearzero", "full", "direct", "ctsft-auto"}
    for col in ("target_acc", "target_f1", "target_acc_before", "proxy_acc_before", "proxy_acc_after", "forgetting",
                "param_fraction", "n_params_updated", "lr", "wall_s", "val_acc"):
        assert df[col].notna().all(), col
    assert (df.loc[["circuit", "nearzero"], "param_fraction"] < 1).all()
    assert df.loc["full", "param_fraction"] == pytest.approx(1.0)
    assert df.loc["ctsft-auto", "branch"] in ("circuit", "nearzero")
    assert df.loc["ctsft-auto", "target_acc"] == df.loc[df.loc["ctsft-auto", "branch"], "target_acc"]
    # the proxy checkpoint is a stage of the run folder; head methods keep their sparse delta
    run = s.run
    proxy = next(p for p in run.stages_dir.iterdir() if p.name.startswith("proxy-"))
    summary = json.loads((proxy / "stage.json").read_text())["summary"]
    assert (proxy / summary["checkpoint"] / "config.json").exists()
    rec = run.read_cell(df.loc["circuit", "cell_id"])
    assert rec["artifacts"] and (run.path / rec["artifacts"] / "delta").is_dir()
    assert rec["meta"]["versions"]
    assert (run.scores_dir / "indonesian-directional.parquet").exists()


def test_cells_and_baselines_keep_per_example_correctness(tiny_run):
    """The bits a paired bootstrap resamples: one per test example, in the same order everywhere."""
    run = tiny_run.run
    for rec in run.read_cells().values():
        if rec["cell"]["method"] == "ctsft-auto":
            continue
        bits, row = rec["meta"]["correct"], rec["row"]
        assert len(bits["target"]) == row["test_n"] == 12 and len(bits["proxy"]) == row["proxy_test_n"]
        assert bits["target"].count("1") / 12 == pytest.approx(row["target_acc"])
        assert bits["proxy"].count("1") / len(bits["proxy"]) == pytest.approx(row["proxy_acc_after"])
    for stage in run.stages_dir.glob("baseline-*"):
        summary = json.loads((stage / "stage.json").read_text())["summary"]
        assert summary["correct"].count("1") / summary["n"] == pytest.approx(summary["accuracy"])


def test_report_leads_with_paired_differences_over_blocks_and_examples(tiny_run):
    import pandas as pd

    from circuitlab.experiments import write_report

    run = tiny_run.run
    page = write_report(run).read_text()
    assert page.index("Paired differences") < page.index("Headline results")
    diffs = pd.read_csv(run.path / "paired_differences.csv")
    assert {"circuit − full", "ctsft-auto − full", "circuit − nearzero"} <= set(diffs["comparison"])
    assert set(diffs["levels"]) == {"blocks + examples"} and (diffs["n_examples"] == 12).all()
    df = tiny_run.results.set_index("method")
    row = diffs[(diffs["comparison"] == "circuit − full") & (diffs["k"] == "pooled")].iloc[0]
    assert row["delta"] == pytest.approx(df.loc["circuit", "target_acc"] - df.loc["full", "target_acc"])
    forget = pd.read_csv(run.path / "forgetting_by_method.csv").set_index("method")
    assert forget.loc["full", "delta"] == pytest.approx(df.loc["full", "forgetting"])
    assert (run.figures_dir / "paired_differences.json").exists()
    md = (run.path / "paired_differences.md").read_text()
    assert f"{row['delta']:+.3f}".replace("-", "−") in md.split("| circuit − full |")[1].splitlines()[0]


def test_resume_computes_nothing(tiny_run, nusax_dir):
    again = run_sweep(tiny_spec(nusax_dir), tiny_run.run.path, report=False)
    assert again.n_run == 0 and again.n_done == 5


def test_a_folder_kept_without_checkpoints_resumes_with_the_same_theta1(tmp_path, nusax_dir):
    """A run folder committed to git without θ1 (.gitignore) recomputes it, checks it, runs only what is new."""
    import shutil

    spec = tiny_spec(nusax_dir, grid={"methods": ["circuit", "full"], "k": [2], "shots": [6], "seeds": [31]})
    first = run_sweep(spec, tmp_path / "run", report=False)
    run = first.run
    proxy = next(run.stages_dir.glob("proxy-*"))
    record = json.loads((proxy / "stage.json").read_text())
    weights = next((proxy / record["summary"]["checkpoint"]).glob("*.safetensors"))
    weights.unlink()  # a checkpoint folder without its weights is no stage
    assert not run.has_stage(proxy.name)
    shutil.rmtree(proxy / record["summary"]["checkpoint"])  # what a clone of the repo holds
    assert not run.has_stage(proxy.name) and run.stage_record(proxy.name) == record
    more = tiny_spec(nusax_dir, grid={"methods": ["circuit", "full"], "k": [2], "shots": [6], "seeds": [31, 777]})
    again = run_sweep(more, run.path, force=True, report=False)  # a second seed: only its cells run
    assert again.status == "completed" and again.n_run == 2
    redone = json.loads((proxy / "stage.json").read_text())
    assert redone["recomputed"]["earlier"]["summary"] == record["summary"]  # the committed record, kept once
    assert redone["summary"]["weights_sha256"] == record["summary"]["weights_sha256"]
    assert set(again.results["start_sha256"]) == {record["summary"]["weights_sha256"]}

    # a θ1 that comes out different is refused: the stage fails, the committed cells stay
    shutil.rmtree(proxy / redone["summary"]["checkpoint"])
    tampered = {**redone, "summary": {**redone["summary"], "weights_sha256": "0" * 64}}
    (proxy / "stage.json").write_text(json.dumps(tampered))
    lost = next(c for c in again.results["cell_id"] if "-s777-" in c)
    run.cell_path(lost).unlink()  # one cell still to run
    refused = run_sweep(more, run.path, report=False)
    assert refused.status != "completed" and refused.n_run == 0
    assert len(run.read_cells()) == 3 and all("differs from the committed one" in e for _, e in refused.failures)
    assert json.loads((proxy / "stage.json").read_text()) == tampered
    assert all("start a new run folder" in e for _, e in run_sweep(more, run.path, force=True, report=False).failures)


def test_cell_config_follows_the_spec(nusax_dir):
    spec = tiny_spec(nusax_dir, tuning={"epochs": 2, "batch_size": 6, "lr_grid": [1e-5, 1e-4],
                                        "per_method": {"full": {"lr_grid": [3e-6]}},
                                        "options": {"schedule": "constant"}})
    cells = {c.method: c for c in grid(spec)}
    cfg = cell_config(spec, cells["circuit"])
    assert cfg.lr_grid == (1e-5, 1e-4) and cfg.train.epochs == 2 and cfg.train.schedule == "constant"
    assert cfg.method == "circuit" and cfg.seed == 31 and cfg.keep_delta
    assert cell_config(spec, cells["full"]).lr_grid == (3e-6,)
    assert not cell_config(spec, cells["full"]).keep_delta  # dense deltas only when asked
    lora = tiny_spec(nusax_dir, tuning={"options": {"lora": {"r": 4}, "save_full_deltas": True}})
    assert cell_config(lora, cells["circuit"]).lora.r == 4 and cell_config(lora, cells["full"]).keep_delta
    from circuitlab.experiments.spec import SpecError

    bad = tiny_spec(nusax_dir, tuning={"options": {"bogus": 1}})
    with pytest.raises(SpecError, match="tuning.options.bogus"):
        cell_config(bad, cells["circuit"])
    reserved = tiny_spec(nusax_dir, tuning={"options": {"lr_selection": "first_seed"}})
    with pytest.raises(SpecError, match="tuning.options.lr_selection: set by the spec"):
        cell_config(reserved, cells["circuit"])


def test_length_grouping_is_set_through_the_options(nusax_dir):
    from circuitlab.experiments.ctsft import proxy_config

    spec = tiny_spec(nusax_dir, tuning={"options": {"group_by_length": True}})
    cells = {c.method: c for c in grid(spec)}
    assert cell_config(spec, cells["circuit"]).train.group_by_length
    assert not proxy_config(spec, "indonesian").train.group_by_length
    both = tiny_spec(nusax_dir, tuning={"options": {"group_by_length": True}},
                     proxy_tuning={"n_src": 9, "epochs": 1, "batch_size": 9, "options": {"group_by_length": True}})
    assert proxy_config(both, "indonesian").train.group_by_length
    assert proxy_config(both, "indonesian").key() != proxy_config(spec, "indonesian").key()  # another θ1


def test_xnli_protocol_keeps_validation_out_of_the_pools(xnli_dir):
    spec = spec_from_dict({"data": {"dataset": "xnli", "proxy": "en", "targets": ["es"], "data_dir": str(xnli_dir)},
                           "evaluation": {"n_valid": 100, "n_test": 50}})
    proto = protocol_for(spec)
    a, b = proto.pools("en")
    val = proto.validation("en")
    assert len(a) == 400 and len(b) == 100 and len(val) == 100
    assert not {e.id for e in val} & ({e.id for e in a} | {e.id for e in b})
    assert len(proto.test("es")) == 50


def test_circuit_from_growth_order_is_cut_at_k_and_topped_up():
    import torch

    from circuitlab.discovery import HeadScores
    from circuitlab.models import ModelGeometry

    scores = HeadScores.from_tensor(torch.tensor([[3.0, 1.0], [2.0, 0.0]]), method="t", model="m", language="x",
                                    n_examples=1, seed=0)
    geo = ModelGeometry("m", "qwen2", 2, 2, 2, 4, 8, "rmsnorm", 10)
    order = [[1, 1], [0, 1]]
    assert circuit_from_order(order, 1, scores, geo) == [(1, 1)]
    assert circuit_from_order(order, 3, scores, geo) == [(1, 1), (0, 1), (0, 0)]


def test_every_baseline_runs_as_a_sweep_cell(tmp_path, nusax_dir):
    """random, least, norms and lora (peft) cells run end to end, each with its own per-method settings."""
    pytest.importorskip("peft")
    spec = tiny_spec(nusax_dir, grid={"methods": ["random", "least", "norms", "lora"], "k": [2], "shots": [6],
                                      "seeds": [31]},
                     tuning={"epochs": 1, "batch_size": 6, "lr": 1e-4, "per_method": {"lora": {"lr": 1e-3}}})
    s = run_sweep(spec, tmp_path / "run", report=False)
    assert s.status == "completed", s.failures
    df = s.results.set_index("method")
    assert set(df.index) == {"random", "least", "norms", "lora"}
    assert df.loc["lora", "lr"] == pytest.approx(1e-3) and df.loc["norms", "lr"] == pytest.approx(1e-4)
    # only norms: fewer parameters than norms + 2 heads; LoRA adds adapters, a small fraction of θ1's size
    assert 0 < df.loc["norms", "param_fraction"] < df.loc["random", "param_fraction"] < 1
    assert 0 < df.loc["lora", "param_fraction"] < 1
    assert df["target_acc"].between(0, 1).all() and df["proxy_acc_after"].between(0, 1).all()


def test_cells_and_stages_run_under_the_specs_matmul_precision(tmp_path, nusax_dir, monkeypatch):
    """model.matmul_precision = 'medium' is in force inside every stage and cell, recorded, and undone after."""
    import torch

    from circuitlab.experiments.ctsft import CTSFTBackend

    seen: list[tuple[str, str]] = []

    def spy(name: str, kind_of):
        original = getattr(CTSFTBackend, name)

        def wrapped(self, what, *args):
            seen.append((kind_of(what), torch.get_float32_matmul_precision()))
            return original(self, what, *args)

        monkeypatch.setattr(CTSFTBackend, name, wrapped)

    for name in ("_proxy_stage", "_scores_stage", "_baseline_stage"):
        spy(name, lambda stage: stage.kind)
    spy("_run_cell", lambda cell: cell.method)
    before = torch.get_float32_matmul_precision()
    spec = tiny_spec(nusax_dir, model={"name": "tiny-qwen2", "matmul_precision": "medium"},
                     grid={"methods": ["circuit", "full"], "k": [2], "shots": [6], "seeds": [31]})
    s = run_sweep(spec, tmp_path / "run", report=False)
    assert s.status == "completed", s.failures
    assert torch.get_float32_matmul_precision() == before == "highest"
    assert {kind for kind, _ in seen} == {"proxy", "scores", "baseline", "circuit", "full"}
    assert {p for _, p in seen} == {"medium"}
    assert (s.results["matmul_precision"] == "medium").all()
    manifest = json.loads((s.run.path / "manifest.json").read_text())
    assert manifest["spec"]["model"]["matmul_precision"] == "medium"
