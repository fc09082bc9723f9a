"""The automatic search space: ``[search]`` derived from the series it tunes on.

A newcomer should not have to know which transforms a series allows, what its
season is or how many lags it can spare before a study runs. A study file
without ``[search]``, or with ``preset = "auto"``, gets this space (docs/method.md,
"The automatic search space"); every key its ``[search]`` writes overrides the
derived one. The rule, for a series of ``n`` observations with season ``m``
(``[data] season``, else its dates' frequency; none for annual or plain-index data):

- ``transform``: ``none``, ``log`` and ``boxcox`` when every value is above 0
  (both need it), else ``none`` only.
- ``seasonal_difference``: ``false`` and ``true`` when the series has a season
  and keeps at least three seasons beyond the validation window and the holdout
  (a seasonal difference costs one season of rows, and the network must still
  see a few seasons of differences), else ``false`` only.
- ``lag``: 1 up to two seasons (6 without a season), at most a quarter of ``n``,
  so that most rows stay training rows, and at most what the validation window
  leaves a training row for (a larger lag would only be dropped with a warning).
- ``layers`` 1 to 2, ``neurons`` 4 to 32 (log), ``epochs`` 20 to 300 (log),
  ``learning_rate`` 0.001 to 0.01 (log), ``regimes`` ``stateless`` and
  ``seeded``: small networks that train in seconds, from Keras's learning rate
  to ten times it, without and with the state the tutorials carry. Epochs above
  150 take about half the trials' time on M3 monthly series, but two runs
  stopping at 150 scored the tuned LSTM worse on the benchmark's test months
  than either run up to 300 (docs/benchmarks.md).
- ``batch_size``, ``update_epochs`` and ``framing`` keep their defaults (every
  batch size that divides the rows of every preparation, so any length has one;
  no updates; ``features``).

Derived from the whole series and the study file alone, the space is the same
wherever it is derived: a worker derives it again from the stored study file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from tuner.data.series import Series
from tuner.search.studyfile import DataSection, FloatRange, IntRange, SearchSection, StudyConfig

__all__ = [
    "LAG_SHARE",
    "NO_SEASON_MAX_LAG",
    "SEASONS_BEYOND_WINDOWS",
    "auto_search",
    "resolve_search",
]

NO_SEASON_MAX_LAG = 6
"""The largest lag of a series without a season: half a year of monthly data."""

SEASONS_BEYOND_WINDOWS = 3
"""Seasons a series must keep beyond its windows before a seasonal difference is searched."""

LAG_SHARE = 4
"""The largest lag is at most the series' length divided by this."""


def resolve_search(config: StudyConfig, series: Series, season: int | None) -> StudyConfig:
    """``config`` with a concrete ``[search]``: the auto space resolved, any other as it is.

    Args:
        config: The study file.
        series: The study's whole series, holdout included.
        season: The study's season (``None``: the series has none).
    """
    search = config.search
    if search.preset is None:
        return config
    return dataclasses.replace(
        config, search=auto_search(series, season, config.data, search.written())
    )


def auto_search(
    series: Series, season: int | None, data: DataSection, overrides: Mapping[str, object]
) -> SearchSection:
    """The automatic space for ``series`` (see the module's rule), ``overrides`` winning.

    Args:
        series: The study's whole series, holdout included.
        season: The study's season (``None``: the series has none).
        data: The study's ``[data]``: its windows limit the seasonal difference.
        overrides: Keys the study file's ``[search]`` writes, with their values.
    """
    derived: dict[str, object] = {
        "epochs": IntRange(20, 300, log=True),
        "neurons": IntRange(4, 32, log=True),
        "regimes": ["stateless", "seeded"],
        "lag": IntRange(1, _max_lag(len(series), season, data)),
        "transform": _transforms(series),
        "seasonal_difference": [False, True] if _seasonal(len(series), season, data) else [False],
        "layers": IntRange(1, 2),
        "learning_rate": FloatRange(0.001, 0.01),
    }
    return SearchSection(**{**derived, **overrides})  # type: ignore[arg-type]


def _transforms(series: Series) -> list[str]:
    """Every transform when every value is above 0 (``log`` and ``boxcox`` need it)."""
    return ["none", "log", "boxcox"] if bool(np.all(series.values > 0)) else ["none"]


def _seasonal(observations: int, season: int | None, data: DataSection) -> bool:
    """Whether a seasonal difference leaves enough seasons beyond the windows.

    The holdout is not resolved yet (it depends on the lags): ``"auto"`` is
    counted as the validation window, which it is at horizon 1 and at most above.
    """
    if season is None:
        return False
    holdout = data.window if isinstance(data.holdout, str) else data.holdout
    return observations - data.window - holdout >= SEASONS_BEYOND_WINDOWS * season


def _max_lag(observations: int, season: int | None, data: DataSection) -> int:
    """Two seasons of lags (or ``NO_SEASON_MAX_LAG``), at most a quarter of the series.

    Nor more than leaves one training row before the validation window (the rows
    tuner.search.candidates requires of a lag without a holdout): the holdout is
    decided after the lags, and may drop more.
    """
    wanted = 2 * season if season else NO_SEASON_MAX_LAG
    fits = observations - data.window - (data.train_size or 1) - 1
    return max(1, min(wanted, observations // LAG_SHARE, fits))
