"""The reference engine: real Keras layers driven by the tutorials' loop.

Every epoch is one ``model.fit(epochs=1, shuffle=False)`` followed by the reset
the regime asks for, exactly as the tutorials wrote it. It is slow (tens of
milliseconds per epoch) and obviously correct, which is its job: it is the
oracle the fast engine is tested against.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from tuner.engines._base import Engine, EngineResult, EngineTask, Progress
from tuner.engines._tensorflow import import_keras
from tuner.method.model import InitialWeights, input_shape, shape_inputs
from tuner.method.protocol import RepeatSetup

__all__ = ["KerasEngine"]


class KerasEngine(Engine):
    """Runs each repeat as its own Keras model, one after the other."""

    name = "keras"

    def __init__(self) -> None:
        self.keras = import_keras()

    def run(self, task: EngineTask, progress: Progress | None = None) -> EngineResult:
        """Run every repeat of ``task`` with a fresh stateful (or stateless) Keras model."""
        keras = self.keras
        report = progress or _no_progress
        forecasts, states, final_weights, final_states = [], [], [], []
        for setup in task.setups:
            repeat = _KerasRepeat(keras, task, setup, report)
            repeat_forecasts, repeat_states = repeat.walk_forward()
            forecasts.append(repeat_forecasts)
            states.append(repeat_states)
            if task.keep_final:
                final_weights.append(InitialWeights.from_list(repeat.model.get_weights()))
                final_states.append(repeat.state())
            keras.backend.clear_session()
        return EngineResult(
            forecasts=np.stack(forecasts),
            states=np.stack(states) if task.record_states else None,
            final_weights=final_weights if task.keep_final else None,
            final_states=np.stack(final_states) if task.keep_final else None,
        )


def _no_progress(_: int) -> None:
    """Progress sink used when the caller wants none."""


class _KerasRepeat:
    """One repeat: a Keras model built from given initial weights, trained and walked."""

    def __init__(self, keras: ModuleType, task: EngineTask, setup: RepeatSetup, report: Progress):
        hp = task.hyperparameters
        self.task = task
        self.regime = hp.state_regime
        self.batch_size = hp.batch_size
        self.framing = hp.framing
        self.report = report
        self.setup = setup
        self.epoch = 0
        self.units = hp.neurons
        inputs = keras.Input(batch_shape=(hp.batch_size, *input_shape(task.lag, hp.framing)))
        self.lstms = [
            keras.layers.LSTM(
                hp.neurons, stateful=self.regime.stateful, return_sequences=layer < hp.layers - 1
            )
            for layer in range(hp.layers)
        ]
        outputs = inputs
        for lstm in self.lstms:
            outputs = lstm(outputs)
        self.model = keras.Model(inputs, keras.layers.Dense(1)(outputs))
        optimizer = keras.optimizers.Adam(learning_rate=hp.learning_rate)
        self.model.compile(loss="mean_squared_error", optimizer=optimizer)
        self.model.set_weights(setup.weights.as_list())

    def walk_forward(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Train, seed, then forecast the test rows step by step with optional updates."""
        schedule = self.task.schedule
        train = self.task.train
        self._train(train, schedule.epochs)
        self._seed(train)
        forecasts, states = [], []
        for step in range(schedule.n_steps):
            rows = self.task.test[step * self.batch_size : (step + 1) * self.batch_size]
            if self.task.record_states:
                states.append(self.state())
            forecasts.append(self._forecast(rows))
            if schedule.update_epochs and step < schedule.n_steps - 1:
                train = np.concatenate([train, rows])
                self._train(train, schedule.update_epochs)
                self._seed(train)
        forecasts = np.concatenate(forecasts) if forecasts else np.zeros(0)
        return forecasts, np.stack(states) if states else None

    def _train(self, rows: np.ndarray, epochs: int) -> None:
        for _ in range(epochs):
            epoch_rows = rows
            if self.regime.shuffle:
                epoch_rows = rows[self.setup.order(self.epoch, len(rows))]
            self.epoch += 1
            self.model.fit(
                shape_inputs(epoch_rows[:, :-1], self.framing).astype(np.float32),
                epoch_rows[:, -1].astype(np.float32),
                epochs=1,
                batch_size=self.batch_size,
                shuffle=False,
                verbose=0,
            )
            if self.regime.reset_after_epoch:
                self._reset()
            self.report(1)

    def _seed(self, rows: np.ndarray) -> None:
        if self.regime.seed_with_training:
            for start in range(0, len(rows), self.batch_size):
                self._forecast(rows[start : start + self.batch_size])

    def _forecast(self, rows: np.ndarray) -> np.ndarray:
        inputs = shape_inputs(rows[:, :-1], self.framing).astype(np.float32)
        forecast = np.asarray(self.model.predict_on_batch(inputs), dtype=np.float64)[:, 0]
        if self.regime.reset_after_forecast:
            self._reset()
        return forecast

    def _reset(self) -> None:
        """Reset every layer's state: a reset forgets the whole stack's past."""
        for lstm in self.lstms:
            lstm.reset_states()

    def state(self) -> np.ndarray:
        """Every layer's state ``[h, c]``, ``(layers, 2, batch, units)``; zeros if stateless."""
        if not self.regime.stateful:
            return np.zeros((len(self.lstms), 2, self.batch_size, self.units))
        return np.stack(
            [np.stack([np.asarray(variable) for variable in lstm.states]) for lstm in self.lstms]
        )
