"""Forecasting with a chosen configuration: refit on the whole series, then step past its end.

Tuning ends in a configuration; a user wants its forecast. This module checks the
request (which configuration, which series, how many steps), then refits the
configuration on every observation and forecasts recursively with
:mod:`tuner.evaluation.recursive`, the code a study at a horizon above 1 scores
its origins with. Everything here is defined in docs/method.md, section 12.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tuner._checks import require_int
from tuner.data.calendar import future_index
from tuner.data.dates import date_label
from tuner.data.frames import DATE, ID, timestamps
from tuner.data.series import BUILTIN_SERIES, Series
from tuner.engines import Progress
from tuner.evaluation.config import EvaluationConfig
from tuner.evaluation.intervals import DEFAULT_LEVELS, half_widths, interval_columns
from tuner.evaluation.recursive import Refit, refit, step_forward, training_rows
from tuner.exceptions import DivergedError
from tuner.method.limits import MAX_HORIZON
from tuner.outputs.export import (
    exported_residuals,
    exported_series,
    new_observations,
    pick_configuration,
)
from tuner.search.memory import check_configuration_fits

__all__ = [
    "QUANTILES",
    "Forecast",
    "ForecastPlan",
    "forecast",
    "plan_exported",
    "whole_series_config",
]

logger = logging.getLogger(__name__)

QUANTILES = (0.05, 0.95)
"""The spread of the repeats reported beside their mean."""


@dataclass(frozen=True)
class Forecast:
    """Each repeat's forecast of the steps past the end of the series.

    Attributes:
        refit: The fitted models the forecast came from.
        steps: Each step's date, continuing the series' index (periods, dates or numbers).
        values: Each repeat's forecasts in series units, ``(repeats, horizon)``.
        new_observations: Observations the series gained since the export.
        intervals: Each level's half-width at each step, from the configuration's
            validation residuals (docs/method.md, section 14); NaN past the steps
            they scored. Empty when the export holds no residuals.
        calibration_origins: How many validation origins' residuals the intervals
            rest on (docs/method.md, section 14).
    """

    refit: Refit
    steps: pd.Index
    values: np.ndarray
    new_observations: int = 0
    intervals: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    calibration_origins: int = 0

    @property
    def dates(self) -> list[str]:
        """Each step's date as text, as ``forecast.csv`` writes it."""
        return [date_label(step) for step in self.steps]

    def frame(self, unique_id: str, model: str = "lstm") -> pd.DataFrame:
        """The forecast in the long form of statsforecast: one row per step, one column per model.

        Columns ``unique_id``, ``ds`` (a timestamp: a period's first instant; whole
        numbers stay numbers), ``model`` (the repeats' mean) and, per level, the
        prediction interval ``model-lo-80``, ``model-hi-80``..., so that
        utilsforecast's ``evaluate`` and ``plot_series`` take it as it is.
        """
        mean = self.values.mean(axis=0)
        frame = pd.DataFrame({ID: unique_id, DATE: timestamps(self.steps), model: mean})
        for level, width in sorted(self.intervals.items()):
            low, high = interval_columns(level)
            frame[f"{model}-{low}"], frame[f"{model}-{high}"] = mean - width, mean + width
        return frame

    def table(self) -> pd.DataFrame:
        """One row per step: its date, every repeat, their mean, intervals, spread.

        Each level's prediction interval is ``lo-80``, ``hi-80`` and so on
        (statsforecast's names); the repeats' 5% and 95% quantiles, ``q05`` and
        ``q95``, are the spread of the initial weights, not an interval.
        """
        frame = pd.DataFrame({"date": self.dates})
        for repeat, values in enumerate(self.values):
            frame[f"repeat_{repeat}"] = values
        mean = frame["mean"] = self.values.mean(axis=0)
        for level, width in sorted(self.intervals.items()):
            low, high = interval_columns(level)
            frame[low], frame[high] = mean - width, mean + width
        for quantile in QUANTILES:
            frame[f"q{round(quantile * 100):02d}"] = np.quantile(self.values, quantile, axis=0)
        return frame


def forecast(
    series: Series,
    config: EvaluationConfig,
    horizon: int,
    progress: Progress | None = None,
    new_observations: int = 0,
    residuals: np.ndarray | None = None,
    levels: Sequence[int] = DEFAULT_LEVELS,
) -> Forecast:
    """Refit ``config`` on ``series`` and forecast ``horizon`` steps past its end.

    Args:
        series: The whole series.
        config: The configuration to refit.
        horizon: Steps to forecast.
        progress: Receives repeat-epochs of the refit as they finish.
        new_observations: Observations gained since the export, recorded with the result.
        residuals: The configuration's validation residuals ``(origins, steps)``, whose
            conformal quantiles are the intervals' half-widths; ``None``: no intervals.
        levels: The intervals' levels, in percent.

    Raises:
        ConfigError: ``horizon`` is not a positive integer.
        DataError: The series is too short, or its dates have no frequency to continue.
        DivergedError: A repeat's forecasts are not finite.
    """
    require_int("horizon", horizon, 1)
    steps = future_index(series, horizon)
    fitted = refit(series, config, progress)
    values = step_forward(fitted, horizon)
    diverged = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if diverged.size:
        repeats = ", ".join(map(str, diverged))
        raise DivergedError(f"the refit diverged: repeat(s) {repeats} forecast NaN or infinity")
    intervals = {} if residuals is None else _intervals(residuals, levels, horizon)
    origins = 0 if residuals is None else len(residuals)
    return Forecast(fitted, steps, values, new_observations, intervals, origins)


def _intervals(residuals: np.ndarray, levels: Sequence[int], horizon: int) -> dict:
    """Each level's half-width at each of ``horizon`` steps; NaN past the scored steps."""
    widths = {}
    for level, width in half_widths(residuals, levels).items():
        widths[level] = np.full(horizon, np.nan)
        widths[level][: min(horizon, len(width))] = width[:horizon]
    return widths


@dataclass(frozen=True)
class ForecastPlan:
    """A forecast checked and ready to run: the series, the configuration, the horizon.

    Attributes:
        series: The series as it is now.
        config: The configuration to refit (over the whole series).
        horizon: Steps to forecast.
        new_observations: Observations the series gained since the export.
        residuals: The configuration's validation residuals, if the export has them.
        levels: The prediction intervals' levels, in percent.
    """

    series: Series
    config: EvaluationConfig
    horizon: int
    new_observations: int = 0
    residuals: np.ndarray | None = None
    levels: tuple[int, ...] = DEFAULT_LEVELS

    @property
    def total_epochs(self) -> int:
        """Repeat-epochs the refit trains: the unit of its progress."""
        return self.config.repeats * self.config.hyperparameters.epochs

    def run(self, progress: Progress | None = None) -> Forecast:
        """Refit and forecast (see :func:`forecast`)."""
        return forecast(
            self.series,
            self.config,
            self.horizon,
            progress,
            self.new_observations,
            self.residuals,
            self.levels,
        )


def plan_exported(
    document: dict[str, object],
    source: str,
    rank: int = 1,
    horizon: int | None = None,
    repeats: int | None = None,
    levels: Sequence[int] = DEFAULT_LEVELS,
) -> ForecastPlan:
    """Check a forecast with the exported configuration of ``rank`` before any work.

    Args:
        document: An export document (see :mod:`tuner.outputs.export`).
        source: Where the document came from (a file or a study), for messages.
        rank: Which configuration (1 = best).
        horizon: Steps to forecast (default: the horizon the configuration was
            scored at, or its ``test_size`` at horizon 1).
        repeats: Fits (default: the exported repeats).
        levels: The prediction intervals' levels, in percent (each 1 to 99).

    Raises:
        ConfigError: No configuration has that rank, ``horizon`` or ``repeats`` is
            not a positive integer, or the export has no series.
        DataError: The series' past changed since the export, it is too short, or
            its dates have no frequency to continue.
    """
    config, _ = pick_configuration(document, rank, repeats)
    config = whole_series_config(config)
    scoring = config.scoring
    default = scoring.horizon if scoring.recursive else config.preparation.test_size
    steps = default if horizon is None else horizon
    require_int("horizon", steps, 1, MAX_HORIZON)
    check_configuration_fits(
        config.hyperparameters, config.repeats, config.preparation.lag, "this forecast"
    )
    for level in levels:
        require_int("level", level, 1, 99)
    series, added = _series_to_forecast(document, config, source)
    training_rows(series, config)
    future_index(series, steps)
    residuals = exported_residuals(document, rank)
    return ForecastPlan(series, config, steps, added, residuals, tuple(levels))


def _series_to_forecast(
    document: dict[str, object], config: EvaluationConfig, source: str
) -> tuple[Series, int]:
    """The series to refit on, and its observations beyond the exported series.

    The configuration's file when it exists here (it may have grown since the
    export); otherwise the series the export holds, so an export forecasts
    wherever it is copied.
    """
    data = config.source.data
    if data in BUILTIN_SERIES or Path(data).exists():
        series = config.source.load()
        return series, new_observations(document, series, source)
    series = exported_series(document, source)
    logger.warning(
        "%s is not here; forecasting from the series the export holds (%d observations)",
        data,
        len(series),
    )
    return series, 0


def whole_series_config(config: EvaluationConfig) -> EvaluationConfig:
    """``config`` over the whole series: a search's holdout is no longer withheld."""
    return dataclasses.replace(config, source=dataclasses.replace(config.source, withheld=0))
