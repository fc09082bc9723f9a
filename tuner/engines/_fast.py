"""The fast engine: every repeat of a trial trained at once, in one compiled graph.

The reference loop enters Python (and Keras's ``fit`` machinery) once per epoch;
with a handful of rows per epoch that overhead is nearly all of its time. Here
the repeats become a leading axis of every weight (``R`` independent LSTMs and
Dense heads), the loss is summed over repeats so each repeat's gradient is its
own, Adam is applied elementwise, and the whole trial (epochs, batches, resets,
seeding, walk-forward forecasts and update epochs) is one ``tf.function``
compiled with XLA. Python is entered once per trial.

A pack of trials (:meth:`FastEngine.run_many`) goes one step further: the
leading axis holds members, trials times repeats, and every per-trial number
(regime flags, batch size, counts, layers, learning rate, Adam's step, the
epoch counter, the rows themselves) has one entry per member. The loops run to
the largest count over the members, and each member is active only while its
own count says so; an inactive member's values are kept by selects, so each
trial's results are its own. Python is then entered once per pack, and a
single trial is a pack of one.

The arithmetic is the reference's, written out: Keras's fused LSTM cell (gates
i, f, c, o; sigmoid and tanh) in each stacked layer, ``Dense(1)``, MSE averaged
over the batch, and Keras 3's Adam update. Given the same initial weights and shuffle orders it
gives the same forecasts as :class:`~tuner.engines.KerasEngine` to float32
round-off (the equality tests say how close).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from tuner.engines._base import Engine, EngineResult, EngineTask, GraphShape, Progress
from tuner.engines._tensorflow import import_tensorflow
from tuner.method.model import InitialWeights, LayerWeights, shape_inputs
from tuner.method.protocol import RepeatSetup
from tuner.method.regimes import Regime
from tuner.method.shuffling import shuffle_orders_tf

__all__ = ["FastEngine"]

Tensor = Any
"""A ``tf.Tensor``; TensorFlow is imported lazily, so annotations cannot name it."""
Weights = tuple[Tensor, ...]
"""``(kernel, recurrent_kernel, bias, upper_kernels, upper_recurrent_kernels, upper_biases,
dense_kernel, dense_bias)``, each with a leading repeat axis; the ``upper_`` ones stack the
layers above the first on a second axis (see :func:`_weight_places`)."""
State = tuple[Tensor, Tensor]
"""``(h, c)``, each ``(repeats, layers, lanes, units)``."""
Carry = tuple[Weights, tuple[Weights, Weights, Tensor], State, Tensor]
"""(weights, (Adam momentums, velocities, step), LSTM state, global epoch)."""

_BETA_1 = 0.9
_BETA_2 = 0.999
_EPSILON = 1e-7


class FastEngine(Engine):
    """Trains all repeats of a trial together in one XLA-compiled TensorFlow graph.

    One graph serves every task of an input shape: the regime is passed as
    flags, the batch size, epochs, layer count and learning rate as numbers,
    shuffle orders are computed in the graph, and units, layers, lag, rows, batch
    lanes and repeats are padded to ``task.shape`` with exact masking
    (docs/method.md, section 11). A study pads its trials to a few shapes
    (:mod:`tuner.evaluation.padding`) and traces one graph for each.
    :meth:`run_many` trains up to ``shape.trials`` trials in that graph at once,
    on a member axis beside the repeats; :meth:`run` is a pack of one.

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
        return self.run_many([task], progress)[0]

    def run_many(
        self, tasks: Sequence[EngineTask], progress: Progress | None = None
    ) -> list[EngineResult]:
        """Run every repeat of every task in one graph run (a pack of trials).

        The members (trials times repeats) share the graph's loops, each active
        only while its own counts say so, so each result is its task's alone.

        Raises:
            ValueError: ``tasks`` is empty, or its tasks differ in framing (the
                inputs' layout), ``record_states`` (a graph of its own) or
                ``keep_final`` (what a pack returns).
        """
        _check_pack(tasks)
        tf = self.tf
        shape = _pack_shape(tasks)
        padded = [*tasks] + [tasks[-1]] * (shape.trials - len(tasks))
        arguments = tf.nest.map_structure(
            lambda *parts: tf.constant(np.concatenate(parts)),
            *(_member_arguments(task, shape) for task in padded),
        )
        trial = _trial_function(tf, tasks[0].record_states, self.jit_compile)
        traces, started = trial.experimental_get_tracing_count(), time.perf_counter()
        forecasts, states, final_weights, final_states = trial(*arguments)
        forecasts, states, final_states = forecasts.numpy(), states.numpy(), final_states.numpy()
        traced = trial.experimental_get_tracing_count() > traces
        # The run's compile time, split among the real tasks: their sum is the run's.
        compile_seconds = (time.perf_counter() - started) / len(tasks) if traced else 0.0
        results = []
        for index, task in enumerate(tasks):
            members = slice(index * shape.repeats, (index + 1) * shape.repeats)
            walked = (forecasts[:, members], states[:, :, members])
            final = (tuple(weight[members] for weight in final_weights), final_states[members])
            results.append(_result(task, shape, walked, final, compile_seconds))
            if progress is not None:
                progress(len(task.setups) * task.schedule.total_epochs)
        return results

    def tracing_count(self) -> int:
        """Graphs traced in this process so far (for tests and benchmarks)."""
        return sum(
            _trial_function(self.tf, *key).experimental_get_tracing_count() for key in _TRACED_KEYS
        )


def _regime_flags(regime: Regime) -> np.ndarray:
    """The regime as the graph reads it: five flags, in :class:`Regime`'s field order."""
    return np.array(
        [
            regime.stateful,
            regime.reset_after_epoch,
            regime.seed_with_training,
            regime.reset_after_forecast,
            regime.shuffle,
        ]
    )


_SHARED: tuple[tuple[str, Callable[[EngineTask], object]], ...] = (
    ("framing", lambda task: task.hyperparameters.framing),
    ("record_states", lambda task: task.record_states),
    ("keep_final", lambda task: task.keep_final),
)
"""What the tasks of a pack must share: each changes the graph's inputs or outputs."""


def _check_pack(tasks: Sequence[EngineTask]) -> None:
    """Refuse a pack that one graph cannot run (see :data:`_SHARED`)."""
    if not tasks:
        raise ValueError("tasks: at least one task is needed, got none")
    for name, read in _SHARED:
        values = list(dict.fromkeys(read(task) for task in tasks))
        if len(values) > 1:
            raise ValueError(
                f"tasks: every task of a pack must have the same {name}, got "
                + ", ".join(repr(value) for value in values)
            )


def _pack_shape(tasks: Sequence[EngineTask]) -> GraphShape:
    """The shape of a pack: the largest of its tasks' shapes, covering every task.

    Its ``trials`` is at least the number of tasks, so a pack never drops one.
    """
    sizes = [dataclasses.astuple(task.shape) for task in tasks]
    shape = GraphShape(*(max(size) for size in zip(*sizes, strict=True)))
    for task in tasks:
        shape = shape.covering(task)
    return dataclasses.replace(shape, trials=max(shape.trials, len(tasks)))


def _member_arguments(task: EngineTask, shape: GraphShape) -> tuple:
    """The graph's arguments (see :meth:`_TrialGraph.run`) for one task's members.

    Every array has a leading axis of ``shape.repeats`` members; the task's
    scalars (its counts, regime and learning rate) are repeated for each, so
    that the graph reads every one per member and tasks can differ in any.
    """
    hp, schedule, repeats = task.hyperparameters, task.schedule, shape.repeats
    inputs, targets = _padded_rows(task, shape)
    weights, masks = _padded_weights(task, shape)

    def each(value: np.ndarray) -> np.ndarray:
        return np.broadcast_to(value, (repeats, *value.shape))

    counts = (
        hp.batch_size,
        shape.lag - task.lag if hp.framing == "timesteps" else 0,  # first time step
        schedule.n_train,
        schedule.epochs,
        schedule.update_epochs,
        schedule.n_steps,
        hp.layers,
    )
    return (
        each(inputs),
        each(targets),
        tuple(weights),
        tuple(each(mask) for mask in masks),
        _shuffle_seeds(task, shape),
        each(_regime_flags(hp.state_regime)),
        each(np.arange(shape.batch) < hp.batch_size),
        *(np.full(repeats, count, dtype=np.int32) for count in counts),
        np.full(repeats, hp.learning_rate, dtype=np.float32),
    )


def _result(
    task: EngineTask,
    shape: GraphShape,
    walked: tuple[np.ndarray, np.ndarray],
    final: tuple[Weights, np.ndarray],
    compile_seconds: float,
) -> EngineResult:
    """A task's result, cut out of its members' padded outputs.

    Args:
        task: The task.
        shape: The shape it was padded to.
        walked: Its members' forecasts ``(steps, members, lanes)`` and states
            ``(steps, 2, members, layers, lanes, units)``.
        final: Its members' final weights and state ``(members, layers, 2, lanes, units)``.
        compile_seconds: Its share of the run's compile time.
    """
    hp, (forecasts, states) = task.hyperparameters, walked
    repeats, steps = len(task.setups), task.schedule.n_steps
    batch, layers = hp.batch_size, hp.layers
    # (steps, repeats, lanes) -> (repeats, steps * batch), real steps, repeats and lanes only
    forecasts = forecasts[:steps, :repeats, :batch].transpose(1, 0, 2)
    return EngineResult(
        forecasts=forecasts.reshape(repeats, -1).astype(np.float64),
        states=(
            # (steps, 2, repeats, layers, lanes, units)
            # -> (repeats, steps, layers, 2, batch, units), real layers only
            states[:steps, :, :repeats, :layers, :batch, : hp.neurons]
            .transpose(2, 0, 3, 1, 4, 5)
            .astype(np.float64)
            if task.record_states
            else None
        ),
        compile_seconds=compile_seconds,
        final_weights=_unpadded_weights(task, shape, final[0]) if task.keep_final else None,
        final_states=(
            # (repeats, layers, 2, lanes, units) -> (repeats, layers, 2, batch, units)
            final[1][:repeats, :layers, :, :batch, : hp.neurons] if task.keep_final else None
        ),
    )


def _padded_rows(task: EngineTask, shape: GraphShape) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(shape.rows, timesteps, features)`` and targets ``(shape.rows,)``.

    A row's ``lag`` inputs take the last of ``shape.lag`` places: padded inputs
    are zeros in front, which padded (zero) kernel rows ignore for the
    ``features`` framing and masked time steps skip for ``timesteps``. Padded
    rows follow the test rows, where no training batch or forecast reaches.
    """
    rows = np.concatenate([task.train, task.test]).astype(np.float32)
    inputs = np.zeros((shape.rows, shape.lag), dtype=np.float32)
    inputs[: len(rows), shape.lag - task.lag :] = rows[:, :-1]
    targets = np.zeros(shape.rows, dtype=np.float32)
    targets[: len(rows)] = rows[:, -1]
    return shape_inputs(inputs, task.hyperparameters.framing), targets


def _padded_weights(task: EngineTask, shape: GraphShape) -> tuple[list[np.ndarray], list]:
    """Each weight stacked over ``shape.repeats`` repeats and padded, with its gradient mask.

    Padded units and layers get zero weights, so their state stays zero and their
    gradients are exactly zero; the mask multiplies the gradients anyway, so no
    round-off can ever wake them. Extra repeats copy the last one and are
    discarded.
    """
    places, sizes = _weight_places(task, shape)
    setups = _padded_setups(task, shape)
    arrays = [_graph_arrays(setup.weights) for setup in setups]
    weights, masks = [], []
    for index, (place, size) in enumerate(zip(places, sizes, strict=True)):
        stacked = np.zeros((len(setups), *size), dtype=np.float32)
        stacked[(slice(None), *place)] = [repeat[index] for repeat in arrays]
        mask = np.zeros(size, dtype=np.float32)
        mask[place] = 1.0
        weights.append(stacked)
        masks.append(mask)
    return weights, masks


def _unpadded_weights(task: EngineTask, shape: GraphShape, padded: Weights) -> list[InitialWeights]:
    """Each real repeat's weights, cut out of the padded ones (the inverse of the padding)."""
    places, _ = _weight_places(task, shape)
    arrays = [
        weight.numpy()[(slice(None, len(task.setups)), *place)]
        for weight, place in zip(padded, places, strict=True)
    ]
    return [
        _initial_weights(*(array[repeat] for array in arrays)) for repeat in range(len(task.setups))
    ]


def _graph_arrays(weights: InitialWeights) -> list[np.ndarray]:
    """A repeat's weights as the graph holds them: the stacked layers on one axis each."""
    units = weights.recurrent_kernel.shape[0]
    upper = [
        np.stack(arrays) if arrays else np.zeros((0, *size), dtype=np.float32)
        for arrays, size in zip(
            zip(*weights.upper_layers, strict=True) if weights.upper_layers else ((), (), ()),
            [(units, 4 * units), (units, 4 * units), (4 * units,)],
            strict=True,
        )
    ]
    return [
        weights.kernel,
        weights.recurrent_kernel,
        weights.bias,
        *upper,
        weights.dense_kernel,
        weights.dense_bias,
    ]


def _initial_weights(
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray,
    upper_kernels: np.ndarray,
    upper_recurrent_kernels: np.ndarray,
    upper_biases: np.ndarray,
    dense_kernel: np.ndarray,
    dense_bias: np.ndarray,
) -> InitialWeights:
    """The inverse of :func:`_graph_arrays`."""
    upper = zip(upper_kernels, upper_recurrent_kernels, upper_biases, strict=True)
    return InitialWeights(
        kernel,
        recurrent_kernel,
        bias,
        dense_kernel,
        dense_bias,
        tuple(LayerWeights(*layer) for layer in upper),
    )


def _weight_places(task: EngineTask, shape: GraphShape) -> tuple[list[tuple], list[tuple]]:
    """Where each of a repeat's graph arrays sits in its padded array, and the padded sizes.

    Real inputs take the last rows of the first kernel (as they take the last
    input places), real units the first places of each gate, and real layers the
    first places of the stacked ones (the head reads the last real layer, so
    padded layers above it are never read).
    """
    hp = task.hyperparameters
    features, padded_features = (task.lag, shape.lag) if hp.framing == "features" else (1, 1)
    units, padded_units = hp.neurons, shape.units
    gates = np.concatenate([gate * padded_units + np.arange(units) for gate in range(4)])
    inputs = np.arange(padded_features - features, padded_features)
    rows = np.arange(units)
    upper = np.arange(hp.layers - 1)
    layer_matrix = (upper[:, None, None], rows[None, :, None], gates[None, None, :])
    places = [
        (inputs[:, None], gates[None, :]),
        (rows[:, None], gates[None, :]),
        (gates,),
        layer_matrix,
        layer_matrix,
        (upper[:, None], gates[None, :]),
        (rows[:, None], np.arange(1)[None, :]),
        (np.arange(1),),
    ]
    padded_upper = shape.layers - 1
    sizes = [
        (padded_features, 4 * padded_units),
        (padded_units, 4 * padded_units),
        (4 * padded_units,),
        (padded_upper, padded_units, 4 * padded_units),
        (padded_upper, padded_units, 4 * padded_units),
        (padded_upper, 4 * padded_units),
        (padded_units, 1),
        (1,),
    ]
    return places, sizes


def _padded_setups(task: EngineTask, shape: GraphShape) -> list[RepeatSetup]:
    """The task's repeat setups, the last one copied up to ``shape.repeats``."""
    return [*task.setups] + [task.setups[-1]] * (shape.repeats - len(task.setups))


def _shuffle_seeds(task: EngineTask, shape: GraphShape) -> np.ndarray:
    """Each repeat's shuffle seed, padded like the weights (see :mod:`tuner.method.shuffling`)."""
    return np.array([setup.shuffle_seed for setup in _padded_setups(task, shape)], dtype=np.uint64)


_TRACED_KEYS: set[tuple[bool, bool]] = set()


@functools.cache
def _trial_function(tf: ModuleType, record_states: bool, jit_compile: bool) -> Any:
    """Build (once per process) the compiled trial function.

    Shapes (members, rows, batch lanes, lag or timesteps, units, layers) are
    static, as XLA needs, and trace anew when they change; each member's regime,
    batch size, epochs, sizes, step counts, real layer count and learning rate are
    tensors, so changing them does not.
    """
    _TRACED_KEYS.add((record_states, jit_compile))
    graph = _TrialGraph(tf)
    run = functools.partial(graph.run, record_states=record_states)
    return tf.function(run, jit_compile=jit_compile, autograph=False)


class _TrialGraph:
    """The pack's computation, written with TensorFlow ops.

    Weights are a tuple (see :data:`Weights`) with a leading member axis (trials
    times repeats); the state is ``(h, c)``, each ``(members, layers, lanes,
    units)``. Everything a task sets (regime flags, batch size, counts, layer
    count, learning rate, rows) is a tensor with one entry per member, so members
    of different trials share the graph. Loops run to the largest count over the
    members, and a member whose own count is done is inactive: every update
    (weights, Adam's moments and step, LSTM state, epoch counter, forecasts) is
    a select that keeps an inactive member's values exactly as they were.

    Layers above a task's own have zero weights, so their state stays exactly
    zero, and the Dense head reads each member's last real layer. A batch
    occupies the first ``batch_size`` of a fixed number of lanes: the other lanes
    read clamped rows, are left out of the loss and are discarded, and as an
    LSTM's lanes never mix, they change nothing. The regime flags select between
    computed alternatives, so they never change the graph.
    """

    def __init__(self, tf: ModuleType) -> None:
        self.tf = tf

    def run(
        self,
        inputs: Tensor,
        targets: Tensor,
        weights: Weights,
        masks: Weights,
        seeds: Tensor,
        flags: Tensor,
        lanes: Tensor,
        batch_size: Tensor,
        first_time_step: Tensor,
        n_train: Tensor,
        epochs: Tensor,
        update_epochs: Tensor,
        n_steps: Tensor,
        layers: Tensor,
        learning_rate: Tensor,
        record_states: bool,
    ) -> tuple[Tensor, Tensor, Weights, Tensor]:
        """Train, seed, then walk the test rows forward, every member at once.

        Args:
            inputs: Each member's rows ``(members, rows, timesteps, features)``.
            targets: Each member's targets ``(members, rows)``.
            weights: Each member's initial weights (see :data:`Weights`).
            masks: Each member's gradient masks, shaped like ``weights``.
            seeds: Each member's shuffle seed ``(members,)``.
            flags: Each member's regime ``(members, 5)`` (see :func:`_regime_flags`).
            lanes: Each member's lanes in use ``(members, lanes)``.
            batch_size: Per member ``(members,)``, like the other counts below.
            first_time_step: The first real time step (later ones for a shorter lag).
            n_train: Training rows.
            epochs: Epochs of the first phase.
            update_epochs: Epochs of each later phase.
            n_steps: Forecast steps (0 for a refit).
            layers: Real layers.
            learning_rate: Adam's learning rate.
            record_states: Also record every state before a forecast (static).

        Returns the forecasts ``(steps, members, lanes)`` and the states before each
        step ``(steps, 2, members, layers, lanes, units)`` (fixed-size buffers, of
        which each member's first ``n_steps`` are written), and the final weights
        and state ``(members, layers, 2, lanes, units)``.
        """
        tf = self.tf
        self.inputs, self.targets, self.masks, self.seeds = inputs, targets, masks, seeds
        self.top_layer, self.learning_rate = layers - 1, learning_rate
        self.first_time_step = first_time_step
        self.batch_size, self.n_lanes = batch_size, lanes.shape[1]
        self.lane_weights = tf.cast(lanes, tf.float32) / tf.cast(batch_size, tf.float32)[:, None]
        (
            self.stateful,
            self.reset_after_epoch,
            self.seed_with_training,
            self.reset_after_forecast,
            self.shuffle,
        ) = tf.unstack(flags, axis=1)
        members, padded_layers = weights[0].shape[0], 1 + weights[3].shape[1]
        zero = tf.zeros((members, padded_layers, self.n_lanes, weights[1].shape[1]))
        optimizer = (
            tuple(tf.zeros_like(w) for w in weights),
            tuple(tf.zeros_like(w) for w in weights),
            tf.zeros(members),
        )
        carry = (weights, optimizer, (zero, zero), tf.zeros(members, tf.int32))
        phases = tf.maximum(n_steps, 1)

        def walk_step(step: Tensor, walk: tuple[Carry, Tensor, Tensor]) -> tuple:
            # One training phase per step, so the graph holds the training loop once:
            # the initial epochs before step 0, then an update (if any) before each later
            # step, on the rows known by then; then seeding, as after every phase.
            carry, forecasts, states = walk
            start = n_train + step * self.batch_size
            phase_epochs = tf.where(step < phases, tf.where(step == 0, epochs, update_epochs), 0)
            carry = self._train(carry, phase_epochs, start)
            weights, optimizer, state, epoch = self._seed(
                carry, tf.where(phase_epochs > 0, start, 0)
            )
            # A refit (no test rows) runs the first phase and forecasts nothing.
            forecasting = step < n_steps
            if record_states:
                before = self._where(forecasting, state, tuple(tf.unstack(states[step])))
                states = tf.tensor_scatter_nd_update(states, [[step]], tf.stack(before)[None])
            forecast, stepped = self._forecast(weights, state, start)
            forecast = tf.where(forecasting[:, None], forecast, forecasts[step])
            forecasts = tf.tensor_scatter_nd_update(forecasts, [[step]], forecast[None])
            state = self._where(forecasting, stepped, state)
            return (weights, optimizer, state, epoch), forecasts, states

        # At most one step per row: fixed-size buffers, so the step count is no shape.
        max_steps = inputs.shape[1]
        (weights, _, state, _), forecasts, states = self._loop(
            tf.reduce_max(phases),
            walk_step,
            (
                carry,
                tf.zeros((max_steps, members, self.n_lanes)),
                tf.zeros((max_steps if record_states else 0, 2, *zero.shape)),
            ),
        )
        return forecasts, states, weights, tf.transpose(tf.stack(state), (1, 2, 0, 3, 4))

    def _loop(self, count: Tensor, body: Callable[[Tensor, Any], Any], carry: Any) -> Any:
        """``for i in range(count): carry = body(i, carry)`` as a graph while-loop."""
        tf = self.tf
        _, carry = tf.while_loop(
            lambda i, _: i < count,
            lambda i, carry: (i + 1, body(i, carry)),
            (tf.constant(0), carry),
        )
        return carry

    def _where(self, condition: Tensor, new: Any, old: Any) -> Any:
        """``new`` for the members where ``condition`` ``(members,)`` holds, else ``old``.

        ``new`` and ``old`` are tensors, or tuples of them, with a leading member axis.
        A select, not a blend, so that nothing of ``new`` (not even a NaN) reaches
        a member that keeps ``old``.
        """
        tf = self.tf

        def select(a: Tensor, b: Tensor) -> Tensor:
            return tf.where(tf.reshape(condition, [-1] + [1] * (a.shape.rank - 1)), a, b)

        return tf.nest.map_structure(select, new, old)

    def _zero(self, state: State) -> State:
        """A zero state shaped like ``state``, made where it is used.

        Made inside the loop body rather than captured from outside it: TensorFlow
        copies a captured constant into each loop under names given in no fixed
        order, which would change the compiled program's fingerprint from one
        process to the next and defeat XLA's persistent cache (docs/method.md,
        section 11).
        """
        return self.tf.nest.map_structure(self.tf.zeros_like, state)

    def _starting(self, state: State) -> State:
        """The state a batch starts from: the carried one if stateful, else zero."""
        return self._where(self.stateful, state, self._zero(state))

    def _train(self, carry: Carry, epochs: Tensor, n_rows: Tensor) -> Carry:
        """Train ``epochs`` epochs on the first ``n_rows`` rows, resetting as the regime says.

        Both are per member; the loops run to the largest count, a member taking
        part in an epoch while it has epochs left and in a batch while it has rows.
        """
        tf = self.tf
        reset = tf.logical_or(self.reset_after_epoch, tf.logical_not(self.stateful))
        batches = n_rows // self.batch_size

        def epoch_step(index: Tensor, carry: Carry) -> Carry:
            weights, optimizer, state, epoch = carry
            training = index < epochs
            order = self._epoch_order(epoch, n_rows)

            def batch_step(batch: Tensor, inner: tuple) -> tuple:
                rows = self._lane_rows(batch * self.batch_size, n_rows)
                rows = tf.gather(order, rows, batch_dims=1)
                active = tf.logical_and(training, batch < batches)
                return self._train_step(*inner, rows, active)

            weights, optimizer, state = self._loop(
                tf.reduce_max(tf.where(training, batches, 0)),
                batch_step,
                (weights, optimizer, state),
            )
            state = self._where(tf.logical_and(training, reset), self._zero(state), state)
            return weights, optimizer, state, tf.where(training, epoch + 1, epoch)

        return self._loop(tf.reduce_max(epochs), epoch_step, carry)

    def _lane_rows(self, start: Tensor, n_rows: Tensor) -> Tensor:
        """Each member's rows of the batch starting at ``start``, one per lane, clamped.

        ``start`` is per member, ``n_rows`` per member or one for all; unused lanes
        read the last row.
        """
        tf = self.tf
        rows = start[:, None] + tf.range(self.n_lanes)[None, :]
        return tf.minimum(rows, tf.reshape(n_rows, (-1, 1)) - 1)

    def _epoch_order(self, epoch: Tensor, n_rows: Tensor) -> Tensor:
        """Each member's row order in its epoch ``(members, rows)``: shuffled, or as they are.

        The shuffled orders are computed only when some member shuffles.
        """
        tf = self.tf
        members, max_rows = self.seeds.shape[0], self.inputs.shape[1]
        in_order = tf.broadcast_to(tf.range(max_rows), (members, max_rows))
        return tf.cond(
            tf.reduce_any(self.shuffle),
            lambda: tf.where(
                self.shuffle[:, None],
                shuffle_orders_tf(tf, self.seeds, epoch, n_rows, max_rows),
                in_order,
            ),
            lambda: in_order,
        )

    def _train_step(
        self, weights: Weights, optimizer: tuple, state: State, rows: Tensor, active: Tensor
    ) -> tuple[Weights, tuple, State]:
        """One batch for the ``active`` members: forward, MSE summed over members, Adam.

        The members' losses are summed, so each member's gradient is its own.
        """
        tf = self.tf
        x = tf.gather(self.inputs, rows, batch_dims=1)
        y = tf.gather(self.targets, rows, batch_dims=1)
        with tf.GradientTape() as tape:
            tape.watch(weights)
            forecast, new_state = self._forward(weights, self._starting(state), x)
            loss = tf.reduce_sum(tf.square(y - forecast) * self.lane_weights)
        # A graph without stacked layers holds them as empty arrays, which no loss reaches.
        gradients = tape.gradient(loss, weights, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        gradients = tuple(g * m for g, m in zip(gradients, self.masks, strict=True))
        new_weights, new_optimizer = self._adam(weights, optimizer, gradients)
        return (
            self._where(active, new_weights, weights),
            self._where(active, new_optimizer, optimizer),
            self._where(active, new_state, state),
        )

    def _adam(
        self, weights: Weights, optimizer: tuple, gradients: Weights
    ) -> tuple[Weights, tuple]:
        """Keras 3's Adam update, elementwise, with each member's own step and rate."""
        tf = self.tf
        momentums, velocities, step = optimizer
        step = step + 1.0
        alpha = (
            self.learning_rate * tf.sqrt(1 - tf.pow(_BETA_2, step)) / (1 - tf.pow(_BETA_1, step))
        )
        momentums = tuple(
            m + (g - m) * (1 - _BETA_1) for m, g in zip(momentums, gradients, strict=True)
        )
        velocities = tuple(
            v + (tf.square(g) - v) * (1 - _BETA_2)
            for v, g in zip(velocities, gradients, strict=True)
        )
        weights = tuple(
            w - (m * tf.reshape(alpha, [-1] + [1] * (w.shape.rank - 1))) / (tf.sqrt(v) + _EPSILON)
            for w, m, v in zip(weights, momentums, velocities, strict=True)
        )
        return weights, (momentums, velocities, step)

    def _forward(self, weights: Weights, state: State, x: Tensor) -> tuple[Tensor, State]:
        """The stacked LSTM over the time steps, then Dense(1): ``(members, batch)``.

        At each time step the input climbs the stack: layer ``l`` reads layer
        ``l - 1``'s new output (as ``return_sequences`` feeds it in Keras). Time
        steps before a member's ``first_time_step`` are padding (a shorter lag in
        the ``timesteps`` framing) and leave every layer's state as it was.
        """
        tf = self.tf
        kernel, recurrent_kernel, bias, upper_kernels, upper_recurrent, upper_biases = weights[:6]
        dense_kernel, dense_bias = weights[6:]
        cells = [(kernel, recurrent_kernel, bias)] + [
            (upper_kernels[:, layer], upper_recurrent[:, layer], upper_biases[:, layer])
            for layer in range(upper_kernels.shape[1])
        ]
        h, c = state
        for step in range(x.shape[2]):
            layer_h, layer_c = tf.unstack(h, axis=1), tf.unstack(c, axis=1)
            new_h, new_c, below = [], [], x[:, :, step, :]
            for layer, cell in enumerate(cells):
                below, cell_c = _lstm_cell(tf, cell, below, layer_h[layer], layer_c[layer])
                new_h.append(below)
                new_c.append(cell_c)
            stepped = (tf.stack(new_h, axis=1), tf.stack(new_c, axis=1))
            if x.shape[2] == 1:
                h, c = stepped
            else:
                h, c = self._where(step >= self.first_time_step, stepped, (h, c))
        top = tf.gather(h, self.top_layer, axis=1, batch_dims=1)
        forecast = tf.matmul(top, dense_kernel)[:, :, 0] + dense_bias
        return forecast, (h, c)

    def _seed(self, carry: Carry, n_rows: Tensor) -> Carry:
        """A seeding member forecasts its first ``n_rows`` rows batch by batch."""
        tf = self.tf
        weights, optimizer, state, epoch = carry
        batches = tf.where(self.seed_with_training, n_rows // self.batch_size, 0)

        def seed_step(batch: Tensor, state: State) -> State:
            seeded = self._forecast(weights, state, batch * self.batch_size)[1]
            return self._where(batch < batches, seeded, state)

        return weights, optimizer, self._loop(tf.reduce_max(batches), seed_step, state), epoch

    def _forecast(self, weights: Weights, state: State, start: Tensor) -> tuple[Tensor, State]:
        """Forecast each member's rows ``start .. start + batch``; return them and the next state.

        Every member steps; the caller keeps the result only for the active ones.
        """
        tf = self.tf
        x = tf.gather(self.inputs, self._lane_rows(start, self.inputs.shape[1]), batch_dims=1)
        forecast, state = self._forward(weights, self._starting(state), x)
        reset = tf.logical_or(self.reset_after_forecast, tf.logical_not(self.stateful))
        return forecast, self._where(reset, self._zero(state), state)


def _lstm_cell(
    tf: ModuleType, weights: tuple[Tensor, Tensor, Tensor], x: Tensor, h: Tensor, c: Tensor
) -> tuple[Tensor, Tensor]:
    """Keras's fused LSTM cell for one layer and time step; returns the new ``(h, c)``."""
    kernel, recurrent_kernel, bias = weights
    z = tf.matmul(x, kernel)
    z = z + tf.matmul(h, recurrent_kernel)
    z = z + bias[:, None, :]
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
    new_c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
    return tf.sigmoid(z_o) * tf.tanh(new_c), new_c
