"""What optuna-dashboard shows beyond numbers: each trial's plots, and the study's.

Every COMPLETE trial gets two artifacts, uploaded through Optuna's artifact API
into a file-system store: the forecasts against the actual test period (the
median repeat, with the range of all repeats shaded) and a box plot of the
repeat RMSEs. A worker draws them once the objective has its value; a failure to
save them (a full disk) is logged and never fails the trial.

When the search ends, the study gets its own (:data:`STUDY_ARTIFACTS`): the best
trial beside every baseline on the validation window, validation against
holdout of the confirmed configurations, and the best trial's error by horizon
step, each drawn where the study has what it shows.

The artifact directory is resolved here, in one place: ``--artifacts`` beats the
``TUNER_ARTIFACTS`` environment variable, which beats ``storage/artifacts``
under the current directory. Workers on several machines and the dashboard must
all see the same directory (a shared mount) for every trial's plots to show.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pandas as pd
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from tuner.data.series import Series
from tuner.evaluation.metrics import METRIC_LABELS, OBJECTIVE_LABELS, objective_metric
from tuner.evaluation.runner import Evaluation
from tuner.exceptions import StorageError
from tuner.outputs.plots import (
    save_bar_chart,
    save_box_plot,
    save_forecast_plot,
    save_step_plot,
    save_validation_holdout_plot,
)
from tuner.search import names
from tuner.search.findings import baseline_table, confirmed_table, objective_of
from tuner.search.records import study_attrs
from tuner.search.study import complete_trials

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "STEP_ARTIFACT",
    "STUDY_ARTIFACTS",
    "TRIAL_ARTIFACTS",
    "open_artifact_store",
    "resolve_artifact_dir",
    "save_study_artifacts",
    "save_trial_artifacts",
]

ENVIRONMENT_VARIABLE = "TUNER_ARTIFACTS"
TRIAL_ARTIFACTS = ("forecast.png", "rmse_boxplot.png")
"""File names of each COMPLETE trial's artifacts, as the dashboard lists them."""
STEP_ARTIFACT = "errors_by_step.png"
"""Drawn beside the others when a trial forecasts more than one step ahead."""
STUDY_ARTIFACTS = ("best_and_baselines.png", "validation_holdout.png", "best_errors_by_step.png")
"""File names of a finished study's artifacts: the first always, the second once the study is
confirmed on a holdout, the third when it forecasts more than one step ahead."""

logger = logging.getLogger(__name__)


def resolve_artifact_dir(option: str | None) -> Path:
    """``--artifacts``, else ``TUNER_ARTIFACTS``, else ``storage/artifacts`` (absolute)."""
    chosen = option or os.environ.get(ENVIRONMENT_VARIABLE) or Path("storage") / "artifacts"
    return Path(chosen).absolute()


def open_artifact_store(directory: Path) -> FileSystemArtifactStore:
    """The file-system artifact store in ``directory``, created if missing.

    Raises:
        StorageError: The directory cannot be created.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(
            f"cannot use the artifact directory {str(directory)!r}: {error.strerror}; "
            f"give --artifacts (or {ENVIRONMENT_VARIABLE}) a writable directory"
        ) from None
    return FileSystemArtifactStore(str(directory))


def save_trial_artifacts(
    store: FileSystemArtifactStore,
    trial: optuna.Trial,
    series: Series,
    evaluation: Evaluation,
    objective: str,
) -> None:
    """Draw and upload a trial's forecast plot, RMSE box plot and errors by horizon step.

    The last is drawn above horizon 1 only, in the metric of the study's ``objective``.

    Called once the objective has its value, before the trial is stored as
    COMPLETE (Optuna attaches artifacts only to a running trial). Never raises
    for a full or unwritable store: the trial matters more than its pictures, so
    the failure is logged. The time taken is stored as ``artifact_seconds``.
    """
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="tuner-artifacts-") as scratch:
            forecast, boxplot = paths = [Path(scratch) / name for name in TRIAL_ARTIFACTS]
            save_forecast_plot(
                series, evaluation.forecasts, evaluation.rmses, forecast, evaluation.starts
            )
            if evaluation.horizon > 1:  # one step has nothing to draw by step
                paths.append(Path(scratch) / STEP_ARTIFACT)
                save_step_plot(evaluation.by_step, objective_metric(objective), paths[-1])
            save_box_plot(
                pd.DataFrame({f"trial {trial.number}": evaluation.rmses}),
                boxplot,
                f"RMSE of {len(evaluation.rmses)} repeats",
            )
            for path in paths:
                upload_artifact(
                    artifact_store=store,
                    file_path=str(path),
                    study_or_trial=trial,
                    mimetype="image/png",
                )
    except OSError as error:
        _log_unsaved(trial.number, error)
        return
    trial.set_user_attr(names.ARTIFACT_SECONDS, time.perf_counter() - started)


def _log_unsaved(number: int, error: OSError) -> None:
    logger.warning(
        "trial %d: artifacts not saved (%s); the trial itself is stored",
        number,
        error.strerror or error,
    )


def save_study_artifacts(store: FileSystemArtifactStore, study: optuna.Study) -> list[str]:
    """Draw and upload the study's plots that it has the results for and does not hold yet.

    Called when the search ends (every worker may call it: a plot already uploaded
    is not drawn again). Like a trial's plots, a failure to save them is logged
    and never raised.

    Returns:
        The file names uploaded now.
    """
    held = {meta.filename for meta in optuna.artifacts.get_all_artifact_meta(study)}
    complete = complete_trials(study)
    if not complete:
        return []
    attrs = study_attrs(study)
    uploaded = []
    try:
        with tempfile.TemporaryDirectory(prefix="tuner-artifacts-") as scratch:
            for name, draw in _study_plots(attrs, complete[0]).items():
                if name in held:
                    continue
                path = Path(scratch) / name
                draw(path)
                upload_artifact(
                    artifact_store=store,
                    file_path=str(path),
                    study_or_trial=study,
                    mimetype="image/png",
                )
                uploaded.append(name)
    except OSError as error:
        logger.warning("study plots not saved (%s)", error.strerror or error)
    return uploaded


def _study_plots(
    attrs: dict[str, object], best: optuna.trial.FrozenTrial
) -> dict[str, Callable[[Path], None]]:
    """Each study plot the study has the results for, by file name (:data:`STUDY_ARTIFACTS`)."""
    objective = objective_of(attrs)
    metric = objective_metric(objective)
    best_and_baselines, holdout, steps = STUDY_ARTIFACTS
    scores = {f"best trial ({best.number})": best.value} | {
        row["baseline"]: row[f"validation_{metric}"]
        for row in baseline_table(attrs)
        if row[f"validation_{metric}"] is not None
    }
    label = f"validation {METRIC_LABELS[metric]} (the trial's: {OBJECTIVE_LABELS[objective]})"
    ranked = dict(sorted(scores.items(), key=lambda item: item[1]))
    plots: dict[str, Callable[[Path], None]] = {
        best_and_baselines: lambda path: save_bar_chart(ranked, path, label)
    }
    confirmed = confirmed_table(attrs)
    if confirmed:
        plots[holdout] = lambda path: save_validation_holdout_plot(
            confirmed, path, OBJECTIVE_LABELS[objective]
        )
    by_step = best.user_attrs.get(names.BY_STEP)
    if by_step and len(by_step[f"mean_{metric}"]) > 1:
        plots[steps] = lambda path: save_step_plot(by_step, metric, path)
    return plots
