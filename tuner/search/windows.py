"""The three windows of a study: training, validation and an untouched holdout.

Choosing the best of many trials on the same points that then score it is
optimistic. So a study splits the end of its series in two: the search walks
forward over the validation window (the ``test_size`` observations before the
holdout) and never reads a holdout observation; only the confirmation of the best
configurations, after the search, is scored on the holdout (README, "Three
windows"). Everything here is in observations of the raw series.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuner.exceptions import ConfigError
from tuner.search.studyfile import DataSection, StudyConfig

if TYPE_CHECKING:
    from tuner.data.preparation import Preparation, PreparedData
    from tuner.data.series import Series
    from tuner.evaluation.runner import DataSource

logger = logging.getLogger(__name__)

__all__ = [
    "Windows",
    "prepare_for_holdout",
    "prepare_for_study",
    "resolve_holdout",
    "search_source",
    "study_holdout",
    "study_preparations",
    "study_season",
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
            from tuner.data.series import date_label

            first, last = index[window[0]], index[window[1] - 1]  # type: ignore[index]
            return {"first": date_label(first), "last": date_label(last)}

        return {"validation": bounds(self.validation), "holdout": bounds(self.holdout)}


def _full_source(data: DataSection) -> DataSource:
    from tuner.evaluation.runner import DataSource

    return DataSource(data.series, data.date_column, data.value_column)


@functools.cache
def _observations_and_holdout(data: DataSection, max_lag: int) -> tuple[int, int]:
    """``(observations, holdout)`` of a study's series, loaded once per process."""
    observations = len(_full_source(data).load())
    return observations, resolve_holdout(data, observations, max_lag)


def _holdout(config: StudyConfig) -> tuple[int, int]:
    from tuner.search.space import lag_values

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
    return dataclasses.replace(_full_source(config.data), withheld=study_holdout(config))


def prepare_for_study(config: StudyConfig) -> dict[Preparation, PreparedData]:
    """The search's series (holdout withheld) prepared every way the space can sample.

    Keyed by the preparation itself (lag, transform, seasonal difference and the
    window sizes), so ``prepared[p].preparation == p``.
    """
    from tuner.data.preparation import prepare

    series = search_source(config).load()
    return {p: prepare(series, p) for p in study_preparations(config)}


def prepare_for_holdout(config: StudyConfig) -> dict[Preparation, PreparedData]:
    """The whole series prepared with the holdout as its test window (none if 0).

    One entry per preparation of :func:`study_preparations`, with ``test_size`` the
    holdout; the training rows follow the same ``train_size`` rule as the search's,
    with the window shifted forward by the holdout.
    """
    from tuner.data.preparation import prepare

    holdout = study_holdout(config)
    if not holdout:
        return {}
    series = study_series(config)
    return {
        p: prepare(series, dataclasses.replace(p, test_size=holdout))
        for p in study_preparations(config)
    }


def study_preparations(config: StudyConfig) -> list[Preparation]:
    """Every preparation the study's space samples, each valid for both of its runs.

    A candidate that does not fit the series (log on a series with a zero, a lag
    that leaves too few rows) is dropped with a logged reason; the rest form a
    product of transforms, seasonal differences and lags (see :func:`_keep`), so
    the sampler can still sample each dimension on its own.

    Raises:
        ConfigError: Every candidate is invalid, or a seasonal difference is asked
            for on a series without a season; one line naming the key.
        DataError: The series cannot be loaded.
    """
    from tuner.search.space import lag_values

    search = config.search
    return list(
        _valid_preparations(
            config.data,
            tuple(lag_values(search.lag)),
            tuple(search.transform),
            tuple(search.seasonal_difference),
        )
    )


def study_season(data: DataSection, series: Series) -> int | None:
    """The study's season: ``[data] season``, else what the series' frequency implies."""
    from tuner.evaluation.baselines import season_of

    return data.season or season_of(series)


@functools.cache
def _valid_preparations(
    data: DataSection,
    lags: tuple[int, ...],
    transforms: tuple[str, ...],
    seasonal: tuple[bool, ...],
) -> tuple[Preparation, ...]:
    """The valid candidates (cached: a study's workers and commands ask more than once)."""
    from tuner.data.preparation import Preparation

    whole = _full_source(data).load()
    holdout = resolve_holdout(data, len(whole), max(lags))
    differences = _seasonal_differences(data, whole, seasonal)

    def preparation(lag: int, transform: str, m: int) -> Preparation:
        return Preparation(lag, data.test_size, data.train_size, transform, m)

    reasons = {
        (lag, transform, m): _invalid(preparation(lag, transform, m), whole, holdout)
        for lag in lags
        for transform in transforms
        for m in differences
    }
    largest_lag = (
        len(whole) - holdout - 1 - min(differences) - data.test_size - (data.train_size or 1)
    )
    unfit = {t: reason for t in transforms if (reason := _unfit(t, whole))}
    kept = _keep(reasons, lags, transforms, differences, unfit, largest_lag)
    return tuple(preparation(*key) for key in kept)


def _seasonal_differences(
    data: DataSection, series: Series, seasonal: tuple[bool, ...]
) -> list[int]:
    """The seasonal differences the study file's booleans ask for: 0, and/or the season."""
    if True not in seasonal:
        return [0]
    season = study_season(data, series)
    if season is None:
        raise ConfigError(
            "search.seasonal_difference true needs a season, and the series' dates imply "
            "none (monthly, quarterly, weekly or daily do); set [data] season, or use false"
        )
    return sorted({season if wanted else 0 for wanted in seasonal})


def _unfit(transform: str, whole: Series) -> str | None:
    """Why ``transform`` cannot apply to the series at all (a value <= 0); ``None`` if it can."""
    from tuner.data.preparation import Preparation, frame
    from tuner.exceptions import DataError

    try:
        frame(whole, Preparation(transform=transform), 0, len(whole) - 2)
    except DataError as error:
        return str(error)
    return None


def _invalid(preparation: Preparation, whole: Series, holdout: int) -> str | None:
    """Why ``preparation`` does not fit the search's run or the holdout's; ``None`` if it does."""
    from tuner.data.preparation import prepare
    from tuner.exceptions import DataError

    keep = len(whole) - holdout
    search = dataclasses.replace(whole, values=whole.values[:keep], index=whole.index[:keep])
    runs = [(search, preparation)]
    if holdout:
        runs.append((whole, dataclasses.replace(preparation, test_size=holdout)))
    try:
        for series, run in runs:
            prepare(series, run)
    except (ConfigError, DataError) as error:
        return str(error)
    return None


def _keep(
    reasons: dict[tuple[int, str, int], str | None],
    lags: tuple[int, ...],
    transforms: tuple[str, ...],
    differences: list[int],
    unfit: dict[str, str],
    largest_lag: int,
) -> list[tuple[int, str, int]]:
    """The valid candidates as a product: transforms, then seasonal differences, then lags.

    A transform is kept unless it does not fit the series at all (``unfit``: a
    value <= 0 breaks it at every lag); a seasonal difference when
    some candidate with a kept transform is; a lag when every candidate with a
    kept transform and difference is (a lag and a season both cost rows). Each
    dropped value is logged with the reason of its first invalid candidate among
    the kept transforms.

    Raises:
        ConfigError: Nothing is left: the first dimension emptied is named, with
            the lags the series allows (``largest_lag``) when the lags emptied.
    """
    reasons = {key: reason for key, reason in reasons.items() if key[1] not in unfit}

    def first_reason(**fixed: object) -> str:
        names = ("lag", "transform", "m")
        return next(
            reason
            for key, reason in reasons.items()
            if reason and all(key[names.index(k)] == v for k, v in fixed.items())
        )

    kept_transforms = [t for t in transforms if t not in unfit]
    kept_differences = [
        m
        for m in differences
        if any(not reasons[(lag, t, m)] for lag in lags for t in kept_transforms)
    ]
    kept_lags = [
        lag
        for lag in lags
        if kept_differences
        and all(not reasons[(lag, t, m)] for t in kept_transforms for m in kept_differences)
    ]
    dropped = [("search.transform", t, unfit[t]) for t in transforms if t in unfit]
    dropped += [
        ("search.seasonal_difference", m, first_reason(m=m))
        for m in differences
        if m not in kept_differences and kept_transforms
    ]
    dropped += [
        ("search.lag", lag, first_reason(lag=lag))
        for lag in lags
        if lag not in kept_lags and kept_transforms
    ]
    if not kept_lags:
        blamed = "search.transform" if not kept_transforms else "search.lag"
        if kept_transforms and not kept_differences and 0 not in differences:
            blamed = "search.seasonal_difference"
        key, value, reason = next(entry for entry in dropped if entry[0] == blamed)
        allowed = (
            f"; allowed: search.lag from 1 to {largest_lag}"
            if largest_lag >= 1
            else "; no lag fits the series"
        )
        raise ConfigError(
            f"every candidate preparation is invalid: {key} {value}: {reason}"
            + (allowed if key == "search.lag" else "")
        )
    for key, value, reason in dropped:
        logger.warning("%s %s dropped from the search space: %s", key, value, reason)
    return [(lag, t, m) for t in kept_transforms for m in kept_differences for lag in kept_lags]
