import json

import numpy as np
import pytest

from tests.helpers.training import shampoo_config
from tuner.data.preparation import Preparation
from tuner.data.source import DataSource
from tuner.evaluation.config import load_and_prepare
from tuner.evaluation.runner import EvaluationConfig, _check_finite, evaluate
from tuner.exceptions import DivergedError
from tuner.method.protocol import Hyperparameters


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


def _monthly_csv(write_csv, values) -> str:
    rows = "".join(
        f"{2000 + i // 12}-{i % 12 + 1:02d},{value!r}\n" for i, value in enumerate(values)
    )
    return write_csv("month,value\n" + rows)


def _evaluate_csv(path: str):
    config = EvaluationConfig(
        source=DataSource(path),
        preparation=Preparation(test_size=6),
        hyperparameters=Hyperparameters(epochs=5, batch_size=1, neurons=1, regime="seeded"),
        repeats=2,
    )
    return evaluate(load_and_prepare(config), config)


def test_a_constant_series_is_scored_with_no_skill_rather_than_nan(write_csv):
    evaluation = _evaluate_csv(_monthly_csv(write_csv, [5.0] * 24))
    assert evaluation.persistence_rmse == 0.0
    assert np.isfinite(evaluation.rmses).all()
    assert evaluation.skill is None  # 1 - mean / 0 is undefined: stored as null, never NaN
    assert json.loads(json.dumps(evaluation.to_dict(), allow_nan=False))["skill"] is None


def test_a_series_in_the_billions_keeps_its_precision(write_csv):
    rng = np.random.default_rng(0)
    values = 1e9 + np.cumsum(rng.normal(0, 1e6, 36))
    evaluation = _evaluate_csv(_monthly_csv(write_csv, values.tolist()))
    assert np.isfinite(evaluation.rmses).all()
    assert 1e5 < evaluation.mean < 1e7  # the scale of the month-to-month changes, not of 1e9
    assert 1e5 < evaluation.persistence_rmse < 1e7
