import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.helpers.training import SHAMPOO_PERSISTENCE_RMSE
from tuner.data.calendar import season_of
from tuner.data.series import load_series
from tuner.evaluation.baselines import BASELINE_NAMES, BaselineScore, best_baseline, score_baselines
from tuner.exceptions import ConfigError

SHORT = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 6.0])


@pytest.fixture(scope="module")
def shampoo_scores(shampoo):
    """Every baseline over shampoo's last 12 observations, season 12 (a few seconds)."""
    return score_baselines(shampoo.values, 24, 36, 12)


def test_persistence_on_shampoo_is_the_known_figure(shampoo_scores):
    persistence = shampoo_scores["persistence"]
    assert persistence.rmse == pytest.approx(SHAMPOO_PERSISTENCE_RMSE, abs=1e-9)
    assert len(persistence.forecasts) == 12


def test_every_baseline_is_scored_on_shampoo(shampoo_scores):
    assert tuple(shampoo_scores) == BASELINE_NAMES
    for name, score in shampoo_scores.items():
        assert score.name == name
        assert score.available, score.reason
        assert score.reason is None
        assert len(score.forecasts) == 12


def test_seasonal_naive_forecasts_the_observation_one_season_back(shampoo, shampoo_scores):
    y = shampoo.values
    errors = [y[t] - y[t - 12] for t in range(24, 36)]
    seasonal = shampoo_scores["seasonal_naive"]
    assert seasonal.forecasts == tuple(y[12:24])
    assert seasonal.rmse == pytest.approx(math.sqrt(sum(e * e for e in errors) / 12), abs=1e-9)


def test_statistical_models_equal_statsforecast_refitted_by_hand(shampoo, shampoo_scores):
    from statsforecast.models import AutoARIMA, AutoETS

    y = shampoo.values
    actual = y[24:36]
    for name, model in (("auto_ets", AutoETS), ("auto_arima", AutoARIMA)):
        by_hand = np.array(
            [model(season_length=12).forecast(y=y[:t], h=1)["mean"][0] for t in range(24, 36)]
        )
        score = shampoo_scores[name]
        np.testing.assert_allclose(score.forecasts, by_hand, rtol=1e-10, atol=0)
        rmse = math.sqrt(np.mean((actual - by_hand) ** 2))
        assert score.rmse == pytest.approx(rmse, rel=1e-10)


def test_ets_arima_mean_is_the_mean_of_the_two(shampoo, shampoo_scores):
    ets = np.array(shampoo_scores["auto_ets"].forecasts)
    arima = np.array(shampoo_scores["auto_arima"].forecasts)
    mean = shampoo_scores["ets_arima_mean"]
    np.testing.assert_allclose(mean.forecasts, (ets + arima) / 2, rtol=1e-12)
    rmse = math.sqrt(np.mean((shampoo.values[24:36] - (ets + arima) / 2) ** 2))
    assert mean.rmse == pytest.approx(rmse, rel=1e-12)


def test_best_baseline_is_the_lowest_rmse(shampoo_scores):
    best = best_baseline(shampoo_scores)
    assert best.rmse == min(score.rmse for score in shampoo_scores.values())

    def score(name, rmse):
        return BaselineScore(name, rmse, None if rmse is None else (0.0,), None)

    scores = {"a": score("a", 3.0), "b": score("b", None), "c": score("c", 1.0)}
    assert best_baseline(scores).name == "c"
    assert best_baseline({"a": score("a", 2.0), "c": score("c", 2.0)}).name == "a"
    assert best_baseline({"b": score("b", None)}) is None
    assert best_baseline({}) is None


def test_no_season_skips_seasonal_naive_with_a_reason():
    scores = score_baselines(SHORT, 3, 6, None)
    seasonal = scores["seasonal_naive"]
    assert not seasonal.available
    assert (seasonal.rmse, seasonal.forecasts) == (None, None)
    assert seasonal.reason.startswith("no season: ")
    assert scores["persistence"].forecasts == (2.0, 5.0, 4.0)


def test_seasonal_naive_needs_one_season_before_the_window():
    reason = score_baselines(SHORT, 1, 6, 2)["seasonal_naive"].reason
    assert reason == (
        "needs 2 observations (one season) before the window; the window starts at observation 1"
    )


def test_a_series_too_short_to_fit_leaves_persistence_scored():
    scores = score_baselines(SHORT, 1, 6, None)
    assert scores["persistence"].rmse == pytest.approx(math.sqrt((4 + 1 + 9 + 1 + 4) / 5))
    ets = scores["auto_ets"]
    assert not ets.available
    assert ets.reason.startswith(
        "statsforecast AutoETS(season_length=1) failed refitting at the 5 origin(s) from "
        "observation 1 (the first refit sees 1 observations): "
    )
    assert "\n" not in ets.reason
    mean = scores["ets_arima_mean"]
    assert not mean.available
    assert mean.reason.startswith("needs auto_ets and auto_arima; auto_ets")


def test_a_failing_model_is_not_available_and_the_others_still_run(monkeypatch, shampoo):
    from statsforecast.models import AutoARIMA, AutoETS

    def fails(self, **kwargs):
        raise np.linalg.LinAlgError("singular matrix\nsecond line")

    def diverges(self, **kwargs):
        return {"mean": np.array([np.nan])}

    monkeypatch.setattr(AutoARIMA, "forecast", fails)
    monkeypatch.setattr(AutoETS, "forecast", diverges)
    scores = score_baselines(shampoo.values, 33, 36, None)
    assert scores["auto_arima"].reason == (
        "statsforecast AutoARIMA(season_length=1) failed refitting at the 3 origin(s) from "
        "observation 33 (the first refit sees 33 observations): LinAlgError: singular matrix"
    )
    assert scores["auto_ets"].reason == "forecast 1 of the window is nan"
    assert not scores["ets_arima_mean"].available
    assert scores["persistence"].available


@pytest.mark.parametrize(
    ("values", "start", "stop", "season", "message"),
    [
        (SHORT, 0, 6, None, "start must be an integer >= 1; got 0"),
        (SHORT, 1.0, 6, None, "start must be an integer >= 1; got 1.0"),
        (SHORT, 6, 6, None, "start must be an integer <= 5; got 6"),
        (SHORT, 3, 3, None, "stop must be an integer >= 4; got 3"),
        (SHORT, 3, 7, None, "stop must be an integer <= 6; got 7"),
        (SHORT, 3, 6, 1, "season must be an integer >= 2; got 1"),
        (SHORT[:1], 1, 1, None, "values must hold at least 2 observations; got 1"),
        (SHORT.reshape(2, 3), 1, 2, None, "values must be one-dimensional; got shape (2, 3)"),
        (np.array([1.0, np.nan, 2.0]), 1, 3, None, "values must all be finite; got nan at index 1"),
        (["a", "b"], 1, 2, None, "values must be a one-dimensional array of numbers; got list"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(values, start, stop, season, message):
    with pytest.raises(ConfigError) as error:
        score_baselines(values, start, stop, season)
    assert str(error.value) == message


def test_season_of_reads_the_index_frequency(shampoo):
    assert season_of(shampoo) == 12
    assert season_of(load_series("airline")) == 12
    assert season_of(pd.period_range("2000Q1", periods=8, freq="Q")) == 4
    assert season_of(pd.date_range("2000-01-01", periods=8, freq="MS")) == 12
    weekly = pd.DatetimeIndex(list(pd.date_range("2000-01-02", periods=8, freq="W")))
    assert weekly.freq is None and season_of(weekly) == 52
    assert season_of(pd.DatetimeIndex(["2000-01-01", "2000-01-02", "2000-01-03"])) == 7
    assert season_of(pd.date_range("2000-01-01", periods=8, freq="YS")) is None
    assert season_of(pd.date_range("2000-01-01", periods=8, freq="2MS")) is None
    assert season_of(pd.date_range("2000-01-01", periods=8, freq="h")) is None
    assert season_of(pd.DatetimeIndex(["2000-01-01", "2000-01-02"])) is None
    assert season_of(pd.DatetimeIndex(["2000-01-01", "2000-01-02", "2000-01-09"])) is None
    assert season_of(pd.RangeIndex(8)) is None


def test_scores_round_trip_through_json(shampoo_scores):
    for score in shampoo_scores.values():
        record = json.loads(json.dumps(score.to_dict()))
        assert BaselineScore.from_dict(record) == score
    missing = BaselineScore("seasonal_naive", None, None, "no season: ...")
    assert missing.to_dict() == {
        "name": "seasonal_naive",
        "rmse": None,
        "forecasts": None,
        "reason": "no season: ...",
        "metrics": {},
    }
    assert BaselineScore.from_dict(missing.to_dict()) == missing


def test_importing_the_module_does_not_load_statsforecast():
    code = (
        "import sys, tuner.evaluation.baselines; "
        "print({'statsforecast', 'sklearn'} & set(sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "set()"
