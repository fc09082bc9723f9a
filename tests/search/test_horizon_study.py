"""A study scored at a horizon above 1: its trials, baselines, confirmation and export."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from tests.helpers.studies import study_toml
from tests.helpers.training import TOLERANCE
from tuner.data.source import without_end
from tuner.distributed.worker import run_worker
from tuner.evaluation.config import EvaluationConfig
from tuner.evaluation.metrics import OBJECTIVES
from tuner.evaluation.runner import Evaluation
from tuner.forecasting.refit import forecast
from tuner.outputs.artifacts import STEP_ARTIFACT, TRIAL_ARTIFACTS
from tuner.search import names
from tuner.search.confirmation import confirm_study
from tuner.search.objective import Objective
from tuner.search.records import study_attrs
from tuner.search.study import complete_trials, create_study
from tuner.search.studyfile import parse_study_text
from tuner.search.windows import StudyData


def horizon_study_toml(**data: object) -> str:
    """Study ``h`` on airline: 6-step forecasts from 2 origins, ranked by the ensemble's sMAPE."""
    return study_toml(
        "h",
        trials=3,
        repeats=2,
        seed=1,
        objective="ensemble_smape",
        data={"series": "airline", "train_size": 24, "horizon": 6, "origins": 2, **data},
        search={"epochs": [3, 6], "neurons": [1, 2], "batch_size": [2], "regimes": ["seeded"]},
        pruner={"enabled": False},
        confirm={"top": 1, "repeats": 2},
    )


def test_a_horizon_study_scores_origins_stores_every_metric_and_confirms_alike(tmp_path, cli):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = horizon_study_toml()
    create_study(parse_study_text(text), text, url)
    study = optuna.load_study(study_name="h", storage=url)
    attrs = study_attrs(study)
    # the validation window is the origins' span, 12 months; "auto" holds out one horizon
    assert attrs[names.HOLDOUT] == 6
    assert attrs[names.WINDOWS]["validation"] == {"first": "1959-07", "last": "1960-06"}
    persistence = attrs[names.BASELINES]["validation"]["persistence"]
    assert len(persistence["forecasts"]) == 12
    assert persistence["forecasts"][:6] == [persistence["forecasts"][0]] * 6
    assert attrs[names.PERSISTENCE_RMSE] == persistence["rmse"]
    assert attrs[names.BASELINES]["holdout"]["theta"]["metrics"]["smape"] > 0

    run_worker("h", url, tmp_path / "artifacts", worker_index=0)
    study = optuna.load_study(study_name="h", storage=url)
    complete = complete_trials(study)
    assert len(complete) == 3
    for trial in complete:
        metrics, by_step = trial.user_attrs[names.METRICS], trial.user_attrs[names.BY_STEP]
        assert set(metrics) == set(OBJECTIVES) and trial.value == metrics["ensemble_smape"]
        assert all(len(by_step[key]) == 6 for key in OBJECTIVES)
        assert trial.value == pytest.approx(np.mean(by_step["ensemble_smape"]))
        assert trial.user_attrs[names.CONFIG]["horizon"] == 6
        metas = optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage)
        assert sorted(m.filename for m in metas) == sorted([*TRIAL_ARTIFACTS, STEP_ARTIFACT])

    confirmation = confirm_study("h", url)
    (record,) = confirmation["configurations"]
    # one origin (the default, so not written) of the same horizon fills the 6-month holdout
    assert record["holdout_config"]["horizon"] == 6 and "origins" not in record["holdout_config"]
    assert record["holdout_rmse"] == record["holdout_metrics"]["ensemble_smape"]
    assert len(record["holdout_by_step"]["mean_rmse"]) == 6
    assert set(record["holdout_coverage"]) == {"80", "95"}
    assert all(0 <= value <= 1 for value in record["holdout_coverage"].values())

    exported = tmp_path / "best.json"
    status, _, _ = cli("export", "h", "--storage", url, "--top", "1", "-o", str(exported))
    assert status == 0
    status, out, err = cli("evaluate", str(exported), "--holdout", "--json")
    assert status == 0, err
    again = json.loads(out)
    assert again["metrics"]["ensemble_smape"] == pytest.approx(record["holdout_rmse"], rel=1e-6)

    status, out, _ = cli("status", "h", "--storage", url)
    assert "holdout ensemble sMAPE" in out and "baseline theta: validation sMAPE" in out
    assert "95% interval covered" in out


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"horizon": 1, "origins": 3}, "data.origins must be 1 at horizon 1"),
        ({"holdout": 4}, "data.holdout 4 is shorter than data.horizon 6"),
        ({"horizon": 0}, "data.horizon must be an integer >= 1; got 0"),
        ({"step": 0}, "data.step must be an integer >= 1; got 0"),
        ({"horizon": 60, "origins": 2}, "every candidate preparation is invalid"),
    ],
)
def test_bad_horizons_are_refused_in_one_line_before_anything_is_written(
    tmp_path, cli, data, message
):
    path = tmp_path / "h.toml"
    path.write_text(horizon_study_toml(**data))
    status, _, err = cli("create", str(path), "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert status == 2 and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "x.db").exists()


def test_a_trials_origin_forecasts_what_tuner_forecast_gives_on_the_series_cut_there():
    config = parse_study_text(horizon_study_toml(origins=1))
    data = StudyData.load(config)
    seen: list[Evaluation] = []
    objective = Objective(data, on_evaluation=lambda _, evaluation: seen.append(evaluation))
    study = optuna.create_study()
    study.optimize(objective, n_trials=1)
    (evaluation,) = seen
    searched = EvaluationConfig.from_dict(study.trials[0].user_attrs[names.CONFIG])
    cut = without_end(data.search_series, 6)  # the origin: 6 months before the holdout
    forecasted = forecast(cut, searched, 6)
    np.testing.assert_allclose(evaluation.forecasts, forecasted.values, rtol=TOLERANCE)
    np.testing.assert_array_equal(evaluation.actual, data.search_series.values[-6:])
