"""What optuna-dashboard shows beyond numbers: per-trial plots and the study note.

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
from collections.abc import Mapping
from pathlib import Path

import optuna
import pandas as pd
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from tuner.data.preparation import Preparation, PreparedData
from tuner.data.series import Series
from tuner.evaluation.runner import Evaluation
from tuner.exceptions import StorageError
from tuner.outputs.plots import save_box_plot, save_forecast_plot
from tuner.search.studyfile import StudyConfig

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "SECONDS_ATTR",
    "TRIAL_ARTIFACTS",
    "open_artifact_store",
    "resolve_artifact_dir",
    "save_trial_artifacts",
    "study_note",
]

ENVIRONMENT_VARIABLE = "TUNER_ARTIFACTS"
TRIAL_ARTIFACTS = ("forecast.png", "rmse_boxplot.png")
"""File names of each COMPLETE trial's artifacts, as the dashboard lists them."""
SECONDS_ATTR = "artifact_seconds"
"""User attribute: how long the trial's artifacts took, to keep their cost in view."""

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
    store: FileSystemArtifactStore, trial: optuna.Trial, series: Series, evaluation: Evaluation
) -> None:
    """Draw and upload a trial's forecast plot and RMSE box plot.

    Called once the objective has its value, before the trial is stored as
    COMPLETE (Optuna attaches artifacts only to a running trial). Never raises
    for a full or unwritable store: the trial matters more than its pictures, so
    the failure is logged. The time taken is stored as ``artifact_seconds``.
    """
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="tuner-artifacts-") as scratch:
            forecast, boxplot = (Path(scratch) / name for name in TRIAL_ARTIFACTS)
            save_forecast_plot(series, evaluation.forecasts, evaluation.rmses, forecast)
            save_box_plot(
                pd.DataFrame({f"trial {trial.number}": evaluation.rmses}),
                boxplot,
                f"RMSE of {len(evaluation.rmses)} repeats",
            )
            for path in (forecast, boxplot):
                upload_artifact(
                    artifact_store=store,
                    file_path=str(path),
                    study_or_trial=trial,
                    mimetype="image/png",
                )
    except OSError as error:
        _log_unsaved(trial.number, error)
        return
    trial.set_user_attr(SECONDS_ATTR, time.perf_counter() - started)


def _log_unsaved(number: int, error: OSError) -> None:
    logger.warning(
        "trial %d: artifacts not saved (%s); the trial itself is stored",
        number,
        error.strerror or error,
    )


def study_note(
    config: StudyConfig,
    text: str,
    prepared: dict[Preparation, PreparedData],
    attrs: Mapping[str, object] | None = None,
) -> str:
    """The study's note in optuna-dashboard.

    It leads with the findings (holdout scores once confirmed, or the caveat of a
    study without holdout, and the baselines table), then the data, the windows
    and the study file. ``attrs`` are the study's user attributes.
    """
    from tuner.search.findings import findings_markdown

    first = next(iter(prepared.values()))
    series = first.series
    values = pd.Series(series.values, name=series.value_column)
    attrs = attrs or {}
    windows = attrs.get("windows") or {}
    holdout = windows.get("holdout")  # type: ignore[union-attr]
    return "\n\n".join(
        [
            f"# {config.name}",
            findings_markdown(attrs, None),
            f"**Data**: `{config.data.series}`, column `{series.value_column}`: {len(series)} "
            f"observations searched, from {series.index[0]} to {series.index[-1]}; the "
            f"last {first.n_test} are the validation window; {first.n_train} training rows "
            f"at {first.preparation.label()}"
            + (f" (one of {len(prepared)} preparations searched)." if len(prepared) > 1 else ".")
            + (
                ""
                if not holdout
                else f" The holdout, {holdout['first']} to {holdout['last']}, is never read "
                "by the search."
            ),
            values.describe().to_frame().to_markdown(floatfmt=".3f"),
            f"**Persistence baseline**: validation RMSE {first.persistence_rmse:.3f} (forecast "
            "each observation by the one before). A trial beats it when its mean RMSE is "
            "lower (skill above 0).",
            "**Study file**:",
            f"```toml\n{text.strip()}\n```",
        ]
    )
