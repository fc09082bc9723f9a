"""Prediction intervals by conformal prediction on a configuration's own rolling-origin errors.

A study scores each configuration's forecasts from its validation origins; the
absolute errors of the ensemble (mean) forecast at horizon step ``h`` are the
conformity scores of step ``h``. The interval of level ``L`` at step ``h`` is the
mean forecast plus or minus the ``ceil((n + 1) L)``-th smallest of the ``n``
scores of that step (split conformal prediction), so a forecast needs no new fit
to get its intervals (docs/method.md, section 14). With too few origins for a
level (``ceil((n + 1) L) > n``) the largest score is used, and the interval
promises less than its level: :func:`coverage` on the holdout says how much.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tuner._checks import require_int

__all__ = [
    "DEFAULT_LEVELS",
    "coverage",
    "half_widths",
    "interval_columns",
    "origins_needed",
]

DEFAULT_LEVELS = (80, 95)
"""The levels ``tuner forecast`` reports unless ``--level`` says otherwise."""


def interval_columns(level: int) -> tuple[str, str]:
    """The columns of a level's bounds, named as statsforecast names them: ``lo-80``, ``hi-80``."""
    return f"lo-{level}", f"hi-{level}"


def origins_needed(level: int) -> int:
    """The fewest origins whose scores give a level its guarantee: ``L / (1 - L)`` rounded up."""
    return math.ceil(level / (100 - level))


def half_widths(residuals: np.ndarray, levels: Sequence[int]) -> dict[int, np.ndarray]:
    """Each level's interval half-width at each horizon step, from the residuals' magnitudes.

    The half-width is an order statistic of the scores, taken by sorting: no
    forecasting library computes it from residuals a caller already has
    (statsforecast's conformal intervals refit its own models), hence these lines.

    Args:
        residuals: Actual minus forecast, ``(origins, horizon)``.
        levels: Percent levels, each in 1..99.

    Raises:
        ConfigError: A level is not an integer in 1..99.
    """
    scores = np.sort(np.abs(np.asarray(residuals, dtype=np.float64)), axis=0)
    n = len(scores)
    widths = {}
    for level in levels:
        require_int("level", level, 1, 99)
        rank = min(n, math.ceil((n + 1) * level / 100))
        widths[level] = scores[rank - 1]
    return widths


def coverage(residuals: np.ndarray, widths: np.ndarray) -> float:
    """The fraction of observations inside their intervals: ``|actual - forecast| <= width``.

    Args:
        residuals: Actual minus forecast, ``(origins, horizon)``.
        widths: Each step's half-width, ``(horizon,)``.
    """
    inside = np.abs(np.asarray(residuals)) <= np.asarray(widths)
    return float(np.mean(inside))
