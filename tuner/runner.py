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
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import root_mean_squared_error

from tuner._checks import require_choice, require_int
from tuner.data import Series, load_series
from tuner.engines import DEFAULT_ENGINE, ENGINES, EngineTask, GraphShape, Progress, get_engine
from tuner.exceptions import ConfigError, DivergedError
from tuner.metrics import OBJECTIVES, skill, summarize
from tuner.preparation import Preparation, PreparedData, prepare
from tuner.protocol import Hyperparameters, WalkForward, check_batch_size, repeat_setups
from tuner.resources import MAX_REPEATS

__all__ = ["DataSource", "Evaluation", "EvaluationConfig", "evaluate", "load_and_prepare", "plan"]


@dataclass(frozen=True)
class DataSource:
    """Where the series comes from: a built-in name or a CSV path, and its columns.

    Attributes:
        data: Built-in name or CSV path.
        date_column: Column of dates (default: the first).
        value_column: Column of values (default: the second).
        withheld: Observations at the end left out of the loaded series: a study's
            holdout, which nothing in its search may see (README, "Three windows").
    """

    data: str
    date_column: str | None = None
    value_column: str | None = None
    withheld: int = 0

    def __post_init__(self) -> None:
        require_int("withheld", self.withheld, 0)

    def load(self) -> Series:
        """Load the series (see :func:`tuner.data.load_series`), less the withheld end."""
        series = load_series(self.data, self.date_column, self.value_column)
        if not self.withheld:
            return series
        keep = len(series) - self.withheld
        return dataclasses.replace(series, values=series.values[:keep], index=series.index[:keep])


@dataclass(frozen=True)
class EvaluationConfig:
    """Everything that determines an evaluation's numbers.

    Attributes:
        source: The series.
        preparation: Lag, test size, training-set trimming, value transform and
            seasonal difference.
        hyperparameters: The LSTM configuration.
        repeats: Independent fits, each from its own initial weights.
        seed: Base seed from which every repeat's randomness is derived.
        engine: Name of the engine that computes the fits.
    """

    source: DataSource
    preparation: Preparation
    hyperparameters: Hyperparameters
    repeats: int = 10
    seed: int = 0
    engine: str = DEFAULT_ENGINE

    def __post_init__(self) -> None:
        require_int("repeats", self.repeats, 1, MAX_REPEATS)
        require_int("seed", self.seed, 0)
        require_choice("engine", self.engine, ENGINES)

    @classmethod
    def from_dict(cls, settings: dict[str, object]) -> EvaluationConfig:
        """Rebuild a configuration from :meth:`to_dict`'s output (absent keys: defaults).

        Raises:
            ConfigError: A key is unknown or a value breaks a rule.
        """
        groups = {
            "source": DataSource,
            "preparation": Preparation,
            "hyperparameters": Hyperparameters,
        }
        fields = {name: {f.name for f in dataclasses.fields(kind)} for name, kind in groups.items()}
        top = {"repeats", "seed", "engine"}
        unknown = sorted(set(settings) - top - set().union(*fields.values()))
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r}")
        try:
            parts = {
                name: kind(**{k: v for k, v in settings.items() if k in fields[name]})
                for name, kind in groups.items()
            }
        except TypeError as error:
            raise ConfigError(f"incomplete configuration: {error}") from None
        return cls(**parts, **{k: v for k, v in settings.items() if k in top})

    def to_dict(self) -> dict[str, object]:
        """A flat dictionary of every setting, for JSON output and stored trials."""
        source = asdict(self.source)
        if not source["withheld"]:  # the default: a configuration scored on its whole series
            del source["withheld"]
        return {
            **source,
            **self.preparation.settings(),
            **asdict(self.hyperparameters),
            "repeats": self.repeats,
            "seed": self.seed,
            "engine": self.engine,
        }


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
    plan(prepared, config.hyperparameters)
    setups = repeat_setups(
        config.seed, config.repeats, config.hyperparameters, prepared.preparation.lag
    )
    engine = get_engine(config.engine)
    size = -(-config.repeats // chunks)
    groups = [
        np.arange(first, min(first + size, config.repeats))
        for first in range(0, config.repeats, size)
    ]
    shape = dataclasses.replace(shape or GraphShape(), repeats=size)
    forecasts, states, rmses, seconds, compile_seconds = [], [], [], 0.0, 0.0

    def so_far() -> Evaluation:
        return Evaluation(
            config=config,
            rmses=np.array(rmses),
            forecasts=np.concatenate(forecasts),
            actual=prepared.actual,
            persistence_rmse=prepared.persistence_rmse,
            seconds=seconds,
            states=np.concatenate(states) if record_states else None,
            compile_seconds=compile_seconds,
        )

    for number, group in enumerate(groups):
        task = EngineTask(
            train=prepared.train,
            test=prepared.test,
            hyperparameters=config.hyperparameters,
            setups=[setups[index] for index in group],
            record_states=record_states,
            shape=shape,
        )
        started = time.perf_counter()
        result = engine.run(task, progress)
        seconds += time.perf_counter() - started
        compile_seconds += result.compile_seconds
        group_forecasts = prepared.invert(result.forecasts)
        _check_finite(group_forecasts, first_repeat=int(group[0]))
        forecasts.append(group_forecasts)
        states.append(result.states)
        rmses.extend(prepared.rmse(repeat) for repeat in group_forecasts)
        if after_chunk is not None and number < len(groups) - 1:
            after_chunk(so_far())
    return so_far()


def load_and_prepare(config: EvaluationConfig) -> PreparedData:
    """Load the configured series and prepare it."""
    return prepare(config.source.load(), config.preparation)


def _check_finite(forecasts: np.ndarray, first_repeat: int = 0) -> None:
    diverged = np.flatnonzero(~np.isfinite(forecasts).all(axis=1))
    if diverged.size:
        repeats = ", ".join(str(first_repeat + index) for index in diverged)
        raise DivergedError(f"the fit diverged: repeat(s) {repeats} forecast NaN or infinity")
