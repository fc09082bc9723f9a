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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tuner.evaluation.baselines import statistical_models
from tuner.evaluation.intervals import interval_columns
from tuner.search.choice import CLASSICAL, CLASSICAL_MEAN

__all__ = ["CHOSEN", "FORECAST", "classical_forecast", "with_chosen"]

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


def with_chosen(
    lstm: pd.DataFrame,
    choice: Mapping[str, object] | None,
    values: np.ndarray,
    season: int | None,
    levels: Sequence[int],
) -> pd.DataFrame:
    """``lstm`` (one series' LSTM forecast, long form) with the chosen forecaster's beside it.

    Adds ``forecast`` with its ``forecast-lo-L``/``forecast-hi-L`` and ``chosen``.
    A study not yet confirmed has no choice: its forecast is the LSTM's.
    """
    chosen = (choice or {}).get("chosen") or "lstm"
    frame = lstm.copy()
    sides = [side for level in levels for side in interval_columns(level)]
    missing = pd.Series(np.nan, index=lstm.index)  # an export without residuals has no interval
    own = pd.DataFrame(
        {"point": lstm["lstm"], **{side: lstm.get(f"lstm-{side}", missing) for side in sides}}
    ).reset_index(drop=True)
    if chosen == "lstm":
        picked = own
    elif chosen == CLASSICAL_MEAN:
        fitted = [classical_forecast(values, season, name, len(lstm), levels) for name in CLASSICAL]
        picked = sum(fitted) / len(fitted)
    elif chosen == "combination":
        partner = str(choice["combined_with"])  # type: ignore[index]
        picked = (own + classical_forecast(values, season, partner, len(lstm), levels)) / 2
    else:
        picked = classical_forecast(values, season, str(chosen), len(lstm), levels)
    frame[FORECAST] = picked["point"].to_numpy()
    for side in sides:
        frame[f"{FORECAST}-{side}"] = picked[side].to_numpy()
    frame[CHOSEN] = chosen
    return frame
