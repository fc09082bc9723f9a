"""The ensemble score: the RMSE of the repeats' mean forecast, never worse than their mean."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.training import shampoo_config
from tuner.evaluation.runner import evaluate
from tuner.exceptions import ConfigError


def test_the_ensemble_scores_the_repeats_mean_forecast_and_is_never_worse_than_their_mean(
    shampoo_20,
):
    evaluation = evaluate(shampoo_20, shampoo_config(epochs=20, repeats=4, seed=2))
    mean_forecast = evaluation.forecasts.mean(axis=0)
    by_hand = np.sqrt(np.mean((mean_forecast - evaluation.actual) ** 2))
    assert evaluation.ensemble_rmse == pytest.approx(by_hand, rel=1e-12)
    # RMSE is a norm, so the mean forecast's error is at most the repeats' mean error;
    # with repeats that disagree it is strictly smaller.
    assert evaluation.ensemble_rmse < evaluation.mean
    assert evaluation.score("ensemble_rmse") == evaluation.ensemble_rmse
    assert evaluation.score("mean_rmse") == evaluation.mean
    assert evaluation.to_dict()["ensemble_rmse"] == evaluation.ensemble_rmse


def test_an_unknown_objective_in_the_api_is_refused(shampoo_20):
    evaluation = evaluate(shampoo_20, shampoo_config(epochs=2, repeats=2, seed=1))
    with pytest.raises(ConfigError, match="objective must be one of mean_rmse, ensemble_rmse"):
        evaluation.score("best")
