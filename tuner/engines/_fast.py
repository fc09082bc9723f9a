"""The fast engine: every repeat of a trial trained at once, in one compiled graph.

The reference loop enters Python (and Keras's ``fit`` machinery) once per epoch;
with a handful of rows per epoch that overhead is nearly all of its time. Here
the repeats become a leading axis of every weight (``R`` independent LSTMs and
Dense heads), the loss is summed over repeats so each repeat's gradient is its
own, Adam is applied elementwise, and the whole trial (epochs, batches, resets,
seeding, walk-forward forecasts and update epochs) is one ``tf.function``
compiled with XLA. Python is entered once per trial.

The arithmetic is the reference's, written out: Keras's fused LSTM cell (gates
i, f, c, o; sigmoid and tanh), ``Dense(1)``, MSE averaged over the batch, and
Keras 3's Adam update. Given the same initial weights and shuffle orders it
gives the same forecasts as :class:`~tuner.engines.KerasEngine` to float32
round-off (the equality tests say how close).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from tuner.engines._base import Engine, EngineResult, EngineTask, Progress
from tuner.engines._tensorflow import import_tensorflow
from tuner.model import InitialWeights, shape_inputs
from tuner.regimes import Regime

__all__ = ["FastEngine"]

Tensor = Any
"""A ``tf.Tensor``; TensorFlow is imported lazily, so annotations cannot name it."""
Weights = tuple[Tensor, ...]
State = tuple[Tensor, Tensor]
Carry = tuple[Weights, tuple[Weights, Weights, Tensor], State, Tensor]
"""(weights, (Adam momentums, velocities, step), LSTM state, global epoch)."""

_LEARNING_RATE = 0.001
_BETA_1 = 0.9
_BETA_2 = 0.999
_EPSILON = 1e-7


class FastEngine(Engine):
    """Trains all repeats of a trial together in one XLA-compiled TensorFlow graph.

    Args:
        jit_compile: Compile with XLA (faster on CPU once compiled); ``False`` runs
            the same graph with TensorFlow's executor, which starts sooner.
    """

    name = "fast"

    def __init__(self, jit_compile: bool = True) -> None:
        self.tf = import_tensorflow()
        self.jit_compile = jit_compile

    def run(self, task: EngineTask, progress: Progress | None = None) -> EngineResult:
        """Run every repeat of ``task`` at once and return their forecasts."""
        tf = self.tf
        hp = task.hyperparameters
        schedule = task.schedule
        rows = np.concatenate([task.train, task.test]).astype(np.float32)
        trial = _trial_function(
            tf, hp.state_regime, hp.batch_size, task.record_states, self.jit_compile
        )
        forecasts, states, final_weights, final_states = trial(
            tf.constant(shape_inputs(rows[:, :-1], hp.framing)),
            tf.constant(rows[:, -1]),
            tuple(tf.constant(np.stack(arrays)) for arrays in _stacked_weights(task)),
            tf.constant(_stacked_orders(task, len(rows))),
            tf.constant(schedule.n_train),
            tf.constant(schedule.epochs),
            tf.constant(schedule.update_epochs),
            tf.constant(schedule.n_steps),
        )
        if progress is not None:
            progress(len(task.setups) * schedule.total_epochs)
        return EngineResult(
            forecasts=forecasts.numpy().astype(np.float64),
            states=states.numpy().astype(np.float64) if task.record_states else None,
            final_weights=_unstacked_weights(final_weights) if task.keep_final else None,
            final_states=final_states.numpy() if task.keep_final else None,
        )


def _stacked_weights(task: EngineTask) -> list[list[np.ndarray]]:
    """Per weight, the list of every repeat's array (to be stacked on a leading axis)."""
    return [
        list(arrays) for arrays in zip(*(s.weights.as_list() for s in task.setups), strict=True)
    ]


def _unstacked_weights(weights: Weights) -> list[InitialWeights]:
    """Each repeat's weights, from weights with a leading repeat axis."""
    arrays = [w.numpy() for w in weights]
    return [InitialWeights(*(a[repeat] for a in arrays)) for repeat in range(len(arrays[0]))]


def _stacked_orders(task: EngineTask, n_rows: int) -> np.ndarray:
    """Shuffle orders as ``(repeats, epochs, rows)``, padded; a dummy when not shuffling."""
    if not task.hyperparameters.state_regime.shuffle:
        return np.zeros((len(task.setups), 1, 1), dtype=np.int32)
    orders = np.zeros((len(task.setups), task.schedule.total_epochs, n_rows), dtype=np.int32)
    for repeat, setup in enumerate(task.setups):
        for epoch, order in enumerate(setup.orders):
            orders[repeat, epoch, : len(order)] = order
    return orders


@functools.cache
def _trial_function(
    tf: ModuleType, regime: Regime, batch_size: int, record_states: bool, jit_compile: bool
) -> Any:
    """Build (once per process) the compiled trial for one regime and batch size.

    Shapes (repeats, rows, lag, units) are static, as XLA needs: a new shape traces anew;
    epochs, sizes and step counts are tensors, so changing them does not retrace.
    """
    graph = _TrialGraph(tf, regime, batch_size)
    run = functools.partial(graph.run, record_states=record_states)
    return tf.function(run, jit_compile=jit_compile, autograph=False)


class _TrialGraph:
    """The trial's computation, written with TensorFlow ops for one regime and batch size.

    Weights are a tuple ``(kernel, recurrent_kernel, bias, dense_kernel, dense_bias)``
    with a leading repeat axis; the state is ``(h, c)``, each ``(repeats, batch, units)``.
    """

    def __init__(self, tf: ModuleType, regime: Regime, batch_size: int) -> None:
        self.tf = tf
        self.regime = regime
        self.batch_size = batch_size

    def run(
        self,
        inputs: Tensor,
        targets: Tensor,
        weights: Weights,
        orders: Tensor,
        n_train: Tensor,
        epochs: Tensor,
        update_epochs: Tensor,
        n_steps: Tensor,
        record_states: bool,
    ) -> tuple[Tensor, Tensor, Weights, Tensor]:
        """Train, seed, then walk the test rows forward.

        Returns forecasts, the states before each step, and the final weights and
        state ``(repeats, 2, batch, units)``.
        """
        tf = self.tf
        self.inputs, self.targets, self.orders = inputs, targets, orders
        repeats = weights[0].shape[0]
        zero = tf.zeros((repeats, self.batch_size, weights[1].shape[1]))
        self.zero_state = (zero, zero)
        optimizer = (
            tuple(tf.zeros_like(w) for w in weights),
            tuple(tf.zeros_like(w) for w in weights),
            tf.constant(0.0),
        )
        carry = (weights, optimizer, self.zero_state, tf.constant(0))
        carry = self._seed(self._train(carry, epochs, n_train), n_train)

        def walk_step(step: Tensor, walk: tuple[Carry, Tensor, Tensor]) -> tuple:
            carry, forecasts, states = walk
            weights, optimizer, state, epoch = carry
            if record_states:
                states = states.write(step, tf.stack(state))
            start = n_train + step * self.batch_size
            forecast, state = self._forecast(weights, state, start)
            carry = (weights, optimizer, state, epoch)
            carry = tf.cond(
                tf.logical_and(update_epochs > 0, step < n_steps - 1),
                lambda: self._seed(
                    self._train(carry, update_epochs, start + self.batch_size),
                    start + self.batch_size,
                ),
                lambda: carry,
            )
            return carry, forecasts.write(step, forecast), states

        (weights, _, state, _), forecasts, states = self._loop(
            n_steps,
            walk_step,
            (
                carry,
                tf.TensorArray(tf.float32, size=n_steps, element_shape=(repeats, self.batch_size)),
                tf.TensorArray(tf.float32, size=n_steps if record_states else 0),
            ),
        )
        forecasts = tf.reshape(tf.transpose(forecasts.stack(), (1, 0, 2)), (repeats, -1))
        final = (weights, tf.transpose(tf.stack(state), (1, 0, 2, 3)))
        if not record_states:
            return forecasts, tf.zeros((0,)), *final
        # (steps, 2, repeats, batch, units) -> (repeats, steps, 2, batch, units)
        return forecasts, tf.transpose(states.stack(), (2, 0, 1, 3, 4)), *final

    def _loop(self, count: Tensor, body: Callable[[Tensor, Any], Any], carry: Any) -> Any:
        """``for i in range(count): carry = body(i, carry)`` as a graph while-loop."""
        tf = self.tf
        _, carry = tf.while_loop(
            lambda i, _: i < count,
            lambda i, carry: (i + 1, body(i, carry)),
            (tf.constant(0), carry),
        )
        return carry

    def _train(self, carry: Carry, epochs: Tensor, n_rows: Tensor) -> Carry:
        """Train ``epochs`` epochs on the first ``n_rows`` rows, resetting as the regime says."""

        def epoch_step(_: Tensor, carry: Carry) -> Carry:
            weights, optimizer, state, epoch = carry

            def batch_step(batch: Tensor, inner: tuple) -> tuple:
                weights, optimizer, state = inner
                rows = self._training_rows(epoch, batch)
                start_state = state if self.regime.stateful else self.zero_state
                return self._train_step(weights, optimizer, start_state, rows)

            weights, optimizer, state = self._loop(
                n_rows // self.batch_size, batch_step, (weights, optimizer, state)
            )
            if self.regime.reset_after_epoch or not self.regime.stateful:
                state = self.zero_state
            return weights, optimizer, state, epoch + 1

        return self._loop(epochs, epoch_step, carry)

    def _training_rows(self, epoch: Tensor, batch: Tensor) -> Tensor:
        """Row indices of one training batch, ``(repeats, batch)``: consecutive or shuffled."""
        tf = self.tf
        consecutive = batch * self.batch_size + tf.range(self.batch_size)
        if self.regime.shuffle:
            return tf.gather(tf.gather(self.orders, epoch, axis=1), consecutive, axis=1)
        return tf.broadcast_to(consecutive, (self.orders.shape[0], self.batch_size))

    def _train_step(
        self, weights: Weights, optimizer: tuple, state: State, rows: Tensor
    ) -> tuple[Weights, tuple, State]:
        """One batch: forward, MSE per repeat summed over repeats, gradients, Adam."""
        tf = self.tf
        x, y = tf.gather(self.inputs, rows), tf.gather(self.targets, rows)
        with tf.GradientTape() as tape:
            tape.watch(weights)
            forecast, new_state = self._forward(weights, state, x)
            loss = tf.reduce_sum(tf.reduce_mean(tf.square(y - forecast), axis=1))
        gradients = tape.gradient(loss, weights)
        weights, optimizer = self._adam(weights, optimizer, gradients)
        return weights, optimizer, new_state

    def _adam(
        self, weights: Weights, optimizer: tuple, gradients: Weights
    ) -> tuple[Weights, tuple]:
        """Keras 3's Adam update, elementwise, so each repeat is updated independently."""
        tf = self.tf
        momentums, velocities, step = optimizer
        step = step + 1.0
        alpha = _LEARNING_RATE * tf.sqrt(1 - tf.pow(_BETA_2, step)) / (1 - tf.pow(_BETA_1, step))
        momentums = tuple(
            m + (g - m) * (1 - _BETA_1) for m, g in zip(momentums, gradients, strict=True)
        )
        velocities = tuple(
            v + (tf.square(g) - v) * (1 - _BETA_2)
            for v, g in zip(velocities, gradients, strict=True)
        )
        weights = tuple(
            w - (m * alpha) / (tf.sqrt(v) + _EPSILON)
            for w, m, v in zip(weights, momentums, velocities, strict=True)
        )
        return weights, (momentums, velocities, step)

    def _forward(self, weights: Weights, state: State, x: Tensor) -> tuple[Tensor, State]:
        """Keras's fused LSTM cell over the time steps, then Dense(1): ``(repeats, batch)``."""
        tf = self.tf
        kernel, recurrent_kernel, bias, dense_kernel, dense_bias = weights
        h, c = state
        for time in range(x.shape[2]):
            z = tf.matmul(x[:, :, time, :], kernel)
            z = z + tf.matmul(h, recurrent_kernel)
            z = z + bias[:, None, :]
            z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
            c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
            h = tf.sigmoid(z_o) * tf.tanh(c)
        forecast = tf.matmul(h, dense_kernel)[:, :, 0] + dense_bias
        return forecast, (h, c)

    def _seed(self, carry: Carry, n_rows: Tensor) -> Carry:
        """A seeding regime forecasts the first ``n_rows`` rows batch by batch."""
        if not self.regime.seed_with_training:
            return carry
        weights, optimizer, state, epoch = carry
        state = self._loop(
            n_rows // self.batch_size,
            lambda batch, state: self._forecast(weights, state, batch * self.batch_size)[1],
            state,
        )
        return weights, optimizer, state, epoch

    def _forecast(self, weights: Weights, state: State, start: Tensor) -> tuple[Tensor, State]:
        """Forecast rows ``start .. start + batch``; return forecasts and the next state."""
        tf = self.tf
        rows = start + tf.range(self.batch_size)
        repeats = weights[0].shape[0]
        x = tf.gather(self.inputs, rows)[None]
        x = tf.broadcast_to(x, (repeats, self.batch_size, *self.inputs.shape[1:]))
        start_state = state if self.regime.stateful else self.zero_state
        forecast, state = self._forward(weights, start_state, x)
        if self.regime.reset_after_forecast or not self.regime.stateful:
            state = self.zero_state
        return forecast, state
