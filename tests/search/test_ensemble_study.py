"""A study ranked by the ensemble score: its trials, export, confirmation and pruning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from tests.helpers.studies import study_toml
from tuner.distributed.worker import run_worker
from tuner.evaluation.runner import evaluate
from tuner.outputs.export import export_best
from tuner.search.confirmation import confirm_study
from tuner.search.study import complete_trials, create_study
from tuner.search.studyfile import parse_study_text


def ensemble_study_toml(objective: str, **pruner: object) -> str:
    """Study ``ens`` on airline, ranked by ``objective``; pruning off unless ``pruner`` says."""
    return study_toml(
        "ens",
        trials=4,
        repeats=4,
        seed=3,
        objective=objective,
        data={"series": "airline", "train_size": 24},
        search={
            "epochs": [3, 6, 9],
            "neurons": [1, 2],
            "batch_size": [4],
            "regimes": ["stateless"],
        },
        pruner=pruner or {"enabled": False},
        confirm={"top": 2, "repeats": 3},
    )


def test_an_unknown_objective_is_refused_in_one_line(tmp_path, cli):
    path = tmp_path / "bad.toml"
    path.write_text(ensemble_study_toml("median_rmse"))
    status, _, err = cli("create", str(path), "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert status == 2 and err.count("\n") == 1
    assert "objective must be one of mean_rmse, ensemble_rmse, mean_mae" in err
    assert "ensemble_mase; got 'median_rmse'" in err
    assert not (tmp_path / "x.db").exists()


def _run(tmp_path: Path, objective: str) -> tuple[str, optuna.Study]:
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = ensemble_study_toml(objective)
    create_study(parse_study_text(text), text, url)
    run_worker("ens", url, tmp_path / "artifacts", worker_index=0)
    return url, optuna.load_study(study_name="ens", storage=url)


def test_an_ensemble_study_ranks_exports_and_confirms_by_the_ensemble(tmp_path, cli):
    url, study = _run(tmp_path, "ensemble_rmse")
    complete = complete_trials(study)
    assert len(complete) >= 2
    for trial in complete:
        assert trial.value == trial.user_attrs["ensemble_rmse"]
        assert trial.user_attrs["ensemble_rmse"] < trial.user_attrs["mean_rmse"]
    ensembles = [t.user_attrs["ensemble_rmse"] for t in complete]
    assert ensembles == sorted(ensembles)

    document = export_best(study, top=2)
    assert document["objective"] == "ensemble_rmse"
    best = document["configurations"][0]
    assert best["trial"] == complete[0].number
    assert best["validation_ensemble_rmse"] == best["validation_value"] == complete[0].value
    assert best["validation_mean_rmse"] == complete[0].user_attrs["mean_rmse"]

    confirmation = confirm_study("ens", url)
    assert confirmation["objective"] == "ensemble_rmse"
    for record in confirmation["configurations"]:
        assert record["holdout_rmse"] == record["holdout_ensemble_rmse"]
        assert record["holdout_mean_rmse"] == pytest.approx(np.mean(record["holdout_rmses"]))
        assert record["holdout_ensemble_rmse"] < record["holdout_mean_rmse"]

    _, text, _ = cli("status", "ens", "--storage", url)
    first = next(line for line in text.splitlines() if line.startswith("confirmed trial"))
    assert ": holdout ensemble RMSE " in first and "mean RMSE" in first
    assert "best validation ensemble RMSE" in text

    path = tmp_path / "best.json"
    status, _, _ = cli("export", "ens", "--storage", url, "-o", str(path))
    assert status == 0
    _, out, _ = cli("evaluate", str(path), "--holdout", "--json", "--no-progress")
    assert json.loads(out)["ensemble_rmse"] == pytest.approx(
        confirmation["configurations"][0]["holdout_ensemble_rmse"], abs=1e-9
    )


def test_a_mean_study_keeps_the_mean_as_its_value_and_stores_the_ensemble_beside_it(tmp_path):
    _, study = _run(tmp_path, "mean_rmse")
    for trial in complete_trials(study):
        assert trial.value == trial.user_attrs["mean_rmse"] == np.mean(trial.user_attrs["rmses"])
        assert trial.user_attrs["ensemble_rmse"] < trial.value


def test_pruning_an_ensemble_study_reports_the_ensemble_of_the_repeats_done(tmp_path):
    config = parse_study_text(ensemble_study_toml("ensemble_rmse", checkpoints=2))
    from tuner.search.objective import Objective
    from tuner.search.windows import StudyData

    study = optuna.create_study()
    study.enqueue_trial({"epochs": 6, "neurons": 2})
    study.optimize(Objective(StudyData.load(config)), n_trials=1)
    (trial,) = study.trials
    ((step, reported),) = trial.intermediate_values.items()
    assert step == 2
    first_two = evaluate(
        StudyData.load(config).first,
        _config_of(trial, repeats=2),
    )
    assert reported == pytest.approx(first_two.ensemble_rmse, rel=1e-5)
    assert reported != pytest.approx(first_two.mean, rel=1e-6)


def _config_of(trial: optuna.trial.FrozenTrial, repeats: int):
    import dataclasses

    from tuner.evaluation.runner import EvaluationConfig

    return dataclasses.replace(
        EvaluationConfig.from_dict(trial.user_attrs["config"]), repeats=repeats
    )
