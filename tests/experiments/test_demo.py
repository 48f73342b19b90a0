"""The demo's spec: the embedded default model, Indonesian -> Javanese, a labelled demo budget and --full."""

from __future__ import annotations

from pathlib import Path

from circuitlab.experiments import load_spec
from circuitlab.experiments.demo import DEMO_BUDGET, PAPER_BUDGET, default_out, demo_spec, find_data_dir
from circuitlab.experiments.runfolder import spec_diff

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_demo_spec_matches_examples_demo_toml():
    a, b = demo_spec(), load_spec(EXAMPLES / "demo.toml")
    assert spec_diff(a.to_dict(), b.to_dict()) == {}


def test_demo_budget_is_labelled_and_smaller_than_the_papers():
    demo, full = demo_spec(), demo_spec(full=True)
    assert demo.budget == "demo" and "DEMO BUDGET" in demo.description
    assert full.budget == "paper"
    assert demo.model.name == full.model.name == "gemma-3-270m"
    assert demo.data.proxy == ["indonesian"] and demo.data.targets == ["javanese"]
    assert {"circuit", "nearzero", "full"} <= set(demo.grid.methods)
    assert demo.proxy_tuning.epochs < full.proxy_tuning.epochs == 5
    assert full.proxy_tuning.n_src == 50 and full.tuning.lr == 5e-5 and full.tuning.batch_size == 16
    assert full.grid.shots == [25, 50, 75, 100] and full.grid.seeds == [31, 777, 2025, 12345]
    assert full.evaluation.n_test == 0 and full.discovery.n_examples == 50 and full.discovery.depth == 2
    assert DEMO_BUDGET["budget"] == "demo" and PAPER_BUDGET["budget"] == "paper"


def test_target_and_data_dir_are_overridable(tmp_path):
    spec = demo_spec(target="sun", data_dir=tmp_path)
    assert spec.data.targets == ["sundanese"] and spec.data.data_dir == str(tmp_path)
    assert spec.name == "demo-sundanese" and default_out(spec) == Path("runs/demo-sundanese")
    assert demo_spec(full=True).name == "demo-full-javanese"


def test_find_data_dir(tmp_path, monkeypatch, nusax_dir):
    monkeypatch.delenv("CIRCUITLAB_NUSAX_DIR", raising=False)
    assert find_data_dir([tmp_path, nusax_dir.parent]) is not None
    assert find_data_dir([tmp_path]) is None
    monkeypatch.setenv("CIRCUITLAB_NUSAX_DIR", str(nusax_dir))
    assert find_data_dir() == nusax_dir


def test_every_example_spec_is_valid():
    from circuitlab.experiments import grid

    files = sorted(EXAMPLES.glob("*.toml"))
    assert {"demo.toml", "nusax_paper.toml", "xnli.toml"} <= {f.name for f in files}
    for f in files:
        assert grid(load_spec(f)), f
    paper = load_spec(EXAMPLES / "nusax_paper.toml")
    assert {"acehnese", "javanese", "minangkabau"} <= set(paper.data.targets) and len(paper.data.targets) >= 6
    assert paper.grid.shots == [25, 100] and paper.grid.seeds == [31, 777] and paper.proxy_tuning.n_src == 50
    assert set(paper.grid.methods) == {"circuit", "nearzero", "full", "direct", "ctsft-auto"}
    xnli = load_spec(EXAMPLES / "xnli.toml")
    assert xnli.data.proxy == ["en"] and len(xnli.data.targets) >= 2 and len(xnli.grid.seeds) == 1
