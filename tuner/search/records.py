"""Where a study's records are kept: short ones in sight of the dashboard, long ones out of it.

optuna-dashboard lists every user attribute of a study in one table, so the
study file's text, every baseline's forecasts and the confirmation's records
made that table unreadable (kilobytes of JSON per cell). They are kept instead
as study system attributes, which the dashboard does not list, under a prefix of
tuner's own; a short line that says what each holds stays in sight
(:data:`SUMMARIES`). Everything that reads a study's records reads them through
:func:`study_attrs`, so where a record is kept is decided here only, and a study
stored before this split (long records among the user attributes) reads the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import optuna

from tuner.evaluation.metrics import DEFAULT_OBJECTIVE, METRIC_LABELS, OBJECTIVE_LABELS
from tuner.search import names
from tuner.search.choice import choice_line
from tuner.storage.optuna_internals import storage_of, study_id_of

__all__ = ["OUT_OF_SIGHT", "set_study_attr", "study_attrs"]

OUT_OF_SIGHT = frozenset({names.STUDY_FILE, names.BASELINES, names.CONFIRMATION, names.CHOICE})
"""The long records, kept as study system attributes."""
PREFIX = "tuner:"
"""Marks tuner's system attributes apart from Optuna's and the dashboard's own."""


def study_attrs(study: optuna.Study) -> dict[str, object]:
    """Every record of ``study``: its user attributes, and the long ones kept out of sight."""
    hidden = storage_of(study).get_study_system_attrs(study_id_of(study))
    return study.user_attrs | {
        key.removeprefix(PREFIX): value for key, value in hidden.items() if key.startswith(PREFIX)
    }


def set_study_attr(study: optuna.Study, key: str, value: object) -> None:
    """Store one record of ``study``: in sight, or out of it with a short line in its place."""
    if key not in OUT_OF_SIGHT:
        study.set_user_attr(key, value)
        return
    storage_of(study).set_study_system_attr(study_id_of(study), PREFIX + key, value)
    summary = SUMMARIES.get(key)
    if summary is not None:
        study.set_user_attr(*summary(value))


def _baselines_line(record: object) -> tuple[str, str]:
    """``baselines``' validation RMSEs, one short line (every score stays in ``tuner status``)."""
    scores = (record or {}).get("validation") or {}  # type: ignore[union-attr]
    parts = [
        f"{name} {score['rmse']:.4g}"
        for name, score in scores.items()
        if score.get("rmse") is not None
    ]
    return names.BASELINES_IN_SIGHT, f"validation {METRIC_LABELS['rmse']}: " + ", ".join(parts)


def _confirmation_line(record: object) -> tuple[str, str]:
    """The confirmed configurations' holdout scores, validation beside them, one short line."""
    record = record or {}
    label = OBJECTIVE_LABELS[record.get("objective", DEFAULT_OBJECTIVE)]  # type: ignore[union-attr]
    parts = [
        f"trial {row['trial']} holdout {label} {row['holdout_rmse']:.4g} "
        f"(validation {row['validation_rmse']:.4g})"
        for row in record.get("configurations") or []  # type: ignore[union-attr]
        if row.get("holdout_rmse") is not None
    ]
    return names.CONFIRMATION_IN_SIGHT, "; ".join(parts) or "no configuration scored"


def _choice_line(record: object) -> tuple[str, str]:
    """The chosen forecaster and its scores, one short line (every candidate's in the record)."""
    return names.CHOICE_IN_SIGHT, choice_line(record or {})  # type: ignore[arg-type]


SUMMARIES: Mapping[str, Callable[[object], tuple[str, str]]] = {
    names.BASELINES: _baselines_line,
    names.CONFIRMATION: _confirmation_line,
    names.CHOICE: _choice_line,
}
"""The short line shown in a long record's place, by record."""
