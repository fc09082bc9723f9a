"""The Python API for notebooks: the ``tuner`` commands as functions that return tables.

Each function is the same code path as its command (the command line calls these
functions and prints what they return), so the two cannot drift apart: creating
and running a study from a study file, opening a stored study with its trials and
best or confirmed configurations, exporting, re-evaluating an export, and
forecasting (README, "Python API").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.exceptions import ConfigError

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from tuner.engines import Progress
    from tuner.evaluation.runner import Evaluation, EvaluationConfig
    from tuner.forecast.refit import Forecast, ForecastPlan

__all__ = [
    "TunedStudy",
    "create_study",
    "evaluate_export",
    "forecast",
    "open_study",
    "plan_forecast",
    "prepare_export",
    "run_forecast",
    "run_study",
]

OnProgress = Callable[[int, int], None]
"""Called with (done, total)."""


@dataclass(frozen=True)
class TunedStudy:
    """A stored study, read from its database on every access.

    Attributes:
        name: The study's name.
        url: Its database URL (its password masked wherever it is shown).
    """

    name: str
    url: str

    def __repr__(self) -> str:
        from tuner.storage.database import mask

        return f"TunedStudy(name={self.name!r}, storage={mask(self.url)!r})"

    def optuna_study(self) -> optuna.Study:
        """The Optuna study itself.

        Raises:
            StorageError: The study is not in the database, or was not fully created.
        """
        from tuner.search.study import open_study as open_stored

        return open_stored(self.name, self.url)[0]

    def trials(self) -> pd.DataFrame:
        """One row per trial: number, state, value, both scores, repeat statistics, parameters.

        ``value`` is the trial's score under the study's objective; ``mean_rmse`` and
        ``ensemble_rmse`` are both scores (a trial stored before ensembles were
        scored has the mean only). The repeat statistics (``repeats``, ``std``,
        ``min``, ``median``, ``max``) and ``skill`` against persistence are those
        stored with each complete trial; other trials leave them empty.
        """
        import pandas as pd

        rows = []
        for trial in self.optuna_study().get_trials(deepcopy=False):
            attrs = trial.user_attrs
            rows.append(
                {
                    "number": trial.number,
                    "state": trial.state.name,
                    "value": trial.value,
                    "mean_rmse": attrs.get("mean_rmse", trial.value),
                    "ensemble_rmse": attrs.get("ensemble_rmse"),
                    "repeats": len(attrs["rmses"]) if "rmses" in attrs else None,
                    **{key: attrs.get(key) for key in ("std", "min", "median", "max", "skill")},
                    "seconds": attrs.get("seconds"),
                    **trial.params,
                }
            )
        return pd.DataFrame(rows)

    def best(self, top: int = 1) -> list[EvaluationConfig]:
        """The configurations of the ``top`` best complete trials, best first.

        Raises:
            ConfigError: ``top`` is not a positive integer.
            StorageError: The study has no complete trial.
        """
        from tuner.outputs.export import pick_configuration

        document = self.export(top)
        return [
            pick_configuration(document, record["rank"], None)[0]
            for record in document["configurations"]
        ]

    def confirmed(self) -> pd.DataFrame:
        """The confirmed configurations: holdout RMSE, validation RMSE beside it, skills."""
        import pandas as pd

        from tuner.search.findings import confirmed_table

        return pd.DataFrame(confirmed_table(self.optuna_study().user_attrs))

    def export(self, top: int = 1, path: str | Path | None = None, fmt: str = "json") -> dict:
        """The best ``top`` configurations as an export document, written to ``path`` if given.

        Raises:
            ConfigError: ``top`` or ``fmt`` is invalid, or ``path`` cannot be written.
            StorageError: The study has no complete trial.
        """
        from tuner._checks import require_int
        from tuner.outputs.export import dump_export, export_best

        require_int("top", top, 1)
        document = export_best(self.optuna_study(), top)
        if path is not None:
            text = dump_export(document, fmt)
            try:
                Path(path).write_text(text, encoding="utf-8")
            except OSError as error:
                raise ConfigError(f"cannot write {str(path)!r}: {error.strerror}") from None
        return document

    def forecast(
        self,
        rank: int = 1,
        horizon: int | None = None,
        repeats: int | None = None,
        output: str | Path | None = None,
        progress: Progress | None = None,
    ) -> pd.DataFrame:
        """Forecast with the study's configuration of ``rank``; see :func:`forecast`."""
        plan = plan_forecast(
            self.export(rank), f"study {self.name!r}", rank, horizon, repeats, output
        )
        return run_forecast(plan, output, progress).table()


def create_study(
    study_file: str | Path, trials: int | None = None, storage: str | None = None
) -> tuple[TunedStudy, bool]:
    """Create the study a study file describes (idempotent); return it and whether it is new.

    Args:
        study_file: A study file, for example ``studies/shampoo.toml``.
        trials: Overrides the file's trial budget.
        storage: Database URL (default: ``$TUNER_STORAGE``, the file's ``storage``,
            then ``sqlite:///storage/tuner.db``).

    Raises:
        ConfigError: The study file is invalid or does not fit the data.
        StorageError: The database cannot be used, or holds a different study of that name.
        DataError: The series cannot be loaded.
    """
    from tuner._checks import require_int
    from tuner.search.study import create_study as create_stored
    from tuner.search.studyfile import load_study_file
    from tuner.storage.database import resolve_url

    if trials is not None:
        require_int("trials", trials, 1)
    config, text = load_study_file(study_file)
    url = resolve_url(storage, config.storage)
    created = create_stored(config, text, url, budget=trials)
    return TunedStudy(config.name, url), created


def run_study(
    study_file: str | Path,
    workers: int = 1,
    trials: int | None = None,
    storage: str | None = None,
    artifacts: str | Path | None = None,
    save_artifacts: bool = True,
    on_trials: OnProgress | None = None,
    on_confirmation: OnProgress | None = None,
) -> tuple[TunedStudy, int]:
    """Create the study, run ``workers`` local worker processes to its budget, confirm it.

    Returns when every worker has exited, with the study and their combined exit
    status (0: all met the budget, and the best configurations were confirmed).

    Args:
        study_file: A study file.
        workers: Local worker processes.
        trials: Overrides the file's trial budget.
        storage: Database URL (see :func:`create_study`).
        artifacts: Directory for the trials' plots (default: ``$TUNER_ARTIFACTS``,
            then ``storage/artifacts``).
        save_artifacts: ``False`` saves no plots of the trials.
        on_trials: Called with (finished trials, budget) about once a second.
        on_confirmation: Called with (configurations confirmed, to confirm).

    Raises:
        ConfigError, StorageError, DataError: As :func:`create_study`.
        KeyboardInterrupt: SIGINT or SIGTERM arrived; every worker was stopped.
    """
    from tuner._checks import require_int
    from tuner.distributed.pool import run_local_workers
    from tuner.outputs.artifacts import resolve_artifact_dir
    from tuner.search.confirmation import confirm_study

    require_int("workers", workers, 1)
    directory = resolve_artifact_dir(artifacts) if save_artifacts else None
    study, _ = create_study(study_file, trials, storage)
    status = run_local_workers(study.name, study.url, directory, workers, on_trials or _quiet)
    if status == 0:
        confirm_study(study.name, study.url, on_confirmation)
    return study, status


def _quiet(done: int, total: int) -> None:
    """Progress sink used when the caller wants none."""


def open_study(name: str, storage: str | None = None) -> TunedStudy:
    """Open stored study ``name``.

    Raises:
        StorageError: No study of that name (the existing ones are listed), or it
            was not fully created.
        ConfigError: ``name`` is not a valid study name.
    """
    from tuner.search.study import load_study_config
    from tuner.storage.database import resolve_url

    url = resolve_url(storage)
    load_study_config(name, url)
    return TunedStudy(name, url)


def prepare_export(
    path: str | Path, rank: int = 1, repeats: int | None = None, holdout: bool = False
) -> tuple[EvaluationConfig, object]:
    """The exported configuration of ``rank`` and its series prepared as it was scored.

    Raises:
        ConfigError: The file is not a valid export, has no such rank, or its data
            no longer matches the exported configuration.
    """
    from tuner.evaluation.runner import load_and_prepare
    from tuner.outputs.export import load_export, pick_configuration

    config, fingerprint = pick_configuration(load_export(path), rank, repeats, holdout=holdout)
    prepared = load_and_prepare(config)
    if prepared.fingerprint != fingerprint:
        raise ConfigError(
            f"{path}: the data no longer matches the exported configuration (series "
            f"{config.source.data!r} or its preparation changed since the export)"
        )
    return config, prepared


def evaluate_export(
    path: str | Path,
    rank: int = 1,
    repeats: int | None = None,
    holdout: bool = False,
    progress: Progress | None = None,
) -> Evaluation:
    """Re-run the exported configuration of ``rank`` (``tuner evaluate FILE``).

    Args:
        path: An export file.
        rank: Which configuration (1 = best).
        repeats: Overrides the exported number of fits.
        holdout: Re-run it as confirmed on the holdout instead of as searched.
        progress: Receives repeat-epochs as they finish.

    Raises:
        ConfigError: As :func:`prepare_export`.
        DivergedError: A repeat's forecasts are not finite.
    """
    from tuner.evaluation.runner import evaluate

    config, prepared = prepare_export(path, rank, repeats, holdout)
    return evaluate(prepared, config, progress=progress)


def forecast(
    path: str | Path,
    rank: int = 1,
    horizon: int | None = None,
    repeats: int | None = None,
    output: str | Path | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Refit an exported configuration on the whole series and forecast past its end.

    Args:
        path: An export file (from ``tuner export``).
        rank: Which configuration (1 = best).
        horizon: Steps to forecast (default: the configuration's ``test_size``).
        repeats: Fits (default: the exported repeats).
        output: Directory to write ``forecast.csv``, ``forecast.png``, the models and
            ``preparation.json`` into (default: write nothing).
        progress: Receives repeat-epochs of the refit as they finish.

    Returns:
        One row per step: ``date``, ``repeat_0`` ..., ``mean``, ``q05``, ``q95``.

    Raises:
        ConfigError: The export is invalid or has no such rank, a setting is not a
            positive integer, or ``output`` cannot be written.
        DataError: The series' past changed since the export, or it is unusable.
    """
    from tuner.outputs.export import load_export

    plan = plan_forecast(load_export(path), str(path), rank, horizon, repeats, output)
    return run_forecast(plan, output, progress).table()


def plan_forecast(
    document: dict,
    source: str,
    rank: int = 1,
    horizon: int | None = None,
    repeats: int | None = None,
    output: str | Path | None = None,
) -> ForecastPlan:
    """Check a forecast from an export document, and its output directory, before any work.

    ``tuner forecast`` and :func:`forecast` both come here, then run the plan with
    :func:`run_forecast`.

    Raises:
        ConfigError, DataError: As :func:`forecast`.
    """
    from tuner.forecast.files import check_output
    from tuner.forecast.refit import plan_exported

    plan = plan_exported(document, source, rank, horizon, repeats)
    if output is not None:
        check_output(output)
    return plan


def run_forecast(
    plan: ForecastPlan, output: str | Path | None = None, progress: Progress | None = None
) -> Forecast:
    """Refit and forecast as ``plan`` says; write the files into ``output`` if given.

    Raises:
        ConfigError: ``output`` cannot be written.
    """
    from tuner.forecast.files import write_forecast

    result = plan.run(progress)
    if output is not None:
        write_forecast(result, output)
    return result
