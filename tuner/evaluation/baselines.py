"""Classical baselines scored on exactly the windows an LSTM study is scored on.

A tuned LSTM is worth its cost only if it beats simple forecasters, so these are
scored the way a study scores the LSTM: over a window of observations of the raw
series ``y``, the half-open index range ``[start, stop)``, by the forecasts of its
:class:`~tuner.method.scoring.Scoring`. At horizon 1 each observation ``y[t]`` is
forecast one step ahead from ``y[:t]`` (every observation before it); above, from
each forecast origin ``o`` the next ``horizon`` observations are forecast from
``y[:o]``. Every metric is taken as for the LSTM, in the series' own units.

=================  ==========================================================
``persistence``    ``y[o-1]`` for every step (docs/method.md, section 1).
``seasonal_naive`` ``y[o + h - season]`` for step ``h`` below a season, and so
                   on a season back; not available without a season.
``auto_ets``       statsforecast's ``AutoETS(season_length=season or 1)``,
                   refitted on ``y[:o]`` at every origin.
``auto_arima``     statsforecast's ``AutoARIMA(season_length=season or 1)``,
                   refitted likewise.
``theta``          statsforecast's ``Theta(season_length=season or 1)``, the
                   M3 competition's winner, refitted likewise.
``ets_arima_mean`` the mean of the ``auto_ets`` and ``auto_arima`` forecasts,
                   step by step.
=================  ==========================================================

The statistical models are refitted by statsforecast's own cross-validation
(``StatsForecast.cross_validation`` with ``refit=True`` and the scoring's ``h``,
``n_windows`` and ``step_size``, on ``y[:stop]``), each model in its own run, so
one that fails leaves the others scored. A baseline that cannot be scored (too short
a series, a statsforecast error, a forecast that is not finite) is reported as
not available, with a one-line reason, never raised.

statsforecast is imported only when a statistical model is scored, so importing
this module stays instant.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tuner._checks import require_int
from tuner.evaluation.metrics import finite_or_none, forecast_errors
from tuner.exceptions import ConfigError
from tuner.method.scoring import Scoring

__all__ = [
    "BASELINE_NAMES",
    "BaselineScore",
    "best_baseline",
    "persistence_rmse",
    "score_baselines",
    "statistical_models",
]

BASELINE_NAMES: tuple[str, ...] = (
    "persistence",
    "seasonal_naive",
    "auto_ets",
    "auto_arima",
    "theta",
    "ets_arima_mean",
)
"""Every baseline, in the order :func:`score_baselines` returns them."""


@dataclass(frozen=True)
class BaselineScore:
    """One baseline's score over a window, or why it has none.

    Attributes:
        name: One of :data:`BASELINE_NAMES`.
        rmse: RMSE over the window in series units; ``None`` when not available.
        forecasts: Each origin's forecasts, origin after origin (at horizon 1, the
            one-step forecast of each observation of the window, in order);
            ``None`` when not available.
        reason: Why the baseline is not available (one line); ``None`` when it is.
        metrics: Every metric (:data:`tuner.evaluation.metrics.METRICS`) of the
            forecasts; empty when not available.
    """

    name: str
    rmse: float | None
    forecasts: tuple[float, ...] | None
    reason: str | None = None
    metrics: Mapping[str, float | None] = dataclasses.field(default_factory=dict)

    def score(self, metric: str) -> float | None:
        """The forecasts' ``metric``; ``None`` when not available.

        A score stored before metrics existed has its RMSE only.
        """
        value = self.metrics.get(metric)
        return self.rmse if value is None and metric == "rmse" else value

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
            "metrics": dict(self.metrics),
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
            metrics=record.get("metrics") or {},
        )


def score_baselines(
    values: np.ndarray,
    start: int,
    stop: int,
    season: int | None,
    scoring: Scoring | None = None,
) -> dict[str, BaselineScore]:
    """Score every baseline on the window ``[start, stop)`` of the series ``values``.

    Each forecast from an origin ``o`` reads ``values[:o]`` only; at horizon 1
    every observation of the window is an origin.

    Args:
        values: The raw series, one-dimensional, every value finite.
        start: First observation of the window; at least 1, so that persistence
            has an observation before it.
        stop: One past the last observation of the window; at most ``len(values)``.
        season: Season length in observations (12 for monthly data, see
            :func:`tuner.data.calendar.season_of`), at least 2; ``None`` when the series has none.
        scoring: The horizon and origins (default: one step ahead, the walk-forward's);
            their span must fit the window.

    Returns:
        A score for each of :data:`BASELINE_NAMES`, in that order; those not
        available have ``rmse`` ``None`` and a ``reason``.

    Raises:
        ConfigError: An argument breaks the rules above.
    """
    scoring = scoring or Scoring()
    y = _check_values(values)
    require_int("start", start, 1, len(y) - 1)
    require_int("stop", stop, start + 1, len(y))
    if season is not None:
        require_int("season", season, 2)
    if scoring.recursive and scoring.span > stop - start:
        raise ConfigError(
            f"scoring: {scoring.origins} origin(s) of horizon {scoring.horizon} span "
            f"{scoring.span} observations, more than the window's {stop - start}"
        )
    starts = scoring.starts(stop, stop - start)
    steps = np.arange(scoring.horizon)
    actual = np.array([y[o : o + scoring.horizon] for o in starts])

    statistical = _statistical_forecasts(y, stop, season, scoring.cross_validation(stop - start))
    ets, arima = statistical["auto_ets"], statistical["auto_arima"]
    if isinstance(ets, str) or isinstance(arima, str):
        missing = " and ".join(name for name, f in statistical.items() if isinstance(f, str))
        mean: np.ndarray | str = f"needs auto_ets and auto_arima; {missing} not available"
    else:
        mean = (ets + arima) / 2.0
    forecasts = {
        "persistence": _persistence(y, starts, scoring.horizon),
        "seasonal_naive": _seasonal_naive(y, starts, steps, season),
        **statistical,
        "ets_arima_mean": mean,
    }
    return _scores(forecasts, actual, starts, y, season)


def persistence_rmse(values: np.ndarray, stop: int, window: int, scoring: Scoring) -> float:
    """RMSE of persistence alone, on the ``window`` observations before ``stop``.

    What every score's skill is measured against, without statsforecast's cost.
    """
    from sklearn.metrics import root_mean_squared_error  # not for `import` of this module

    starts = scoring.starts(stop, window)
    actual = np.concatenate([values[o : o + scoring.horizon] for o in starts])
    naive = _persistence(values, starts, scoring.horizon)
    return float(root_mean_squared_error(actual, naive.reshape(-1)))


def best_baseline(
    scores: Mapping[str, BaselineScore], metric: str = "rmse"
) -> BaselineScore | None:
    """The available baseline with the lowest ``metric`` (the first of equals), or ``None``."""
    best: BaselineScore | None = None
    for score in scores.values():
        value = score.score(metric)
        if value is not None and (best is None or value < (best.score(metric) or 0.0)):
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


def _scores(
    forecasts: Mapping[str, np.ndarray | str],
    actual: np.ndarray,
    starts: list[int],
    y: np.ndarray,
    season: int | None,
) -> dict[str, BaselineScore]:
    """Each baseline's metrics, from its forecasts ``(origins, horizon)`` or why it has none."""
    reasons = {name: f for name, f in forecasts.items() if isinstance(f, str)}
    arrays = {
        name: np.asarray(f, dtype=np.float64)
        for name, f in forecasts.items()
        if name not in reasons
    }
    for name, array in arrays.items():
        bad = np.flatnonzero(~np.isfinite(array.reshape(-1)))
        if len(bad):
            reasons[name] = f"forecast {bad[0] + 1} of the window is {array.reshape(-1)[bad[0]]}"
    scored = [name for name in BASELINE_NAMES if name not in reasons]
    scores = {name: BaselineScore(name, None, None, reason) for name, reason in reasons.items()}
    if scored:
        stacked = np.stack([arrays[name] for name in scored])
        errors = forecast_errors(actual, stacked, starts, y, season or 1).overall
        for index, name in enumerate(scored):
            metrics = {metric: finite_or_none(e[index]) for metric, e in errors.items()}
            flat = tuple(float(f) for f in stacked[index].reshape(-1))
            scores[name] = BaselineScore(name, metrics["rmse"], flat, metrics=metrics)
    return {name: scores[name] for name in BASELINE_NAMES}


def _persistence(y: np.ndarray, starts: list[int], horizon: int) -> np.ndarray:
    """Persistence's forecasts ``(origins, horizon)``: each origin's last observation, repeated."""
    return np.repeat(
        np.asarray([y[o - 1] for o in starts], dtype=np.float64)[:, None], horizon, axis=1
    )


def _seasonal_naive(
    y: np.ndarray, starts: list[int], steps: np.ndarray, season: int | None
) -> np.ndarray | str:
    if season is None:
        return (
            "no season: season is None (the series has no monthly, quarterly, weekly "
            "or daily index)"
        )
    if starts[0] < season:
        return (
            f"needs {season} observations (one season) before the window; "
            f"the window starts at observation {starts[0]}"
        )
    return np.array([y[o - season + steps % season] for o in starts])


def statistical_models(season: int | None) -> dict[str, Any]:
    """The classical models, statsforecast's, for ``season`` (1 without one), by name.

    statsforecast is imported here, on the first call, not with this module.
    """
    from statsforecast.models import AutoARIMA, AutoETS, Theta

    return {
        "auto_ets": AutoETS(season_length=season or 1),
        "auto_arima": AutoARIMA(season_length=season or 1),
        "theta": Theta(season_length=season or 1),
    }


def _statistical_forecasts(
    y: np.ndarray, stop: int, season: int | None, windows: dict[str, int]
) -> dict[str, np.ndarray | str]:
    """auto_ets's, auto_arima's and theta's forecasts ``(origins, h)``, or why there are none.

    Args:
        y: The series.
        stop: One past the last observation forecast.
        season: The season, or ``None``.
        windows: statsforecast's ``h``, ``n_windows`` and ``step_size``.
    """
    from statsforecast import StatsForecast  # seconds to import: only when scored

    frame = pd.DataFrame({"unique_id": 0, "ds": np.arange(stop), "y": y[:stop]})
    models = statistical_models(season)
    h, n_windows, step = windows["h"], windows["n_windows"], windows["step_size"]
    first = stop - h - (n_windows - 1) * step
    forecasts: dict[str, np.ndarray | str] = {}
    for name, model in models.items():
        label = f"{model.alias}(season_length={season or 1})"
        try:
            with warnings.catch_warnings():
                # Numerical noise of candidate fits (a division by zero on a tiny series).
                warnings.simplefilter("ignore", RuntimeWarning)
                result = StatsForecast(models=[model], freq=1).cross_validation(
                    df=frame, refit=True, **windows
                )
        except Exception as error:  # any failure of the fit makes it unavailable
            message = str(error).strip().splitlines()
            detail = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
            forecasts[name] = (
                f"statsforecast {label} failed refitting at the {n_windows} origin(s) from "
                f"observation {first} (the first refit sees {first} observations): {detail}"
            )
            continue
        result = result.sort_values(["cutoff", "ds"])
        forecasts[name] = result[model.alias].to_numpy(dtype=np.float64).reshape(n_windows, h)
    return forecasts
