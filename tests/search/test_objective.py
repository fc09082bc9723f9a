"""The objective's value, pruning and failure handling, on an in-memory study."""

import math

import numpy as np
import optuna
import pytest

from tests.helpers.studies import study_toml
from tests.helpers.training import shampoo_config
from tuner.evaluation.runner import evaluate
from tuner.exceptions import DivergedError
from tuner.search import objective as objective_module
from tuner.search.objective import Objective
from tuner.search.studyfile import parse_study_text
from tuner.search.windows import StudyData


def _objective(pruning: bool) -> Objective:
    text = study_toml(
        "unit",
        trials=3,
        repeats=4,
        search={"epochs": [1, 300], "neurons": [1], "batch_size": [4], "regimes": ["seeded"]},
        pruner={"enabled": pruning, "checkpoints": 2, "n_startup_trials": 1},
    )
    config = parse_study_text(text)
    return Objective(StudyData.load(config))


def test_running_repeats_in_chunks_gives_the_same_scores(shampoo_20):
    config = shampoo_config(epochs=30, repeats=5, seed=9)
    seen = []
    chunked = evaluate(
        shampoo_20, config, chunks=3, after_chunk=lambda so_far: seen.append(len(so_far.rmses))
    )
    whole = evaluate(shampoo_20, config)
    np.testing.assert_allclose(chunked.rmses, whole.rmses, rtol=1e-6)
    assert seen == [2, 4]


def test_a_clearly_worse_trial_is_pruned_after_its_first_chunk():
    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    study.enqueue_trial({"epochs": 300})
    study.enqueue_trial({"epochs": 1})
    study.optimize(_objective(pruning=True), n_trials=2)
    good, bad = study.trials
    assert good.state == optuna.trial.TrialState.COMPLETE
    assert bad.state == optuna.trial.TrialState.PRUNED
    assert list(bad.intermediate_values) == [2]
    assert bad.intermediate_values[2] > good.intermediate_values[2]


def test_without_pruning_no_intermediate_values_are_reported():
    study = optuna.create_study()
    study.optimize(_objective(pruning=False), n_trials=1)
    (trial,) = study.trials
    assert trial.intermediate_values == {}
    assert trial.value == pytest.approx(np.mean(trial.user_attrs["rmses"]))


def test_a_diverged_fit_fails_the_trial_with_its_reason(monkeypatch):
    def diverge(items, progress, **kwargs):  # each ends as evaluate_many ends a diverged one
        return [DivergedError("the fit diverged: repeat(s) 0 forecast NaN or infinity")] * len(
            items
        )

    monkeypatch.setattr(objective_module, "evaluate_many", diverge)
    study = optuna.create_study()
    study.optimize(_objective(pruning=False), n_trials=2)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    reason = study.trials[0].user_attrs["fail_reason"]
    assert reason == "the fit diverged: repeat(s) 0 forecast NaN or infinity"
    assert math.isnan(_objective(pruning=False)(optuna.create_study().ask()))
