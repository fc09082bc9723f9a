"""Where a series comes from: a built-in name or a CSV path, its columns, and a withheld end."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tuner._checks import require_int
from tuner.data.series import PanelKey, Series, load_series

__all__ = ["DataSource"]


@dataclass(frozen=True)
class DataSource:
    """Where the series comes from: a built-in name or a CSV path, and its columns.

    Attributes:
        data: Built-in name or CSV path.
        date_column: Column of dates (default: the first).
        value_column: Column of values (default: the second).
        withheld: Observations at the end left out of the loaded series: a study's
            holdout, which nothing in its search may see (docs/guide.md, "Three windows").
        date_format: How the dates are written (``%d/%m/%Y``...), where they leave
            the order of day and month open (default: read from the dates).
        panel: Which series of a long CSV of many (default: the file is one series).
    """

    data: str
    date_column: str | None = None
    value_column: str | None = None
    withheld: int = 0
    date_format: str | None = None
    panel: PanelKey | None = None

    def __post_init__(self) -> None:
        require_int("withheld", self.withheld, 0)

    def load(self) -> Series:
        """Load the series (see :func:`tuner.data.series.load_series`), less the withheld end."""
        series = load_series(
            self.data, self.date_column, self.value_column, self.date_format, self.panel
        )
        return without_end(series, self.withheld)


def without_end(series: Series, withheld: int) -> Series:
    """``series`` less its last ``withheld`` observations."""
    if not withheld:
        return series
    keep = len(series) - withheld
    return dataclasses.replace(series, values=series.values[:keep], index=series.index[:keep])
