"""The three windows of a study: training, validation and an untouched holdout.

Choosing the best of many trials on the same points that then score it is
optimistic. So a study splits the end of its series in two: the search walks
forward over the validation window (the ``test_size`` observations before the
holdout) and never reads a holdout observation; only the confirmation of the best
configurations, after the search, is scored on the holdout (README, "Three
windows"). Everything here is in observations of the raw series.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuner.exceptions import ConfigError
from tuner.studyfile import DataSection, StudyConfig

if TYPE_CHECKING:
    from tuner.data import Series
    from tuner.preparation import PreparedData
    from tuner.runner import DataSource

__all__ = [
    "Windows",
    "prepare_for_holdout",
    "prepare_for_study",
    "resolve_holdout",
    "search_source",
    "study_holdout",
    "study_series",
    "study_windows",
]


def resolve_holdout(data: DataSection, observations: int, max_lag: int) -> int:
    """The holdout in observations: ``data.holdout``, or what ``"auto"`` gives.

    ``"auto"`` is ``test_size`` when at least ``2 x test_size`` training rows remain
    after both windows at the largest lag, otherwise 0 (the series is too short to
    spare one).

    Raises:
        ConfigError: The holdout leaves no series to search on.
    """
    if data.holdout == "auto":
        rows = observations - 1 - max_lag + 1  # supervised rows after differencing
        spare = rows - 2 * data.test_size >= 2 * data.test_size
        return data.test_size if spare else 0
    holdout = int(data.holdout)
    if holdout and observations - holdout < max_lag + data.test_size + 2:
        raise ConfigError(
            f"data.holdout {holdout} leaves {observations - holdout} observations for the "
            f"search, fewer than lag {max_lag} and test_size {data.test_size} need "
            f"({max_lag + data.test_size + 2}); lower it, or set 0"
        )
    return holdout


@dataclass(frozen=True)
class Windows:
    """Where each window of a study starts and stops, as half-open observation ranges.

    Attributes:
        observations: Length of the whole series.
        validation: ``(start, stop)`` of the validation window.
        holdout: ``(start, stop)`` of the holdout, or ``None`` when there is none.
    """

    observations: int
    validation: tuple[int, int]
    holdout: tuple[int, int] | None

    @classmethod
    def of(cls, observations: int, test_size: int, holdout: int) -> Windows:
        """The windows of a series of ``observations`` with these sizes."""
        end = observations - holdout
        return cls(
            observations=observations,
            validation=(end - test_size, end),
            holdout=(end, observations) if holdout else None,
        )

    def labels(self, index: object) -> dict[str, dict[str, str] | None]:
        """Each window's first and last date, from the series' ``index``."""

        def bounds(window: tuple[int, int] | None) -> dict[str, str] | None:
            if window is None:
                return None
            from tuner.data import date_label

            first, last = index[window[0]], index[window[1] - 1]  # type: ignore[index]
            return {"first": date_label(first), "last": date_label(last)}

        return {"validation": bounds(self.validation), "holdout": bounds(self.holdout)}


def _full_source(data: DataSection) -> DataSource:
    from tuner.runner import DataSource

    return DataSource(data.series, data.date_column, data.value_column)


@functools.cache
def _observations_and_holdout(data: DataSection, max_lag: int) -> tuple[int, int]:
    """``(observations, holdout)`` of a study's series, loaded once per process."""
    observations = len(_full_source(data).load())
    return observations, resolve_holdout(data, observations, max_lag)


def _holdout(config: StudyConfig) -> tuple[int, int]:
    from tuner.space import lag_values

    return _observations_and_holdout(config.data, max(lag_values(config.search.lag)))


def study_holdout(config: StudyConfig) -> int:
    """The study's holdout in observations (see :func:`resolve_holdout`).

    Raises:
        ConfigError: The holdout leaves no series to search on.
        DataError: The series cannot be loaded.
    """
    return _holdout(config)[1]


def study_series(config: StudyConfig) -> Series:
    """The study's whole series, holdout included: for confirmation and baselines only."""
    return _full_source(config.data).load()


def study_windows(config: StudyConfig) -> Windows:
    """The study's validation and holdout windows."""
    observations, holdout = _holdout(config)
    return Windows.of(observations, config.data.test_size, holdout)


def search_source(config: StudyConfig) -> DataSource:
    """The series as the search sees it: every observation before the holdout."""
    import dataclasses

    return dataclasses.replace(_full_source(config.data), withheld=study_holdout(config))


def prepare_for_study(config: StudyConfig) -> dict[int, PreparedData]:
    """The search's series (holdout withheld) prepared for every lag the space can sample."""
    from tuner.preparation import Preparation, prepare
    from tuner.space import lag_values

    data = config.data
    series = search_source(config).load()
    return {
        lag: prepare(series, Preparation(lag, data.test_size, data.train_size))
        for lag in lag_values(config.search.lag)
    }


def prepare_for_holdout(config: StudyConfig) -> dict[int, PreparedData]:
    """The whole series prepared with the holdout as its test window, per lag (none if 0).

    The training rows follow the same ``train_size`` rule as the search's, with
    the window shifted forward by the holdout.
    """
    from tuner.preparation import Preparation, prepare
    from tuner.space import lag_values

    holdout, data = study_holdout(config), config.data
    if not holdout:
        return {}
    series = study_series(config)
    return {
        lag: prepare(series, Preparation(lag, holdout, data.train_size))
        for lag in lag_values(config.search.lag)
    }
