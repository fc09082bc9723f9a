"""Few compiled graphs per study: padding changes no number, and traces are counted.

A study pads every trial to its largest lag, rows, batch and chunk of repeats, and
its units and layers to a few sizes, and passes the regime, epochs and shuffle
orders as data (docs/method.md, section 11).
These tests hold the padded engine to the unpadded one and to the Keras reference,
and count the graphs a study traces.
"""

import dataclasses
import functools

import numpy as np
import optuna
import pytest

from tests.helpers.studies import study_toml
from tests.helpers.training import TOLERANCE, assert_same, engine_task
from tuner.engines import FastEngine, GraphShape, _fast
from tuner.method.regimes import REGIME_NAMES
from tuner.search.objective import Objective
from tuner.search.studyfile import parse_study_text
from tuner.search.windows import StudyData

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

_task = functools.partial(engine_task, epochs=3, seed=5, update_epochs=2, repeats=2)

PADDED = GraphShape(repeats=3, rows=19, lag=4, units=5, batch=4, layers=3)
"""Larger than every task below in each size: repeats, rows, inputs, units, lanes and
layers (the tasks have one layer unless they say otherwise)."""


QUICK = {"seeded", "stateless_shuffle", "reset_epoch_and_forecast"}


@pytest.mark.parametrize(
    "regime",
    [pytest.param(r, marks=() if r in QUICK else pytest.mark.slow) for r in REGIME_NAMES],
)
@pytest.mark.parametrize(("lag", "framing"), [(1, "features"), (2, "timesteps")])
def test_a_padded_task_gives_the_unpadded_and_the_keras_forecasts(
    engines, tiny, regime, lag, framing
):
    fast, keras_engine = engines
    task = _task(tiny[lag], regime=regime, batch_size=2, framing=framing)
    padded = fast.run(dataclasses.replace(task, shape=PADDED))
    assert_same(padded, fast.run(task), tolerance=1e-6)
    assert_same(padded, keras_engine.run(task))


def test_unmasked_padding_would_be_caught(engines, tiny, monkeypatch):
    """Negative control: padded units that are not zero change the forecasts."""
    fast, _ = engines
    task = dataclasses.replace(
        _task(tiny[1], regime="seeded", batch_size=2, framing="features"), shape=PADDED
    )
    exact = fast.run(task).forecasts
    padded_weights = _fast._padded_weights

    def woken(task, shape):
        weights, masks = padded_weights(task, shape)
        return [w + 0.1 * (1 - m) for w, m in zip(weights, masks, strict=True)], masks

    monkeypatch.setattr(_fast, "_padded_weights", woken)
    assert np.abs(fast.run(task).forecasts - exact).max() > 100 * TOLERANCE


def test_a_study_traces_one_graph_per_framing_layer_count_and_power_of_two_of_units():
    trials = 48
    text = study_toml(
        "traces",
        trials=trials,
        repeats=3,
        seed=4,
        data={"series": "shampoo", "test_size": 4, "train_size": 8},
        search={
            "epochs": {"low": 1, "high": 6},
            "neurons": {"low": 1, "high": 20},
            "batch_size": [1, 2],
            "regimes": list(REGIME_NAMES),
            "update_epochs": [0, 1, 2],
            "lag": {"low": 1, "high": 3},
            "framing": ["features", "timesteps"],
            "layers": {"low": 1, "high": 3},
            "learning_rate": {"low": 0.0005, "high": 0.02},
        },
        sampler={"n_startup_trials": trials},
        pruner={"enabled": True, "checkpoints": 2},
    )
    config = parse_study_text(text)
    objective = Objective(StudyData.load(config))
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=2), pruner=optuna.pruners.NopPruner()
    )
    engine = FastEngine()
    before = engine.tracing_count()
    study.optimize(objective, n_trials=trials)
    traced = engine.tracing_count() - before
    sampled = {name: {t.params[name] for t in study.trials} for name in study.trials[0].params}
    assert sampled["regime"] == set(REGIME_NAMES)
    assert len(sampled["neurons"]) > 10 and len(sampled["epochs"]) > 3
    assert sampled["lag"] == {1, 2, 3} and sampled["update_epochs"] == {0, 1, 2}
    assert sampled["batch_size"] == {1, 2} and len(sampled["framing"]) == 2
    assert sampled["layers"] == {1, 2, 3} and len(sampled["learning_rate"]) == trials
    # units pad to 8, 16, or the study's 20: up to 2 framings x 3 layer counts x 3 sizes
    padded_units = {n: 8 if n <= 8 else 16 if n <= 16 else 20 for n in range(1, 21)}
    sizes = {
        (t.params["framing"], t.params["layers"], padded_units[t.params["neurons"]])
        for t in study.trials
    }
    assert len(sizes) > 12
    assert traced == len(sizes)
    compiled = [t.number for t in study.trials if t.user_attrs["compile_seconds"] > 0]
    assert len(compiled) == traced, "the trials that built a graph say so, and no others"


@pytest.mark.parametrize("regime", ["seeded", "stateless_shuffle"])
def test_a_two_layer_task_padded_to_three_gives_the_keras_forecasts(engines, tiny, regime):
    fast, keras_engine = engines
    task = _task(tiny[2], regime=regime, batch_size=2, framing="timesteps", layers=2)
    padded = fast.run(dataclasses.replace(task, shape=PADDED))
    assert_same(padded, fast.run(task), tolerance=1e-6)
    assert_same(padded, keras_engine.run(task))


@pytest.mark.parametrize(
    ("regime", "layers"), [("seeded_never_reset", 1), ("stateless_shuffle", 1), ("seeded", 2)]
)
def test_padded_weights_stay_exactly_zero_and_the_real_ones_match(
    engines, tiny, regime, layers, monkeypatch
):
    """After training (Adam included), every padded weight, padded layers' too, is still 0.0."""
    fast, _ = engines
    task = dataclasses.replace(
        _task(tiny[2], regime=regime, batch_size=2, framing="features", layers=layers),
        keep_final=True,
    )
    seen = {}
    unpad = _fast._unpadded_weights

    def keep(task, shape, padded):
        seen["padded"], seen["masks"] = padded, _fast._padded_weights(task, shape)[1]
        return unpad(task, shape, padded)

    monkeypatch.setattr(_fast, "_unpadded_weights", keep)
    padded = fast.run(dataclasses.replace(task, shape=PADDED))
    for weight, mask in zip(seen["padded"], seen["masks"], strict=True):
        assert not np.any(weight.numpy() * (1 - mask)), "a padded weight moved"
    upper_kernels = seen["padded"][3].numpy()
    assert upper_kernels.shape[1] == PADDED.layers - 1
    assert not np.any(upper_kernels[:, layers - 1 :]), "a padded layer woke"
    if layers > 1:
        moved = upper_kernels[0, 0] - _fast._padded_weights(task, PADDED)[0][3][0, 0]
        assert np.abs(moved).max() > 0, "the real stacked layer trained"
    alone = fast.run(task)
    for mine, reference in zip(padded.final_weights, alone.final_weights, strict=True):
        for a, b in zip(mine.as_list(), reference.as_list(), strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    np.testing.assert_allclose(padded.final_states, alone.final_states, rtol=0, atol=1e-6)
