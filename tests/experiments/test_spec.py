"""Spec loading and validation: every error names the bad field."""

from __future__ import annotations

import pytest

from circuitlab.experiments.spec import (
    SpecError,
    dump_toml,
    field_help,
    load_spec,
    parse_assignment,
    spec_from_dict,
)


def test_defaults_are_valid_and_documented():
    spec = spec_from_dict({})
    assert spec.model.name == "gemma-3-270m" and spec.data.proxy == ["indonesian"]
    help_ = field_help()
    assert "tuning.lr" in help_ and "runtime.executor" in help_
    assert all(text for text in help_.values()), [k for k, v in help_.items() if not v]


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"grid": {"shots": [25, -3]}}, "grid.shots[1]", "positive"),
        ({"grid": {"shots": [25, "many"]}}, "grid.shots[1]", "integer"),
        ({"tunning": {"lr": 1e-4}}, "tunning", "Did you mean 'tuning'"),
        ({"tuning": {"lrr": 1e-4}}, "tuning.lrr", "Did you mean 'lr'"),
        ({"tuning": {"lr": "fast"}}, "tuning.lr", "number"),
        ({"grid": {"methods": ["circuit", "circut"]}}, "grid.methods[1]", "Did you mean 'circuit'"),
        ({"grid": {"k": [1.5]}}, "grid.k[0]", "(0, 1)"),
        ({"data": {"targets": ["javanese", "klingon"]}}, "data.targets[1]", "Unknown"),
        ({"data": {"dataset": "squad"}}, "data.dataset", "one of"),
        ({"runtime": {"executor": "dask"}}, "runtime.executor", "one of"),
        ({"runtime": {"address": "auto"}}, "runtime.address", "ray"),
        ({"proxy_tuning": {"n_src": 500, "pool_a": 400}}, "proxy_tuning.n_src", "pool A"),
        ({"tuning": {"per_method": {"full": {"lr_grid": [1e-5, -1]}}}}, "tuning.per_method.full.lr_grid[1]", ""),
        ({"tuning": {"per_method": {"full": {"lrs": [1e-5]}}}}, "tuning.per_method.full.lrs", "not a tuning field"),
        ({"grid": {"seeds": [31, 31]}}, "grid.seeds", "more than once"),
        ({"data": "nusax"}, "data", "table"),
    ],
)
def test_errors_name_the_field(data, field, words):
    with pytest.raises(SpecError) as info:
        spec_from_dict(data)
    assert info.value.field == field
    assert field in str(info.value) and words in str(info.value)


def test_file_errors_carry_the_file_name(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[grid]\nshots = [0]\n")
    with pytest.raises(SpecError, match=r"bad\.toml: grid\.shots\[0\]"):
        load_spec(path)
    path.write_text("[grid\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(path)
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "missing.toml")


def test_coercions_and_canonical_languages():
    spec = spec_from_dict({"data": {"proxy": "ind", "targets": ["JAV", "sun"]}, "grid": {"k": [6, 0.05, 4.0]}})
    assert spec.data.proxy == ["indonesian"] and spec.data.targets == ["javanese", "sundanese"]
    assert spec.grid.k == [6, 0.05, 4] and isinstance(spec.grid.k[2], int) and isinstance(spec.grid.k[1], float)
    xnli = spec_from_dict({"data": {"dataset": "xnli", "proxy": "english", "targets": ["es", "th"]}})
    assert xnli.data.proxy == ["en"]


def test_fingerprint_ignores_how_and_where(fake_spec):
    a = fake_spec()
    assert a.fingerprint() == fake_spec(runtime={"executor": "ray", "quiet": False}, name="other",
                                        data={"data_dir": "/elsewhere"}).fingerprint()
    assert a.fingerprint() != fake_spec(tuning={"lr": 1e-4}).fingerprint()


def test_matmul_precision_is_identity_only_when_not_the_default(fake_spec):
    """A field added after runs existed: at 'highest' it leaves fingerprints (and cell ids) as they were."""
    from circuitlab.experiments.cells import plan

    a = fake_spec()
    assert a.model.matmul_precision == "highest" and "matmul_precision" not in a.identity()["model"]
    b = fake_spec(model={"name": a.model.name, "matmul_precision": "medium"})
    assert b.identity()["model"]["matmul_precision"] == "medium" and b.fingerprint() != a.fingerprint()
    assert not {c.id for c in plan(a).cells} & {c.id for c in plan(b).cells}
    with pytest.raises(SpecError, match="model.matmul_precision.*Did you mean 'medium'"):
        fake_spec(model={"name": a.model.name, "matmul_precision": "med"})


def test_toml_round_trip_and_yaml(tmp_path, fake_spec, spec_dict):
    spec = fake_spec(tuning={"per_method": {"full": {"lr_grid": [1e-5, 3e-5]}}}, backend_options={"sleep_s": 0.1})
    path = tmp_path / "spec.toml"
    path.write_text(dump_toml(spec.to_dict()))
    again = load_spec(path)
    assert again == spec and again.fingerprint() == spec.fingerprint()
    yaml = pytest.importorskip("yaml")
    ypath = tmp_path / "spec.yaml"
    ypath.write_text(yaml.safe_dump(spec_dict()))
    assert load_spec(ypath).fingerprint() == spec_from_dict(spec_dict()).fingerprint()


def test_overrides_and_assignments(tmp_path, spec_dict):
    path = tmp_path / "s.toml"
    path.write_text(dump_toml(spec_dict()))
    assert parse_assignment("grid.seeds=[1, 2]") == ("grid.seeds", [1, 2])
    assert parse_assignment("runtime.address=auto") == ("runtime.address", "auto")
    spec = load_spec(path, dict([parse_assignment("tuning.lr=1e-4"), parse_assignment("grid.seeds=[1,2]")]))
    assert spec.tuning.lr == 1e-4 and spec.grid.seeds == [1, 2]
    with pytest.raises(SpecError, match="Did you mean 'tuning.lr'"):
        parse_assignment("tuning.lrr=1")
    with pytest.raises(SpecError, match="FIELD=VALUE"):
        parse_assignment("tuning.lr")


def test_per_method_overrides_apply_to_that_method_only(fake_spec):
    spec = fake_spec(tuning={"lr": 5e-5, "per_method": {"full": {"lr": 1e-5}}})
    assert spec.tuning.for_method("full").lr == 1e-5
    assert spec.tuning.for_method("circuit").lr == 5e-5
