"""Dates: the season a series' frequency implies, and the dates that continue it.

A monthly series has a season of 12 observations, whether its dates load as
monthly periods (the built-in series) or as timestamps with a monthly frequency;
the seasonal baselines and seasonal differencing read it from here. A forecast's
steps are labelled by continuing the same frequency past the last date.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
from pandas.tseries.frequencies import to_offset

from tuner.data.dates import date_label
from tuner.data.series import Series
from tuner.exceptions import DataError

__all__ = ["future_index", "season_of"]

_MONTHLY, _QUARTERLY, _WEEKLY, _DAILY = 12, 4, 52, 7


def season_of(series: Any) -> int | None:
    """The season length implied by a series' index frequency.

    Monthly (month-end business days included) gives 12, quarterly 4, weekly 52
    and daily 7, whether the index is a :class:`pandas.PeriodIndex` (``shampoo``
    and ``airline`` load as monthly periods) or a :class:`pandas.DatetimeIndex`
    with a set or inferable frequency.
    Any other index or frequency (yearly, hourly, every 2 months, irregular) gives
    ``None``.

    Args:
        series: A :class:`tuner.data.series.Series` (or anything with an ``index``), or a
            pandas index.
    """
    index = series if isinstance(series, pd.Index) else getattr(series, "index", None)
    if isinstance(index, pd.PeriodIndex):
        offset = index.freq
    elif isinstance(index, pd.DatetimeIndex):
        offset = index.freq or _inferred_offset(index)
    else:
        return None
    if offset is None or offset.n != 1:
        return None
    offsets = pd.offsets
    monthly = (offsets.MonthEnd, offsets.MonthBegin, offsets.BusinessMonthEnd)
    if isinstance(offset, (*monthly, offsets.BusinessMonthBegin)):
        return _MONTHLY
    if isinstance(offset, offsets.QuarterEnd | offsets.QuarterBegin):
        return _QUARTERLY
    if isinstance(offset, offsets.Week):
        return _WEEKLY
    if isinstance(offset, offsets.Day):
        return _DAILY
    return None


def _inferred_offset(index: Any) -> Any:
    """The frequency pandas infers for a DatetimeIndex, as an offset; ``None`` if none."""
    try:
        with warnings.catch_warnings():
            # pandas 3 warns that inferred_freq will become an offset; to_offset takes both.
            warnings.simplefilter("ignore")
            inferred = index.inferred_freq
    except (TypeError, ValueError):
        return None
    return None if inferred is None else to_offset(inferred)


def future_index(series: Series, horizon: int) -> pd.Index:
    """The ``horizon`` steps after the last observation, of the same kind as the series' index.

    Raises:
        DataError: The dates are neither periods nor regular enough to infer a frequency.
    """
    index = series.index
    if isinstance(index, pd.PeriodIndex):
        return pd.period_range(index[-1] + 1, periods=horizon, freq=index.freq)
    if pd.api.types.is_integer_dtype(index) and len(index) >= 2:
        step = int(index[-1] - index[-2])
        return pd.Index(range(int(index[-1]) + step, int(index[-1]) + step * (horizon + 1), step))
    frequency = index.freq if isinstance(index, pd.DatetimeIndex) else None
    if frequency is None and isinstance(index, pd.DatetimeIndex) and len(index) >= 3:
        frequency = pd.infer_freq(index)
    if frequency is None:
        raise DataError(
            f"{series.name}: the dates have no regular frequency to continue (for example "
            f"{date_label(index[-2])} then {date_label(index[-1])}); a forecast needs "
            "evenly spaced dates"
        )
    return pd.date_range(index[-1], periods=horizon + 1, freq=frequency)[1:]
