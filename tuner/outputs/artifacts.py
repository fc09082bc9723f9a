"""What optuna-dashboard shows beyond numbers: each trial's plots.

Every COMPLETE trial gets two artifacts, uploaded through Optuna's artifact API
into a file-system store: the forecasts against the actual test period (the
median repeat, with the range of all repeats shaded) and a box plot of the
repeat RMSEs. A worker draws them once the objective has its value; a failure to
save them (a full disk) is logged and never fails the trial.

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
from pathlib import Path

import optuna
import pandas as pd
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from tuner.data.series import Series
from tuner.evaluation.metrics import objective_metric
from tuner.evaluation.runner import Evaluation
from tuner.exceptions import StorageError
from tuner.outputs.plots import save_box_plot, save_forecast_plot, save_step_plot
from tuner.search import names

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "STEP_ARTIFACT",
    "TRIAL_ARTIFACTS",
    "open_artifact_store",
    "resolve_artifact_dir",
    "save_trial_artifacts",
]

ENVIRONMENT_VARIABLE = "TUNER_ARTIFACTS"
TRIAL_ARTIFACTS = ("forecast.png", "rmse_boxplot.png")
"""File names of each COMPLETE trial's artifacts, as the dashboard lists them."""
STEP_ARTIFACT = "errors_by_step.png"
"""Drawn beside the others when a trial forecasts more than one step ahead."""

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
