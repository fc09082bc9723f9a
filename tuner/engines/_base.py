"""The engine contract: how a trial's repeats are trained and walked forward.

The rules it encodes are defined in docs/method.md, sections 3 to 5 and 7.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tuner.method.model import InitialWeights
from tuner.method.protocol import Hyperparameters, RepeatSetup, WalkForward

__all__ = ["Engine", "EngineResult", "EngineTask", "GraphShape", "Progress"]

Progress = Callable[[int], None]
"""Called with the number of repeat-epochs finished since the previous call."""


@dataclass(frozen=True)
class GraphShape:
    """The sizes an engine may pad a task up to, so that one compiled graph serves many.

    A study's trials differ in units, layers, lag, rows and batch size; compiling a graph
    for each shape would cost far more than the fits (docs/method.md, section 11). Padding
    never changes a result: padded units, layers, inputs, rows, lanes and repeats are
    masked out exactly. Zero in a field means the task's own size.

    Attributes:
        repeats: Repeats trained together (a pruning chunk); extra ones are discarded.
        rows: Rows of the series, training and test.
        lag: Inputs per row.
        units: LSTM units.
        batch: Rows per batch (lanes of the LSTM state).
        layers: Stacked LSTM layers.
        trials: Tasks run together by :meth:`Engine.run_many` (a pack); a shorter
            list is padded with copies of its last task, whose results are discarded.
    """

    repeats: int = 0
    rows: int = 0
    lag: int = 0
    units: int = 0
    batch: int = 0
    layers: int = 0
    trials: int = 0

    def covering(self, task: EngineTask) -> GraphShape:
        """This shape, grown where ``task`` is larger."""
        return GraphShape(
            repeats=max(self.repeats, len(task.setups)),
            rows=max(self.rows, len(task.train) + len(task.test)),
            lag=max(self.lag, task.lag),
            units=max(self.units, task.hyperparameters.neurons),
            batch=max(self.batch, task.hyperparameters.batch_size),
            layers=max(self.layers, task.hyperparameters.layers),
            trials=max(self.trials, 1),
        )


@dataclass(frozen=True)
class EngineTask:
    """One trial's work: scaled rows, one configuration, and each repeat's setup.

    Attributes:
        train: Scaled training rows ``[inputs..., target]``, shape ``(n_train, lag + 1)``.
        test: Scaled test rows, shape ``(n_test, lag + 1)``.
        hyperparameters: The configuration every repeat uses.
        setups: One :class:`RepeatSetup` (initial weights, shuffle seed) per repeat.
        record_states: Also return every layer's LSTM state before each forecast step.
        shape: Sizes the engine may pad to (see :class:`GraphShape`); results are
            the same whatever it is.
        keep_final: Also return each repeat's weights and LSTM state at the end of
            the task, to forecast beyond it (docs/method.md, section 12). A task with
            no test rows is a refit: training (and seeding) only.
    """

    train: np.ndarray
    test: np.ndarray
    hyperparameters: Hyperparameters
    setups: Sequence[RepeatSetup]
    record_states: bool = False
    shape: GraphShape = GraphShape()
    keep_final: bool = False

    @property
    def lag(self) -> int:
        """Inputs per row."""
        return self.train.shape[1] - 1

    @property
    def schedule(self) -> WalkForward:
        """The walk-forward schedule every repeat follows."""
        return WalkForward.of(len(self.train), len(self.test), self.hyperparameters)


@dataclass(frozen=True)
class EngineResult:
    """What an engine returns for a task.

    Attributes:
        forecasts: Scaled one-step forecasts of the test targets, shape ``(repeats, n_test)``.
        states: With ``record_states``, every layer's LSTM state ``[h, c]`` just
            before each forecast step, shape ``(repeats, n_steps, layers, 2,
            batch_size, neurons)`` (bottom layer first; zeros for a stateless
            regime); otherwise ``None``. The layer axis is there for one layer too,
            so that no caller needs to know the depth to read a state.
        compile_seconds: Wall time of this run spent building a new graph (the
            whole run when it traced one, split evenly among the tasks of a pack,
            else 0): what a study pays for shapes.
        final_weights: With ``keep_final``, each repeat's weights at the end of the
            task (after training, seeding and the walk-forward); otherwise ``None``.
        final_states: With ``keep_final``, each repeat's state of every layer ``[h, c]``
            at the end of the task, shape ``(repeats, layers, 2, batch_size,
            neurons)``; otherwise ``None``.
    """

    forecasts: np.ndarray
    states: np.ndarray | None = None
    compile_seconds: float = 0.0
    final_weights: list[InitialWeights] | None = None
    final_states: np.ndarray | None = None


class Engine(abc.ABC):
    """Trains and evaluates every repeat of a task; knows nothing of studies or storage.

    Contract, which every engine must keep so that engines are interchangeable
    and one can be tested against another:

    * Each repeat starts from its setup's initial weights, with Adam at Keras's
      defaults but the configured learning rate, MSE loss, and a zero state in
      every LSTM layer.
    * Training follows ``task.schedule``: batches are consecutive rows (in the
      setup's shuffle order for a shuffling regime, one order per epoch, epochs
      counted over every phase), and every layer's state is reset exactly where
      the regime says.
    * After each training phase, a seeding regime forecasts the training rows
      batch by batch (resetting after each if the regime resets after forecasts).
    * The test rows are forecast one batch per step from their actual inputs;
      after every step but the last, ``update_epochs`` > 0 appends the step's
      rows to the training set and trains that many epochs on it, then seeds
      again if the regime seeds.
    * Forecasts are returned scaled; inverting them is not the engine's job.
    * ``progress`` receives repeat-epochs as they finish, summing to
      ``repeats * schedule.total_epochs``.
    * ``task.shape`` changes no number: an engine may pad to it or ignore it.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def run(self, task: EngineTask, progress: Progress | None = None) -> EngineResult:
        """Run every repeat of ``task`` and return their forecasts."""

    def run_many(
        self, tasks: Sequence[EngineTask], progress: Progress | None = None
    ) -> list[EngineResult]:
        """Run several tasks (a pack of trials) and return their results, in order.

        Each result is the one :meth:`run` gives for its task alone, to the
        equality tolerance: the tasks never see one another. This default runs
        them one after another; an engine that can train them together, in one
        graph, overrides it (docs/method.md, section 11).

        Raises:
            ValueError: ``tasks`` is empty.
        """
        if not tasks:
            raise ValueError("tasks: at least one task is needed, got none")
        return [self.run(task, progress) for task in tasks]
