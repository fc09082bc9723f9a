"""Every user attribute tuner stores on a study or a trial: its key, and what it means.

Optuna stores user attributes as JSON under string keys. Each key is named here
once, beside its meaning, and read and written through these constants only, so
a reader finds in one place what a stored study holds (docs/method.md, section 6).
"""

from __future__ import annotations

__all__ = [
    "ARTIFACT_SECONDS",
    "BASELINES",
    "BASELINES_IN_SIGHT",
    "BUDGET",
    "BY_STEP",
    "CHOICE",
    "CHOICE_IN_SIGHT",
    "COMPILE_SECONDS",
    "CONFIG",
    "CONFIRMATION",
    "CONFIRMATION_IN_SIGHT",
    "DATA_FINGERPRINT",
    "ENGINE",
    "ENSEMBLE_RMSE",
    "FAIL_REASON",
    "GRID_CURSOR",
    "HOLDOUT",
    "HOLDOUT_PERSISTENCE_RMSE",
    "MAX",
    "MEAN_RMSE",
    "MEDIAN",
    "METRICS",
    "MIN",
    "PANEL",
    "PERSISTENCE_RMSE",
    "READY",
    "RESERVED",
    "RESIDUALS",
    "RMSES",
    "SECONDS",
    "SEED",
    "SERIES",
    "SKILL",
    "STD",
    "STUDY_FILE",
    "SUMMARY",
    "VERSIONS",
    "WARM_START",
    "WINDOWS",
]

# A study's attributes, set when it is created (tuner.search.study) unless noted.

STUDY_FILE = "study_file"
"""The study file's text, any password in its ``storage`` key masked: a worker needs only
the study's name to run it. Kept out of the dashboard's sight (tuner.search.records)."""
BUDGET = "budget"
"""The global budget of finished trials (``trials``, or ``--trials``)."""
READY = "ready"
"""Set last at creation: a study without it was interrupted while created."""
SERIES = "series"
"""The study file's ``data.series``: a built-in name or a CSV path."""
PERSISTENCE_RMSE = "persistence_rmse"
"""On a study: persistence's RMSE on the validation window. On a complete trial: the same,
on the trial's own preparation of the window."""
HOLDOUT = "holdout"
"""The holdout in observations (0: none)."""
WINDOWS = "windows"
"""Each window's first and last date: ``{"validation": {...}, "holdout": {...} or None}``."""
HOLDOUT_PERSISTENCE_RMSE = "holdout_persistence_rmse"
"""Persistence's RMSE on the holdout, or None without one."""
BASELINES = "baselines"
"""The season and every baseline's score on each window (tuner.evaluation.baselines).
Kept out of the dashboard's sight, :data:`BASELINES_IN_SIGHT` in its place."""
BASELINES_IN_SIGHT = "baselines_validation"
"""One line for the dashboard: each baseline's validation RMSE."""
CONFIRMATION = "confirmation"
"""Set once by the confirmation: the best configurations' holdout scores
(tuner.search.confirmation). Kept out of the dashboard's sight, :data:`CONFIRMATION_IN_SIGHT`
in its place."""
CONFIRMATION_IN_SIGHT = "holdout_confirmed"
"""One line for the dashboard: each confirmed configuration's holdout and validation scores."""
CHOICE = "choice"
"""Set once, at the end of the confirmation: the forecaster chosen for the series on validation
only, among the tuned LSTM, the classical baselines and their combination, and each one's
holdout score (tuner.search.choice). Kept out of the dashboard's sight, :data:`CHOICE_IN_SIGHT`
in its place."""
CHOICE_IN_SIGHT = "chosen"
"""One line for the dashboard: the chosen forecaster, its validation and holdout scores."""
PANEL = "panel"
"""On each study of a panel: ``{"panel", "id_column", "unique_id", "position"}``, the panel's
name, which column names the series, this study's series and where it first appears in the
file (tuner.search.panel). A study of one series has none."""
GRID_CURSOR = "grid_cursor"
"""A grid study's next configuration and the later ones already taken (tuner.distributed.worker)."""

# A trial's attributes.

WARM_START = "warm_start"
"""On a trial queued at creation: where its configuration came from (``tutorial``)."""
RESERVED = "reserved"
"""On a trial a worker queued to hold a slot of the budget while it asks for it."""
SEED = "seed"
"""The base seed of the trial's repeats; a retried trial inherits it and replays them."""
CONFIG = "config"
"""Everything that reproduces the trial's evaluation (``EvaluationConfig.to_dict``)."""
DATA_FINGERPRINT = "data_fingerprint"
"""A digest of the prepared rows the trial was scored on."""
FAIL_REASON = "fail_reason"
"""Why a failed trial failed, in one line."""
RMSES = "rmses"
"""Each repeat's validation RMSE, in the series' units."""
MEAN_RMSE = "mean_rmse"
"""Their mean: the value of a ``mean_rmse`` study."""
ENSEMBLE_RMSE = "ensemble_rmse"
"""The RMSE of the repeats' mean forecast: the value of an ``ensemble_rmse`` study."""
METRICS = "metrics"
"""Every objective's value (``mean_rmse`` ... ``ensemble_mase``,
tuner.evaluation.metrics.OBJECTIVES): whichever the study ranks by, the others beside it."""
BY_STEP = "by_step"
"""Every objective's value at each horizon step, 1 to the horizon, over the origins."""
RESIDUALS = "residuals"
"""Actual minus the repeats' mean forecast at each validation origin and horizon step: the
conformity scores of the configuration's prediction intervals (tuner.evaluation.intervals)."""
STD = "std"
"""The sample standard deviation of the repeats' RMSEs."""
MIN = "min"
"""The lowest repeat RMSE."""
MEDIAN = "median"
"""The median repeat RMSE."""
MAX = "max"
"""The highest repeat RMSE."""
SUMMARY = "summary"
"""describe()-style statistics of the repeats' RMSEs."""
SKILL = "skill"
"""``1 - mean_rmse / persistence_rmse``: above 0 beats persistence."""
SECONDS = "seconds"
"""Wall time of the trial's fits and forecasts."""
COMPILE_SECONDS = "compile_seconds"
"""The part of ``seconds`` spent building new graphs."""
ENGINE = "engine"
"""The engine that computed the fits."""
VERSIONS = "versions"
"""The versions of lstm-tuner, Optuna, TensorFlow and Keras that ran the trial."""
ARTIFACT_SECONDS = "artifact_seconds"
"""How long the trial's plots took to draw and save (tuner.outputs.artifacts)."""
