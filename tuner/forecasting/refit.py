"""Forecasting with a chosen configuration: refit on the whole series, then step past its end.

Tuning ends in a configuration; a user wants its forecast. This module refits the
configuration on every observation (the newest ``train_size`` rows when it trims),
with its repeats and seed, then forecasts recursively: each step's forecast,
inverted to the series' units, is the next step's observed value. The rule for a
stateful model with batch size above 1, and everything else here, is defined in
docs/method.md, section 12.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler

from tuner._checks import require_int
from tuner.data.calendar import future_dates
from tuner.data.preparation import ValueTransform, differences, frame, level_before, row_count
from tuner.data.series import Series
from tuner.engines import EngineTask, Progress, get_engine
from tuner.evaluation.config import EvaluationConfig
from tuner.exceptions import DataError, DivergedError
from tuner.method.cell import lstm_step
from tuner.method.model import InitialWeights, shape_inputs
from tuner.method.protocol import repeat_setups
from tuner.outputs.export import new_observations, pick_configuration

__all__ = [
    "QUANTILES",
    "Forecast",
    "ForecastPlan",
    "Refit",
    "SlotStepper",
    "forecast",
    "plan_exported",
    "refit",
    "scale_inputs",
    "training_rows",
    "unscale_target",
    "whole_series_config",
]

QUANTILES = (0.05, 0.95)
"""The spread of the repeats reported beside their mean."""


@dataclass(frozen=True)
class Refit:
    """A configuration fitted on the whole series, ready to forecast past its end.

    Attributes:
        config: The configuration refitted (its repeats, seed and engine).
        series: The series it was fitted on.
        n_rows: Training rows used: the newest ones (see :func:`training_rows`).
        scaler: MinMaxScaler to [-1, 1] fitted on those rows (inputs and target).
        weights: Each repeat's weights at the end of training.
        states: Each repeat's state ``[h, c]`` of every layer per batch slot at the
            end of training and seeding, shape ``(repeats, layers, 2, batch_size,
            neurons)``.
        transform: The value transform, fitted on the observations of those rows.
    """

    config: EvaluationConfig
    series: Series
    n_rows: int
    scaler: MinMaxScaler
    weights: list[InitialWeights]
    states: np.ndarray
    transform: ValueTransform

    @property
    def carries_state(self) -> bool:
        """Whether a forecast step's state carries to the next step of its slot."""
        regime = self.config.hyperparameters.state_regime
        return regime.stateful and not regime.reset_after_forecast


@dataclass(frozen=True)
class Forecast:
    """Each repeat's forecast of the steps past the end of the series.

    Attributes:
        refit: The fitted models the forecast came from.
        dates: The label of each step, continuing the series' frequency.
        values: Each repeat's forecasts in series units, ``(repeats, horizon)``.
        new_observations: Observations the series gained since the export.
    """

    refit: Refit
    dates: list[str]
    values: np.ndarray
    new_observations: int = 0

    def table(self) -> pd.DataFrame:
        """One row per step: its date, every repeat, their mean and 5% and 95% quantiles."""
        frame = pd.DataFrame({"date": self.dates})
        for repeat, values in enumerate(self.values):
            frame[f"repeat_{repeat}"] = values
        frame["mean"] = self.values.mean(axis=0)
        for quantile in QUANTILES:
            frame[f"q{round(quantile * 100):02d}"] = np.quantile(self.values, quantile, axis=0)
        return frame


def training_rows(series: Series, config: EvaluationConfig) -> np.ndarray:
    """The unscaled rows a forecast refits on: the newest that the configuration allows.

    Every supervised row of the series, trimmed to the newest ``train_size`` when
    the configuration trims, then to the newest multiple of the batch size (a
    stateful LSTM needs whole batches; a series that grew by a few observations
    need not fit the exported batch size).

    Raises:
        DataError: The series has fewer rows than one batch, or the transform
            does not fit it.
    """
    return _training_rows(series, config)[0]


def _training_rows(series: Series, config: EvaluationConfig) -> tuple[np.ndarray, ValueTransform]:
    """:func:`training_rows`, and the transform fitted on exactly their observations."""
    preparation, batch_size = config.preparation, config.hyperparameters.batch_size
    total = row_count(len(series), preparation)
    available = total if preparation.train_size is None else min(total, preparation.train_size)
    usable = available // batch_size * batch_size
    if not usable:
        raise DataError(
            f"{series.name}: has {available} supervised row(s) at {preparation.label()}; "
            f"batch_size {batch_size} needs at least {batch_size}"
        )
    rows, transform = frame(series, preparation, total - usable, total)
    return rows[total - usable :], transform


def refit(series: Series, config: EvaluationConfig, progress: Progress | None = None) -> Refit:
    """Fit ``config`` on the whole series: training and seeding, no test rows.

    Args:
        series: The series, every observation of which may be used.
        config: The configuration (its repeats, seed and engine are used as given).
        progress: Receives repeat-epochs as they finish (``repeats * epochs`` in all).

    Raises:
        DataError: The series has fewer rows than one batch.
    """
    rows, transform = _training_rows(series, config)
    scaler = MinMaxScaler(feature_range=(-1, 1)).fit(rows)
    hp = config.hyperparameters
    lag = config.preparation.lag
    task = EngineTask(
        train=scaler.transform(rows),
        test=np.zeros((0, lag + 1)),
        hyperparameters=hp,
        setups=repeat_setups(config.seed, config.repeats, hp, lag),
        keep_final=True,
    )
    result = get_engine(config.engine).run(task, progress)
    return Refit(
        config=config,
        series=series,
        n_rows=len(rows),
        scaler=scaler,
        weights=list(result.final_weights),
        states=np.asarray(result.final_states, dtype=np.float32),
        transform=transform,
    )


def forecast(
    series: Series,
    config: EvaluationConfig,
    horizon: int,
    progress: Progress | None = None,
    new_observations: int = 0,
) -> Forecast:
    """Refit ``config`` on ``series`` and forecast ``horizon`` steps past its end.

    Args:
        series: The whole series.
        config: The configuration to refit.
        horizon: Steps to forecast.
        progress: Receives repeat-epochs of the refit as they finish.
        new_observations: Observations gained since the export, recorded with the result.

    Raises:
        ConfigError: ``horizon`` is not a positive integer.
        DataError: The series is too short, or its dates have no frequency to continue.
        DivergedError: A repeat's forecasts are not finite.
    """
    require_int("horizon", horizon, 1)
    dates = future_dates(series, horizon)
    fitted = refit(series, config, progress)
    values = _step_forward(fitted, horizon)
    diverged = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if diverged.size:
        repeats = ", ".join(map(str, diverged))
        raise DivergedError(f"the refit diverged: repeat(s) {repeats} forecast NaN or infinity")
    return Forecast(refit=fitted, dates=dates, values=values, new_observations=new_observations)


@dataclass(frozen=True)
class ForecastPlan:
    """A forecast checked and ready to run: the series, the configuration, the horizon.

    Attributes:
        series: The series as it is now.
        config: The configuration to refit (over the whole series).
        horizon: Steps to forecast.
        new_observations: Observations the series gained since the export.
    """

    series: Series
    config: EvaluationConfig
    horizon: int
    new_observations: int = 0

    @property
    def total_epochs(self) -> int:
        """Repeat-epochs the refit trains: the unit of its progress."""
        return self.config.repeats * self.config.hyperparameters.epochs

    def run(self, progress: Progress | None = None) -> Forecast:
        """Refit and forecast (see :func:`forecast`)."""
        return forecast(self.series, self.config, self.horizon, progress, self.new_observations)


def plan_exported(
    document: dict[str, object],
    source: str,
    rank: int = 1,
    horizon: int | None = None,
    repeats: int | None = None,
) -> ForecastPlan:
    """Check a forecast with the exported configuration of ``rank`` before any work.

    Args:
        document: An export document (see :mod:`tuner.outputs.export`).
        source: Where the document came from (a file or a study), for messages.
        rank: Which configuration (1 = best).
        horizon: Steps to forecast (default: the configuration's ``test_size``).
        repeats: Fits (default: the exported repeats).

    Raises:
        ConfigError: No configuration has that rank, ``horizon`` or ``repeats`` is
            not a positive integer, or the export has no series.
        DataError: The series' past changed since the export, it is too short, or
            its dates have no frequency to continue.
    """
    config, _ = pick_configuration(document, rank, repeats)
    config = whole_series_config(config)
    steps = config.preparation.test_size if horizon is None else horizon
    require_int("horizon", steps, 1)
    series = config.source.load()
    added = new_observations(document, series, source)
    training_rows(series, config)
    future_dates(series, steps)
    return ForecastPlan(series, config, steps, added)


def _step_forward(fitted: Refit, horizon: int) -> np.ndarray:
    """Forecast each repeat ``horizon`` steps recursively (docs/method.md, section 12).

    Each step's forecast, unscaled and added to the level before it (in the
    transformed values), is appended to the transformed series, and the next
    step's inputs are the last ``lag`` differences of the series so extended; the
    forecasts are transformed back at the end.
    """
    preparation = fitted.config.preparation
    m, needed = preparation.seasonal_difference, preparation.lag + preparation.lost
    forecasts = np.zeros((len(fitted.weights), horizon))
    for repeat in range(len(fitted.weights)):
        stepper = SlotStepper.of(fitted, repeat)
        values = fitted.transform.forward(fitted.series.values[-needed:])
        for _ in range(horizon):
            inputs = differences(values[-needed:], m)
            scaled = stepper.step(scale_inputs(fitted.scaler, inputs))
            level = level_before(values, m) + unscale_target(fitted.scaler, scaled)
            values = np.append(values, level)
        forecasts[repeat] = fitted.transform.inverse(values[needed:])
    return forecasts


@dataclass
class SlotStepper:
    """One repeat's model forecasting one step at a time, as its batch slots dictate.

    Step ``h`` (from 0) runs in batch slot ``h mod batch_size``, from that slot's
    state: the steps continue the slots exactly as the walk-forward would have
    forecast the same rows a batch at a time (docs/method.md, section 12). With
    ``carry_state`` the step's new state replaces the slot's; otherwise (a
    stateless regime, or one that resets after every forecast) the slot keeps it.

    Attributes:
        weights: The repeat's weights.
        states: ``[h, c]`` of every layer per slot, ``(layers, 2, batch_size, units)``;
            updated in place.
        carry_state: Whether a step's state carries to its slot's next step.
        framing: ``features`` or ``timesteps`` (see :func:`tuner.method.model.input_shape`).
        steps: Steps taken so far.
    """

    weights: InitialWeights
    states: np.ndarray
    carry_state: bool
    framing: str
    steps: int = 0

    @classmethod
    def of(cls, fitted: Refit, repeat: int) -> SlotStepper:
        """The stepper of ``repeat`` of a refit, from the state its training left."""
        return cls(
            weights=fitted.weights[repeat],
            states=fitted.states[repeat].astype(np.float32),
            carry_state=fitted.carries_state,
            framing=fitted.config.hyperparameters.framing,
        )

    def step(self, inputs: np.ndarray) -> float:
        """Forecast one step from its ``lag`` scaled inputs; return the scaled forecast."""
        slot = self.steps % self.states.shape[2]
        x = shape_inputs(np.asarray(inputs)[None], self.framing)[0].astype(np.float32)
        h, c = self.states[:, 0, slot], self.states[:, 1, slot]
        forecast, h, c = lstm_step(self.weights, x, h, c)
        if self.carry_state:
            self.states[:, 0, slot], self.states[:, 1, slot] = h, c
        self.steps += 1
        return forecast


def scale_inputs(scaler: MinMaxScaler, differences: np.ndarray) -> np.ndarray:
    """Scale ``lag`` differences with the input columns of ``scaler`` (the row's first ones)."""
    return differences * scaler.scale_[:-1] + scaler.min_[:-1]


def unscale_target(scaler: MinMaxScaler, scaled: float) -> float:
    """Take a scaled forecast back to a difference, with the target column of ``scaler``."""
    return float((scaled - scaler.min_[-1]) / scaler.scale_[-1])


def whole_series_config(config: EvaluationConfig) -> EvaluationConfig:
    """``config`` over the whole series: a search's holdout is no longer withheld."""
    return dataclasses.replace(config, source=dataclasses.replace(config.source, withheld=0))
