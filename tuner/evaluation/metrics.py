"""Scores of a set of repeats: the objectives, the describe() summary and skill.

Persistence and skill are defined in docs/method.md, section 1; the two
objectives a study can rank its trials by in section 6.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "DEFAULT_OBJECTIVE",
    "OBJECTIVES",
    "OBJECTIVE_LABELS",
    "SUMMARY_KEYS",
    "skill",
    "summarize",
]

OBJECTIVES: tuple[str, ...] = ("mean_rmse", "ensemble_rmse")
"""What a trial's value can be: the mean of its repeats' RMSEs, or the RMSE of their
mean forecast. The first says how good one fit is expected to be; the second how
good the forecast is that averages them all, which is what ``tuner forecast`` gives."""
DEFAULT_OBJECTIVE = "mean_rmse"
OBJECTIVE_LABELS = {"mean_rmse": "mean RMSE", "ensemble_rmse": "ensemble RMSE"}
"""How each objective is named where a score is printed."""

SUMMARY_KEYS: tuple[str, ...] = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")


def summarize(rmses: Sequence[float]) -> dict[str, float | None]:
    """Summarise repeat RMSEs as pandas ``describe()`` does (sample std, quartiles).

    A statistic that is undefined (the std of a single repeat) is ``None`` rather
    than NaN, so the summary is valid JSON and never stores NaN.
    """
    import pandas as pd  # here, not at the top: study files read OBJECTIVES, `--help` stays light

    described = pd.Series(list(rmses), dtype=float).describe()
    return {key: _finite_or_none(described[key]) for key in SUMMARY_KEYS}


def skill(mean_rmse: float, reference_rmse: float | None) -> float | None:
    """Skill relative to a reference forecast: ``1 - mean / reference`` (positive is better).

    The reference is persistence, or the best baseline. ``None`` when it is
    perfect (RMSE 0) or unknown, where no relative skill exists.
    """
    if not reference_rmse:
        return None
    return 1.0 - mean_rmse / reference_rmse


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
