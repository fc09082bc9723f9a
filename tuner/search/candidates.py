"""Which preparations a study's space may sample: every candidate that fits the series.

A study file lists lags, value transforms and seasonal differences; their product
is the candidate preparations. A candidate that does not fit the series (log on a
series with a zero, a lag that leaves too few rows) is dropped with a logged
reason; the rest form a product again, so the sampler can still sample each
dimension on its own (docs/method.md, section 1).
"""

from __future__ import annotations

import dataclasses
import logging

from tuner.data.preparation import Preparation, PreparedData, frame, prepare
from tuner.data.series import Series
from tuner.data.source import without_end
from tuner.exceptions import ConfigError, DataError
from tuner.search.studyfile import StudyConfig

__all__ = ["Runs", "prepared_candidates"]

logger = logging.getLogger(__name__)

Runs = tuple[PreparedData, PreparedData | None]
"""A preparation's two runs: the search's (holdout withheld) and the holdout's (or None)."""


def prepared_candidates(
    config: StudyConfig, series: Series, holdout: int, season: int | None
) -> dict[Preparation, Runs]:
    """Every preparation the study's space samples, with both of its runs prepared.

    Args:
        config: The study file.
        series: The whole series, holdout included.
        holdout: The holdout in observations.
        season: The study's season (``None``: the series has none).

    Returns:
        The kept candidates, keyed by the search's preparation, in the order
        transforms, seasonal differences, lags.

    Raises:
        ConfigError: Every candidate is invalid, or a seasonal difference is asked
            for on a series without a season; one line naming the key.
    """
    data, search = config.data, config.search
    lags, transforms = tuple(search.lags), tuple(search.transform)
    differences = _seasonal_differences(season, tuple(search.seasonal_difference))

    def preparation(lag: int, transform: str, m: int) -> Preparation:
        return Preparation(lag, data.window, data.train_size, transform, m)

    outcomes = {
        (lag, transform, m): _runs(preparation(lag, transform, m), series, holdout)
        for lag in lags
        for transform in transforms
        for m in differences
    }
    reasons = {key: o if isinstance(o, str) else None for key, o in outcomes.items()}
    largest_lag = (
        len(series) - holdout - 1 - min(differences) - data.window - (data.train_size or 1)
    )
    unfit = {t: reason for t in transforms if (reason := _unfit(t, series))}
    kept = _keep(reasons, lags, transforms, differences, unfit, largest_lag)
    return {preparation(*key): outcomes[key] for key in kept}


def _seasonal_differences(season: int | None, seasonal: tuple[bool, ...]) -> list[int]:
    """The seasonal differences the study file's booleans ask for: 0, and/or the season."""
    if True not in seasonal:
        return [0]
    if season is None:
        raise ConfigError(
            "search.seasonal_difference true needs a season, and the series' dates imply "
            "none (monthly, quarterly, weekly or daily do); set [data] season, or use false"
        )
    return sorted({season if wanted else 0 for wanted in seasonal})


def _unfit(transform: str, whole: Series) -> str | None:
    """Why ``transform`` cannot apply to the series at all (a value <= 0); ``None`` if it can."""
    try:
        frame(whole, Preparation(transform=transform), 0, len(whole) - 2)
    except DataError as error:
        return str(error)
    return None


def _runs(preparation: Preparation, whole: Series, holdout: int) -> Runs | str:
    """The search's and the holdout's run of ``preparation``, or why it does not fit one."""
    try:
        search = prepare(without_end(whole, holdout), preparation)
        if not holdout:
            return search, None
        return search, prepare(whole, dataclasses.replace(preparation, test_size=holdout))
    except (ConfigError, DataError) as error:
        return str(error)


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
