"""The reference engine: reset points, injected weights, updates and shuffling."""

import numpy as np
import pytest

from tests.helpers.training import engine_task as _task
from tuner.data.preparation import Preparation, prepare
from tuner.engines import get_engine
from tuner.method.protocol import RepeatSetup

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def keras_engine():
    return get_engine("keras")


def _zero(state):
    return not np.any(state)


@pytest.mark.parametrize(
    ("regime", "zero_before_first", "zero_before_later"),
    [
        ("reset_epoch", True, False),
        pytest.param("reset_epoch_and_forecast", True, True, marks=pytest.mark.slow),
        pytest.param("never_reset", False, False, marks=pytest.mark.slow),
        ("seeded", False, False),
        pytest.param("seeded_reset_forecast", True, True, marks=pytest.mark.slow),
        pytest.param("seeded_never_reset", False, False, marks=pytest.mark.slow),
    ],
)
def test_state_before_each_test_forecast_follows_the_regime(
    keras_engine, shampoo_20, regime, zero_before_first, zero_before_later
):
    result = keras_engine.run(_task(shampoo_20, regime))
    states = result.states[0]
    assert states.shape == (3, 1, 2, 4, 2)
    assert _zero(states[0]) is zero_before_first
    assert all(_zero(state) is zero_before_later for state in states[1:])


def test_seeding_changes_only_the_state_not_the_training(keras_engine, shampoo_20):
    plain = keras_engine.run(_task(shampoo_20, "reset_epoch"))
    seeded = keras_engine.run(_task(shampoo_20, "seeded"))
    assert _zero(plain.states[0, 0]) and not _zero(seeded.states[0, 0])
    assert not np.allclose(plain.forecasts, seeded.forecasts)


def test_stateless_regimes_forecast_each_batch_from_zero(keras_engine, shampoo_20):
    result = keras_engine.run(_task(shampoo_20, "stateless"))
    assert _zero(result.states)
    assert np.isfinite(result.forecasts).all()


def test_same_initial_weights_give_the_same_forecasts(keras_engine, shampoo_20):
    first = keras_engine.run(_task(shampoo_20, "seeded", repeats=2))
    again = keras_engine.run(_task(shampoo_20, "seeded", repeats=2))
    other = keras_engine.run(_task(shampoo_20, "seeded", repeats=2, seed=4))
    np.testing.assert_array_equal(first.forecasts, again.forecasts)
    assert first.forecasts.shape == (2, 12)
    assert not np.allclose(first.forecasts[0], first.forecasts[1])
    assert not np.allclose(first.forecasts, other.forecasts)


def test_updates_start_after_the_first_step(keras_engine, shampoo_20):
    fixed = keras_engine.run(_task(shampoo_20, "reset_epoch", update_epochs=0)).forecasts[0]
    updated = keras_engine.run(_task(shampoo_20, "reset_epoch", update_epochs=2)).forecasts[0]
    np.testing.assert_array_equal(fixed[:4], updated[:4])
    assert not np.allclose(fixed[4:], updated[4:])


def test_shuffling_uses_the_setups_orders(keras_engine, shampoo_20, monkeypatch):
    stateless = keras_engine.run(_task(shampoo_20, "stateless")).forecasts
    shuffled_task = _task(shampoo_20, "stateless_shuffle")
    shuffled = keras_engine.run(shuffled_task).forecasts
    monkeypatch.setattr(RepeatSetup, "order", lambda _, epoch, n_rows: np.arange(n_rows))
    unshuffled = keras_engine.run(shuffled_task).forecasts
    np.testing.assert_allclose(unshuffled, stateless, atol=1e-6)
    assert not np.allclose(shuffled, stateless)


def test_progress_counts_every_repeat_epoch(keras_engine, shampoo_20):
    task = _task(shampoo_20, "seeded", repeats=2, update_epochs=1)
    counted = []
    keras_engine.run(task, counted.append)
    assert sum(counted) == 2 * task.schedule.total_epochs == 2 * (2 + 2)


@pytest.mark.parametrize("framing", ["features", "timesteps"])
def test_lag_and_framing_shape_the_model_input(keras_engine, shampoo, framing):
    prepared = prepare(shampoo, Preparation(lag=3, test_size=12, train_size=20))
    result = keras_engine.run(_task(prepared, "seeded", batch_size=2, framing=framing))
    assert result.forecasts.shape == (1, 12)
    assert result.states.shape == (1, 6, 1, 2, 2, 2)
    assert np.isfinite(result.forecasts).all()
