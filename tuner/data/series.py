"""Loading a univariate series: a built-in name or a CSV file (docs/method.md, section 1, step 1).

The series' values are what is forecast, and must all be finite numbers; its
dates label them and give the season, so they must form one regular frequency
(read by :mod:`tuner.data.dates`).
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.data.dates import read_dates
from tuner.exceptions import DataError

__all__ = ["BUILTIN_SERIES", "PanelKey", "Series", "csv_columns", "load_series", "panel_ids"]

BUILTIN_SERIES: dict[str, str] = {
    "shampoo": "shampoo-sales.csv",
    "airline": "airline-passengers.csv",
}

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
"""A number with comma thousands separators (``1,200.5``), in a comma- or tab-separated file."""


@dataclass(frozen=True)
class Series:
    """A loaded univariate series.

    Attributes:
        name: Built-in name or file path, used in messages and reports.
        values: The observations in file order, as float64.
        index: One label per observation (monthly periods or timestamps).
        value_column: The column the values came from.
    """

    name: str
    values: np.ndarray
    index: pd.Index
    value_column: str

    def __len__(self) -> int:
        return len(self.values)


def load_series(
    source: str | Path,
    date_column: str | None = None,
    value_column: str | None = None,
    date_format: str | None = None,
    panel: PanelKey | None = None,
) -> Series:
    """Load a built-in series by name, or a CSV file by path.

    Args:
        source: ``shampoo``, ``airline`` or the path of a CSV file with a header row.
        date_column: Column holding dates or periods; the first column by default.
        value_column: Column holding the observations; the second column by default.
            A column may also be given by its 0-based position.
        date_format: How the dates are written (``strftime``, for example
            ``%d/%m/%Y``); needed only when the dates leave the order of day and
            month open (see :mod:`tuner.data.dates`).
        panel: In a long CSV of many series (a panel), which series: the rows whose
            id column holds its id. The columns are then counted without the id
            column, so ``unique_id, ds, y`` reads dates from ``ds`` and values from ``y``.

    Raises:
        DataError: The file is missing or unreadable, a column is unknown, the
            panel has no series of that id, a date
            does not parse or its day/month order is open, the dates repeat, go
            back, skip a period or are unevenly spaced, or a value is empty, not a
            number or not finite.
    """
    name = str(source)
    frame, delimiter = _read_csv(_resolve(name), name)
    if panel is not None:
        frame, name = _one_series(frame, panel, name)
    date_col = _pick_column(frame, date_column, 0, "date_column", name)
    value_col = _pick_column(frame, value_column, 1, "value_column", name)
    if date_col == value_col:
        raise DataError(f"{name}: date_column and value_column are both {date_col!r}")
    values = _parse_values(frame[value_col], value_col, name, delimiter)
    index = read_dates(frame[date_col], date_col, name, date_format)
    return Series(name=name, values=values, index=index, value_column=value_col)


@dataclass(frozen=True)
class PanelKey:
    """One series of a panel: a long CSV with one row per (series, date).

    Attributes:
        id_column: The column naming each row's series (``unique_id``, as in
            statsforecast, neuralforecast and utilsforecast).
        unique_id: The series.
    """

    id_column: str
    unique_id: str


def panel_ids(source: str | Path, id_column: str) -> list[str]:
    """Every series id of the panel ``source``, in the order each first appears.

    Raises:
        DataError: The file cannot be read, or has no column ``id_column``.
    """
    name = str(source)
    frame, _ = _read_csv(_resolve(name), name)
    column = _pick_column(frame, id_column, 0, "id_column", name)
    return list(dict.fromkeys(frame[column].str.strip()))


def csv_columns(source: str | Path) -> list[str]:
    """The header of the CSV ``source``; none for a built-in series.

    Raises:
        DataError: The file cannot be read.
    """
    name = str(source)
    if name in BUILTIN_SERIES:
        return []
    frame, _ = _read_csv(_resolve(name), name)
    return [str(column) for column in frame.columns]


def _one_series(frame: pd.DataFrame, panel: PanelKey, name: str) -> tuple[pd.DataFrame, str]:
    """The rows of one series of a panel, without the id column, and the name it goes by."""
    column = _pick_column(frame, panel.id_column, 0, "id_column", name)
    ids = frame[column].str.strip()
    rows = frame.loc[ids == panel.unique_id].drop(columns=column).reset_index(drop=True)
    if rows.empty:
        known = list(dict.fromkeys(ids))
        shown = ", ".join(known[:5]) + (f" and {len(known) - 5} more" if len(known) > 5 else "")
        raise DataError(
            f"{name}: no series {panel.unique_id!r} in column {column!r}; the series are {shown}"
        )
    return rows, f"{name} [{panel.unique_id}]"


def _resolve(source: str) -> Path:
    if source in BUILTIN_SERIES:
        return Path(str(resources.files("tuner.data.datasets") / BUILTIN_SERIES[source]))
    path = Path(source)
    if not path.is_file():
        builtins = ", ".join(BUILTIN_SERIES)
        raise DataError(
            f"data {source!r} is neither a built-in series ({builtins}) nor an existing file"
        )
    return path


def _read_csv(path: Path, name: str) -> tuple[pd.DataFrame, str]:
    """Every cell as text, and the delimiter; read once while the file stays the same.

    A panel's series are loaded one by one from one file, so its parse is kept
    (:func:`_parsed_csv`) as long as the file's size and modification time hold.
    """
    try:
        stat = path.stat()
    except OSError as error:
        raise DataError(f"{name}: cannot read as CSV: {error.strerror}") from None
    return _parsed_csv(path, name, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _parsed_csv(path: Path, name: str, mtime_ns: int, size: int) -> tuple[pd.DataFrame, str]:
    """Every cell as text, and the delimiter: the header line's (see :func:`_delimiter`).

    Raises:
        DataError: The file cannot be read faithfully: not UTF-8 (with the advice to
            re-save it so), a NUL byte, a column name twice in the header, or no
            header and data rows.
    """
    try:
        text = _utf8_text(path.read_bytes(), name)
    except OSError as error:
        raise DataError(f"{name}: cannot read as CSV: {error.strerror}") from None
    header = text.partition("\n")[0]
    delimiter = _delimiter(header)
    _check_header(header, delimiter, name)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except pd.errors.ParserError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{name}: cannot read as CSV: {reason}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: the file is empty; expected a header row and values") from None
    if frame.shape[1] < 2:
        raise DataError(
            f"{name}: needs a date column and a value column; found {frame.shape[1]} column(s)"
        )
    if frame.empty:
        raise DataError(f"{name}: has a header row but no data rows")
    return frame, delimiter


def _utf8_text(data: bytes, name: str) -> str:
    """The file's text, refused when it is not UTF-8 or holds a NUL byte.

    pandas reads a NUL inside a value as the end of it (``100``, NUL, ``.25`` as
    100.0), so a NUL is refused rather than read as something the file does not say.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(f"{name}: is UTF-16 text; re-save it as UTF-8 (CSV UTF-8)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{name}: is not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
            f"{error.start}); re-save it as UTF-8 (CSV UTF-8)"
        ) from None
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise DataError(f"{name}: line {line} holds a NUL byte; a CSV file holds none")
    return text


def _check_header(header: str, delimiter: str, name: str) -> None:
    """Refuse a column name that appears twice: choosing one of them would be a guess."""
    columns = [column.strip() for column in next(csv.reader([header], delimiter=delimiter))]
    seen = set()
    for column in columns:
        if column in seen:
            raise DataError(f"{name}: the header names column {column!r} twice; rename one of them")
        seen.add(column)


def _delimiter(header: str) -> str:
    """Comma, else semicolon, else tab: the first of them the header line contains.

    Spreadsheets in locales with a decimal comma export semicolon-separated files,
    so in those a comma in a value is read as the decimal mark.
    """
    return next((mark for mark in ",;\t" if mark in header), ",")


def _pick_column(
    frame: pd.DataFrame, wanted: str | None, default: int, option: str, name: str
) -> str:
    columns = [str(column) for column in frame.columns]
    if wanted is None:
        return columns[default]
    if wanted in columns:
        return wanted
    if wanted.isdigit() and int(wanted) < len(columns):
        return columns[int(wanted)]
    raise DataError(
        f"{name}: {option} {wanted!r} is not a column; columns are {', '.join(columns)}"
    )


def _parse_values(column: pd.Series, label: str, name: str, delimiter: str) -> np.ndarray:
    text = column.str.strip()
    if delimiter == ";":
        normalised = text.str.replace(",", ".", regex=False)
    else:
        thousands = text.str.fullmatch(_THOUSANDS)
        normalised = text.where(~thousands, text.str.replace(",", "", regex=False))
    numbers = pd.to_numeric(normalised, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raw = text.iloc[position]
        what = "is empty" if raw == "" else f"is {raw!r}, not a finite number"
        raise DataError(f"{name}: column {label!r}, data row {position + 1} {what}")
    return numbers.to_numpy(dtype=np.float64)
