"""Classical baselines scored on exactly the windows an LSTM study is scored on.

A tuned LSTM is worth its cost only if it beats simple forecasters, so these are
scored the way a study scores the LSTM: over a window of observations of the raw
series ``y``, the half-open index range ``[start, stop)``, each observation
``y[t]`` forecast one step ahead from ``y[:t]`` (every observation before it), and
the RMSE taken in the series' own units.

=================  ==========================================================
``persistence``    ``y[t-1]`` (docs/method.md, section 1).
``seasonal_naive`` ``y[t-season]``; not available without a season.
``auto_ets``       statsforecast's ``AutoETS(season_length=season or 1)``,
                   refitted on ``y[:t]`` for every ``t``.
``auto_arima``     statsforecast's ``AutoARIMA(season_length=season or 1)``,
                   refitted likewise.
``ets_arima_mean`` the mean of the ``auto_ets`` and ``auto_arima`` forecasts,
                   step by step.
=================  ==========================================================

The statistical models are refitted by statsforecast's own cross-validation
(``StatsForecast.cross_validation`` with ``h=1``, ``step_size=1``, ``refit=True``,
one window per observation, on ``y[:stop]``), each model in its own run, so one
that fails leaves the others scored. A baseline that cannot be scored (too short
a series, a statsforecast error, a forecast that is not finite) is reported as
not available, with a one-line reason, never raised.

statsforecast is imported only when a statistical model is scored, so importing
this module stays instant.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tuner._checks import require_int
from tuner.exceptions import ConfigError

__all__ = ["BASELINE_NAMES", "BaselineScore", "best_baseline", "score_baselines"]

BASELINE_NAMES: tuple[str, ...] = (
    "persistence",
    "seasonal_naive",
    "auto_ets",
    "auto_arima",
    "ets_arima_mean",
)
"""Every baseline, in the order :func:`score_baselines` returns them."""


@dataclass(frozen=True)
class BaselineScore:
    """One baseline's score over a window, or why it has none.

    Attributes:
        name: One of :data:`BASELINE_NAMES`.
        rmse: RMSE over the window in series units; ``None`` when not available.
        forecasts: The one-step forecast of each observation of the window, in
            order; ``None`` when not available.
        reason: Why the baseline is not available (one line); ``None`` when it is.
    """

    name: str
    rmse: float | None
    forecasts: tuple[float, ...] | None
    reason: str | None = None

    @property
    def available(self) -> bool:
        """Whether the baseline was scored."""
        return self.rmse is not None

    def to_dict(self) -> dict[str, object]:
        """The score as plain JSON-friendly values (``forecasts`` as a list)."""
        return {
            "name": self.name,
            "rmse": self.rmse,
            "forecasts": None if self.forecasts is None else list(self.forecasts),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> BaselineScore:
        """The inverse of :meth:`to_dict`."""
        forecasts = record.get("forecasts")
        rmse = record.get("rmse")
        return cls(
            name=str(record["name"]),
            rmse=None if rmse is None else float(rmse),
            forecasts=None if forecasts is None else tuple(float(f) for f in forecasts),
            reason=record.get("reason"),
        )


def score_baselines(
    values: np.ndarray, start: int, stop: int, season: int | None
) -> dict[str, BaselineScore]:
    """Score every baseline on the window ``[start, stop)`` of the series ``values``.

    Each observation ``values[t]``, ``start <= t < stop``, is forecast one step
    ahead from ``values[:t]``; nothing at or after ``t`` is read for it.

    Args:
        values: The raw series, one-dimensional, every value finite.
        start: First observation of the window; at least 1, so that persistence
            has an observation before it.
        stop: One past the last observation of the window; at most ``len(values)``.
        season: Season length in observations (12 for monthly data, see
            :func:`tuner.data.calendar.season_of`), at least 2; ``None`` when the series has none.

    Returns:
        A score for each of :data:`BASELINE_NAMES`, in that order; those not
        available have ``rmse`` ``None`` and a ``reason``.

    Raises:
        ConfigError: An argument breaks the rules above.
    """
    y = _check_values(values)
    require_int("start", start, 1, len(y) - 1)
    require_int("stop", stop, start + 1, len(y))
    if season is not None:
        require_int("season", season, 2)
    actual = y[start:stop]

    def score(name: str, forecasts: np.ndarray | str) -> BaselineScore:
        if isinstance(forecasts, str):
            return BaselineScore(name, None, None, forecasts)
        return _score(name, actual, forecasts)

    statistical = _statistical_forecasts(y, start, stop, season)
    ets, arima = statistical["auto_ets"], statistical["auto_arima"]
    if isinstance(ets, str) or isinstance(arima, str):
        missing = " and ".join(name for name, f in statistical.items() if isinstance(f, str))
        mean: np.ndarray | str = f"needs auto_ets and auto_arima; {missing} not available"
    else:
        mean = (ets + arima) / 2.0
    return {
        "persistence": score("persistence", y[start - 1 : stop - 1]),
        "seasonal_naive": score("seasonal_naive", _seasonal_naive(y, start, stop, season)),
        "auto_ets": score("auto_ets", ets),
        "auto_arima": score("auto_arima", arima),
        "ets_arima_mean": score("ets_arima_mean", mean),
    }


def best_baseline(scores: Mapping[str, BaselineScore]) -> BaselineScore | None:
    """The available baseline with the lowest RMSE (the first of equals); ``None`` if none is."""
    best: BaselineScore | None = None
    for score in scores.values():
        if score.rmse is not None and (best is None or score.rmse < (best.rmse or 0.0)):
            best = score
    return best


def _check_values(values: np.ndarray) -> np.ndarray:
    try:
        y = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(
            f"values must be a one-dimensional array of numbers; got {type(values).__name__}"
        ) from None
    if y.ndim != 1:
        raise ConfigError(f"values must be one-dimensional; got shape {y.shape}")
    if len(y) < 2:
        raise ConfigError(f"values must hold at least 2 observations; got {len(y)}")
    bad = np.flatnonzero(~np.isfinite(y))
    if len(bad):
        raise ConfigError(f"values must all be finite; got {y[bad[0]]} at index {bad[0]}")
    return y


def _score(name: str, actual: np.ndarray, forecasts: np.ndarray) -> BaselineScore:
    from sklearn.metrics import root_mean_squared_error  # not for `import` of this module

    forecasts = np.asarray(forecasts, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(forecasts))
    if len(bad):
        return BaselineScore(
            name, None, None, f"forecast {bad[0] + 1} of the window is {forecasts[bad[0]]}"
        )
    rmse = float(root_mean_squared_error(actual, forecasts))
    return BaselineScore(name, rmse, tuple(float(f) for f in forecasts))


def _seasonal_naive(y: np.ndarray, start: int, stop: int, season: int | None) -> np.ndarray | str:
    if season is None:
        return (
            "no season: season is None (the series has no monthly, quarterly, weekly "
            "or daily index)"
        )
    if start < season:
        return (
            f"needs {season} observations (one season) before the window; "
            f"the window starts at observation {start}"
        )
    return y[start - season : stop - season]


def _statistical_forecasts(
    y: np.ndarray, start: int, stop: int, season: int | None
) -> dict[str, np.ndarray | str]:
    """auto_ets's and auto_arima's forecasts of ``y[start:stop]``, or why there are none."""
    from statsforecast import StatsForecast  # seconds to import: only when scored
    from statsforecast.models import AutoARIMA, AutoETS

    frame = pd.DataFrame({"unique_id": 0, "ds": np.arange(stop), "y": y[:stop]})
    models = {
        "auto_ets": AutoETS(season_length=season or 1),
        "auto_arima": AutoARIMA(season_length=season or 1),
    }
    forecasts: dict[str, np.ndarray | str] = {}
    for name, model in models.items():
        label = f"{model.alias}(season_length={season or 1})"
        try:
            with warnings.catch_warnings():
                # Numerical noise of candidate fits (a division by zero on a tiny series).
                warnings.simplefilter("ignore", RuntimeWarning)
                result = StatsForecast(models=[model], freq=1).cross_validation(
                    df=frame, h=1, n_windows=stop - start, step_size=1, refit=True
                )
        except Exception as error:  # any failure of the fit makes it unavailable
            message = str(error).strip().splitlines()
            detail = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
            forecasts[name] = (
                f"statsforecast {label} failed refitting on y[:t] for t in [{start}, {stop}) "
                f"(the first refit sees {start} observations): {detail}"
            )
            continue
        result = result.sort_values("ds")
        if result["ds"].tolist() != list(range(start, stop)):  # pragma: no cover - a bug
            raise RuntimeError(f"statsforecast {label} forecast other steps than {start}..{stop}")
        forecasts[name] = result[model.alias].to_numpy(dtype=np.float64)
    return forecasts
