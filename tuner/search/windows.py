"""The three windows of a study: training, validation and an untouched holdout.

Choosing the best of many trials on the same points that then score it is
optimistic. So a study splits the end of its series in two: the search walks
forward over the validation window (the ``test_size`` observations before the
holdout, or at a horizon above 1 the span of its forecast origins) and never
reads a holdout observation; only the confirmation of the best
configurations, after the search, is scored on the holdout (docs/guide.md,
"Three windows"). Everything here is in observations of the raw series.

A command or a worker loads its study's series once, into a :class:`StudyData`,
which holds it prepared every way the search samples, for the search and for the
holdout, and hands it down.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuner.data.calendar import season_of
from tuner.data.dates import date_label
from tuner.data.frames import ID
from tuner.data.preparation import Preparation, PreparedData
from tuner.data.series import PanelKey, Series
from tuner.data.source import DataSource, without_end
from tuner.exceptions import ConfigError
from tuner.method.scoring import Scoring
from tuner.search.auto_space import resolve_search
from tuner.search.candidates import prepared_candidates
from tuner.search.studyfile import DataSection, StudyConfig

__all__ = [
    "StudyData",
    "Windows",
    "resolve_holdout",
    "study_season",
    "study_series",
    "study_source",
]


def resolve_holdout(data: DataSection, observations: int, max_lag: int) -> int:
    """The holdout in observations: ``data.holdout``, or what ``"auto"`` gives.

    ``"auto"`` is the validation window's size at horizon 1 and the horizon above
    it (one origin, the M-competitions' protocol), when at least twice the larger
    of the two windows remains in training rows after both at the largest lag;
    otherwise 0 (the series is too short to spare one).

    Raises:
        ConfigError: The holdout leaves no series to search on, or is shorter
            than the horizon.
    """
    window, horizon = data.window, data.horizon
    if data.holdout == "auto":
        size = window if horizon == 1 else horizon
        rows = observations - 1 - max_lag + 1  # supervised rows after differencing
        spare = rows - window - size >= 2 * max(window, size)
        return size if spare else 0
    holdout = int(data.holdout)
    if 0 < holdout < horizon:
        raise ConfigError(
            f"data.holdout {holdout} is shorter than data.horizon {horizon}: the holdout is "
            f"scored by forecasts of the same horizon; set it to at least {horizon}, or 0"
        )
    if holdout >= observations:
        raise ConfigError(
            f"data.holdout {holdout} is not below the series' {observations} observations; "
            f"it must leave at least {max_lag + window + 2} for the search, or be 0"
        )
    if holdout and observations - holdout < max_lag + window + 2:
        raise ConfigError(
            f"data.holdout {holdout} leaves {observations - holdout} observations for the "
            f"search, fewer than lag {max_lag} and the validation window of {window} need "
            f"({max_lag + window + 2}); lower it, or set 0"
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
    def of(cls, observations: int, validation: int, holdout: int) -> Windows:
        """The windows of a series of ``observations`` with these sizes."""
        end = observations - holdout
        return cls(
            observations=observations,
            validation=(end - validation, end),
            holdout=(end, observations) if holdout else None,
        )

    def labels(self, index: object) -> dict[str, dict[str, str] | None]:
        """Each window's first and last date, from the series' ``index``."""

        def bounds(window: tuple[int, int] | None) -> dict[str, str] | None:
            if window is None:
                return None
            first, last = index[window[0]], index[window[1] - 1]  # type: ignore[index]
            return {"first": date_label(first), "last": date_label(last)}

        return {"validation": bounds(self.validation), "holdout": bounds(self.holdout)}


def study_source(data: DataSection, withheld: int = 0) -> DataSource:
    """Where the study's series comes from, less ``withheld`` observations at its end."""
    panel = None if data.unique_id is None else PanelKey(data.id_column or ID, data.unique_id)
    return DataSource(
        data.series, data.date_column, data.value_column, withheld, data.date_format, panel
    )


def study_series(config: StudyConfig) -> Series:
    """The study's whole series, holdout included (an export records all of it)."""
    return study_source(config.data).load()


def study_season(data: DataSection, series: Series) -> int | None:
    """The study's season: ``[data] season``, else what the series' frequency implies."""
    return data.season or season_of(series)


@dataclass(frozen=True)
class StudyData:
    """A study's series, loaded once, and prepared every way its space samples.

    Attributes:
        config: The study file, its ``[search]`` concrete: an automatic space is
            resolved against the series (:mod:`tuner.search.auto_space`), so read
            the space here, never from the file as parsed.
        series: The whole series, holdout included: for confirmation and baselines only.
        holdout: The holdout in observations (see :func:`resolve_holdout`).
        search: The search's series (holdout withheld) prepared every valid way,
            keyed by the preparation itself, so ``search[p].preparation == p``.
        holdout_runs: The whole series prepared the same ways with the holdout as
            the test window, keyed by that preparation (``test_size`` the
            holdout); empty without a holdout.
    """

    config: StudyConfig
    series: Series
    holdout: int
    search: dict[Preparation, PreparedData]
    holdout_runs: dict[Preparation, PreparedData]

    @classmethod
    def load(cls, config: StudyConfig) -> StudyData:
        """Load the study's series and prepare it for the search and the holdout.

        An automatic space is derived first, from the whole series, since the
        holdout depends on its largest lag.

        Raises:
            ConfigError: The holdout leaves no series to search on, or every
                candidate preparation is invalid (one line naming the key).
            DataError: The series cannot be loaded.
        """
        data = config.data
        series = study_source(data).load()
        season = study_season(data, series)
        config = resolve_search(config, series, season)  # before anything reads [search]
        holdout = resolve_holdout(data, len(series), max(config.search.lags))
        candidates = prepared_candidates(config, series, holdout, season)
        return cls(
            config=config,
            series=series,
            holdout=holdout,
            search={p: runs[0] for p, runs in candidates.items()},
            holdout_runs={r.preparation: r for _, r in candidates.values() if r is not None},
        )

    @property
    def source(self) -> DataSource:
        """The series as the search sees it: every observation before the holdout."""
        return study_source(self.config.data, self.holdout)

    @property
    def search_series(self) -> Series:
        """The series as the search sees it, loaded."""
        return without_end(self.series, self.holdout)

    @property
    def windows(self) -> Windows:
        """The study's validation and holdout windows."""
        return Windows.of(len(self.series), self.config.data.window, self.holdout)

    @property
    def holdout_scoring(self) -> Scoring:
        """How the holdout is scored: the study's horizon and spacing, as many origins as fit."""
        return self.config.data.scoring.over(self.holdout)

    @property
    def first(self) -> PreparedData:
        """The search's first preparation: the persistence baseline and the note read it."""
        return next(iter(self.search.values()))
