"""The chosen forecaster's forecast beside the LSTM's: which column holds what."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from tuner.forecasting import chosen as chosen_module
from tuner.forecasting.chosen import classical_forecast, with_chosen
from tuner.search.choice import CLASSICAL, CLASSICAL_MEAN

LEVELS = (80,)
VALUES = 100 + 10 * np.sin(np.arange(48) * 2 * np.pi / 12) + np.arange(48)


def _lstm(horizon: int = 6, point: np.ndarray | None = None) -> pd.DataFrame:
    point = np.full(horizon, 500.0) if point is None else point
    return pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range("2004-01-01", periods=horizon, freq="MS"),
            "lstm": point,
            "lstm-lo-80": point - 10,
            "lstm-hi-80": point + 10,
        }
    )


def test_a_study_that_chose_its_lstm_forecasts_with_it():
    frame = with_chosen(_lstm(), {"chosen": "lstm"}, VALUES, 12, LEVELS, steps=6)
    assert (frame["forecast"] == frame["lstm"]).all() and (frame["chosen"] == "lstm").all()
    assert (frame["forecast-hi-80"] == 510.0).all()


def test_a_classical_choice_is_refitted_on_the_whole_series_with_its_own_intervals():
    theta = classical_forecast(VALUES, 12, "theta", 6, LEVELS)
    frame = with_chosen(_lstm(), {"chosen": "theta"}, VALUES, 12, LEVELS, steps=6)
    assert frame["forecast"].to_numpy() == pytest.approx(theta["point"].to_numpy())
    assert (frame["forecast"] < 200).all()  # the series' level, not the LSTM's 500
    assert (frame["forecast-lo-80"] < frame["forecast"]).all()
    assert (frame["forecast"] < frame["forecast-hi-80"]).all()
    assert (frame["lstm"] == 500.0).all()  # the LSTM's forecast stays beside it


def test_the_combination_averages_the_lstm_and_its_classical_partner_step_by_step():
    ets = classical_forecast(VALUES, 12, "auto_ets", 6, LEVELS)
    choice = {"chosen": "combination", "combined_with": "auto_ets"}
    frame = with_chosen(_lstm(), choice, VALUES, 12, LEVELS, steps=6)
    assert frame["forecast"].to_numpy() == pytest.approx((500.0 + ets["point"].to_numpy()) / 2)
    assert frame["forecast-lo-80"].to_numpy() == pytest.approx(
        (490.0 + ets["lo-80"].to_numpy()) / 2
    )


def test_the_classical_mean_averages_the_three_classical_refits_and_their_bounds():
    refits = [classical_forecast(VALUES, 12, name, 6, LEVELS) for name in CLASSICAL]
    frame = with_chosen(_lstm(), {"chosen": "classical_mean"}, VALUES, 12, LEVELS, steps=6)
    for column, side in (("forecast", "point"), ("forecast-lo-80", "lo-80")):
        expected = np.mean([refit[side].to_numpy() for refit in refits], axis=0)
        assert frame[column].to_numpy() == pytest.approx(expected)
    assert not np.allclose(refits[0]["point"], refits[2]["point"])  # three different models
    assert (frame["chosen"] == "classical_mean").all() and (frame["lstm"] == 500.0).all()


def test_a_study_not_yet_confirmed_forecasts_with_its_lstm():
    frame = with_chosen(_lstm(), None, VALUES, 12, LEVELS, steps=6)
    assert (frame["chosen"] == "lstm").all() and (frame["forecast"] == 500.0).all()


def _erred(lstm: float, mean: float) -> dict[str, dict[str, float]]:
    """A record's validation RMSEs: the LSTM's (and combination's) and the classical mean's."""
    return {"lstm": {"rmse": lstm}, "combination": {"rmse": lstm}, "classical_mean": {"rmse": mean}}


def _mean_point() -> np.ndarray:
    refits = [classical_forecast(VALUES, 12, name, 6, LEVELS) for name in CLASSICAL]
    return np.mean([refit["point"].to_numpy() for refit in refits], axis=0)


@pytest.mark.parametrize("chosen", ["lstm", "combination"])
def test_a_refit_straying_past_both_validation_errors_gives_way_to_the_classical_mean(
    chosen, caplog
):
    # the LSTM forecasts 500 where the series and the classical mean stand near 150: some
    # 350 apart, where validation saw the two err by 10 and 20
    choice = {"chosen": chosen, "combined_with": "theta", "validation_metrics": _erred(10, 20)}
    with caplog.at_level(logging.WARNING, logger="tuner.forecasting.chosen"):
        frame = with_chosen(_lstm(), choice, VALUES, 12, LEVELS, steps=6)
    assert frame["forecast"].to_numpy() == pytest.approx(_mean_point())
    assert (frame["chosen"] == CLASSICAL_MEAN).all() and (frame["lstm"] == 500.0).all()
    assert "series a:" in caplog.text and f"the {chosen} forecast strays" in caplog.text


def test_a_refit_within_what_validation_saw_both_err_stays_the_choice():
    apart = float(np.sqrt(np.mean((500.0 - _mean_point()) ** 2)))
    choice = {"chosen": "lstm", "validation_metrics": _erred(apart - 100, 101)}
    frame = with_chosen(_lstm(), choice, VALUES, 12, LEVELS, steps=6)
    assert (frame["chosen"] == "lstm").all() and (frame["forecast"] == 500.0).all()
    choice["validation_metrics"] = _erred(apart - 100, 99)  # now just past the sum
    frame = with_chosen(_lstm(), choice, VALUES, 12, LEVELS, steps=6)
    assert (frame["chosen"] == CLASSICAL_MEAN).all()


def test_only_the_validated_steps_are_compared():
    # on the mean for three steps, then far off: past the validated horizon of 3
    point = np.concatenate([_mean_point()[:3], np.full(3, 5000.0)])
    choice = {"chosen": "lstm", "validation_metrics": _erred(1, 1)}
    kept = with_chosen(_lstm(point=point), choice, VALUES, 12, LEVELS, steps=3)
    assert (kept["chosen"] == "lstm").all() and kept["forecast"].to_numpy() == pytest.approx(point)
    moved = with_chosen(_lstm(point=point), choice, VALUES, 12, LEVELS, steps=4)
    assert (moved["chosen"] == CLASSICAL_MEAN).all()


def test_a_record_without_validation_rmses_keeps_its_choice():
    # chosen before the record kept validation RMSEs: nothing to check the refit against
    frame = with_chosen(_lstm(), {"chosen": "lstm", "validation": {}}, VALUES, 12, LEVELS, steps=6)
    assert (frame["chosen"] == "lstm").all()


def test_a_checked_combination_fits_each_classical_model_once(monkeypatch):
    fitted: list[str] = []

    def counted(values, season, model, horizon, levels):
        fitted.append(model)
        return classical_forecast(values, season, model, horizon, levels)

    monkeypatch.setattr(chosen_module, "classical_forecast", counted)
    choice = {"chosen": "combination", "combined_with": "auto_arima"}
    choice["validation_metrics"] = _erred(10, 20)
    frame = with_chosen(_lstm(), choice, VALUES, 12, LEVELS, steps=6)
    assert (frame["chosen"] == CLASSICAL_MEAN).all()  # checked against the mean: three fits
    assert sorted(fitted) == sorted(CLASSICAL)  # the partner, AutoARIMA, not fitted twice
