import dataclasses
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import root_mean_squared_error
from sklearn.preprocessing import MinMaxScaler

from tests.helpers.training import SHAMPOO_PERSISTENCE_RMSE
from tuner.data.preparation import MAX_TRAINING_ROWS, TRANSFORMS, Preparation, prepare
from tuner.data.series import load_series
from tuner.exceptions import ConfigError, DataError


def test_shampoo_persistence_rmse_is_the_tutorials(shampoo):
    prepared = prepare(shampoo, Preparation())
    assert prepared.persistence_rmse == pytest.approx(SHAMPOO_PERSISTENCE_RMSE, abs=1e-9)
    assert round(prepared.persistence_rmse, 3) == 136.761


def test_split_sizes_and_trimming_keep_the_newest_rows(shampoo):
    full = prepare(shampoo, Preparation())
    trimmed = prepare(shampoo, Preparation(train_size=20))
    assert (full.n_train, full.n_test) == (22, 12)
    assert (trimmed.n_train, trimmed.n_test) == (20, 12)
    unscaled_full = full.scaler.inverse_transform(full.train)
    unscaled_trimmed = trimmed.scaler.inverse_transform(trimmed.train)
    np.testing.assert_allclose(unscaled_trimmed, unscaled_full[2:])


def test_rows_hold_past_differences_oldest_first(shampoo):
    prepared = prepare(shampoo, Preparation(lag=3))
    differences = np.diff(shampoo.values)
    rows = prepared.scaler.inverse_transform(prepared.train)
    np.testing.assert_allclose(rows[0], differences[0:4])
    np.testing.assert_allclose(rows[5], differences[5:9])
    assert prepared.n_train == 35 - 3 - 12


def test_scaler_is_fitted_on_training_rows_only(shampoo_20):
    assert shampoo_20.train.min(axis=0) == pytest.approx([-1, -1])
    assert shampoo_20.train.max(axis=0) == pytest.approx([1, 1])
    assert np.abs(shampoo_20.test).max() > 1


def test_invert_is_the_exact_inverse_of_scaling_and_differencing(shampoo_20):
    perfect = shampoo_20.invert(shampoo_20.test[:, -1])
    np.testing.assert_allclose(perfect, shampoo_20.actual, atol=1e-9)
    repeated = shampoo_20.invert(np.tile(shampoo_20.test[:, -1], (3, 1)))
    assert repeated.shape == (3, 12)
    np.testing.assert_allclose(repeated[2], shampoo_20.actual, atol=1e-9)


def test_zero_forecast_of_the_difference_is_persistence(shampoo_20):
    zero_difference = shampoo_20.scaler.transform(np.zeros((1, 2)))[0, -1]
    forecasts = shampoo_20.invert(np.full(12, zero_difference))
    np.testing.assert_allclose(forecasts, shampoo_20.previous)
    assert root_mean_squared_error(shampoo_20.actual, forecasts) == pytest.approx(
        SHAMPOO_PERSISTENCE_RMSE
    )


@pytest.mark.parametrize(
    ("settings", "error", "expected"),
    [
        ({"test_size": 0}, ConfigError, "test_size must be an integer >= 1; got 0"),
        ({"lag": 0}, ConfigError, "lag must be an integer >= 1; got 0"),
        ({"train_size": 0}, ConfigError, "train_size must be an integer >= 1; got 0"),
        ({"test_size": 34}, DataError, "need at least 37 (lag + test_size + 1 training row"),
        ({"test_size": 34}, DataError, "with lag 1, test_size may be at most 33"),
        ({"lag": 35, "test_size": 1}, DataError, "the series is too short for lag 35"),
        ({"train_size": 23}, ConfigError, "at most the 22 training rows available; got 23"),
        ({"test_size": 40}, DataError, "has 36 values; lag 1 and test_size 40 need at least 43"),
    ],
)
def test_impossible_preparations_are_refused(shampoo, settings, error, expected):
    with pytest.raises(error) as raised:
        prepare(shampoo, Preparation(**settings))
    assert expected in str(raised.value)


@pytest.fixture(scope="module")
def airline():
    return load_series("airline")


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("seasonal_difference", [0, 12])
@pytest.mark.parametrize("lag", [1, 3, 13, 24])
def test_invert_takes_the_actual_differences_back_to_the_observations(
    airline, transform, seasonal_difference, lag
):
    preparation = Preparation(lag=lag, transform=transform, seasonal_difference=seasonal_difference)
    prepared = prepare(airline, preparation)
    assert prepared.n_train == len(airline) - 12 - 1 - seasonal_difference - lag
    perfect = prepared.invert(prepared.test[:, -1])
    np.testing.assert_allclose(perfect, prepared.actual, rtol=1e-9)
    np.testing.assert_array_equal(prepared.actual, airline.values[-12:])  # raw units
    assert prepared.persistence_rmse == prepare(airline, Preparation(lag=lag)).persistence_rmse


def test_a_zero_forecast_with_seasonal_difference_repeats_last_seasons_change(airline):
    prepared = prepare(airline, Preparation(lag=2, transform="log", seasonal_difference=12))
    zero = prepared.scaler.transform(np.zeros((1, 3)))[0, -1]
    forecasts = prepared.invert(np.full(12, zero))
    y = airline.values
    expected = y[-13:-1] * y[-24:-12] / y[-25:-13]
    np.testing.assert_allclose(forecasts, expected, rtol=1e-9)


@pytest.mark.parametrize("transform", ["log", "boxcox"])
def test_the_transform_is_fitted_on_the_training_observations_only(airline, transform):
    preparation = Preparation(lag=3, transform=transform, seasonal_difference=12, train_size=60)
    original = prepare(airline, preparation)
    values = airline.values.copy()
    values[-12:] *= 3.0  # the test window
    values[:20] *= 0.5  # observations that feed no kept training row
    changed = prepare(dataclasses.replace(airline, values=values), preparation)
    assert changed.transform == original.transform
    np.testing.assert_array_equal(changed.scaler.data_min_, original.scaler.data_min_)
    np.testing.assert_array_equal(changed.scaler.data_max_, original.scaler.data_max_)
    np.testing.assert_array_equal(changed.train, original.train)
    values[60] *= 1.1  # one that feeds a kept training row (the oldest feed from 56)
    moved = prepare(dataclasses.replace(airline, values=values), preparation)
    assert not np.array_equal(moved.train, original.train)
    if transform == "boxcox":
        assert moved.transform.lmbda != original.transform.lmbda


def _old_fingerprint(prepared) -> str:
    """The fingerprint as computed before preparations had a transform."""
    old = {"lag": prepared.preparation.lag, "test_size": 12, "train_size": 20}
    digest = hashlib.sha256(np.ascontiguousarray(prepared.series.values).tobytes())
    digest.update(json.dumps(old, sort_keys=True).encode())
    return digest.hexdigest()


def test_the_default_preparation_keeps_its_rows_scaler_and_fingerprint(shampoo):
    prepared = prepare(shampoo, Preparation(lag=2, train_size=20))
    old_rows = np.lib.stride_tricks.sliding_window_view(np.diff(shampoo.values), 3)[:-12][-20:]
    old_scaler = MinMaxScaler(feature_range=(-1, 1)).fit(old_rows)
    np.testing.assert_array_equal(prepared.scaler.data_min_, old_scaler.data_min_)
    np.testing.assert_array_equal(prepared.scaler.data_max_, old_scaler.data_max_)
    np.testing.assert_array_equal(prepared.train, old_scaler.transform(old_rows))
    assert prepared.fingerprint == _old_fingerprint(prepared)
    logged = prepare(shampoo, Preparation(lag=2, train_size=20, transform="log"))
    assert logged.fingerprint != prepared.fingerprint


@pytest.mark.parametrize("transform", ["log", "boxcox"])
def test_a_non_positive_series_is_refused_naming_its_first_offending_row(write_csv, transform):
    rows = [
        f"2000-{m:02d},{v}\n" for m, v in zip(range(1, 13), [5, 4, 3, 0, -1, 6] * 2, strict=True)
    ]
    series = load_series(write_csv("month,value\n" + "".join(rows)))
    with pytest.raises(DataError) as raised:
        prepare(series, Preparation(test_size=2, transform=transform))
    message = str(raised.value)
    assert f"transform {transform!r} needs values > 0" in message
    assert "the first that is not is 0 at 2000-04 (observation 4)" in message
    assert "\n" not in message


def test_an_unknown_transform_or_a_season_below_two_is_refused():
    with pytest.raises(ConfigError, match="transform must be one of none, log, boxcox; got 'sqrt'"):
        Preparation(transform="sqrt")
    with pytest.raises(ConfigError, match="seasonal_difference must be an integer >= 2; got 1"):
        Preparation(seasonal_difference=1)


def test_a_seasonal_difference_needs_a_season_more_of_series(shampoo):
    with pytest.raises(DataError, match=r"need at least 39 .* \+ 12 lost to the seasonal"):
        prepare(shampoo, Preparation(lag=1, test_size=24, seasonal_difference=12))


def _long_csv(path, rows):
    dates = pd.date_range("2000-01-01", periods=rows, freq="h")
    values = 100 + np.sin(np.arange(rows) / 24) * 10
    pd.DataFrame({"time": dates, "value": values}).to_csv(path, index=False)
    return path


def test_a_series_past_the_training_limit_is_refused_unless_train_size_keeps_the_newest(
    cli, tmp_path
):
    csv = _long_csv(tmp_path / "long.csv", MAX_TRAINING_ROWS + 100)
    status, out, err = cli("baseline", "--data", str(csv))
    assert status == 2 and out == "" and err.count("\n") == 1, err
    assert f"has {MAX_TRAINING_ROWS + 100 - 2 - 12:,} training rows" in err
    assert f"more than the {MAX_TRAINING_ROWS:,} a fit may pass over" in err
    assert "set train_size" in err
    status, out, _ = cli("baseline", "--data", str(csv), "--train-size", "500")
    assert status == 0 and "RMSE" in out


def test_a_series_at_the_training_limit_is_accepted_and_train_size_is_bounded(tmp_path):
    series = load_series(str(_long_csv(tmp_path / "edge.csv", MAX_TRAINING_ROWS + 14)))
    assert prepare(series, Preparation()).n_train == MAX_TRAINING_ROWS
    with pytest.raises(
        ConfigError, match=f"train_size must be an integer <= {MAX_TRAINING_ROWS:,}"
    ):
        Preparation(train_size=MAX_TRAINING_ROWS + 1)


def test_a_forecast_refit_follows_the_same_training_limit(tmp_path):
    from tuner.data.source import DataSource
    from tuner.evaluation.config import EvaluationConfig
    from tuner.evaluation.recursive import training_rows
    from tuner.method.protocol import Hyperparameters

    csv = _long_csv(tmp_path / "long.csv", MAX_TRAINING_ROWS + 50)
    series = load_series(str(csv))
    hp = Hyperparameters(epochs=1, batch_size=1, neurons=1, regime="stateless")
    config = EvaluationConfig(DataSource(str(csv)), Preparation(), hp, repeats=1)
    with pytest.raises(DataError, match="set train_size"):
        training_rows(series, config)
    trimmed = dataclasses.replace(config, preparation=Preparation(train_size=300))
    assert len(training_rows(series, trimmed)) == 300
