"""How to run: one configuration, several repeats, scored on the test window.

This is where a configuration's value is computed. At horizon 1 each repeat
walks forward over the test window (docs/method.md, section 5); above, each is
refitted at every forecast origin and forecasts the horizon recursively, as
``tuner forecast`` does (section 13). Either way the forecasts are inverted to
the series' units and scored by every metric; a study reports one score as a
trial's value (section 6): a metric of each repeat, averaged (``mean_rmse``, the
tutorials' protocol: how good one fit is expected to be), or the metric of the
repeats' mean forecast (``ensemble_rmse``: how good the forecast is that uses
them all, as ``tuner forecast`` does).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import root_mean_squared_error

from tuner._checks import require_choice
from tuner.data.calendar import season_of
from tuner.data.preparation import PreparedData
from tuner.data.source import without_end
from tuner.engines import (
    EngineResult,
    EngineTask,
    GraphShape,
    Progress,
    get_engine,
)
from tuner.evaluation.baselines import persistence_rmse
from tuner.evaluation.config import EvaluationConfig
from tuner.evaluation.metrics import (
    METRICS,
    OBJECTIVES,
    ForecastErrors,
    finite_or_none,
    forecast_errors,
    skill,
    summarize,
)
from tuner.evaluation.recursive import Refitting, step_forward
from tuner.exceptions import ConfigError, DivergedError
from tuner.method.protocol import WalkForward, check_batch_size, repeat_setups

__all__ = [
    "Evaluation",
    "evaluate",
    "evaluate_many",
    "planned_epochs",
]


@dataclass(frozen=True)
class Evaluation:
    """Scores of one configuration over its repeats.

    Attributes:
        config: What was evaluated.
        rmses: Test RMSE of each repeat, in series units.
        forecasts: Each repeat's test forecasts in series units, shape ``(repeats,
            points)``: origin after origin, each the ``horizon`` steps it forecast
            (at horizon 1, every observation of the test window in order).
        actual: The observation each point forecasts.
        persistence_rmse: RMSE of the persistence forecast (the last observation
            before each origin) of the same points.
        seconds: Wall time of the fits and forecasts (not imports or data loading).
        starts: The index in ``history`` of each origin's first forecast observation.
        history: The series the test window ends, up to its last observation.
        season: MASE's seasonal naive lag (1: none).
        states: LSTM states before each forecast step, when they were recorded.
        compile_seconds: The part of ``seconds`` spent building new graphs.
    """

    config: EvaluationConfig
    rmses: np.ndarray
    forecasts: np.ndarray
    actual: np.ndarray
    persistence_rmse: float
    seconds: float
    starts: tuple[int, ...]
    history: np.ndarray
    season: int = 1
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
        return float(root_mean_squared_error(self.actual, self.ensemble))

    @functools.cached_property
    def ensemble(self) -> np.ndarray:
        """The repeats' mean forecast of each point, in series units."""
        return self.forecasts.mean(axis=0)

    @property
    def horizon(self) -> int:
        """Steps each origin forecast."""
        return self.config.scoring.horizon

    @property
    def residuals(self) -> np.ndarray:
        """Actual minus the repeats' mean forecast, ``(origins, horizon)``.

        The conformity scores of the configuration's prediction intervals
        (docs/method.md, section 14).
        """
        return (self.actual - self.ensemble).reshape(self._shape)

    @property
    def _shape(self) -> tuple[int, int]:
        """``(origins, horizon)``: how the points fall into origins and steps."""
        return len(self.starts), self.horizon

    @functools.cached_property
    def errors(self) -> ForecastErrors:
        """Every metric of each repeat's forecasts and of their mean, the last row."""
        shape = self._shape
        forecasts = np.concatenate([self.forecasts, self.ensemble[None]])
        return forecast_errors(
            self.actual.reshape(shape),
            forecasts.reshape(len(forecasts), *shape),
            self.starts,
            self.history,
            self.season,
        )

    @property
    def metrics(self) -> dict[str, float | None]:
        """Every objective's value: each metric of the repeats, averaged, and of their mean.

        RMSE's two are :attr:`mean` and :attr:`ensemble_rmse`, computed as they
        always were; ``None`` where a metric is undefined (MASE on a constant history).
        """
        overall = self.errors.overall
        values = {"mean_rmse": self.mean, "ensemble_rmse": self.ensemble_rmse}
        for metric in METRICS[1:]:
            values[f"mean_{metric}"] = float(np.mean(overall[metric][:-1]))
            values[f"ensemble_{metric}"] = float(overall[metric][-1])
        return {key: finite_or_none(values[key]) for key in OBJECTIVES}

    @property
    def by_step(self) -> dict[str, list[float | None]]:
        """Every objective's value at each horizon step (1 to ``horizon``), over the origins."""
        values = {}
        for metric, errors in self.errors.by_step.items():
            values[f"mean_{metric}"] = errors[:-1].mean(axis=0)
            values[f"ensemble_{metric}"] = errors[-1]
        return {key: [finite_or_none(v) for v in values[key]] for key in OBJECTIVES}

    def score(self, objective: str) -> float:
        """The value of this evaluation under ``objective``, one of ``OBJECTIVES``.

        NaN where the metric is undefined, which fails a trial as a divergence does.
        """
        require_choice("objective", objective, OBJECTIVES)
        if objective == "mean_rmse":  # the two RMSEs need no other metric computed
            return self.mean
        if objective == "ensemble_rmse":
            return self.ensemble_rmse
        value = self.metrics[objective]
        return np.nan if value is None else value

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
            "metrics": self.metrics,
            "by_step": self.by_step,
            "summary": summary,
            "persistence_rmse": self.persistence_rmse,
            "skill": self.skill,
            "seconds": self.seconds,
            "config": self.config.to_dict(),
        }


def planned_epochs(prepared: PreparedData, config: EvaluationConfig) -> int:
    """Repeat-epochs an evaluation trains (its progress), after checking it fits the data.

    Raises:
        ConfigError: The batch size does not divide both the training and test sizes.
        DataError: An origin has fewer training rows than one batch.
    """
    refittings, hp = _refittings(prepared, config), config.hyperparameters
    if refittings:
        return config.repeats * len(refittings) * hp.epochs
    return config.repeats * WalkForward.of(prepared.n_train, prepared.n_test, hp).total_epochs


def _refittings(prepared: PreparedData, config: EvaluationConfig) -> list[Refitting]:
    """The refit at each forecast origin (none at horizon 1), once the configuration fits.

    Raises:
        ConfigError: At horizon 1, the batch size does not divide both the training
            and test sizes.
        DataError: An origin has fewer training rows than one batch.
    """
    scoring, series = config.scoring, prepared.series
    if not scoring.recursive:
        check_batch_size(config.hyperparameters.batch_size, prepared.n_train, prepared.n_test)
        return []
    return [
        Refitting.of(without_end(series, len(series) - start), config)
        for start in scoring.starts(len(series), prepared.n_test)
    ]


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
            :func:`planned_epochs`).
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
        DataError: An origin has fewer training rows than one batch.
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
            tasks = {i: runs[i].tasks(number, shape) for i in members}
            started = time.perf_counter()
            results = iter(engine.run_many([t for i in members for t in tasks[i]], progress))
            share = (time.perf_counter() - started) / len(members)
            for i in members:
                runs[i].add(number, [next(results) for _ in tasks[i]], share)
                last = number == len(runs[i].groups) - 1
                if after_chunk is not None and runs[i].outcome is None and not last:
                    runs[i].report(i, after_chunk)
    return [run.outcome if run.outcome is not None else run.so_far() for run in runs]


class _Run:
    """One configuration's evaluation in progress: its groups of repeats and results so far.

    At horizon 1 a group is one engine task, the walk-forward over the test rows.
    Above, it is one task per forecast origin, each a refit on the observations
    before its origin (the origins are members of the same graph run, docs/method.md,
    section 13), and the forecasts are stepped forward from each.
    """

    def __init__(
        self, prepared: PreparedData, config: EvaluationConfig, chunks: int, record_states: bool
    ) -> None:
        scoring, series = config.scoring, prepared.series
        if scoring.recursive and record_states:
            raise ConfigError("record_states: states are recorded at horizon 1 only")
        self.refittings = _refittings(prepared, config)
        self.starts = tuple(scoring.starts(len(series), prepared.n_test))
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

    @functools.cached_property
    def actual(self) -> np.ndarray:
        """The observation each scored point forecasts, origin after origin."""
        values, horizon = self.prepared.series.values, self.config.scoring.horizon
        return np.concatenate([values[start : start + horizon] for start in self.starts])

    @functools.cached_property
    def persistence_rmse(self) -> float:
        """RMSE of forecasting every step of an origin by the observation before it."""
        values = self.prepared.series.values
        return persistence_rmse(values, len(values), self.prepared.n_test, self.config.scoring)

    def tasks(self, number: int, shape: GraphShape) -> list[EngineTask]:
        """The engine tasks of group ``number``, padded to ``shape``."""
        setups = [self.setups[index] for index in self.groups[number]]
        if self.refittings:
            return [refitting.task(setups, shape) for refitting in self.refittings]
        return [
            EngineTask(
                train=self.prepared.train,
                test=self.prepared.test,
                hyperparameters=self.config.hyperparameters,
                setups=setups,
                record_states=self.record_states,
                shape=shape,
            )
        ]

    def add(self, number: int, results: list[EngineResult], seconds: float) -> None:
        """Score group ``number``'s forecasts; a diverged repeat ends the run."""
        self.seconds += seconds
        self.compile_seconds += sum(result.compile_seconds for result in results)
        group = self.groups[number]
        if self.refittings:
            horizon = self.config.scoring.horizon
            forecasts = np.concatenate(
                [
                    step_forward(refitting.fitted(result), horizon)
                    for refitting, result in zip(self.refittings, results, strict=True)
                ],
                axis=1,
            )
        else:
            forecasts = self.prepared.invert(results[0].forecasts)
        try:
            _check_finite(forecasts, first_repeat=int(group[0]))
        except DivergedError as error:
            self.outcome = error
            return
        self.forecasts.append(forecasts)
        self.states.append(results[0].states)
        self.rmses.extend(
            float(root_mean_squared_error(self.actual, repeat)) for repeat in forecasts
        )

    def report(self, index: int, after_chunk: Callable[[int, Evaluation], None]) -> None:
        """Pass the evaluation so far on; what it raises ends this run alone."""
        try:
            after_chunk(index, self.so_far())
        except Exception as error:
            self.outcome = error

    def so_far(self) -> Evaluation:
        """The evaluation of the repeats done so far."""
        series = self.prepared.series
        return Evaluation(
            config=self.config,
            rmses=np.array(self.rmses),
            forecasts=np.concatenate(self.forecasts),
            actual=self.actual,
            persistence_rmse=self.persistence_rmse,
            seconds=self.seconds,
            starts=self.starts,
            history=series.values,
            season=self.config.scoring.season or season_of(series) or 1,
            states=np.concatenate(self.states) if self.record_states else None,
            compile_seconds=self.compile_seconds,
        )


def _check_finite(forecasts: np.ndarray, first_repeat: int = 0) -> None:
    diverged = np.flatnonzero(~np.isfinite(forecasts).all(axis=1))
    if diverged.size:
        repeats = ", ".join(str(first_repeat + index) for index in diverged)
        raise DivergedError(f"the fit diverged: repeat(s) {repeats} forecast NaN or infinity")
