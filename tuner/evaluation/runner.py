"""How to run: one configuration, several repeats, scored under walk-forward validation.

This is where a configuration's value is computed: each repeat's forecasts are
inverted to the series' units and scored by RMSE. A study reports one of two
scores as a trial's value (docs/method.md, section 6): the mean of the repeats'
RMSEs (``mean_rmse``, the tutorials' protocol: how good one fit is expected to
be), or the RMSE of the repeats' mean forecast (``ensemble_rmse``: how good the
forecast is that uses them all, as ``tuner forecast`` does).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import root_mean_squared_error

from tuner._checks import require_choice
from tuner.data.preparation import PreparedData
from tuner.engines import (
    EngineResult,
    EngineTask,
    GraphShape,
    Progress,
    get_engine,
)
from tuner.evaluation.config import EvaluationConfig
from tuner.evaluation.metrics import OBJECTIVES, skill, summarize
from tuner.exceptions import ConfigError, DivergedError
from tuner.method.protocol import Hyperparameters, WalkForward, check_batch_size, repeat_setups

__all__ = [
    "Evaluation",
    "evaluate",
    "evaluate_many",
    "plan",
]


@dataclass(frozen=True)
class Evaluation:
    """Scores of one configuration over its repeats.

    Attributes:
        config: What was evaluated.
        rmses: Test RMSE of each repeat, in series units.
        forecasts: Each repeat's test forecasts in series units, shape ``(repeats, n_test)``.
        actual: The test period's observations.
        persistence_rmse: RMSE of the persistence forecast on the same test period.
        seconds: Wall time of the fits and forecasts (not imports or data loading).
        compile_seconds: The part of ``seconds`` spent building new graphs.
        states: LSTM states before each forecast step, when they were recorded.
    """

    config: EvaluationConfig
    rmses: np.ndarray
    forecasts: np.ndarray
    actual: np.ndarray
    persistence_rmse: float
    seconds: float
    states: np.ndarray | None = None
    compile_seconds: float = 0.0

    @property
    def summary(self) -> dict[str, float | None]:
        """describe()-style statistics of the repeat RMSEs."""
        return summarize(self.rmses)

    @property
    def mean(self) -> float:
        """Mean RMSE over repeats: the value a ``mean_rmse`` study reports."""
        return float(np.mean(self.rmses))

    @property
    def ensemble_rmse(self) -> float:
        """RMSE of the repeats' mean forecast: the value an ``ensemble_rmse`` study reports.

        The mean is taken in the series' units, after inverting each repeat, so it
        is the forecast a user gets from all the repeats together.
        """
        return float(root_mean_squared_error(self.actual, self.forecasts.mean(axis=0)))

    def score(self, objective: str) -> float:
        """The value of this evaluation under ``objective``, one of ``OBJECTIVES``."""
        require_choice("objective", objective, OBJECTIVES)
        return self.ensemble_rmse if objective == "ensemble_rmse" else self.mean

    @property
    def skill(self) -> float | None:
        """``1 - mean / persistence``: above 0 beats persistence."""
        return skill(self.mean, self.persistence_rmse)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready result: RMSEs, their summary, baseline, skill, time and config."""
        summary = self.summary
        return {
            "rmses": [float(rmse) for rmse in self.rmses],
            "mean": summary["mean"],
            "std": summary["std"],
            "ensemble_rmse": self.ensemble_rmse,
            "summary": summary,
            "persistence_rmse": self.persistence_rmse,
            "skill": self.skill,
            "seconds": self.seconds,
            "config": self.config.to_dict(),
        }


def plan(prepared: PreparedData, hyperparameters: Hyperparameters) -> WalkForward:
    """The schedule each repeat will follow, after checking the batch size fits the data.

    Raises:
        ConfigError: The batch size does not divide both the training and test sizes.
    """
    check_batch_size(hyperparameters.batch_size, prepared.n_train, prepared.n_test)
    return WalkForward.of(prepared.n_train, prepared.n_test, hyperparameters)


def evaluate(
    prepared: PreparedData,
    config: EvaluationConfig,
    progress: Progress | None = None,
    record_states: bool = False,
    chunks: int = 1,
    after_chunk: Callable[[Evaluation], None] | None = None,
    shape: GraphShape | None = None,
) -> Evaluation:
    """Fit ``config.repeats`` models and score their walk-forward forecasts.

    Args:
        prepared: The series prepared as ``config.preparation`` says.
        config: The configuration to evaluate.
        progress: Receives repeat-epochs as they finish (total:
            ``config.repeats * plan(prepared, config.hyperparameters).total_epochs``).
        record_states: Keep the LSTM state before each forecast step.
        chunks: Run the repeats in this many groups of ``ceil(repeats / chunks)``
            (the last may be smaller, and is padded to the same shape), one after
            another. Each repeat's randomness depends only on the seed and its
            index, so the result is the same however the repeats are grouped.
        after_chunk: Called with the evaluation of the repeats done so far after
            each group but the last; raising from it abandons the evaluation
            (pruning).
        shape: Sizes the engine pads every group to, so that configurations of
            different sizes share one compiled graph (its ``repeats`` is the
            group size); results do not depend on it.

    Raises:
        ConfigError: The batch size does not fit the data.
        DivergedError: A repeat's forecasts are not finite.
    """
    report = None if after_chunk is None else lambda _, so_far: after_chunk(so_far)
    (outcome,) = evaluate_many([(prepared, config)], progress, record_states, chunks, report, shape)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def evaluate_many(
    items: Sequence[tuple[PreparedData, EvaluationConfig]],
    progress: Progress | None = None,
    record_states: bool = False,
    chunks: int = 1,
    after_chunk: Callable[[int, Evaluation], None] | None = None,
    shape: GraphShape | None = None,
) -> list[Evaluation | Exception]:
    """Evaluate several configurations together: a pack of trials in one graph.

    Each group of repeats of every configuration still alive is run in one
    :meth:`~tuner.engines.Engine.run_many` call per framing (the layout of the
    inputs, the one thing a graph cannot mix), so a pack costs one engine call
    per chunk instead of one per trial (docs/method.md, section 11). Every
    configuration's numbers are those :func:`evaluate` gives it alone.

    Args:
        items: The configurations and their prepared series; one engine for all.
        progress: As for :func:`evaluate`, summed over the items.
        record_states: As for :func:`evaluate`.
        chunks: As for :func:`evaluate`, for each item.
        after_chunk: Called with an item's index and its evaluation so far after
            each of its groups but the last; raising from it ends that item alone
            (a pruned trial leaves the pack), with the exception as its outcome.
        shape: As for :func:`evaluate`; ``shape.trials`` is the number of
            configurations each engine call is padded to.

    Returns:
        One outcome per item, in order: its :class:`Evaluation`, or the exception
        that ended it (:class:`DivergedError`, or whatever ``after_chunk`` raised).

    Raises:
        ConfigError: A batch size does not fit the data, or the items name different
            engines.
    """
    engines = sorted({config.engine for _, config in items})
    if len(engines) != 1:
        raise ConfigError(f"engine: a pack needs one engine for all its items; got {engines}")
    engine = get_engine(engines[0])
    runs = [_Run(prepared, config, chunks, record_states) for prepared, config in items]
    shape = dataclasses.replace(
        shape or GraphShape(), repeats=max(len(run.groups[0]) for run in runs)
    )
    for number in range(max(len(run.groups) for run in runs)):
        alive = [
            i for i, run in enumerate(runs) if run.outcome is None and number < len(run.groups)
        ]
        for framing in sorted({runs[i].config.hyperparameters.framing for i in alive}):
            members = [i for i in alive if runs[i].config.hyperparameters.framing == framing]
            tasks = [runs[i].task(number, shape) for i in members]
            started = time.perf_counter()
            results = engine.run_many(tasks, progress)
            share = (time.perf_counter() - started) / len(tasks)
            for i, result in zip(members, results, strict=True):
                runs[i].add(number, result, share)
                last = number == len(runs[i].groups) - 1
                if after_chunk is not None and runs[i].outcome is None and not last:
                    runs[i].report(i, after_chunk)
    return [run.outcome if run.outcome is not None else run.so_far() for run in runs]


class _Run:
    """One configuration's evaluation in progress: its groups of repeats and results so far."""

    def __init__(
        self, prepared: PreparedData, config: EvaluationConfig, chunks: int, record_states: bool
    ) -> None:
        plan(prepared, config.hyperparameters)
        self.prepared, self.config, self.record_states = prepared, config, record_states
        self.setups = repeat_setups(
            config.seed, config.repeats, config.hyperparameters, prepared.preparation.lag
        )
        size = -(-config.repeats // chunks)
        self.groups = [
            np.arange(first, min(first + size, config.repeats))
            for first in range(0, config.repeats, size)
        ]
        self.forecasts: list[np.ndarray] = []
        self.states: list[np.ndarray | None] = []
        self.rmses: list[float] = []
        self.seconds = self.compile_seconds = 0.0
        self.outcome: Exception | None = None

    def task(self, number: int, shape: GraphShape) -> EngineTask:
        """The engine task of group ``number``, padded to ``shape``."""
        return EngineTask(
            train=self.prepared.train,
            test=self.prepared.test,
            hyperparameters=self.config.hyperparameters,
            setups=[self.setups[index] for index in self.groups[number]],
            record_states=self.record_states,
            shape=shape,
        )

    def add(self, number: int, result: EngineResult, seconds: float) -> None:
        """Score group ``number``'s forecasts; a diverged repeat ends the run."""
        self.seconds += seconds
        self.compile_seconds += result.compile_seconds
        group = self.groups[number]
        forecasts = self.prepared.invert(result.forecasts)
        try:
            _check_finite(forecasts, first_repeat=int(group[0]))
        except DivergedError as error:
            self.outcome = error
            return
        self.forecasts.append(forecasts)
        self.states.append(result.states)
        self.rmses.extend(self.prepared.rmse(repeat) for repeat in forecasts)

    def report(self, index: int, after_chunk: Callable[[int, Evaluation], None]) -> None:
        """Pass the evaluation so far on; what it raises ends this run alone."""
        try:
            after_chunk(index, self.so_far())
        except Exception as error:
            self.outcome = error

    def so_far(self) -> Evaluation:
        """The evaluation of the repeats done so far."""
        return Evaluation(
            config=self.config,
            rmses=np.array(self.rmses),
            forecasts=np.concatenate(self.forecasts),
            actual=self.prepared.actual,
            persistence_rmse=self.prepared.persistence_rmse,
            seconds=self.seconds,
            states=np.concatenate(self.states) if self.record_states else None,
            compile_seconds=self.compile_seconds,
        )


def _check_finite(forecasts: np.ndarray, first_repeat: int = 0) -> None:
    diverged = np.flatnonzero(~np.isfinite(forecasts).all(axis=1))
    if diverged.size:
        repeats = ", ".join(str(first_repeat + index) for index in diverged)
        raise DivergedError(f"the fit diverged: repeat(s) {repeats} forecast NaN or infinity")
