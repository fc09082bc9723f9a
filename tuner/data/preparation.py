"""From a raw series to scaled supervised rows and back (docs/method.md, section 1, steps 2-6).

The series' values are transformed (``none``, ``log`` or ``boxcox``), optionally
seasonally differenced, differenced, framed with ``lag`` inputs per row, split
into training and test rows, and scaled to [-1, 1] with a scaler fitted on the
training rows only, so nothing about the test period leaks into the model (the
Box-Cox lambda is fitted on the training rows' observations for the same
reason). Forecasts are made in that scaled, differenced space;
:meth:`PreparedData.invert` takes them back to the series' own units, where RMSE
is measured.

The forward and inverse maths live here once: :class:`ValueTransform`,
:func:`differences` and :func:`level_before` serve both the walk-forward and the
recursive forecast (:mod:`tuner.forecasting.refit`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import inv_boxcox
from scipy.stats import boxcox
from sklearn.metrics import root_mean_squared_error
from sklearn.preprocessing import MinMaxScaler

from tuner._checks import require_choice, require_int
from tuner.data.dates import date_label
from tuner.data.series import Series
from tuner.exceptions import ConfigError, DataError

__all__ = [
    "MAX_TRAINING_ROWS",
    "TRANSFORMS",
    "Preparation",
    "PreparedData",
    "ValueTransform",
    "differences",
    "frame",
    "level_before",
    "prepare",
    "require_trainable",
    "supervised_rows",
]

TRANSFORMS = ("none", "log", "boxcox")
"""Value transforms a preparation may apply before differencing."""


MAX_TRAINING_ROWS = 10_000
"""Training rows one fit may pass over (docs/method.md, section 1, step 4).

Every epoch of every repeat walks the training rows in order, so the cost of a
trial grows with them: a million-row series took 6 s per epoch per repeat. The
protocol needs a few seasons of history, not every observation a sensor ever
made; a longer series is refused with the advice to train on its newest rows
(``train_size``) or to aggregate it, rather than trimmed without a word."""


@dataclass(frozen=True)
class Preparation:
    """How a series becomes supervised rows.

    Attributes:
        lag: Number of past differences each row uses as inputs.
        test_size: Number of final rows forecast under walk-forward validation.
        train_size: Keep only the newest ``train_size`` training rows (``None``: all),
            for example so that a batch size divides the training set.
        transform: ``none``, ``log`` or ``boxcox``, applied to the values first.
        seasonal_difference: 0 (none), or the season ``m`` (>= 2): the transformed
            values ``z`` become ``z[t] - z[t-m]`` before the first difference.
    """

    lag: int = 1
    test_size: int = 12
    train_size: int | None = None
    transform: str = "none"
    seasonal_difference: int = 0

    def __post_init__(self) -> None:
        require_int("lag", self.lag, 1)
        require_int("test_size", self.test_size, 1)
        if self.train_size is not None:
            require_int("train_size", self.train_size, 1, MAX_TRAINING_ROWS)
        require_choice("transform", self.transform, TRANSFORMS)
        if self.seasonal_difference != 0:
            require_int("seasonal_difference", self.seasonal_difference, 2)

    @property
    def lost(self) -> int:
        """Observations before the first row's first input: differencing's and the season's."""
        return 1 + self.seasonal_difference

    def settings(self) -> dict[str, object]:
        """The settings as a flat dictionary, without the new fields at their defaults.

        The transform and the seasonal difference came later: leaving them out at
        their defaults keeps the fingerprints and the stored configurations of
        every earlier study and export unchanged.
        """
        settings = dataclasses.asdict(self)
        for name in ("transform", "seasonal_difference"):
            if settings[name] == _DEFAULTS[name]:
                del settings[name]
        return settings

    def label(self) -> str:
        """A short description for messages: ``lag 3, log, seasonal difference 12``."""
        parts = [f"lag {self.lag}"]
        if self.transform != "none":
            parts.append(self.transform)
        if self.seasonal_difference:
            parts.append(f"seasonal difference {self.seasonal_difference}")
        return ", ".join(parts)


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Preparation)}


@dataclass(frozen=True)
class ValueTransform:
    """A fitted value transform: the first step of a preparation and the last of its inverse.

    Attributes:
        name: ``none``, ``log`` or ``boxcox``.
        lmbda: Box-Cox's lambda (``None`` for the others).
    """

    name: str = "none"
    lmbda: float | None = None

    @classmethod
    def fit(cls, name: str, observations: np.ndarray) -> ValueTransform:
        """The transform ``name``, its lambda (Box-Cox only) fitted on ``observations``.

        Raises:
            DataError: Box-Cox cannot be fitted (the observations are constant).
        """
        if name != "boxcox":
            return cls(name)
        observations = np.asarray(observations, dtype=np.float64)
        if np.ptp(observations) == 0:
            raise DataError("boxcox cannot fit lambda on constant training observations")
        return cls(name, float(boxcox(observations)[1]))

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Transform observations (``none`` returns them as they are)."""
        if self.name == "log":
            return np.log(values)
        if self.name == "boxcox":
            return boxcox(np.asarray(values, dtype=np.float64), self.lmbda)
        return values

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Take transformed values back to observations (NaN where Box-Cox has none)."""
        if self.name == "log":
            return np.exp(values)
        if self.name == "boxcox":
            return inv_boxcox(values, self.lmbda)
        return values

    def to_dict(self) -> dict[str, object]:
        """The transform and its rule as plain JSON values (for ``preparation.json``)."""
        rules = {
            "none": "z = y",
            "log": "z = ln(y); y = exp(z)",
            "boxcox": "z = (y**lambda - 1) / lambda (ln(y) if lambda == 0); "
            "y = (lambda * z + 1)**(1 / lambda) (exp(z) if lambda == 0)",
        }
        return {"name": self.name, "lambda": self.lmbda, "rule": rules[self.name]}


def differences(values: np.ndarray, seasonal_difference: int = 0) -> np.ndarray:
    """First differences of ``values``, seasonally differenced first when asked.

    ``s[t] = z[t] - z[t-m]`` then ``d[t] = s[t+1] - s[t]`` (steps 2 and 3 of
    docs/method.md, section 1): ``len(values) - 1 - m`` differences.
    """
    m = seasonal_difference
    seasonal = values[m:] - values[:-m] if m else values
    return np.diff(seasonal)


def level_before(values: np.ndarray, seasonal_difference: int = 0) -> np.ndarray | float:
    """What a forecast difference is added to, to give the transformed value after ``values``.

    ``z[t] = z[t-1] + d + (z[t-m] - z[t-m-1])``: the inverse of :func:`differences`
    for one step, from the actual values before it. ``values``' last axis ends at
    ``t-1`` and holds at least ``m + 1`` values.
    """
    m = seasonal_difference
    level = values[..., -1]
    if m:
        level = level + (values[..., -m] - values[..., -m - 1])
    return level


def supervised_rows(values: np.ndarray, lag: int, seasonal_difference: int = 0) -> np.ndarray:
    """Difference ``values`` and frame them as rows ``[lag inputs..., target]``, unscaled.

    Steps 3 and 4 of docs/method.md, section 1, on values already transformed; a
    forecast (section 12) frames the whole series with them too.
    """
    return sliding_window_view(differences(values, seasonal_difference), lag + 1).copy()


def row_count(observations: int, preparation: Preparation) -> int:
    """How many supervised rows ``observations`` values give (0 when too few)."""
    return max(0, observations - preparation.lost - preparation.lag)


def frame(
    series: Series, preparation: Preparation, first_row: int, stop_row: int
) -> tuple[np.ndarray, ValueTransform]:
    """Every supervised row of ``series``, and its transform fitted on rows ``[first, stop)``.

    The transform is fitted on exactly the observations that feed those rows
    (the training rows), ``y[first : stop + lag + 1 + m]``.

    Raises:
        DataError: ``log`` or ``boxcox`` on a series with a value <= 0 (the first
            is named), or Box-Cox on constant observations.
    """
    _require_positive(series, preparation.transform)
    values = series.values
    fitted = values[first_row : stop_row + preparation.lag + preparation.lost]
    transform = ValueTransform.fit(preparation.transform, fitted)
    rows = supervised_rows(
        transform.forward(values), preparation.lag, preparation.seasonal_difference
    )
    return rows, transform


def _require_positive(series: Series, transform: str) -> None:
    if transform == "none":
        return
    bad = np.flatnonzero(~(series.values > 0))
    if bad.size:
        first = int(bad[0])
        raise DataError(
            f"{series.name}: transform {transform!r} needs values > 0; the first that is not "
            f"is {series.values[first]:g} at {date_label(series.index[first])} "
            f"(observation {first + 1})"
        )


@dataclass(frozen=True)
class PreparedData:
    """Scaled training and test rows of one series, and what is needed to invert forecasts.

    Rows are ``[inputs..., target]``: inputs are the ``lag`` previous differences in
    time order (oldest first), the target is the difference to forecast.

    Attributes:
        series: The series the rows come from.
        preparation: The settings that produced them.
        train: Scaled training rows, shape ``(n_train, lag + 1)``.
        test: Scaled test rows, shape ``(test_size, lag + 1)``.
        scaler: MinMaxScaler to [-1, 1] fitted on the (trimmed) training rows.
        previous: The observation before each test target, in series units: the
            persistence forecast.
        actual: The test period's observations, in series units.
        transform: The value transform, fitted on the training rows' observations.
    """

    series: Series
    preparation: Preparation
    train: np.ndarray
    test: np.ndarray
    scaler: MinMaxScaler
    previous: np.ndarray
    actual: np.ndarray
    transform: ValueTransform = ValueTransform()

    @property
    def n_train(self) -> int:
        """Number of training rows (after trimming)."""
        return len(self.train)

    @property
    def n_test(self) -> int:
        """Number of test rows."""
        return len(self.test)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the series' values and the preparation settings.

        An exported configuration carries it, so re-evaluating on data that has
        changed since is refused instead of silently scoring something else.
        """
        digest = hashlib.sha256(np.ascontiguousarray(self.series.values).tobytes())
        digest.update(json.dumps(self.preparation.settings(), sort_keys=True).encode())
        return digest.hexdigest()

    @property
    def persistence_rmse(self) -> float:
        """RMSE of forecasting each test observation by the one before it."""
        return float(root_mean_squared_error(self.actual, self.previous))

    def invert(self, forecasts: np.ndarray) -> np.ndarray:
        """Take scaled, differenced forecasts back to the series' units.

        Each forecast is unscaled as the row ``[test inputs..., forecast]`` (the
        scaler works on whole rows), added to the level the actual previous
        observations give (:func:`level_before`), and transformed back.

        Args:
            forecasts: Shape ``(..., test_size)``, one forecast per test row.

        Returns:
            An array of the same shape, in the series' units.
        """
        forecasts = np.asarray(forecasts, dtype=np.float64)
        flat = forecasts.reshape(-1, self.n_test)
        inputs = np.tile(self.test[:, :-1], (len(flat), 1))
        rows = np.column_stack([inputs, flat.reshape(-1)])
        unscaled = self.scaler.inverse_transform(rows)[:, -1].reshape(flat.shape)
        return self.transform.inverse(unscaled + self._levels()).reshape(forecasts.shape)

    def _levels(self) -> np.ndarray:
        """The transformed level before each test target, from the actual observations."""
        m = self.preparation.seasonal_difference
        transformed = self.transform.forward(self.series.values)
        before = sliding_window_view(transformed[:-1], m + 1)[-self.n_test :]
        return level_before(before, m)


def prepare(series: Series, preparation: Preparation) -> PreparedData:
    """Transform, difference, frame, split and scale ``series`` as ``preparation`` says.

    Raises:
        DataError: The series is too short for the lag, the seasonal difference,
            the test size and one training row, longer than ``MAX_TRAINING_ROWS``
            training rows without a ``train_size``, or a transform does not fit it.
        ConfigError: ``train_size`` asks for more training rows than exist.
    """
    _require_length(series, preparation)
    test_size = preparation.test_size
    n_train = row_count(len(series), preparation) - test_size
    require_trainable(series.name, n_train, preparation.train_size)
    first = _trimmed_start(n_train, preparation.train_size)
    rows, transform = frame(series, preparation, first, n_train)
    train, test = rows[first:n_train], rows[-test_size:]
    scaler = MinMaxScaler(feature_range=(-1, 1)).fit(train)
    return PreparedData(
        series=series,
        preparation=preparation,
        train=scaler.transform(train),
        test=scaler.transform(test),
        scaler=scaler,
        previous=series.values[-test_size - 1 : -1].copy(),
        actual=series.values[-test_size:].copy(),
        transform=transform,
    )


def _require_length(series: Series, preparation: Preparation) -> None:
    lag, test_size, m = preparation.lag, preparation.test_size, preparation.seasonal_difference
    needed = lag + test_size + 2 + m
    if len(series) >= needed:
        return
    largest_test = len(series) - lag - 2 - m
    at = f"lag {lag}" + (f" and seasonal difference {m}" if m else "")
    advice = (
        f"with {at}, test_size may be at most {largest_test}"
        if largest_test >= 1
        else f"the series is too short for {at}"
    )
    seasonal = f" + {m} lost to the seasonal difference" if m else ""
    raise DataError(
        f"{series.name}: has {len(series)} values; lag {lag} and test_size {test_size} "
        f"need at least {needed} (lag + test_size + 1 training row + 1 lost to "
        f"differencing{seasonal}); {advice}"
    )


def require_trainable(name: str, rows: int, train_size: int | None) -> None:
    """Refuse ``rows`` training rows past ``MAX_TRAINING_ROWS`` unless ``train_size`` trims them.

    Raises:
        DataError: The rule is broken; the message says how to keep the newest rows.
    """
    if train_size is not None or rows <= MAX_TRAINING_ROWS:
        return
    raise DataError(
        f"{name}: has {rows:,} training rows, more than the {MAX_TRAINING_ROWS:,} a fit "
        f"may pass over (every epoch of every repeat walks them all); set train_size "
        f"(at most {MAX_TRAINING_ROWS:,}) to train on the newest rows, or aggregate the "
        "series to a coarser frequency"
    )


def _trimmed_start(n_train: int, train_size: int | None) -> int:
    """The first training row kept: all of them, or the newest ``train_size``."""
    if train_size is None:
        return 0
    if train_size > n_train:
        raise ConfigError(
            f"train_size must be at most the {n_train} training rows available; got {train_size}"
        )
    return n_train - train_size
