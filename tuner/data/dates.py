"""Reading a date column faithfully: one order of day and month, one regular frequency.

The dates label the observations, and the season, the seasonal baselines and a
forecast's dates are read from them, so a date read wrongly misleads every score
after it (docs/method.md, section 1, step 1). Three things used to pass silently:

* ``01/02/2017`` written day first was read month first (2 January);
* a missing month was accepted, misaligning every seasonal lag after it;
* dates a few days apart here and a month there were accepted as a series.

So a column of dates must form one regular frequency: annual, quarterly,
monthly, weekly, business-daily, daily, hourly (or finer), or be a plain integer
index. A day/month order that the dates leave open is refused unless
``date_format`` gives it; a gap is refused naming the first missing date; an
irregular spacing is refused naming where it breaks.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from tuner.exceptions import DataError

__all__ = ["date_label", "read_dates"]

_YEAR_MONTH = re.compile(r"^\s*(\d{1,4})-(\d{1,2})\s*$")
_INTEGER = re.compile(r"^\d+$")
_YEAR = re.compile(r"^\d{4}$")
_NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(?:\d{2}|\d{4})(?:[ T].*)?$")
"""Day and month as numbers, in an order the text does not say (``01/02/2017``)."""

FREQUENCIES = {
    "Y": "annual",
    "Q": "quarterly",
    "M": "monthly",
    "W": "weekly",
    "D": "daily",
    "h": "hourly",
    "min": "minutely",
    "s": "secondly",
}
"""Period frequencies a series may have, coarsest first, and their names in messages.

Business days (weekdays only) are told apart before daily ones, without periods:
pandas is retiring business-day periods."""


def date_label(value: object) -> str:
    """One label of a series' index as text, the same under pandas 2 and 3.

    A monthly period is written ``YYYY-MM`` with the year padded to four digits
    (``0001-01``; pandas 2 itself writes ``1-01``, pandas 3 ``0001-01``); anything
    else as ``str`` writes it (a timestamp as ``2020-01-05 00:00:00``).
    """
    if isinstance(value, pd.Period) and value.freqstr == "M":
        return f"{value.year:04d}-{value.month:02d}"
    return str(value)


def read_dates(column: pd.Series, label: str, name: str, date_format: str | None) -> pd.Index:
    """The dates of ``column`` as an index of one regular frequency.

    Args:
        column: The date column's cells, as text.
        label: The column's name, for messages.
        name: The series' name, for messages.
        date_format: A ``strftime`` format the dates are written in (for example
            ``%d/%m/%Y``); ``None`` reads them as below.

    Returns:
        Monthly periods for ``Y-M`` text (shampoo's ``1-01``), annual periods for
        four-digit years, an integer index for other whole numbers, else dates:
        with their inferred frequency set, or as periods of the frequency they
        keep (month-end business days become months).

    Raises:
        DataError: A cell is not a date; day and month could be read either way
            and ``date_format`` does not say which; the dates are out of order,
            repeat, skip a period or are not evenly spaced.
    """
    text = column.str.strip()
    if date_format is not None:
        index = _formatted(text, label, name, date_format)
    else:
        index = _guessed(text, label, name)
    _check_increasing(index, label, name)
    return _regular(index, label, name)


def _formatted(text: pd.Series, label: str, name: str, date_format: str) -> pd.Index:
    try:
        dates = pd.to_datetime(text, format=date_format, errors="coerce")
    except ValueError as error:
        raise DataError(
            f"{name}: date_format {date_format!r} is not a date format: {error}"
        ) from None
    if dates.isna().any():
        position = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(
            f"{name}: column {label!r}, data row {position + 1} is {text.iloc[position]!r}, "
            f"not a date written as date_format {date_format!r}"
        )
    return pd.DatetimeIndex(dates, name=label)


def _guessed(text: pd.Series, label: str, name: str) -> pd.Index:
    """Read dates whose form tells how, refusing a day/month order the text leaves open."""
    year_month = text.str.extract(_YEAR_MONTH)
    is_year_month = year_month.notna().all(axis=1).to_numpy()
    if is_year_month.all():
        return _monthly_periods(year_month, label, name)
    if text.str.fullmatch(_INTEGER).all():
        if text.str.fullmatch(_YEAR).all():
            return pd.PeriodIndex([pd.Period(year=int(y), freq="Y") for y in text], name=label)
        return pd.Index(text.astype(np.int64).to_numpy(), name=label)
    dayfirst = _day_first(text.str.extract(_NUMERIC_DATE), text, label, name)
    dates = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=dayfirst)
    # The row to blame is the first that is neither a year-month period nor a date:
    # pandas 2 does not read a period such as '1-01' as a date (pandas 3 does), so
    # blaming the first unparsed row would blame a valid period before the bad row.
    neither = dates.isna().to_numpy() & ~is_year_month
    if neither.any():
        position = int(np.flatnonzero(neither)[0])
        raise DataError(
            f"{name}: column {label!r}, data row {position + 1} is {text.iloc[position]!r}, "
            "not a date (expected YYYY-MM, Y-MM, a year, a whole number or a date pandas "
            "can parse; date_format gives any other form)"
        )
    if is_year_month.any():
        # Refused under every pandas version, rather than read differently by each.
        period = int(np.flatnonzero(is_year_month)[0])
        date = int(np.flatnonzero(~is_year_month)[0])
        raise DataError(
            f"{name}: column {label!r}, data row {period + 1} is {text.iloc[period]!r}, a "
            f"year-month period, but data row {date + 1} is {text.iloc[date]!r}, a date; "
            "write the whole column in one form"
        )
    return pd.DatetimeIndex(dates, name=label)


def _day_first(numeric: pd.DataFrame, text: pd.Series, label: str, name: str) -> bool:
    """Whether numeric dates (``01/02/2017``) are day first; refuse when either order fits.

    Rows written otherwise (``2017-02-01``, ``1 Feb 2017``) say their own order and
    are left out; with none written numerically, the answer does not matter.

    Raises:
        DataError: Every numeric date reads both ways, or some read neither way.
    """
    rows = numeric.notna().all(axis=1).to_numpy()
    first = pd.to_numeric(numeric[0]).fillna(1).to_numpy()
    second = pd.to_numeric(numeric[2]).fillna(1).to_numpy()
    month_first = bool(((first <= 12) & (second <= 31)).all())
    day_first = bool(((second <= 12) & (first <= 31)).all())
    differ = rows & (first != second)
    if month_first and day_first and differ.any():
        position = int(np.flatnonzero(differ)[0])
        mark = numeric[1].iloc[position]
        formats = " or ".join(
            repr(f"{a}{mark}{b}{mark}%Y") for a, b in (("%d", "%m"), ("%m", "%d"))
        )
        raise DataError(
            f"{name}: column {label!r}: dates such as {text.iloc[position]!r} read as day first "
            f"or as month first, and the file does not tell which; give date_format {formats} "
            "(--date-format on the command line)"
        )
    if not (month_first or day_first):
        raise DataError(_mixed_orders(first, second, text, label, name))
    return not month_first


def _mixed_orders(
    first: np.ndarray, second: np.ndarray, text: pd.Series, label: str, name: str
) -> str:
    """The message for numeric dates that no single order of day and month reads."""
    neither = np.flatnonzero((first > 12) & (second > 12))
    if neither.size:
        where = f"data row {neither[0] + 1} is {text.iloc[neither[0]]!r}"
    else:
        days = int(np.flatnonzero(first > 12)[0])
        months = int(np.flatnonzero(second > 12)[0])
        where = (
            f"data row {days + 1} is {text.iloc[days]!r}, day first, but data row "
            f"{months + 1} is {text.iloc[months]!r}, month first"
        )
    return (
        f"{name}: column {label!r}: no one order of day and month reads every date "
        f"({where}); write the column in one order and give date_format (--date-format)"
    )


def _monthly_periods(year_month: pd.DataFrame, label: str, name: str) -> pd.PeriodIndex:
    periods = []
    for position, (year, month) in enumerate(year_month.itertuples(index=False)):
        if not 1 <= int(month) <= 12:
            raise DataError(
                f"{name}: column {label!r}, data row {position + 1} has month {month}; "
                "months run from 1 to 12"
            )
        periods.append(pd.Period(year=int(year), month=int(month), freq="M"))
    return pd.PeriodIndex(periods, name=label)


def _check_increasing(index: pd.Index, label: str, name: str) -> None:
    """Refuse dates out of order or repeated: sorting silently could hide a broken file."""
    steps = np.diff(_ordinals(index))
    if (steps > 0).all():
        return
    position = int(np.flatnonzero(steps <= 0)[0]) + 1
    if steps[position - 1] == 0:
        raise DataError(
            f"{name}: column {label!r}, data row {position + 1} repeats the date of data "
            f"row {position} ({date_label(index[position])}); each date must appear once"
        )
    raise DataError(
        f"{name}: column {label!r}, dates must increase: data row {position + 1} "
        f"({date_label(index[position])}) comes before data row {position} "
        f"({date_label(index[position - 1])}); sort the file by date"
    )


def _ordinals(index: pd.Index) -> np.ndarray:
    """The index as integers in its own units: period ordinals, nanoseconds, or itself."""
    if isinstance(index, pd.PeriodIndex):
        return index.asi8
    if isinstance(index, pd.DatetimeIndex):
        return index.asi8
    return index.to_numpy(dtype=np.int64)


def _regular(index: pd.Index, label: str, name: str) -> pd.Index:
    """``index`` when it keeps one frequency (set on it); refuse a gap or an uneven spacing."""
    if len(index) < 3:
        return index
    if isinstance(index, pd.PeriodIndex):
        _check_no_gap(index, label, name)
        return index
    if not isinstance(index, pd.DatetimeIndex):
        _check_even_steps(index, label, name)
        return index
    inferred = pd.infer_freq(index)
    if inferred is not None:
        return pd.DatetimeIndex(index, freq=inferred)
    for frequency in FREQUENCIES:
        if frequency == "D" and (business := _business_days(index, label, name)) is not None:
            return business
        periods = index.to_period(frequency)
        if not periods.is_unique:
            continue
        if _missing(periods) > len(periods):
            break  # finer and finer periods, most of them empty: the spacing is uneven
        _check_no_gap(periods, label, name)
        return periods.rename(label)
    _check_even_steps(index, label, name)
    return index  # unreachable: uneven steps were refused


def _business_days(index: pd.DatetimeIndex, label: str, name: str) -> pd.DatetimeIndex | None:
    """Weekday-only dates as business days, a skipped weekday refused; ``None`` if not such."""
    days = index.normalize()
    if (days.dayofweek >= 5).any() or not days.is_unique:
        return None
    missing = pd.bdate_range(days[0], days[-1]).difference(days)
    if len(missing) > len(days):
        return None
    if len(missing):
        position = int(np.searchsorted(days.asi8, missing[0].value))
        raise DataError(
            _gap_message(
                name,
                label,
                "business-daily",
                missing[0].date(),
                position,
                days[position - 1].date(),
                days[position].date(),
            )
        )
    return pd.DatetimeIndex(days, freq="B", name=label)


def _missing(periods: pd.PeriodIndex) -> int:
    return int(periods[-1].ordinal - periods[0].ordinal + 1 - len(periods))


def _check_no_gap(periods: pd.PeriodIndex, label: str, name: str) -> None:
    """Refuse consecutive periods that skip one, naming the first missing."""
    steps = np.diff(periods.asi8)
    if (steps == 1).all():
        return
    position = int(np.flatnonzero(steps != 1)[0]) + 1
    kind = FREQUENCIES.get(periods.freqstr.split("-")[0], periods.freqstr)
    before, after = periods[position - 1], periods[position]
    raise DataError(
        _gap_message(
            name,
            label,
            kind,
            date_label(before + 1),
            position,
            date_label(before),
            date_label(after),
        )
    )


def _gap_message(
    name: str, label: str, kind: str, missing: object, position: int, before: object, after: object
) -> str:
    """One line naming the first missing date, and the rows on either side of it."""
    return (
        f"{name}: column {label!r}: {missing} is missing (the dates are {kind}; data row "
        f"{position} is {before}, data row {position + 1} is {after}); a series needs every "
        "period: fill the gap (for example by interpolating) or keep only the dates after it"
    )


def _check_even_steps(index: pd.Index, label: str, name: str) -> None:
    """Refuse an index whose steps differ, naming the first that differs from the first."""
    steps = np.diff(_ordinals(index))
    if (steps == steps[0]).all():
        return
    position = int(np.flatnonzero(steps != steps[0])[0]) + 1
    dated = isinstance(index, pd.DatetimeIndex)
    size = pd.Timedelta if dated else int
    # Whole numbers such as 20170131 are dates written without separators.
    hint = "" if dated else "; whole numbers that are dates (20170131) need date_format %Y%m%d"
    raise DataError(
        f"{name}: column {label!r}: the dates are not evenly spaced: data rows 1 and 2 are "
        f"{size(steps[0])} apart, data rows {position} and {position + 1} "
        f"({date_label(index[position - 1])}, {date_label(index[position])}) are "
        f"{size(steps[position - 1])} apart; a series needs one observation per period "
        f"(annual, quarterly, monthly, weekly, daily, hourly or finer){hint}"
    )
