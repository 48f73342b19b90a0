"""A dataset folder in an experiment spec: stored resolved, languages checked, its content in the run's identity."""

from __future__ import annotations

import shutil

import pytest

from circuitlab.experiments import spec_from_dict
from circuitlab.experiments.cells import grid
from circuitlab.experiments.preflight import check_data
from circuitlab.experiments.spec import SpecError, dump_toml, load_spec


def folder_spec(spec_dict, folder, **data):
    return spec_from_dict(spec_dict(data={"dataset": str(folder), "proxy": ["jv"], "targets": ["su"], **data}))


def test_dataset_folder_is_stored_resolved_with_its_content_hash(spec_dict, dataset_folder, monkeypatch):
    monkeypatch.chdir(dataset_folder.parent)  # a relative path is from the working directory
    spec = spec_from_dict(spec_dict(data={"dataset": "./tiny-reviews", "proxy": "JV", "targets": ["SU"]}))
    assert spec.data.dataset == str(dataset_folder.resolve())
    assert spec.data.proxy == ["jv"] and spec.data.targets == ["su"]
    assert len(spec.data.dataset_sha256 or "") == 64
    assert spec.identity()["data"]["dataset_sha256"] == spec.data.dataset_sha256
    assert "dataset_sha256" not in spec_from_dict(spec_dict()).identity()["data"]  # nusax runs keep their ids


def test_a_changed_folder_is_a_different_run(spec_dict, dataset_folder):
    before = folder_spec(spec_dict, dataset_folder)
    train = dataset_folder / "jv" / "train.csv"
    train.write_text(train.read_text() + "12,anyar,good\n")
    after = folder_spec(spec_dict, dataset_folder)
    assert after.fingerprint() != before.fingerprint()
    assert {c.id for c in grid(after)}.isdisjoint(c.id for c in grid(before))
    assert folder_spec(spec_dict, dataset_folder).fingerprint() == after.fingerprint()  # stable


def test_a_finished_runs_spec_reads_where_the_folder_is_gone(spec_dict, dataset_folder, tmp_path):
    spec = folder_spec(spec_dict, dataset_folder)
    path = tmp_path / "spec.toml"
    path.write_text(dump_toml(spec.to_dict()))
    assert load_spec(path) == spec
    shutil.rmtree(dataset_folder)
    again = load_spec(path, check_files=False)
    assert again.fingerprint() == spec.fingerprint() and [c.id for c in grid(again)] == [c.id for c in grid(spec)]
    with pytest.raises(SpecError, match="data.dataset: No dataset folder at"):
        load_spec(path)


def test_languages_are_checked_against_the_folder(spec_dict, dataset_folder):
    with pytest.raises(SpecError) as info:
        folder_spec(spec_dict, dataset_folder, targets=["javanese"])
    assert info.value.field == "data.targets[0]"
    assert "Unknown tiny-reviews language 'javanese'. Valid languages: jv, su" in str(info.value)


def test_preflight_checks_the_folders_splits(spec_dict, dataset_folder):
    small = {"pool_a": 6, "pool_b": 4, "n_src": 4}
    spec = spec_from_dict({**spec_dict(data={"dataset": str(dataset_folder), "proxy": "jv", "targets": "su"}),
                           "backend": "ctsft", "proxy_tuning": small, "grid": {"shots": [2], "methods": ["full"]}})
    check_data(spec)  # train/valid/test all there, pools fit
    with pytest.raises(SpecError) as info:
        check_data(spec.replace(**{"data.test_split": "final"}))
    assert info.value.field == "data.test_split"
    assert "has no 'final' split for 'jv' (it has ['train', 'valid', 'test'])" in str(info.value)
