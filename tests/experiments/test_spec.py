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
        ({"data": {"dataset": "squad"}}, "data.dataset", "Valid datasets: nusax, xnli. Or give the path of a dataset folder"),
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


# -- the pydantic models (issue #16) ------------------------------------------------------------

#: A spec written before the models were pydantic, with the fingerprint and cell ids it had then
#: (recorded with the dataclass implementation). Run folders are resumed by these values.
PINNED = {
    "name": "pinned", "backend": "fake", "backend_options": {"sleep_s": 0.0},
    "data": {"proxy": "ind", "targets": ["jav", "sun"]},
    "grid": {"methods": ["circuit", "full", "ctsft-auto"], "k": [6.0, 0.05], "shots": [25], "seeds": [31]},
    "proxy_tuning": {"n_src": 40, "lr": 1e-4},
    "discovery": {"n_examples": 20, "per_depth": 2.0},
    "tuning": {"lr_grid": [1e-5, 3e-5], "per_method": {"full": {"lr_grid": 2e-5, "epochs": 3.0}},
               "options": {"schedule": "linear"}},
    "evaluation": {"n_test": 0}, "runtime": {"quiet": True},
}
PINNED_FINGERPRINT = "2cad1988fadc2ef8a464a21a8c4197fef1d9a0f6265d1ec0d891efd2ce6a637d"
PINNED_IDS = {
    "indonesian-javanese-circuit-k6-n25-s31-1c2cebcd19", "indonesian-javanese-circuit-k0.05-n25-s31-6e8b8d349e",
    "indonesian-javanese-full-n25-s31-afff92ec8d", "indonesian-javanese-ctsft-auto-k6-n25-s31-ea58db3daa",
    "indonesian-sundanese-nearzero-k0.05-n25-s31-d65feeede4", "indonesian-sundanese-full-n25-s31-97498813bf",
}
DEFAULT_FINGERPRINT = "72685687aff1acbe083a86e47d37f23f87e423c17fcdb36b74035eb65db09f97"
DEFAULT_IDS = ["indonesian-javanese-circuit-k6-n25-s31-f45563e94c",
               "indonesian-javanese-nearzero-k6-n25-s31-00650ad917", "indonesian-javanese-full-n25-s31-5724816c84"]
NEW_FIELDS = {"proxy_tuning": "lr_grid", "discovery": "scores_file", "tuning": "heads"}


def test_fingerprints_and_cell_ids_are_those_of_the_dataclass_specs():
    from circuitlab.experiments.cells import grid

    spec = spec_from_dict(PINNED)
    assert spec.fingerprint() == PINNED_FINGERPRINT
    assert PINNED_IDS <= {c.id for c in grid(spec)}
    assert spec_from_dict({}).fingerprint() == DEFAULT_FINGERPRINT
    assert [c.id for c in grid(spec_from_dict({}))] == DEFAULT_IDS
    # a resolved spec saved before the new fields existed (a run folder's manifest) reads back the same
    old = spec.to_dict()
    for section, name in NEW_FIELDS.items():
        del old[section][name]
    assert spec_from_dict(old) == spec and spec_from_dict(old).fingerprint() == PINNED_FINGERPRINT


def test_the_spec_is_frozen_pydantic_with_documented_fields():
    from pydantic import BaseModel, ValidationError

    from circuitlab.errors import UserError
    from circuitlab.experiments.spec import ExperimentSpec, TuningSpec

    spec = spec_from_dict({})
    assert isinstance(spec, BaseModel) and isinstance(spec.tuning, TuningSpec)
    with pytest.raises(ValidationError):
        spec.tuning.lr = 1.0
    assert ExperimentSpec.model_config["frozen"] and ExperimentSpec.model_config["extra"] == "forbid"
    info = TuningSpec.model_fields["heads"]
    assert info.description and info.json_schema_extra == {"identity": "unless-default"}
    assert ExperimentSpec.model_fields["name"].json_schema_extra == {"identity": False}
    schema = ExperimentSpec.model_json_schema()
    assert "TuningSpec" in schema["$defs"]
    assert issubclass(SpecError, UserError) and issubclass(SpecError, ValueError)
    err = SpecError("grid.k[0]", "bad.", "spec.toml")
    assert str(err) == "spec.toml: grid.k[0]: bad." and err.field == "grid.k[0]" and err.message == "bad."


def test_coercions_of_flags_and_yaml():
    spec = spec_from_dict({})
    assert spec.replace(**{"grid.k": 6}).grid.k == [6]  # --set grid.k=6
    assert spec.replace(**{"tuning.lr": 1e-4}).tuning.lr == 1e-4
    assert spec.replace(**{"proxy_tuning.lr": 1}).proxy_tuning.lr == 1.0
    assert isinstance(spec.replace(**{"tuning.lr": 1}).tuning.lr, float)
    assert spec.replace(**{"tuning.lr": "5e-5"}).tuning.lr == 5e-5  # PyYAML reads 5e-5 as a string
    assert spec.replace(**{"tuning.epochs": 3.0}).tuning.epochs == 3
    assert spec.replace(**{"grid.seeds": (1, 2)}).grid.seeds == [1, 2]
    assert spec.replace(**{"discovery.per_depth": 4.0}).discovery.per_depth == 4
    assert isinstance(spec.replace(**{"discovery.per_depth": 4.0}).discovery.per_depth, int)
    for dotted, value, words in [("tuning.epochs", 2.5, "integer"), ("tuning.epochs", True, "integer"),
                                 ("discovery.require_correct", "yes", "true or false"),
                                 ("model.name", 3, "string"), ("runtime.address", 3, "string"),
                                 ("tuning.options", [1], "table"), ("grid.k", [0.0], "(0, 1)"),
                                 ("grid.k", [0], "positive"), ("discovery.per_depth", 1.5, "(0, 1)")]:
        with pytest.raises(SpecError) as info:
            spec.replace(**{dotted: value})
        assert info.value.field.startswith(dotted) and words in info.value.message, (dotted, str(info.value))


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"model": {"dtype": "bf16"}}, "model.dtype", "Did you mean 'bfloat16'"),
        ({"tuning": {"kv_rule": "al"}}, "tuning.kv_rule", "one of 'any', 'all', 'none'"),
        ({"model": {"nmae": "x"}}, "model.nmae", "unknown field in [model]"),
        ({"nmae": "x"}, "nmae", "unknown field in the top level"),
        ({"tuning": {"per_method": {"ful": {"lr": 1e-5}}}}, "tuning.per_method.ful", "Did you mean 'full'"),
        ({"tuning": {"per_method": {"full": {"lr": "fast"}}}}, "tuning.per_method.full.lr", "number"),
        ({"tuning": {"per_method": {"full": 3}}}, "tuning.per_method.full", "table of tuning fields"),
        ({"tuning": {"per_method": {"full": {"heads": ["L1H1", "x"]}}}}, "tuning.per_method.full.heads[1]", "L3H1"),
        ({"grid": {"k": [6, 6.0]}}, "grid.k", "more than once"),
        ({"grid": {"methods": []}}, "grid.methods", "at least one"),
        ({"data": {"proxy": []}}, "data.proxy", "at least one language"),
        ({"data": {"targets": ["jav", "javanese"]}}, "data.targets", "more than once"),
        ({"data": {"dataset": "xnli"}}, "data.proxy[0]", ""),
        ({"evaluation": {"n_test": -1}}, "evaluation.n_test", ">= 0"),
        ({"tuning": {"warmup": 1.0}}, "tuning.warmup", "[0, 1)"),
        ({"tuning": {"weight_decay": -0.1}}, "tuning.weight_decay", ">= 0"),
        ({"runtime": {"cpus_per_cell": 0}}, "runtime.cpus_per_cell", "positive"),
        ([1, 2], "", "table"),
    ],
)
def test_more_errors_name_the_field(data, field, words):
    with pytest.raises(SpecError) as info:
        spec_from_dict(data)
    assert info.value.field == field and words in str(info.value), str(info.value)


def test_proxy_lr_grid():
    spec = spec_from_dict({})
    assert spec.proxy_tuning.lr_grid == [] and "lr_grid" not in spec.identity()["proxy_tuning"]
    grid = spec.replace(**{"proxy_tuning.lr_grid": [1e-5, 5e-5]})
    assert grid.proxy_tuning.lr_grid == [1e-5, 5e-5] and grid.identity()["proxy_tuning"]["lr_grid"] == [1e-5, 5e-5]
    assert grid.fingerprint() != spec.fingerprint()
    assert spec.replace(**{"proxy_tuning.lr_grid": 2e-5}).proxy_tuning.lr_grid == [2e-5]
    with pytest.raises(SpecError, match=r"proxy_tuning\.lr_grid\[1\]: expected a positive learning rate"):
        spec.replace(**{"proxy_tuning.lr_grid": [1e-5, 0]})


def test_scores_file_must_exist(tmp_path, monkeypatch):
    spec = spec_from_dict({})
    assert spec.discovery.scores_file is None and "scores_file" not in spec.identity()["discovery"]
    missing = tmp_path / "nope.csv"
    with pytest.raises(SpecError) as info:
        spec.replace(**{"discovery.scores_file": str(missing)})
    assert info.value.field == "discovery.scores_file" and "nope.csv" in str(info.value)
    assert "circuitlab discover" in str(info.value)
    # a finished run's spec can be re-read without the file
    data = {**spec.to_dict(), "discovery": {"scores_file": str(missing)}}
    assert spec_from_dict(data, check_files=False).discovery.scores_file == str(missing)
    table = tmp_path / "scores.csv"
    table.write_text("layer,head,score\n0,0,1.0\n")
    given = spec.replace(**{"discovery.scores_file": str(table)})
    assert given.discovery.scores_file == str(table)
    assert given.identity()["discovery"]["scores_file"] == str(table) and given.fingerprint() != spec.fingerprint()
    path = tmp_path / "s.toml"
    path.write_text(f'[discovery]\nscores_file = "{missing}"\n')
    with pytest.raises(SpecError, match=r"s\.toml: discovery\.scores_file: no head-score table"):
        load_spec(path)


def test_explicit_heads():
    spec = spec_from_dict({})
    assert spec.tuning.heads == [] and "heads" not in spec.identity()["tuning"]
    heads = spec.replace(**{"tuning.heads": ["L3H1", "4.0", "l0h2"]})
    assert heads.tuning.heads == ["L3H1", "L4H0", "L0H2"] and heads.fingerprint() != spec.fingerprint()
    assert heads.identity()["tuning"]["heads"] == ["L3H1", "L4H0", "L0H2"]
    assert spec.replace(**dict([parse_assignment("tuning.heads=L3H1")])).tuning.heads == ["L3H1"]
    for value, field, words in [(["L3H1", "head"], "tuning.heads[1]", "L<layer>H<head>"),
                                (["L-1H0"], "tuning.heads[0]", "Cannot parse head"),
                                (["L3H1", "3.1"], "tuning.heads", "more than once"),
                                ([3], "tuning.heads[0]", "string")]:
        with pytest.raises(SpecError) as info:
            spec.replace(**{"tuning.heads": value})
        assert info.value.field == field and words in info.value.message, str(info.value)
    over = spec_from_dict({"tuning": {"per_method": {"circuit": {"heads": "2.1"}}}})
    assert over.tuning.for_method("circuit").heads == ["L2H1"] and over.tuning.for_method("full").heads == []


def test_scorer_is_checked_against_the_registry():
    pytest.importorskip("torch")
    from circuitlab.discovery.scorers import SCORERS

    for name in SCORERS:
        assert spec_from_dict({"discovery": {"scorer": name}}).discovery.scorer == name
    with pytest.raises(SpecError) as info:
        spec_from_dict({"discovery": {"scorer": "directonal"}})
    assert info.value.field == "discovery.scorer" and "Did you mean 'directional'" in str(info.value)
    assert "mean-ablation" in str(info.value)


def test_for_method_and_identity_of_sections(fake_spec):
    spec = fake_spec(tuning={"lr_grid": [1e-4], "per_method": {"full": {"lr_grid": [1e-5], "epochs": 2}}})
    full = spec.tuning.for_method("full")
    assert full.lr_grid == [1e-5] and full.epochs == 2 and full.per_method == {}
    assert spec.tuning.for_method("circuit").lr_grid == [1e-4]
    assert spec.tuning.per_method == {"full": {"lr_grid": [1e-5], "epochs": 2}}
    assert full.identity() == {k: v for k, v in full.model_dump().items() if k != "heads"}
    assert spec.identity()["tuning"]["per_method"] == {"full": {"lr_grid": [1e-5], "epochs": 2}}


def test_spec_io_is_its_own_module():
    import circuitlab.experiments.spec as spec_module
    import circuitlab.experiments.spec_io as spec_io

    for name in ("dump_toml", "load_spec", "parse_assignment", "read_spec_file", "KNOWN_SPEC_SUFFIXES"):
        assert getattr(spec_module, name) is getattr(spec_io, name)
    assert parse_assignment("tuning.options.schedule=cosine") == ("tuning.options.schedule", "cosine")
    assert parse_assignment("backend_options.sleep_s=0.5") == ("backend_options.sleep_s", 0.5)
    assert parse_assignment("discovery.scores_file=runs/x/scores.csv") == ("discovery.scores_file",
                                                                         "runs/x/scores.csv")
    with pytest.raises(SpecError, match="no such spec field"):
        parse_assignment("tuning.nope.x=1")
