"""Training to test: tasks and configurations small enough for a test, and the tolerance.

Engines are compared at :data:`TOLERANCE`; the reasoning for it is in
``tests/engines/test_engine_equality.py``.
"""

from __future__ import annotations

import numpy as np

from tuner.data.preparation import Preparation, PreparedData
from tuner.data.source import DataSource
from tuner.engines import EngineResult, EngineTask
from tuner.evaluation.runner import EvaluationConfig
from tuner.method.protocol import Hyperparameters, check_batch_size, repeat_setups

SHAMPOO_PERSISTENCE_RMSE = 136.76131884905664
"""Persistence over shampoo's last 12 months: the tutorial's baseline, to the last digit."""

TOLERANCE = 1e-5
"""How far two engines' forecasts and states may differ, in scaled units: 100 times
the float32 drift of the few steps these tests train, far below a real difference."""


def shampoo_config(epochs: int, repeats: int, seed: int) -> EvaluationConfig:
    """The tuning tutorial's configuration (batch 4, 1 unit, seeded, 20 training rows)."""
    return EvaluationConfig(
        source=DataSource("shampoo"),
        preparation=Preparation(train_size=20),
        hyperparameters=Hyperparameters(epochs=epochs, batch_size=4, neurons=1, regime="seeded"),
        repeats=repeats,
        seed=seed,
    )


def engine_task(
    prepared: PreparedData,
    regime: str,
    *,
    epochs: int = 2,
    batch_size: int = 4,
    update_epochs: int = 0,
    framing: str = "features",
    repeats: int = 1,
    seed: int = 3,
    neurons: int = 2,
    layers: int = 1,
    learning_rate: float = 0.001,
) -> EngineTask:
    """An engine task for ``prepared`` rows that records LSTM states."""
    hp = Hyperparameters(
        epochs=epochs,
        batch_size=batch_size,
        neurons=neurons,
        regime=regime,
        update_epochs=update_epochs,
        framing=framing,
        layers=layers,
        learning_rate=learning_rate,
    )
    check_batch_size(batch_size, prepared.n_train, prepared.n_test)
    setups = repeat_setups(seed, repeats, hp, prepared.preparation.lag)
    return EngineTask(prepared.train, prepared.test, hp, setups, record_states=True)


def assert_same(
    result: EngineResult, reference: EngineResult, tolerance: float = TOLERANCE
) -> None:
    """Two engine runs gave the same forecasts and states: same shapes, within ``tolerance``."""
    assert result.forecasts.shape == reference.forecasts.shape
    assert result.states.shape == reference.states.shape
    np.testing.assert_allclose(result.forecasts, reference.forecasts, rtol=0, atol=tolerance)
    np.testing.assert_allclose(result.states, reference.states, rtol=0, atol=tolerance)


def fail_the_pack_on_call(monkeypatch, call: int, error: BaseException) -> None:
    """Make the objective's ``call``-th pack of fits raise ``error``; every other runs as usual."""
    from tuner.search import objective

    real = objective.evaluate_many
    calls: list[int] = []

    def evaluate(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(objective, "evaluate_many", evaluate)
