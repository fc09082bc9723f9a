"""The chosen forecaster's forecast: the LSTM's, a classical model's, or a mean of forecasts.

Each study chooses its forecaster on validation (docs/method.md, section 15);
a user forecasting a panel wants that choice's forecast, with the LSTM's
beside it. A classical choice is refitted on the whole series by statsforecast,
which gives its own prediction intervals; the classical mean is the mean of the
three classical models' forecasts, step by step, and its interval the mean of their
bounds; the combination is the mean of the LSTM's forecast and its classical
partner's, its interval again the mean of their bounds, an approximation (no rule
combines a conformal interval with a model-based one exactly) that docs/method.md
states.

The LSTM's refit is checked before its forecast is given as the choice's
(:func:`strays`): validation scored the trials' forecasts, not this refit, and a
refit on the whole series can run away where no trial did. One that strays from
the classical mean's forecast by more than the two erred on validation together
is not the forecaster validation chose, and the classical mean is given instead.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tuner.evaluation.baselines import statistical_models
from tuner.evaluation.intervals import interval_columns
from tuner.search.choice import CLASSICAL, CLASSICAL_MEAN

__all__ = ["CHOSEN", "FORECAST", "classical_forecast", "strays", "with_chosen"]

logger = logging.getLogger(__name__)

REFITTED = ("lstm", "combination")
"""The candidates whose forecast holds the LSTM's refit, which validation never scored."""

FORECAST = "forecast"
"""The column of the chosen forecaster's forecast."""
CHOSEN = "chosen"
"""The column naming the chosen forecaster."""


def classical_forecast(
    values: np.ndarray, season: int | None, model: str, horizon: int, levels: Sequence[int]
) -> pd.DataFrame:
    """``model`` (``theta``, ``auto_ets``, ``auto_arima``) fitted on ``values``, ``horizon`` ahead.

    Returns:
        One row per step: ``point`` and, per level, ``lo-L`` and ``hi-L``.
    """
    from statsforecast import StatsForecast  # seconds to import: only when one is chosen

    fitted = statistical_models(season)[model]
    frame = pd.DataFrame({"unique_id": 0, "ds": np.arange(len(values)), "y": values})
    result = StatsForecast(models=[fitted], freq=1).forecast(
        df=frame, h=horizon, level=list(levels)
    )
    alias = fitted.alias
    columns = {alias: "point"} | {
        f"{alias}-{side}": side for level in levels for side in interval_columns(level)
    }
    return result[list(columns)].rename(columns=columns).reset_index(drop=True)


def strays(
    picked: np.ndarray, mean: np.ndarray, record: Mapping[str, object], steps: int
) -> float | None:
    """How far the chosen forecast strays from the classical mean's beyond what validation allows.

    Were both forecasters to err on the coming steps as they did on validation,
    their forecasts' RMSE from each other could not exceed the sum of their
    validation RMSEs (the triangle inequality of the RMSE, a norm). Only the first
    ``steps`` (the validated horizon) are compared: validation says nothing of
    the later ones.

    Returns:
        The RMSE between the two forecasts when it exceeds that sum; ``None`` when
        it does not, or when the record holds no validation RMSE (a study chosen
        before the record kept one).
    """
    every: Mapping[str, Mapping[str, float | None]] = record.get("validation_metrics") or {}  # type: ignore[assignment]
    erred = [
        (every.get(str(name)) or {}).get("rmse") for name in (record["chosen"], CLASSICAL_MEAN)
    ]
    if any(rmse is None for rmse in erred):
        return None
    apart = float(np.sqrt(np.mean((picked[:steps] - mean[:steps]) ** 2)))
    return apart if apart > sum(erred) else None  # type: ignore[arg-type]


def with_chosen(
    lstm: pd.DataFrame,
    choice: Mapping[str, object] | None,
    values: np.ndarray,
    season: int | None,
    levels: Sequence[int],
    steps: int,
) -> pd.DataFrame:
    """``lstm`` (one series' LSTM forecast, long form) with the chosen forecaster's beside it.

    Adds ``forecast`` with its ``forecast-lo-L``/``forecast-hi-L`` and ``chosen``.
    A study not yet confirmed has no choice: its forecast is the LSTM's. A choice
    holding the LSTM's refit whose forecast :func:`strays` over the first ``steps``
    (the horizon validation scored) gives the classical mean's forecast instead,
    ``chosen`` saying so, with a warning.
    """
    chosen = (choice or {}).get("chosen") or "lstm"
    horizon = len(lstm)
    frame = lstm.copy()
    sides = [side for level in levels for side in interval_columns(level)]
    missing = pd.Series(np.nan, index=lstm.index)  # an export without residuals has no interval
    own = pd.DataFrame(
        {"point": lstm["lstm"], **{side: lstm.get(f"lstm-{side}", missing) for side in sides}}
    ).reset_index(drop=True)

    @functools.cache  # the combination's partner is one of the mean's three: fitted once
    def refit(name: str) -> pd.DataFrame:
        return classical_forecast(values, season, name, horizon, levels)

    def classical_mean() -> pd.DataFrame:
        return sum(refit(name) for name in CLASSICAL) / len(CLASSICAL)  # type: ignore[return-value]

    if chosen == "lstm":
        picked = own
    elif chosen == CLASSICAL_MEAN:
        picked = classical_mean()
    elif chosen == "combination":
        picked = (own + refit(str(choice["combined_with"]))) / 2  # type: ignore[index]
    else:
        picked = refit(str(chosen))
    if choice and chosen in REFITTED:
        mean = classical_mean()
        apart = strays(picked["point"].to_numpy(), mean["point"].to_numpy(), choice, steps)
        if apart is not None:
            logger.warning(
                "series %s: the %s forecast strays from the classical mean's by RMSE %.4g over "
                "%d steps, more than the two erred on validation together; the classical mean "
                "forecasts",
                lstm["unique_id"].iloc[0],
                chosen,
                apart,
                min(steps, horizon),
            )
            picked, chosen = mean, CLASSICAL_MEAN
    frame[FORECAST] = picked["point"].to_numpy()
    for side in sides:
        frame[f"{FORECAST}-{side}"] = picked[side].to_numpy()
    frame[CHOSEN] = chosen
    return frame
