"""A configuration fitted at one origin, forecasting recursively past it.

This is what ``tuner forecast`` does at the end of a series (docs/method.md,
section 12), and what a study at a horizon above 1 does from each forecast origin
of its window (section 13): the same code, so a study scores exactly the
forecasts a user would get. The configuration is fitted on the newest training
rows before the origin (the newest ``train_size`` when it trims, then the newest
multiple of the batch size), then steps forward: each step's forecast, inverted
to the series' units, is the next step's observed value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import MinMaxScaler

from tuner.data.preparation import (
    ValueTransform,
    differences,
    frame,
    level_before,
    require_trainable,
    row_count,
)
from tuner.data.series import Series
from tuner.engines import EngineResult, EngineTask, GraphShape, Progress, get_engine
from tuner.evaluation.config import EvaluationConfig
from tuner.evaluation.padding import single_shape
from tuner.exceptions import DataError
from tuner.method.cell import lstm_step
from tuner.method.model import InitialWeights, shape_inputs
from tuner.method.protocol import RepeatSetup, repeat_setups

__all__ = [
    "Refit",
    "Refitting",
    "SlotStepper",
    "refit",
    "scale_inputs",
    "step_forward",
    "training_rows",
    "unscale_target",
]


@dataclass(frozen=True)
class Refit:
    """A configuration fitted on a series, ready to forecast past its end.

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
class Refitting:
    """A refit prepared but not yet trained: its scaled rows, scaler and transform.

    Several of them (the origins of a window, and the repeats of each) train in
    one engine call as a pack of tasks (docs/method.md, section 13).

    Attributes:
        config: The configuration to refit.
        series: The observations before the origin.
        rows: The unscaled training rows (see :func:`training_rows`).
        scaler: MinMaxScaler to [-1, 1] fitted on them.
        transform: The value transform, fitted on their observations.
    """

    config: EvaluationConfig
    series: Series
    rows: np.ndarray
    scaler: MinMaxScaler
    transform: ValueTransform

    @classmethod
    def of(cls, series: Series, config: EvaluationConfig) -> Refitting:
        """The refit of ``config`` on ``series``: its rows chosen and scaled.

        Raises:
            DataError: The series has fewer rows than one batch, or the transform
                does not fit it.
        """
        rows, transform = _training_rows(series, config)
        scaler = MinMaxScaler(feature_range=(-1, 1)).fit(rows)
        return cls(config, series, rows, scaler, transform)

    def task(self, setups: Sequence[RepeatSetup], shape: GraphShape | None = None) -> EngineTask:
        """The engine task that trains (and seeds) these repeats: no test rows."""
        lag = self.config.preparation.lag
        return EngineTask(
            train=self.scaler.transform(self.rows),
            test=np.zeros((0, lag + 1)),
            hyperparameters=self.config.hyperparameters,
            setups=setups,
            keep_final=True,
            shape=shape or GraphShape(),
        )

    def fitted(self, result: EngineResult) -> Refit:
        """The refit its task's ``result`` trained."""
        return Refit(
            config=self.config,
            series=self.series,
            n_rows=len(self.rows),
            scaler=self.scaler,
            weights=list(result.final_weights),  # type: ignore[arg-type]  # keep_final
            states=np.asarray(result.final_states, dtype=np.float32),
            transform=self.transform,
        )


def training_rows(series: Series, config: EvaluationConfig) -> np.ndarray:
    """The unscaled rows a refit trains on: the newest that the configuration allows.

    Every supervised row of the series, trimmed to the newest ``train_size`` when
    the configuration trims, then to the newest multiple of the batch size (a
    stateful LSTM needs whole batches; a series that grew by a few observations
    need not fit the exported batch size).

    Raises:
        DataError: The series has fewer rows than one batch, more than
            ``MAX_TRAINING_ROWS`` without a ``train_size``, or the transform does
            not fit it.
    """
    return _training_rows(series, config)[0]


def _training_rows(series: Series, config: EvaluationConfig) -> tuple[np.ndarray, ValueTransform]:
    """:func:`training_rows`, and the transform fitted on exactly their observations."""
    preparation, batch_size = config.preparation, config.hyperparameters.batch_size
    total = row_count(len(series), preparation)
    require_trainable(series.name, total, preparation.train_size)
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
    """Fit ``config`` on the whole of ``series``: training and seeding, no test rows.

    Args:
        series: The series, every observation of which may be used.
        config: The configuration (its repeats, seed and engine are used as given).
        progress: Receives repeat-epochs as they finish (``repeats * epochs`` in all).

    Raises:
        DataError: The series has fewer rows than one batch.
    """
    refitting = Refitting.of(series, config)
    hp = config.hyperparameters
    setups = repeat_setups(config.seed, config.repeats, hp, config.preparation.lag)
    shape = single_shape(len(refitting.rows), config.preparation.lag, hp)
    result = get_engine(config.engine).run(refitting.task(setups, shape), progress)
    return refitting.fitted(result)


def step_forward(fitted: Refit, horizon: int) -> np.ndarray:
    """Forecast each repeat ``horizon`` steps recursively (docs/method.md, section 12).

    Each step's forecast, unscaled and added to the level before it (in the
    transformed values), is appended to the transformed series, and the next
    step's inputs are the last ``lag`` differences of the series so extended; the
    forecasts are transformed back at the end.

    Returns:
        Each repeat's forecasts in series units, ``(repeats, horizon)``.
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
