"""From a raw series to scaled supervised rows and back (docs/method.md, section 1, steps 2-6).

The series is differenced, framed with ``lag`` inputs per row, split into training
and test rows, and scaled to [-1, 1] with a scaler fitted on the training rows
only, so nothing about the test period leaks into the model. Forecasts are made
in that scaled, differenced space; :meth:`PreparedData.invert` takes them back to
the series' own units, where RMSE is measured.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.metrics import root_mean_squared_error
from sklearn.preprocessing import MinMaxScaler

from tuner._checks import require_int
from tuner.data import Series
from tuner.exceptions import ConfigError, DataError

__all__ = ["Preparation", "PreparedData", "prepare", "supervised_rows"]


@dataclass(frozen=True)
class Preparation:
    """How a series becomes supervised rows.

    Attributes:
        lag: Number of past differences each row uses as inputs.
        test_size: Number of final rows forecast under walk-forward validation.
        train_size: Keep only the newest ``train_size`` training rows (``None``: all),
            for example so that a batch size divides the training set.
    """

    lag: int = 1
    test_size: int = 12
    train_size: int | None = None

    def __post_init__(self) -> None:
        require_int("lag", self.lag, 1)
        require_int("test_size", self.test_size, 1)
        if self.train_size is not None:
            require_int("train_size", self.train_size, 1)


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
        previous: The observation before each test target, added back to a forecast.
        actual: The test period's observations, in series units.
    """

    series: Series
    preparation: Preparation
    train: np.ndarray
    test: np.ndarray
    scaler: MinMaxScaler
    previous: np.ndarray
    actual: np.ndarray

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
        digest.update(json.dumps(dataclasses.asdict(self.preparation), sort_keys=True).encode())
        return digest.hexdigest()

    @property
    def persistence_rmse(self) -> float:
        """RMSE of forecasting each test observation by the one before it."""
        return float(root_mean_squared_error(self.actual, self.previous))

    def invert(self, forecasts: np.ndarray) -> np.ndarray:
        """Take scaled, differenced forecasts back to the series' units.

        Each forecast is unscaled as the row ``[test inputs..., forecast]`` (the
        scaler works on whole rows), then the actual previous observation is added.

        Args:
            forecasts: Shape ``(..., test_size)``, one forecast per test row.

        Returns:
            An array of the same shape, in the series' units.
        """
        forecasts = np.asarray(forecasts, dtype=np.float64)
        flat = forecasts.reshape(-1, self.n_test)
        inputs = np.tile(self.test[:, :-1], (len(flat), 1))
        rows = np.column_stack([inputs, flat.reshape(-1)])
        differences = self.scaler.inverse_transform(rows)[:, -1].reshape(flat.shape)
        return (differences + self.previous).reshape(forecasts.shape)

    def rmse(self, forecasts: np.ndarray) -> float:
        """RMSE in series units of one set of forecasts already inverted."""
        return float(root_mean_squared_error(self.actual, forecasts))


def prepare(series: Series, preparation: Preparation) -> PreparedData:
    """Difference, frame, split and scale ``series`` as ``preparation`` says.

    Raises:
        DataError: The series is too short for the lag, the test size and one
            training row.
        ConfigError: ``train_size`` asks for more training rows than exist.
    """
    rows = _supervised_rows(series, preparation)
    test_size = preparation.test_size
    train, test = rows[:-test_size], rows[-test_size:]
    train = _trim(train, preparation.train_size)
    scaler = MinMaxScaler(feature_range=(-1, 1)).fit(train)
    return PreparedData(
        series=series,
        preparation=preparation,
        train=scaler.transform(train),
        test=scaler.transform(test),
        scaler=scaler,
        previous=series.values[-test_size - 1 : -1].copy(),
        actual=series.values[-test_size:].copy(),
    )


def _supervised_rows(series: Series, preparation: Preparation) -> np.ndarray:
    lag, test_size = preparation.lag, preparation.test_size
    needed = lag + test_size + 2
    if len(series) < needed:
        largest_test = len(series) - lag - 2
        advice = (
            f"with lag {lag}, test_size may be at most {largest_test}"
            if largest_test >= 1
            else f"the series is too short for lag {lag}"
        )
        raise DataError(
            f"{series.name}: has {len(series)} values; lag {lag} and test_size {test_size} "
            f"need at least {needed} (lag + test_size + 1 training row + 1 lost to "
            f"differencing); {advice}"
        )
    return supervised_rows(series.values, lag)


def supervised_rows(values: np.ndarray, lag: int) -> np.ndarray:
    """Difference ``values`` and frame them as rows ``[lag inputs..., target]``, unscaled.

    Steps 2 and 3 of docs/method.md, section 1; a forecast (section 12) frames the
    whole series with them too.
    """
    return sliding_window_view(np.diff(values), lag + 1).copy()


def _trim(train: np.ndarray, train_size: int | None) -> np.ndarray:
    if train_size is None:
        return train
    if train_size > len(train):
        raise ConfigError(
            f"train_size must be at most the {len(train)} training rows available; got {train_size}"
        )
    return train[-train_size:]
