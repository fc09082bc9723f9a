import numpy as np
import pytest

from tests.conftest import shampoo_config
from tuner.exceptions import DivergedError
from tuner.runner import _check_finite, evaluate


def test_non_finite_forecasts_are_a_diverged_fit_naming_the_repeats():
    forecasts = np.array([[1.0, 2.0], [np.nan, 2.0], [1.0, np.inf]])
    with pytest.raises(DivergedError) as error:
        _check_finite(forecasts)
    assert str(error.value) == "the fit diverged: repeat(s) 1, 2 forecast NaN or infinity"
    _check_finite(forecasts[:1])


def test_evaluation_scores_each_repeat_against_the_actual_values(shampoo_20):
    evaluation = evaluate(shampoo_20, shampoo_config(epochs=5, repeats=3, seed=1))
    assert evaluation.forecasts.shape == (3, 12)
    expected = np.sqrt(((evaluation.forecasts - shampoo_20.actual) ** 2).mean(axis=1))
    np.testing.assert_allclose(evaluation.rmses, expected)
    assert evaluation.mean == pytest.approx(expected.mean())
    assert evaluation.summary["count"] == 3
    assert evaluation.to_dict()["config"]["engine"] == "fast"
