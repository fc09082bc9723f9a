"""The fast engine against the Keras reference, from the same initial weights.

Tolerance: both engines compute in float32, where one rounding is about 6e-8
relative; they order a few operations differently (batched matmuls, fused
kernels), so forecasts drift apart by a few roundings per Adam step. Over the
at most 15 steps these cases train, measured differences stay near 1e-7. We
allow 1e-5 in scaled units (about 0.004 shampoo sales): 100 times the drift,
yet far below what any real difference in the protocol causes (a missed reset,
a batch out of place or a skipped update moves forecasts by 1e-3 or more).
"""

import dataclasses
import functools
import itertools

import numpy as np
import pytest

from tests.helpers.training import TOLERANCE, assert_same, engine_task
from tuner.data.preparation import Preparation, prepare
from tuner.engines import FastEngine, KerasEngine
from tuner.method.regimes import REGIME_NAMES

_task = functools.partial(engine_task, epochs=3, seed=11)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def graph_xla_keras():
    """The fast engine as a graph and compiled by XLA, and the Keras reference."""
    return FastEngine(jit_compile=False), FastEngine(jit_compile=True), KerasEngine()


@pytest.fixture(scope="module")
def tiny_lag3(shampoo):
    """Shampoo at lags 1 and 3, 8 training and 4 test rows: batch sizes 1, 2 and 4 divide both."""
    return {
        lag: prepare(shampoo, Preparation(lag=lag, test_size=4, train_size=8)) for lag in (1, 3)
    }


# With lag 1 both framings give samples of shape (1, 1): the same computation, run once.
CASES = [
    case
    for case in itertools.product(
        REGIME_NAMES, (1, 2, 4), (0, 2), (1, 3), ("features", "timesteps")
    )
    if not (case[3] == 1 and case[4] == "timesteps")
]


LAG_FRAMINGS = [(1, "features"), (3, "features"), (3, "timesteps")]
QUICK_CASES = [
    (regime, (1, 2, 4)[i % 3], (0, 2)[i % 2], *LAG_FRAMINGS[(i // 3) % 3])
    for i, regime in enumerate(REGIME_NAMES)
]
"""The fast tier's sample: every regime once, and every batch size, update setting,
lag and framing among them; the full suite runs all of CASES."""


def _tiered(cases: list[tuple], quick: list[tuple]) -> list:
    return [pytest.param(*case, marks=() if case in quick else pytest.mark.slow) for case in cases]


@pytest.mark.parametrize(
    ("regime", "batch_size", "update_epochs", "lag", "framing"), _tiered(CASES, QUICK_CASES)
)
def test_fast_graph_equals_keras(
    graph_xla_keras, tiny_lag3, regime, batch_size, update_epochs, lag, framing
):
    fast_graph, _, keras_engine = graph_xla_keras
    task = _task(
        tiny_lag3[lag],
        regime=regime,
        batch_size=batch_size,
        update_epochs=update_epochs,
        framing=framing,
    )
    assert_same(fast_graph.run(task), keras_engine.run(task))


@pytest.mark.parametrize(
    "regime", _tiered([(r,) for r in REGIME_NAMES], [("seeded",), ("stateless_shuffle",)])
)
def test_xla_compiled_fast_engine_equals_keras(graph_xla_keras, tiny_lag3, regime):
    _, fast_xla, keras_engine = graph_xla_keras
    task = _task(tiny_lag3[3], regime=regime, batch_size=2, update_epochs=2, framing="timesteps")
    assert_same(fast_xla.run(task), keras_engine.run(task))


STACKED_CASES = [
    ("seeded", 2, 0, 3, "timesteps", 2),
    ("never_reset", 2, 2, 1, "features", 2),
    ("reset_epoch_and_forecast", 1, 2, 3, "features", 2),
    ("stateless_shuffle", 2, 2, 3, "timesteps", 2),
    ("seeded_never_reset", 4, 2, 3, "features", 3),
    ("seeded_reset_forecast", 2, 2, 3, "timesteps", 3),
    ("reset_epoch", 2, 0, 1, "features", 3),
    ("stateless", 1, 2, 3, "features", 2),
]
"""Stacked layers across the regimes; the first four (two layers, stateful regimes among
them, and shuffling) are in the fast tier."""


@pytest.mark.parametrize(
    ("regime", "batch_size", "update_epochs", "lag", "framing", "layers"),
    _tiered(STACKED_CASES, STACKED_CASES[:4]),
)
def test_stacked_layers_equal_keras(
    graph_xla_keras, tiny_lag3, regime, batch_size, update_epochs, lag, framing, layers
):
    fast_graph, fast_xla, keras_engine = graph_xla_keras
    task = _task(
        tiny_lag3[lag],
        regime=regime,
        batch_size=batch_size,
        update_epochs=update_epochs,
        framing=framing,
        layers=layers,
    )
    reference = keras_engine.run(task)
    assert reference.states.shape == (1, 4 // batch_size, layers, 2, batch_size, 2)
    assert_same(fast_graph.run(task), reference)
    assert_same(fast_xla.run(task), reference)


@pytest.mark.parametrize("layers", [1, 2])
def test_a_learning_rate_equals_keras_and_changes_the_forecasts(graph_xla_keras, tiny_lag3, layers):
    """The configured rate reaches both engines' Adam; 0.01 instead of 0.001 shows."""
    fast_graph, _, keras_engine = graph_xla_keras
    settings = {"regime": "seeded", "batch_size": 2, "update_epochs": 2, "framing": "features"}
    fast = _task(tiny_lag3[3], **settings, layers=layers, learning_rate=0.01)
    assert_same(fast_graph.run(fast), keras_engine.run(fast))
    default = fast_graph.run(_task(tiny_lag3[3], **settings, layers=layers))
    assert np.abs(fast_graph.run(fast).forecasts - default.forecasts).max() > 100 * TOLERANCE


def test_the_tolerance_catches_a_real_protocol_difference(graph_xla_keras, tiny_lag3):
    """Negative control: seeding is the only difference, and it is far above TOLERANCE."""
    fast_graph, _, keras_engine = graph_xla_keras
    settings = {"batch_size": 2, "update_epochs": 0, "framing": "features"}
    seeded = fast_graph.run(_task(tiny_lag3[1], regime="seeded", **settings))
    unseeded = keras_engine.run(_task(tiny_lag3[1], regime="reset_epoch", **settings))
    assert np.abs(seeded.forecasts - unseeded.forecasts).max() > 100 * TOLERANCE


def test_repeats_trained_together_do_not_interact(graph_xla_keras, tiny_lag3):
    _, fast_xla, _ = graph_xla_keras
    together = _task(
        tiny_lag3[1],
        regime="stateless_shuffle",
        batch_size=2,
        update_epochs=2,
        framing="features",
        repeats=3,
    )
    batched = fast_xla.run(together)
    for repeat, setup in enumerate(together.setups):
        alone = fast_xla.run(dataclasses.replace(together, setups=[setup]))
        np.testing.assert_allclose(batched.forecasts[repeat], alone.forecasts[0], atol=1e-6)
    assert not np.allclose(batched.forecasts[0], batched.forecasts[1])


def test_same_seed_same_forecasts_and_progress(graph_xla_keras, shampoo_20):
    _, fast_xla, _ = graph_xla_keras
    task = _task(
        shampoo_20,
        regime="seeded",
        batch_size=4,
        update_epochs=0,
        framing="features",
        repeats=4,
        epochs=20,
    )
    counted = []
    first = fast_xla.run(task, counted.append)
    again = fast_xla.run(task)
    np.testing.assert_array_equal(first.forecasts, again.forecasts)
    assert sum(counted) == 4 * 20
