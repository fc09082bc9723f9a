"""Creating and loading studies: interrupted creation, unsafe names, impossible studies."""

from __future__ import annotations

import json
from collections.abc import Mapping

import optuna
import optuna_dashboard
import pytest

from tests.helpers.studies import study_toml
from tuner.exceptions import ConfigError, StorageError
from tuner.search import memory, names
from tuner.search.records import study_attrs
from tuner.search.space import TUTORIAL_CONFIGURATION
from tuner.search.status import study_status
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text
from tuner.storage.database import open_storage, release_connections

SEARCH = {"epochs": [2, 1000], "neurons": [1], "batch_size": [4], "regimes": ["seeded"]}


def _study(repeats: int = 2, workers: Mapping[str, object] | None = None, **search: object) -> str:
    """Study ``unit``, its storage URL with a password; ``search`` changes its search."""
    return study_toml(
        "unit",
        trials=2,
        repeats=repeats,
        storage="postgresql+psycopg://tuner:s3cret-pw@db.example:5432/tuner",
        search={**SEARCH, **search},
        workers=workers,
    )


STUDY = _study()


def test_an_interrupted_creation_is_refused_by_readers_and_finished_by_create(
    tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    config = parse_study_text(STUDY)

    def crash(*args, **kwargs):
        raise OSError("the machine went down")

    monkeypatch.setattr(optuna_dashboard, "save_note", crash)
    with pytest.raises(OSError):
        create_study(config, STUDY, url)
    assert optuna.get_all_study_names(url) == ["unit"]  # the study row exists, half-made
    with pytest.raises(StorageError, match=r"was not fully created .* run 'tuner create'"):
        study_status("unit", url)
    monkeypatch.undo()
    assert create_study(config, STUDY, url) is True
    assert create_study(config, STUDY, url) is False
    status = study_status("unit", url)
    assert status.budget == 2 and status.counts.waiting == 1
    (warm,) = optuna.load_study(study_name="unit", storage=url).get_trials()
    assert warm.system_attrs["fixed_params"] == TUTORIAL_CONFIGURATION


def test_the_stored_study_file_and_note_never_hold_the_password(tmp_path):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    create_study(parse_study_text(STUDY), STUDY, url)
    study = optuna.load_study(study_name="unit", storage=url)
    system = study._storage.get_study_system_attrs(study._study_id)  # the note is there
    stored = repr(study.user_attrs) + repr(system)
    assert "db.example" in stored
    assert "s3cret-pw" not in stored
    masked = "postgresql+psycopg://tuner:***@db.example:5432/tuner"
    assert masked in study_attrs(study)["study_file"]
    assert create_study(parse_study_text(STUDY), STUDY, url) is False  # still the same file


def test_a_name_read_back_from_the_database_is_checked_before_it_becomes_a_path(tmp_path, cli):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    optuna.create_study(study_name="../../../escaped", storage=url)  # written by another tool
    status, _, err = cli("report", "../../../escaped", "--storage", url)
    assert status == 2
    assert err == (
        "tuner report: error: study name must be 1 to 100 letters, digits, '-', '_' or '.', "
        "not starting with a dot; got '../../../escaped'\n"
    )
    assert not (tmp_path.parent.parent / "escaped").exists()


def test_a_study_whose_largest_trial_cannot_fit_is_refused_before_anything_is_written(
    tmp_path, monkeypatch, cli
):
    monkeypatch.setattr(memory, "physical_memory", lambda: 8 * 2**30)
    path = tmp_path / "big.toml"
    path.write_text(_study(1000, neurons=[1, 1024], regimes=["seeded", "stateless_shuffle"]))
    database = tmp_path / "tuner.db"
    status, _, err = cli("create", str(path), "--storage", f"sqlite:///{database}")
    assert status == 2
    assert err.startswith(
        "tuner create: error: a trial of study 'unit' at repeats=1000, neurons=1024, "
        "epochs=1000, lag=1 needs about 125.3 GiB of memory, mostly for its weights; "
        "this machine allows 4.0 GiB per trial (50% of 8.0 GiB); lower repeats and "
        "search.neurons"
    )
    assert err.count("\n") == 1
    assert not database.exists()


def test_evaluate_and_forecast_check_the_same_memory_estimate_before_any_fit(
    tmp_path, monkeypatch, cli, exported
):
    monkeypatch.setattr(memory, "physical_memory", lambda: 8 * 2**30)
    argv = ("--data", "shampoo", "--neurons", "1024", "--repeats", "1000", "--no-progress")
    status, out, err = cli("evaluate", *argv)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(
        "tuner evaluate: error: this evaluation at 1000 fit(s) of neurons=1024, layers=1, "
        "lag=1 needs about 125.3 GiB of memory; this machine allows 4.0 GiB"
    )
    monkeypatch.setattr(memory, "physical_memory", lambda: 1024)  # a kilobyte: nothing fits
    status, _, err = cli("forecast", str(exported), "-o", str(tmp_path / "f"))
    assert status == 2 and err.startswith("tuner forecast: error: this forecast at ")
    assert not (tmp_path / "f").exists()


def test_the_memory_estimate_grows_with_what_drives_it():
    from tuner.method.protocol import Hyperparameters

    def estimate(**changes):
        settings = {"epochs": 100, "batch_size": 1, "neurons": 4, "regime": "seeded"}
        return memory.trial_bytes(Hyperparameters(**{**settings, **changes}), 10, 1)

    assert estimate(neurons=8)["weights"] > 3 * estimate()["weights"]
    assert estimate(layers=3)["weights"] > 2 * estimate()["weights"]  # every layer counts
    assert estimate(regime="stateless_shuffle", epochs=5000) == estimate()  # orders live in-graph


def test_a_study_that_fits_is_accepted(tmp_path):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    assert create_study(parse_study_text(STUDY), STUDY, url) is True


def test_an_unknown_study_and_a_bad_name_are_different_errors(tmp_path):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    with pytest.raises(StorageError, match="no study database at"):
        study_status("nope", url)
    release_connections(open_storage(url))
    with pytest.raises(StorageError, match="no study 'nope'"):
        study_status("nope", url)
    with pytest.raises(ConfigError, match=r"got '\.nope'"):
        study_status(".nope", url)


def test_a_pack_that_cannot_fit_is_refused_though_one_trial_would(tmp_path, monkeypatch, cli):
    monkeypatch.setattr(memory, "physical_memory", lambda: 8 * 2**30)
    alone, packed = tmp_path / "alone.toml", tmp_path / "packed.toml"
    alone.write_text(_study(1000, neurons=[128]))
    packed.write_text(_study(1000, {"trials_per_graph": 8}, neurons=[128]))
    assert cli("create", str(alone), "--storage", f"sqlite:///{tmp_path / 'a.db'}")[0] == 0
    status, _, err = cli("create", str(packed), "--storage", f"sqlite:///{tmp_path / 'b.db'}")
    assert status == 2
    assert "at repeats=1000 (x8 trials per graph), neurons=128" in err
    assert err.count("\n") == 1


def test_the_dashboards_attribute_table_holds_short_lines_and_the_records_stay_whole(tmp_path):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    create_study(parse_study_text(STUDY), STUDY, url)
    study = optuna.load_study(study_name="unit", storage=url)
    shown = {key: json.dumps(value) for key, value in study.user_attrs.items()}
    assert max(len(text) for text in shown.values()) < 200, shown
    records = study_attrs(study)
    validation = records[names.BASELINES]["validation"]
    line = study.user_attrs[names.BASELINES_IN_SIGHT]
    assert line.startswith("validation RMSE: persistence ")
    assert all(f"{name} {score['rmse']:.4g}" in line for name, score in validation.items())
    assert len(validation["persistence"]["forecasts"]) > 0  # the whole record, out of sight
    assert parse_study_text(records[names.STUDY_FILE]).name == "unit"


def test_a_study_stored_with_its_long_records_in_sight_reads_the_same(tmp_path):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    create_study(parse_study_text(STUDY), STUDY, url)
    study = optuna.load_study(study_name="unit", storage=url)
    records = study_attrs(study)
    older = optuna.create_study(study_name="older", storage=url)
    for key, value in records.items():
        older.set_user_attr(key, value)  # as studies were stored before the split
    assert study_attrs(older) == records


def test_baselines_left_for_later_are_stored_by_the_next_create_as_a_whole_create_would(
    tmp_path,
):
    config = parse_study_text(STUDY)
    deferred, whole = (f"sqlite:///{tmp_path / name}.db" for name in ("deferred", "whole"))
    assert create_study(config, STUDY, deferred, baselines=False) is True
    early = study_attrs(optuna.load_study(study_name="unit", storage=deferred))
    assert names.BASELINES not in early and names.BASELINES_IN_SIGHT not in early
    assert study_status("unit", deferred).baselines == []  # shown as absent, not an error
    create_study(config, STUDY, whole)
    complete = study_attrs(optuna.load_study(study_name="unit", storage=whole))
    persistence = complete[names.BASELINES]["validation"]["persistence"]["rmse"]
    assert early[names.PERSISTENCE_RMSE] == pytest.approx(persistence, rel=1e-12)
    assert create_study(config, STUDY, deferred) is False  # an interrupted `tuner run`, rerun
    late = study_attrs(optuna.load_study(study_name="unit", storage=deferred))
    assert late[names.BASELINES] == complete[names.BASELINES]
