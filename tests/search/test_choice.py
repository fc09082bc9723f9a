"""The choice per series: made on validation only, scored on the holdout (docs/method.md, 15)."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import optuna
import pytest

from tests.helpers.studies import study_toml
from tuner.api import open_study as open_tuned_study
from tuner.data.series import load_series
from tuner.distributed.worker import run_worker
from tuner.evaluation.baselines import BaselineScore
from tuner.evaluation.metrics import METRICS, forecast_errors
from tuner.search.choice import (
    CANDIDATES,
    CLASSICAL,
    WindowForecasts,
    choice_line,
    choose,
    classical_mean,
    combined_forecasts,
    cross_fitted,
)
from tuner.search.records import study_attrs
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text

HISTORY = np.linspace(100.0, 160.0, 30) + 5.0 * np.sin(np.arange(30))
"""A series whose last origins the windows below forecast."""


def _metrics(actual: np.ndarray, forecasts: np.ndarray, starts: tuple[int, ...]) -> dict:
    """Every metric of ``forecasts``, scored as the baselines are."""
    errors = forecast_errors(actual, forecasts[None], starts, HISTORY, 1).overall
    return {metric: float(errors[metric][0]) for metric in METRICS}


def _window(offsets: dict[str, float], horizon: int = 2) -> WindowForecasts:
    """Three origins two steps apart; each candidate forecasts the actual plus its offset.

    ``offsets`` holds ``lstm`` and the classical baselines; an offset alternates in
    sign across the points, so that a combination's halves do not cancel by construction.
    """
    starts = (20, 22, 24)
    actual = np.array([HISTORY[o : o + horizon] for o in starts])
    signs = np.resize([1.0, -1.0, 1.0], actual.size).reshape(actual.shape)
    forecasts = {name: actual + offset * signs for name, offset in offsets.items()}
    baselines = {
        name: BaselineScore(
            name,
            _metrics(actual, f, starts)["rmse"],
            tuple(f.reshape(-1)),
            metrics=_metrics(actual, f, starts),
        )
        for name, f in forecasts.items()
        if name != "lstm"
    }
    lstm = forecasts["lstm"]
    return WindowForecasts(
        actual=actual,
        starts=starts,
        history=HISTORY,
        season=1,
        baselines=baselines,
        lstm=_metrics(actual, lstm, starts)["rmse"],
        residuals=actual - lstm,
    )


def test_the_lstm_is_chosen_when_it_scores_lowest_on_validation():
    window = _window({"lstm": 0.5, "theta": 3.0, "auto_ets": 4.0, "auto_arima": 5.0})
    record = choose("rmse", window, None)
    assert record["chosen"] == "lstm" and record["combined_with"] == "theta"
    assert record["validation"]["lstm"] == pytest.approx(0.5)


def test_theta_is_chosen_when_it_scores_lowest_on_validation():
    window = _window({"lstm": 3.0, "theta": 0.5, "auto_ets": 4.0, "auto_arima": 5.0})
    record = choose("rmse", window, None)
    assert record["chosen"] == "theta"
    assert record["validation"]["theta"] == pytest.approx(0.5)


def test_the_combination_is_chosen_when_the_lstm_and_the_best_classical_cancel_out():
    window = _window({"lstm": 2.0, "theta": 9.0, "auto_ets": -2.0, "auto_arima": 4.0})
    record = choose("rmse", window, None)
    assert record["combined_with"] == "auto_ets"  # the best classical on validation
    assert record["chosen"] == "combination"
    assert record["validation"]["combination"] == pytest.approx(0.0, abs=1e-12)


def test_the_classical_mean_is_chosen_when_the_three_classical_errors_cancel_out():
    window = _window({"lstm": 2.0, "theta": 3.0, "auto_ets": -3.3, "auto_arima": 0.6})
    record = choose("rmse", window, None)
    assert record["combined_with"] == "auto_arima"
    assert record["chosen"] == "classical_mean"
    assert record["validation"]["classical_mean"] == pytest.approx(0.1)
    mean = classical_mean(window)
    theta = np.array(window.baselines["theta"].forecasts).reshape(mean.shape)
    np.testing.assert_allclose(mean - window.actual, (theta - window.actual) / 30)


def test_a_lead_over_the_classical_mean_must_hold_on_each_half_of_the_origins():
    """Theta scores lower overall, all of it on the first half: the mean holds."""
    window = _window({"lstm": 3.0, "theta": 0.0, "auto_ets": 2.0, "auto_arima": 2.0})
    signs = np.resize([1.0, -1.0, 1.0], window.actual.size).reshape(window.actual.shape)
    theta = window.actual + np.array([[0.0], [0.0], [2.5]]) * signs  # origins 1-2: half 1
    metrics = _metrics(window.actual, theta, window.starts)
    score = BaselineScore("theta", metrics["rmse"], tuple(theta.reshape(-1)), metrics=metrics)
    window = dataclasses.replace(window, baselines={**window.baselines, "theta": score})
    record = choose("rmse", window, None)
    assert record["validation"]["theta"] < record["validation"]["classical_mean"]
    assert record["chosen"] == "classical_mean"
    first_half_only = dataclasses.replace(
        window, actual=window.actual[:2], starts=window.starts[:2], residuals=window.residuals[:2]
    )
    first_half_only = dataclasses.replace(
        first_half_only,
        baselines={
            name: BaselineScore(name, 0.0, tuple(np.reshape(b.forecasts, (3, 2))[:2].reshape(-1)))
            for name, b in window.baselines.items()
        },
    )
    assert choose("rmse", first_half_only, None)["chosen"] == "theta"  # it leads on both


def test_the_combination_is_the_mean_of_the_lstm_rebuilt_from_residuals_and_the_partner():
    """Residuals and a baseline's forecasts are both origin after origin, step after step."""
    window = _window({"lstm": 1.0, "theta": 3.0, "auto_ets": 4.0, "auto_arima": 5.0})
    lstm = window.actual - window.residuals
    theta = np.array(window.baselines["theta"].forecasts).reshape(3, 2)
    assert theta[1, 0] == pytest.approx(HISTORY[22] + 3.0)  # origin 2, step 1
    combined = combined_forecasts(window, "theta")
    np.testing.assert_allclose(combined, (lstm + theta) / 2)
    np.testing.assert_allclose(combined - window.actual, [[2, -2], [2, 2], [-2, 2]])
    record = choose("smape", window, None)
    expected = _metrics(window.actual, combined, window.starts)["smape"]
    assert record["validation"]["combination"] == pytest.approx(expected)


def test_the_holdout_never_changes_the_choice():
    validation = _window({"lstm": 1.0, "theta": 1.5, "auto_ets": 4.0, "auto_arima": 5.0})
    theta_wins = _window({"lstm": 6.0, "theta": 0.1, "auto_ets": 4.0, "auto_arima": 5.0})
    lstm_wins = _window({"lstm": 0.1, "theta": 6.0, "auto_ets": 0.2, "auto_arima": 5.0})
    records = [choose("rmse", validation, holdout) for holdout in (theta_wins, lstm_wins, None)]
    assert {r["chosen"] for r in records} == {"lstm"}
    assert {r["combined_with"] for r in records} == {"theta"}  # not auto_ets, best on one holdout
    assert records[0]["holdout"]["theta"] == pytest.approx(0.1)
    assert records[1]["holdout"]["lstm"] == pytest.approx(0.1)
    assert records[2]["holdout"] == dict.fromkeys(CANDIDATES)


def test_equal_scores_go_to_the_classical_mean_then_to_the_simpler_forecaster():
    """Without residuals there is no combination, whose equal score would be rounded apart."""
    tied = _window({"lstm": 1.0, "theta": 1.0, "auto_ets": 1.0, "auto_arima": 1.0})
    chosen = choose("rmse", dataclasses.replace(tied, residuals=None), None)["chosen"]
    assert chosen == "classical_mean"  # a challenger must beat the mean, not tie it
    tied = _window({"lstm": 1.0, "theta": 3.0, "auto_ets": 1.0, "auto_arima": 1.0})
    assert choose("rmse", dataclasses.replace(tied, residuals=None), None)["chosen"] == "auto_ets"


def test_a_baseline_without_forecasts_is_no_candidate_and_no_partner():
    window = _window({"lstm": 2.0, "theta": 1.0, "auto_ets": -2.0, "auto_arima": 4.0})
    missing = BaselineScore("theta", None, None, reason="statsforecast failed")
    window = dataclasses.replace(window, baselines={**window.baselines, "theta": missing})
    record = choose("rmse", window, None)
    assert record["validation"]["theta"] is None
    assert record["validation"]["classical_mean"] is None  # a mean of two is not the one refit
    assert record["combined_with"] == "auto_ets" and record["chosen"] == "combination"


def test_each_origin_gets_the_forecast_of_the_trial_best_on_the_others():
    """A trial lucky on one origin is not credited there: the other origins pick for it."""
    window = _window({"lstm": 0.0, "theta": 1.0, "auto_ets": 2.0, "auto_arima": 3.0})
    lucky = window.actual + np.array([[0.0, 0.0], [9.0, -9.0], [0.0, 0.0]])
    steady = window.actual + 1.0
    picked = cross_fitted(window, np.stack([lucky, steady]), "rmse")
    # origins 0 and 2: lucky's blow-up at origin 1 ranks it below steady; origin 1:
    # lucky is perfect on origins 0 and 2, so it is picked there, blow-up and all.
    np.testing.assert_array_equal(picked, np.stack([steady[0], lucky[1], steady[2]]))


def test_the_first_trial_wins_a_tie_and_a_single_origin_has_nothing_to_pick_on():
    window = _window({"lstm": 0.0, "theta": 1.0, "auto_ets": 2.0, "auto_arima": 3.0})
    first, second = window.actual + 1.0, window.actual - 1.0
    picked = cross_fitted(window, np.stack([first, second]), "rmse")
    np.testing.assert_array_equal(picked, first)
    single = dataclasses.replace(window, actual=window.actual[:1], starts=window.starts[:1])
    assert cross_fitted(single, np.stack([first[:1]]), "rmse") is None
    assert cross_fitted(window, np.empty((0, *window.actual.shape)), "rmse") is None


def test_the_choice_reads_in_one_line():
    record = {
        "metric": "smape",
        "chosen": "theta",
        "validation": {"theta": 12.34, "lstm": 14.1},
        "holdout": {"theta": 11.8},
        "combined_with": "theta",
    }
    assert choice_line(record) == "theta (validation sMAPE 12.34 vs LSTM 14.1; holdout 11.8)"
    record |= {"chosen": "combination", "validation": {"combination": 9.0, "lstm": 14.1}}
    assert choice_line(record) == (
        "the mean of LSTM and theta (validation sMAPE 9 vs LSTM 14.1; holdout n/a)"
    )


ONE_STEP = (
    {"horizon": 1},
    {"epochs": [2], "neurons": [1], "batch_size": [4], "regimes": ["stateless"]},
    {
        "validation": [range(o, o + 1) for o in range(120, 132)],
        "holdout": [range(o, o + 1) for o in range(132, 144)],
    },
)
"""The walk-forward: each of the 12 months of 1959, then of 1960, one step ahead."""
TWO_ORIGINS = (
    {"horizon": 6, "origins": 2},
    {"epochs": [2], "neurons": [1], "batch_size": [2], "regimes": ["seeded"]},
    {"validation": [range(126, 132), range(132, 138)], "holdout": [range(138, 144)]},
)
"""Six steps from two origins six months apart; the holdout, one horizon, from one origin."""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("data", "search", "points"), [ONE_STEP, TWO_ORIGINS], ids=["one_step", "two_origins"]
)
def test_a_confirmed_study_stores_its_choice_and_status_shows_it(
    tmp_path, cli, data, search, points
):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = study_toml(
        "air",
        trials=2,
        repeats=2,
        seed=5,
        objective="ensemble_smape",
        data={"series": "airline", "train_size": 24, **data},
        search=search,
        pruner={"enabled": False},
        confirm={"top": 1, "repeats": 2},
    )
    create_study(parse_study_text(text), text, url)
    run_worker("air", url, None, worker_index=0)  # meets the budget, confirms, chooses
    study = optuna.load_study(study_name="air", storage=url)
    attrs = study_attrs(study)
    record = attrs["choice"]
    assert set(record) == {
        "metric",
        "chosen",
        "validation",
        "holdout",
        "validation_metrics",
        "holdout_metrics",
        "combined_with",
        "lstm_validation",
    }
    assert record["lstm_validation"] == "cross-fitted"
    assert record["metric"] == "smape" and record["combined_with"] in CLASSICAL
    mean = record["validation"]["classical_mean"]  # a challenger beats it (on each half)
    assert record["chosen"] == "classical_mean" or record["validation"][record["chosen"]] < mean
    assert all(record["holdout"][name] is not None for name in CANDIDATES)
    assert "choice" not in study.user_attrs and study.user_attrs["chosen"] == choice_line(record)

    # Rebuilt from its residuals at these origins, the LSTM's forecasts give its stored
    # scores back, and the partner's stored forecasts its own: the actual values and the
    # origin order the choice pairs them in are the ones each was scored on.
    values = load_series("airline").values
    confirmed = attrs["confirmation"]["configurations"][0]
    trial = study.trials[confirmed["trial"]]
    lstm = {
        "validation": (trial.user_attrs["residuals"], trial.user_attrs["metrics"]),
        "holdout": (confirmed["holdout_residuals"], confirmed["holdout_metrics"]),
    }
    season = attrs["baselines"]["season"]
    for window, origins in points.items():
        actual = np.array([values[origin] for origin in origins])
        starts = [origin[0] for origin in origins]
        residuals, stored = lstm[window]
        forecast = actual - np.array(residuals)
        partner = attrs["baselines"][window][record["combined_with"]]
        classical = np.array(partner["forecasts"]).reshape(actual.shape)
        errors = forecast_errors(actual, np.stack([forecast, classical]), starts, values, season)
        for metric in ("rmse", "smape"):
            assert errors.overall[metric][0] == pytest.approx(stored[f"ensemble_{metric}"])
            assert errors.overall[metric][1] == pytest.approx(partner["metrics"][metric])
        if window == "validation":  # each origin's forecast from the trial best on the others
            forecast = _picked_on_other_origins(study, actual, starts, values, season)
        three = [attrs["baselines"][window][name]["forecasts"] for name in CLASSICAL]
        mean = np.mean(three, axis=0).reshape(actual.shape)
        candidates = np.stack([forecast, (forecast + classical) / 2, mean])
        chosen = forecast_errors(actual, candidates, starts, values, season)
        assert record[window]["lstm"] == pytest.approx(chosen.overall["smape"][0])
        assert record[window]["combination"] == pytest.approx(chosen.overall["smape"][1])
        assert record[window]["classical_mean"] == pytest.approx(chosen.overall["smape"][2])
        every = record[f"{window}_metrics"]  # every metric of the very forecasts scored above
        assert every["lstm"]["rmse"] == pytest.approx(chosen.overall["rmse"][0])
        assert every["classical_mean"]["mase"] == pytest.approx(chosen.overall["mase"][2])
    for name, window in itertools.product(CANDIDATES, points):  # the study's metric as chosen
        assert record[f"{window}_metrics"][name]["smape"] == pytest.approx(record[window][name])
    assert record["holdout_metrics"]["lstm"]["mase"] == pytest.approx(
        confirmed["holdout_metrics"]["ensemble_mase"]
    )

    _, out, _ = cli("status", "air", "--storage", url, "--json")
    assert json.loads(out)["choice"] == record
    _, text, _ = cli("status", "air", "--storage", url)
    assert f"choice: {choice_line(record)}" in text.splitlines()
    partner = record["combined_with"]
    assert f"(LSTM validation cross-fitted; combination: LSTM and {partner})" in text
    assert open_tuned_study("air", url).choice() == record


def _picked_on_other_origins(
    study: optuna.Study, actual: np.ndarray, starts: list[int], values: np.ndarray, season: int
) -> np.ndarray:
    """At each origin, the forecast of the complete trial with the lowest sMAPE elsewhere."""
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    forecasts = np.stack([actual - np.array(t.user_attrs["residuals"]) for t in trials])
    picked = []
    for origin in range(len(starts)):
        others = [o for o in range(len(starts)) if o != origin]
        elsewhere = forecast_errors(
            actual[others], forecasts[:, others], [starts[o] for o in others], values, season
        ).overall["smape"]
        picked.append(forecasts[int(np.argmin(elsewhere)), origin])
    return np.array(picked)


def test_a_study_without_holdout_chooses_on_validation_with_no_holdout_score(small_study, cli):
    record = study_attrs(optuna.load_study(study_name="small", storage=small_study["url"]))[
        "choice"
    ]
    assert record["chosen"] in CANDIDATES
    assert record["holdout"] == dict.fromkeys(CANDIDATES)
    _, text, _ = cli("status", "small", "--storage", small_study["url"])
    assert "; holdout n/a)" in text
