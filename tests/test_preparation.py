import numpy as np
import pytest

from tests.conftest import SHAMPOO_PERSISTENCE_RMSE
from tuner.exceptions import ConfigError, DataError
from tuner.preparation import Preparation, prepare


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
    assert shampoo_20.rmse(perfect) == pytest.approx(0, abs=1e-9)
    repeated = shampoo_20.invert(np.tile(shampoo_20.test[:, -1], (3, 1)))
    assert repeated.shape == (3, 12)
    np.testing.assert_allclose(repeated[2], shampoo_20.actual, atol=1e-9)


def test_zero_forecast_of_the_difference_is_persistence(shampoo_20):
    zero_difference = shampoo_20.scaler.transform(np.zeros((1, 2)))[0, -1]
    forecasts = shampoo_20.invert(np.full(12, zero_difference))
    np.testing.assert_allclose(forecasts, shampoo_20.previous)
    assert shampoo_20.rmse(forecasts) == pytest.approx(SHAMPOO_PERSISTENCE_RMSE)


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
