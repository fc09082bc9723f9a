"""Series in and out in the long form of Nixtla's libraries: ``unique_id``, ``ds``, ``y``.

statsforecast, neuralforecast and utilsforecast take and return one long
DataFrame, a row per series and date; pandas users hold a Series with a date
or period index. :func:`tuner.tune` takes either, and forecasts come back in the
long form with a datetime ``ds`` (docs/api.md), so utilsforecast's ``evaluate``
and ``plot_series`` take them as they are.
"""

from __future__ import annotations

import io

import pandas as pd

from tuner.exceptions import ConfigError

__all__ = [
    "DATE",
    "ID",
    "VALUE",
    "csv_text",
    "one_series",
    "panel_csv_text",
    "panel_ids_of",
    "timestamps",
]

ID, DATE, VALUE = "unique_id", "ds", "y"
"""The long form's columns."""


def one_series(data: object) -> tuple[str | None, pd.Series]:
    """The one series ``data`` holds, indexed by its dates, and its id.

    Args:
        data: A pandas Series indexed by dates, periods or whole numbers, or a
            long DataFrame with the columns ``unique_id`` (optional), ``ds`` and ``y``.

    Returns:
        The series' ``unique_id`` (a Series' name; ``None`` when it has neither), and
        its values in date order under an index named ``ds``.

    Raises:
        ConfigError: ``data`` is neither, holds more than one series, or its values
            are not numbers.
    """
    if isinstance(data, pd.Series):
        identity = None if data.name is None else str(data.name)
        series = data.rename_axis(DATE)
    elif isinstance(data, pd.DataFrame):
        identity, series = _from_long(data)
    else:
        raise ConfigError(
            "data must be a pandas Series indexed by dates or a long DataFrame with columns "
            f"unique_id, ds and y; got {type(data).__name__}"
        )
    _require_dated(series.index)
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise ConfigError(f"data's values must be numbers; got dtype {series.dtype}")
    return identity, series.sort_index().rename(VALUE)


def panel_ids_of(data: object) -> list[str]:
    """The series ids of a long DataFrame holding more than one; empty for anything else."""
    if not isinstance(data, pd.DataFrame) or ID not in data.columns:
        return []
    ids = [str(one) for one in data[ID].unique()]
    return ids if len(ids) > 1 else []


def panel_csv_text(frame: pd.DataFrame) -> str:
    """A long DataFrame of many series as a CSV (``unique_id``, ``ds``, ``y``), series by series.

    Each series is written as :func:`csv_text` writes one, so its dates read back the same.

    Raises:
        ConfigError: A series is not one (see :func:`one_series`).
    """
    parts = []
    for identity, rows in frame.groupby(ID, sort=False):
        _, series = one_series(rows.drop(columns=ID))
        one = pd.read_csv(io.StringIO(csv_text(series)), dtype=str)
        parts.append(one.assign(**{ID: str(identity)})[[ID, DATE, VALUE]])
    return pd.concat(parts, ignore_index=True).to_csv(index=False)


def _from_long(frame: pd.DataFrame) -> tuple[str | None, pd.Series]:
    missing = [column for column in (DATE, VALUE) if column not in frame.columns]
    if missing:
        raise ConfigError(
            f"data must have the columns unique_id, ds and y; missing {', '.join(missing)} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    identity = None
    if ID in frame.columns:
        ids = frame[ID].unique()
        if len(ids) > 1:
            shown = ", ".join(map(str, ids[:3])) + (", ..." if len(ids) > 3 else "")
            raise ConfigError(
                f"data must hold one series; got {len(ids)} unique_id values ({shown}): "
                "select one, data[data.unique_id == ID]"
            )
        identity = str(ids[0]) if len(ids) else None
    return identity, frame.set_index(DATE)[VALUE]


def _require_dated(index: pd.Index) -> None:
    dated = isinstance(index, pd.DatetimeIndex | pd.PeriodIndex)
    if not dated and not pd.api.types.is_integer_dtype(index):
        raise ConfigError(
            "data's dates (the Series' index, or column ds) must be dates, periods or whole "
            f"numbers; got dtype {index.dtype}"
        )


def timestamps(index: pd.Index) -> pd.Index:
    """``index`` as the long form's ``ds``: a period becomes its first instant; numbers stay.

    Periods that pandas' timestamps cannot hold (before 1677, as the shampoo
    tutorial's years 1 to 3) stay periods.
    """
    if isinstance(index, pd.PeriodIndex):
        try:
            return index.to_timestamp()
        except pd.errors.OutOfBoundsDatetime:
            return index
    return index


def csv_text(series: pd.Series) -> str:
    """The series as a two-column CSV (``ds``, ``y``) that reads back to the same dates.

    Dates are written as ISO dates, with the time of day only where one has it,
    so that the frequency checks of :func:`tuner.data.dates.read_dates` see them
    as they are.
    """
    index = timestamps(series.index)
    if isinstance(index, pd.DatetimeIndex):
        has_time = (index != index.normalize()).any()
        index = index.strftime("%Y-%m-%d %H:%M:%S" if has_time else "%Y-%m-%d")
    frame = pd.DataFrame({DATE: index, VALUE: series.to_numpy()})
    return frame.to_csv(index=False)
