"""Scores of a set of forecasts: the metrics, the objectives, the describe() summary, skill.

Persistence and skill are defined in docs/method.md, section 1; the metrics and
the objectives a study can rank its trials by in section 6.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEFAULT_OBJECTIVE",
    "METRICS",
    "METRIC_LABELS",
    "OBJECTIVES",
    "OBJECTIVE_LABELS",
    "SUMMARY_KEYS",
    "ForecastErrors",
    "finite_or_none",
    "forecast_errors",
    "objective_metric",
    "skill",
    "summarize",
]

METRICS: tuple[str, ...] = ("rmse", "mae", "smape", "mase")
"""Forecast errors every complete trial stores: RMSE and MAE in the series' units,
sMAPE in percent (the M3 definition) and MASE (scaled by the in-sample seasonal naive
error), the last two comparable across series."""
METRIC_LABELS = {"rmse": "RMSE", "mae": "MAE", "smape": "sMAPE", "mase": "MASE"}

OBJECTIVES: tuple[str, ...] = tuple(
    f"{kind}_{metric}" for metric in METRICS for kind in ("mean", "ensemble")
)
"""What a trial's value can be: ``mean_<metric>``, the mean of its repeats' errors, or
``ensemble_<metric>``, the error of their mean forecast. The first says how good one fit
is expected to be; the second how good the forecast is that averages them all, which is
what ``tuner forecast`` gives."""
DEFAULT_OBJECTIVE = "mean_rmse"
OBJECTIVE_LABELS = {
    f"{kind}_{metric}": f"{kind} {METRIC_LABELS[metric]}"
    for metric in METRICS
    for kind in ("mean", "ensemble")
}
"""How each objective is named where a score is printed."""


def objective_metric(objective: str) -> str:
    """The metric an objective scores: ``ensemble_smape`` scores ``smape``."""
    return objective.split("_", 1)[1]


@dataclass(frozen=True)
class ForecastErrors:
    """Every metric of several forecasts of the same observations, overall and by step.

    Attributes:
        overall: Per metric, each forecast's error over every origin and step,
            shape ``(forecasts,)``; NaN where a metric is undefined (MASE on a
            constant history).
        by_step: Per metric, each forecast's error at each horizon step over the
            origins, shape ``(forecasts, horizon)``.
    """

    overall: dict[str, np.ndarray]
    by_step: dict[str, np.ndarray]


def forecast_errors(
    actual: np.ndarray,
    forecasts: np.ndarray,
    starts: Sequence[int],
    history: np.ndarray,
    season: int,
) -> ForecastErrors:
    """Score forecasts from rolling origins by every metric of :data:`METRICS`.

    MAE, sMAPE and MASE come from utilsforecast's losses, each pair of a forecast
    and a horizon step a series of its own and each origin a cutoff (so MASE's
    scale is the seasonal naive MAE of the observations before that origin); a
    metric over several origins or steps is the mean of its values at each, every
    point weighing the same. (One long frame, rather than a column per forecast,
    is several times faster through utilsforecast's dataframe layer.) sMAPE is
    utilsforecast's times 200, the M3 competition's percent. RMSE is
    scikit-learn's, over the pooled points, so that a horizon-1 score is the
    walk-forward's RMSE to the bit.

    Args:
        actual: The observations forecast, ``(origins, horizon)``.
        forecasts: The forecasts, ``(forecasts, origins, horizon)``.
        starts: The index in ``history`` of each origin's first forecast.
        history: The series, at least up to the last forecast observation.
        season: MASE's seasonal naive lag (1: the naive forecast).
    """
    import pandas as pd  # not at import: study files read OBJECTIVES, `--help` stays light
    from sklearn.metrics import root_mean_squared_error
    from utilsforecast.losses import mae, mase, smape

    count, (origins, horizon) = len(forecasts), actual.shape
    series = count * horizon  # series k * horizon + h: forecast k at step h
    points = np.add.outer(np.asarray(starts), np.arange(horizon)).reshape(-1)
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(count) * horizon, origins * horizon)
            + np.tile(np.arange(horizon), count * origins),
            "ds": np.tile(points, count),
            "cutoff": np.tile(np.repeat(np.asarray(starts) - 1, horizon), count),
            "y": np.tile(actual.reshape(-1), count),
            "forecast": forecasts.reshape(-1),
        }
    )
    before = history[: max(starts)]
    train = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(series), len(before)),
            "ds": np.tile(np.arange(len(before)), series),
            "y": np.tile(before, series),
        }
    )
    tables = {
        "mae": mae(frame, ["forecast"]),
        "smape": smape(frame, ["forecast"]),
        "mase": mase(frame, ["forecast"], season, train),
    }
    by_step: dict[str, np.ndarray] = {}
    overall: dict[str, np.ndarray] = {}
    for metric, table in tables.items():
        scale = 200.0 if metric == "smape" else 1.0
        ordered = table.sort_values(["unique_id", "cutoff"])["forecast"].to_numpy(np.float64)
        values = scale * ordered.reshape(count, horizon, origins)
        by_step[metric] = values.mean(axis=2)
        overall[metric] = values.mean(axis=(1, 2))
    # every forecast's steps as columns of one call: (origins, forecasts x horizon)
    by_step["rmse"] = root_mean_squared_error(
        np.tile(actual, count),
        forecasts.transpose(1, 0, 2).reshape(origins, -1),
        multioutput="raw_values",
    ).reshape(count, horizon)
    overall["rmse"] = np.array(
        [root_mean_squared_error(actual.reshape(-1), f.reshape(-1)) for f in forecasts]
    )
    return ForecastErrors(
        overall={m: overall[m] for m in METRICS}, by_step={m: by_step[m] for m in METRICS}
    )


SUMMARY_KEYS: tuple[str, ...] = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")


def summarize(rmses: Sequence[float]) -> dict[str, float | None]:
    """Summarise repeat RMSEs as pandas ``describe()`` does (sample std, quartiles).

    A statistic that is undefined (the std of a single repeat) is ``None`` rather
    than NaN, so the summary is valid JSON and never stores NaN.
    """
    import pandas as pd  # here, not at the top: study files read OBJECTIVES, `--help` stays light

    described = pd.Series(list(rmses), dtype=float).describe()
    return {key: finite_or_none(described[key]) for key in SUMMARY_KEYS}


def skill(mean_rmse: float, reference_rmse: float | None) -> float | None:
    """Skill relative to a reference forecast: ``1 - mean / reference`` (positive is better).

    The reference is persistence, or the best baseline. ``None`` when it is
    perfect (RMSE 0) or unknown, where no relative skill exists.
    """
    if not reference_rmse:
        return None
    return 1.0 - mean_rmse / reference_rmse


def finite_or_none(value: float) -> float | None:
    """``value``, or ``None`` where it is NaN or infinite (JSON has neither)."""
    return float(value) if math.isfinite(value) else None
