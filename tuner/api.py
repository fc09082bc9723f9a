"""The Python API for notebooks: the ``tuner`` commands as functions that return tables.

Each function is the same code path as its command (the command line calls these
functions and prints what they return), so the two cannot drift apart: creating
and running a study from a study file, running a worker, opening a stored study
with its trials, status, confirmation, export and report, re-evaluating a
configuration, the persistence baseline, and forecasting (docs/api.md).

``import tuner`` stays instant all the same: the package loads this module on
the first use of one of its names, and TensorFlow loads on the first fit.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import optuna
import pandas as pd
from optuna.artifacts import FileSystemArtifactStore

from tuner._checks import require_int, require_path, require_study_name
from tuner.data.calendar import season_of
from tuner.data.preparation import Preparation, PreparedData, prepare
from tuner.data.series import Series
from tuner.data.source import DataSource
from tuner.distributed import DEFAULT_PROXY_PORT
from tuner.distributed.compile_cache import resolve_compile_cache
from tuner.distributed.pool import run_local_workers
from tuner.distributed.proxy import ProxySecurity
from tuner.distributed.proxy import start_proxy as start
from tuner.distributed.worker import run_worker as run_trials
from tuner.engines import Progress
from tuner.evaluation.baselines import score_baselines
from tuner.evaluation.config import EvaluationConfig, load_and_prepare
from tuner.evaluation.intervals import DEFAULT_LEVELS
from tuner.evaluation.metrics import METRICS, skill
from tuner.evaluation.padding import evaluation_shape
from tuner.evaluation.runner import Evaluation, evaluate, planned_epochs
from tuner.exceptions import ConfigError, DivergedError, StorageError
from tuner.forecasting.chosen import with_chosen
from tuner.forecasting.files import check_output, write_forecast
from tuner.forecasting.panel_files import check_panel_output, write_panel_forecast
from tuner.forecasting.panel_pool import map_in_processes
from tuner.forecasting.refit import Forecast, ForecastPlan, plan_exported
from tuner.outputs.artifacts import resolve_artifact_dir
from tuner.outputs.export import dump_export, export_best, load_export, pick_configuration
from tuner.outputs.panel_report import write_panel_report
from tuner.outputs.report import write_report
from tuner.search import names
from tuner.search.confirmation import confirm_study
from tuner.search.findings import confirmed_table, skill_reference
from tuner.search.memory import check_configuration_fits
from tuner.search.panel import panel_id_column
from tuner.search.panel_status import PanelStatus, panel_status
from tuner.search.panel_studies import OnSkip, create_panel, panel_studies, studies_named
from tuner.search.records import study_attrs
from tuner.search.starter import StarterStudy, draft_study
from tuner.search.status import StudyStatus, study_status
from tuner.search.study import complete_trials, store_baselines
from tuner.search.study import create_study as create_stored
from tuner.search.study import open_study as open_stored
from tuner.search.studyfile import load_study_file
from tuner.search.windows import StudyData, study_season, study_series
from tuner.storage.database import open_storage
from tuner.storage.url import DatabaseURL, resolve_url

__all__ = [
    "DEFAULT_LEVELS",
    "EvaluationPlan",
    "TunedPanel",
    "TunedStudy",
    "baselines",
    "create_study",
    "evaluate_export",
    "forecast",
    "init_study",
    "open_study",
    "persistence_rmse",
    "plan_evaluation",
    "plan_export_evaluation",
    "plan_forecast",
    "run_forecast",
    "run_study",
    "run_worker",
    "serve_dashboard",
    "start_proxy",
]

logger = logging.getLogger(__name__)

OnProgress = Callable[[int, int], None]
"""Called with (done, total)."""
Storage = str | DatabaseURL | None
"""A database URL as text or parsed; ``None``: ``$TUNER_STORAGE``, then the default."""


@dataclass(frozen=True)
class TunedStudy:
    """A stored study, read from its database on every access.

    Attributes:
        name: The study's name.
        url: Its database URL (text is parsed; its password masked wherever shown).
    """

    name: str
    url: DatabaseURL

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", DatabaseURL.of(self.url))

    def __repr__(self) -> str:
        return f"TunedStudy(name={self.name!r}, storage={self.url.masked!r})"

    def optuna_study(self) -> optuna.Study:
        """The Optuna study itself.

        Raises:
            StorageError: The study is not in the database, or was not fully created.
        """
        return open_stored(self.name, self.url)[0]

    def trials(self) -> pd.DataFrame:
        """One row per trial: number, state, value, both scores, repeat statistics, parameters.

        ``value`` is the trial's score under the study's objective; ``mean_rmse`` and
        ``ensemble_rmse`` are both scores (a trial stored before ensembles were
        scored has the mean only). The repeat statistics (``repeats``, ``std``,
        ``min``, ``median``, ``max``) are those stored with each complete trial,
        and ``skill`` is ``1 - value / persistence's`` under the study's objective
        (as ``tuner status``, exports and reports give it); other trials leave
        them empty.
        """
        import pandas as pd

        rows = []
        study = self.optuna_study()
        reference = skill_reference(study_attrs(study))
        for trial in study.get_trials(deepcopy=False):
            attrs = trial.user_attrs
            statistics = (names.STD, names.MIN, names.MEDIAN, names.MAX)
            rows.append(
                {
                    "number": trial.number,
                    "state": trial.state.name,
                    "value": trial.value,
                    "mean_rmse": attrs.get(names.MEAN_RMSE, trial.value),
                    "ensemble_rmse": attrs.get(names.ENSEMBLE_RMSE),
                    "repeats": len(attrs[names.RMSES]) if names.RMSES in attrs else None,
                    **{key: attrs.get(key) for key in statistics},
                    "skill": skill(trial.value, reference)
                    if trial.state == optuna.trial.TrialState.COMPLETE
                    else None,
                    "seconds": attrs.get(names.SECONDS),
                    **trial.params,
                }
            )
        return pd.DataFrame(rows)

    def best(self, rank: int = 1) -> dict[str, object]:
        """The configuration of rank ``rank`` (1: the best), as one flat dict of settings.

        Every setting that reproduces the trial: the series, its preparation (lag,
        transform, seasonal difference, windows), the network's hyperparameters,
        the scoring, repeats, seed and engine.
        ``plan_evaluation(EvaluationConfig.from_dict(study.best()))`` fits it again.

        Raises:
            ConfigError: ``rank`` is not a positive integer.
            StorageError: The study has fewer complete trials than ``rank``.
        """
        config = self.configurations(rank)[rank - 1]
        return config.to_dict() | dataclasses.asdict(config.preparation)  # defaults named too

    def configurations(self, top: int = 1) -> list[EvaluationConfig]:
        """The configurations of the ``top`` best complete trials, best first.

        Raises:
            ConfigError: ``top`` is not a positive integer.
            StorageError: The study has no complete trial, or fewer than ``top``.
        """
        document = self.export(top)
        if len(document["configurations"]) < top:
            raise StorageError(
                f"study {self.name!r} has {len(document['configurations'])} complete "
                f"trial(s); asked for {top}"
            )
        return [
            pick_configuration(document, record["rank"], None)[0]
            for record in document["configurations"]
        ]

    def status(self) -> StudyStatus:
        """Counts by state, the best trial, the findings and the throughput (``tuner status``)."""
        return study_status(self.name, self.url)

    def confirmed(self) -> pd.DataFrame:
        """The confirmed configurations: holdout RMSE, validation RMSE beside it, skills."""
        import pandas as pd

        return pd.DataFrame(confirmed_table(study_attrs(self.optuna_study())))

    def confirm(self, on_progress: OnProgress | None = None) -> dict[str, object] | None:
        """Score the best configurations on the holdout, once (``tuner confirm``).

        Returns:
            The stored confirmation, or ``None`` when the study has no holdout.

        Raises:
            StorageError: The study has no complete trial yet.
        """
        return confirm_study(self.name, self.url, on_progress)

    def choice(self) -> dict[str, object] | None:
        """The series' forecaster, chosen on validation only, and each candidate's scores.

        Chosen among the tuned LSTM, AutoETS, AutoARIMA, Theta and the LSTM's
        combination with the best of those three (docs/method.md, section 15);
        the holdout scores the choice and never makes it.

        Returns:
            ``{"metric", "chosen", "validation", "holdout", "combined_with"}``, or
            ``None`` before the confirmation stores it (``tuner confirm`` does).
        """
        return study_attrs(self.optuna_study()).get(names.CHOICE)  # type: ignore[return-value]

    def export(self, top: int = 1, path: str | Path | None = None, fmt: str = "json") -> dict:
        """The best ``top`` configurations as an export document, written to ``path`` if given.

        Raises:
            ConfigError: ``top`` or ``fmt`` is invalid, or ``path`` cannot be written.
            StorageError: The study has no complete trial.
        """
        require_int("top", top, 1)
        document = export_best(self.optuna_study(), top)
        if path is not None:
            _write_text(path, dump_export(document, fmt))
        return document

    def report(self, directory: str | Path, top: int = 5) -> Path:
        """Write the Markdown report and its plots into ``directory``; return the report's path.

        Raises:
            ConfigError: ``top`` is not a positive integer, or ``directory`` cannot be written.
            StorageError: The study has no complete trial.
        """
        require_int("top", top, 1)
        require_path("directory", directory)
        return write_report(self.name, self.url, Path(directory), top)

    def forecast(
        self,
        rank: int = 1,
        horizon: int | None = None,
        repeats: int | None = None,
        output: str | Path | None = None,
        progress: Progress | None = None,
        levels: Sequence[int] = DEFAULT_LEVELS,
    ) -> pd.DataFrame:
        """Forecast with the study's configuration of ``rank``; see :func:`forecast`."""
        require_int("rank", rank, 1)
        plan = plan_forecast(
            self.export(rank), f"study {self.name!r}", rank, horizon, repeats, output, levels
        )
        return run_forecast(plan, output, progress).frame(self.name)


def _write_text(path: str | Path, text: str) -> None:
    """Write ``text`` at ``path``.

    Raises:
        ConfigError: It cannot be written (the reason is given).
    """
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write {str(path)!r}: {error.strerror}") from None


@dataclass(frozen=True)
class TunedPanel:
    """A stored panel: one study per series of a long CSV, read from the database on access.

    Attributes:
        name: The panel's name (its study file's ``name``); each study is ``NAME.ID``.
        url: Its database URL.
    """

    name: str
    url: DatabaseURL

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", DatabaseURL.of(self.url))

    def __repr__(self) -> str:
        return f"TunedPanel(name={self.name!r}, storage={self.url.masked!r})"

    def studies(self) -> list[TunedStudy]:
        """Each series' study, in the order of the panel's file.

        Raises:
            StorageError: No panel of that name.
        """
        found = panel_studies(self.name, self.url)
        if not found:
            raise StorageError(f"no panel {self.name!r} in {self.url}")
        return [TunedStudy(name, self.url) for name in found]

    def status(self) -> PanelStatus:
        """Per series its best validation score, choice and holdout scores; the aggregate."""
        return panel_status(self.name, self.url)

    def report(self, directory: str | Path) -> Path:
        """Write the panel's Markdown report into ``directory``; return its path.

        Raises:
            ConfigError: ``directory`` cannot be written.
        """
        require_path("directory", directory)
        return write_panel_report(self.status(), Path(directory))

    def export(self, top: int = 1, path: str | Path | None = None, fmt: str = "json") -> dict:
        """Every series' best ``top`` configurations: ``{"panel", "series": {id: export}}``.

        Each series' document is its study's export (:meth:`TunedStudy.export`);
        ``tuner forecast`` reads one study's, so export a series with its study's
        name (``PANEL.ID``) to forecast from a file.

        Raises:
            ConfigError: ``top`` or ``fmt`` is invalid, or ``path`` cannot be written.
        """
        require_int("top", top, 1)
        series = {}
        for study in self.studies():
            stored = study.optuna_study()
            if complete_trials(stored):
                series[str(study_attrs(stored)[names.PANEL]["unique_id"])] = study.export(top)
        document = {"panel": self.name, "series": series}
        if path is not None:
            _write_text(path, dump_export(document, fmt))
        return document

    def confirm(self, on_progress: OnProgress | None = None) -> None:
        """Confirm every series' best configurations on its holdout, once each."""
        for study in self.studies():
            study.confirm(on_progress)

    def forecast(
        self,
        horizon: int | None = None,
        repeats: int | None = None,
        output: str | Path | None = None,
        progress: Progress | None = None,
        levels: Sequence[int] = DEFAULT_LEVELS,
        workers: int = 1,
    ) -> pd.DataFrame:
        """Every series' forecast: its chosen forecaster's, and its best LSTM's beside it.

        Args:
            horizon: Steps to forecast (default: each configuration's scored horizon).
            repeats: Fits of each series' LSTM (default: the exported repeats).
            output: Directory to write ``forecast.csv``, ``forecast.png`` (a few
                series) and ``panel.json`` into (default: write nothing); it may
                only be new or an earlier panel forecast's.
            progress: Receives repeat-epochs of each refit as they finish; with
                ``workers`` > 1, each series' repeat-epochs at once, as it finishes.
            levels: Prediction intervals' levels in percent.
            workers: Processes that refit the series side by side (the refits are
                seeded, so the frame is the same for any number; see
                :mod:`tuner.forecasting.panel_pool`).

        Returns:
            One long frame: ``unique_id`` (the series' id in the panel), ``ds``,
            ``forecast`` (the forecaster chosen on validation, docs/method.md,
            section 15) with ``forecast-lo-80``... per level, ``lstm`` with its own
            intervals (see :meth:`TunedStudy.forecast`), and ``chosen``.

        Raises:
            ConfigError: ``output`` is refused or cannot be written, or a setting
                breaks its rule (``workers`` > 1 needs a database the processes share).
            DivergedError: Every refit of a series' best configurations diverged.
        """
        _require_workers(workers, self.url)
        if output is not None:
            check_panel_output(output)
        studies = self.studies()
        if workers == 1:
            forecasts = [
                _series_forecast(study, horizon, repeats, progress, levels) for study in studies
            ]
        else:
            members = [
                (study.name, self.url.text, horizon, repeats, tuple(levels)) for study in studies
            ]
            forecasts = _forecast_apart(members, workers, progress)
        frame = pd.concat([one.frame for one in forecasts], ignore_index=True)
        if output is not None:
            histories = {one.unique_id: one.history for one in forecasts}
            write_panel_forecast(self.name, frame, histories, output)
        return frame


def _require_workers(workers: int, url: DatabaseURL) -> None:
    """Raise ConfigError unless ``workers`` is a positive int that ``url`` can serve.

    An in-memory SQLite database lives in this process only; other processes
    would find no study in theirs.
    """
    require_int("workers", workers, 1)
    if workers > 1 and url.driver == "sqlite" and url.path is None:
        raise ConfigError(
            f"workers > 1 needs a database file or server the processes share; got "
            f"workers={workers} with the in-memory SQLite database {url}"
        )


@dataclass(frozen=True)
class _SeriesForecast:
    """One series' forecast in a panel, and what the panel's files need of it.

    Attributes:
        unique_id: The series' id in the panel.
        frame: Its rows of the panel's forecast (see :meth:`TunedPanel.forecast`).
        history: Its whole series, plotted before the forecast.
    """

    unique_id: str
    frame: pd.DataFrame
    history: Series


def _series_forecast(
    study: TunedStudy,
    horizon: int | None,
    repeats: int | None,
    progress: Progress | None,
    levels: Sequence[int],
) -> _SeriesForecast:
    """A panel's series forecast by its chosen forecaster, its best stable LSTM's beside it."""
    stored, config = open_stored(study.name, study.url)
    attrs = study_attrs(stored)
    unique_id = attrs[names.PANEL]["unique_id"]
    lstm = _stable_forecast(study, horizon, repeats, progress, levels)
    series = study_series(config)
    frame = with_chosen(
        lstm.assign(unique_id=unique_id),
        attrs.get(names.CHOICE),
        series.values,
        study_season(config.data, series),
        levels,
        steps=config.data.horizon,
    )
    return _SeriesForecast(unique_id, frame, series)


def _member_forecast(
    name: str, url: str, horizon: int | None, repeats: int | None, levels: tuple[int, ...]
) -> tuple[_SeriesForecast, int]:
    """:func:`_series_forecast` of study ``name`` in ``url``, and the repeat-epochs it took.

    Module-level and given plain values, so that a spawned process of the pool
    can unpickle it; the epochs are counted here, as a progress callback cannot
    cross to the process that shows them.
    """
    epochs: list[int] = []
    forecast = _series_forecast(TunedStudy(name, url), horizon, repeats, epochs.append, levels)
    return forecast, sum(epochs)


def _forecast_apart(
    members: list[tuple[object, ...]], workers: int, progress: Progress | None
) -> list[_SeriesForecast]:
    """:func:`_member_forecast` of each of ``members`` in ``workers`` processes, in order.

    ``progress`` receives each series' repeat-epochs when the series finishes.

    Raises:
        DivergedError: Every refit of a series' best configurations diverged.
    """

    def done(result: tuple[_SeriesForecast, int]) -> None:
        if progress is not None:
            progress(result[1])

    return [forecast for forecast, _ in map_in_processes(_member_forecast, members, workers, done)]


FALLBACK_RANKS = 3
"""How many of a study's best configurations a panel's forecast tries, should refits diverge."""


def _stable_forecast(
    study: TunedStudy,
    horizon: int | None,
    repeats: int | None,
    progress: Progress | None,
    levels: Sequence[int],
) -> pd.DataFrame:
    """The forecast of the best configuration whose refit does not diverge, with a warning.

    One series of many whose refit diverges (a seed that blows up on the whole
    series) should not stop the panel's forecast: the next best configuration is
    refitted instead, up to :data:`FALLBACK_RANKS`.

    Raises:
        DivergedError: Every one of them diverged.
    """
    last = min(FALLBACK_RANKS, len(study.export(FALLBACK_RANKS)["configurations"]))
    for rank in range(1, last):
        try:
            return study.forecast(rank, horizon, repeats, progress=progress, levels=levels)
        except DivergedError as error:
            logger.warning(
                "study %r: rank %d: %s; the next rank forecasts", study.name, rank, error
            )
    try:
        return study.forecast(last, horizon, repeats, progress=progress, levels=levels)
    except DivergedError as error:
        raise DivergedError(f"study {study.name!r}, rank {last}: {error}") from None


def init_study(
    data: str | Path,
    study_file: str | Path | None = None,
    name: str | None = None,
    date_column: str | None = None,
    value_column: str | None = None,
    date_format: str | None = None,
) -> tuple[Path, StarterStudy]:
    """Write a first study file for the CSV ``data`` (``tuner init``), checked before it is.

    Args:
        data: A CSV file (or a built-in series).
        study_file: Where to write it (default: ``NAME.toml`` in the current directory).
        name: The study's name (default: from the file's name).
        date_column: Column of dates (default: the first).
        value_column: Column of values (default: the second).
        date_format: How the dates are written, where day and month could be read
            either way.

    Returns:
        The study file's path, and the draft (its text, the series and its windows).

    Raises:
        ConfigError: The study file exists, or the series is too short.
        DataError: The series cannot be read faithfully.
    """
    if name is not None:
        require_study_name("name", name)
    target = Path(study_file) if study_file is not None else None
    if target is None:
        stem = name or Path(str(data)).stem
        target = Path(f"{stem}.toml")
    draft = draft_study(data, target, name, date_column, value_column, date_format)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as file:  # never over someone's file
            file.write(draft.text)
    except FileExistsError:
        raise ConfigError(f"{target} exists; give another path with -o, or remove it") from None
    except OSError as error:
        raise ConfigError(f"cannot write {str(target)!r}: {error.strerror}") from None
    return target, draft


def create_study(
    study_file: str | Path,
    trials: int | None = None,
    storage: Storage = None,
    on_skip: OnSkip | None = None,
) -> tuple[TunedStudy | TunedPanel, bool]:
    """Create the study a study file describes (idempotent); return it and whether it is new.

    A study file over a panel (a long CSV of many series) creates one study per
    series and returns the panel; a series the file does not fit is skipped,
    ``on_skip`` told why (docs/guide.md, "Panels").

    Args:
        study_file: A study file, for example ``studies/shampoo.toml``.
        trials: Overrides the file's trial budget (each series' in a panel).
        storage: Database URL (default: ``$TUNER_STORAGE``, the file's ``storage``,
            then ``sqlite:///storage/tuner.db``).
        on_skip: Called with a panel's series id and why it was skipped.

    Raises:
        ConfigError: The study file is invalid or does not fit the data (in a
            panel: no series at all).
        StorageError: The database cannot be used, or holds a different study of that name.
        DataError: The series cannot be loaded.
    """
    return _create(study_file, trials, storage, baselines=True, on_skip=on_skip)


def _create(
    study_file: str | Path,
    trials: int | None,
    storage: Storage,
    baselines: bool,
    on_skip: OnSkip | None = None,
) -> tuple[TunedStudy | TunedPanel, bool]:
    """:func:`create_study`; the baselines now, or left to :func:`_store_baselines`."""
    if trials is not None:
        require_int("trials", trials, 1)
    config, text = load_study_file(study_file)
    url = resolve_url(storage, config.storage_url)
    if panel_id_column(config) is not None:
        _, created = create_panel(
            config, text, url, budget=trials, baselines=baselines, on_skip=on_skip
        )
        return TunedPanel(config.name, url), created > 0
    created = create_stored(config, text, url, budget=trials, baselines=baselines)
    return TunedStudy(config.name, url), created


def _store_baselines(study: TunedStudy | TunedPanel) -> None:
    """Score and store the baselines of each study, unless stored (see ``store_baselines``)."""
    for one in study.studies() if isinstance(study, TunedPanel) else [study]:
        stored, config = open_stored(one.name, one.url)
        store_baselines(stored, StudyData.load(config))


def run_study(
    study_file: str | Path,
    workers: int = 1,
    trials: int | None = None,
    storage: Storage = None,
    artifacts: str | Path | None = None,
    save_artifacts: bool = True,
    on_trials: OnProgress | None = None,
    on_confirmation: OnProgress | None = None,
    on_skip: OnSkip | None = None,
) -> tuple[TunedStudy | TunedPanel, int]:
    """Create the study, run ``workers`` local worker processes to its budget, confirm it.

    Returns when every worker has exited, with the study and their combined exit
    status (0: all met the budget, and the best configurations were confirmed).
    The baselines are scored here while the workers start, since no trial needs them.
    A panel's studies are run together, every worker serving each in turn.

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
        on_skip: Called with a panel's series id and why it was skipped.

    Raises:
        ConfigError, StorageError, DataError: As :func:`create_study`.
        KeyboardInterrupt: SIGINT or SIGTERM arrived; every worker was stopped.
    """
    require_int("workers", workers, 1)
    directory = resolve_artifact_dir(artifacts) if save_artifacts else None
    study, _ = _create(study_file, trials, storage, baselines=False, on_skip=on_skip)
    with ThreadPoolExecutor(max_workers=1) as scoring:
        baselines = scoring.submit(_store_baselines, study)
        status = run_local_workers(study.name, study.url, directory, workers, on_trials or _quiet)
        baselines.result()
    if status == 0:
        study.confirm(on_confirmation)
    return study, status


def _quiet(done: int, total: int) -> None:
    """Progress sink used when the caller wants none."""


def run_worker(
    name: str,
    storage: Storage = None,
    artifacts: str | Path | None = None,
    save_artifacts: bool = True,
    worker_index: int | None = None,
) -> int:
    """Run trials of study ``name`` until its budget is met (``tuner worker``).

    Compiled graphs are kept for later workers in the compile cache (see
    :mod:`tuner.distributed.compile_cache`), when TensorFlow has not started yet
    in this process.

    Returns:
        The number of trials this worker finished with its own result.

    Raises:
        StorageError: Unknown study, unreachable database, or unusable artifact directory.
        TunerError: ``workers.max_consecutive_failures`` trials in a row raised.
        KeyboardInterrupt: The worker was interrupted; its trial was queued again.
    """
    url = resolve_url(storage)
    directory = resolve_artifact_dir(artifacts) if save_artifacts else None
    cache = resolve_compile_cache()
    return run_trials(name, url, directory, worker_index=worker_index, compile_cache=cache)


def open_study(name: str, storage: Storage = None) -> TunedStudy | TunedPanel:
    """Open stored study ``name``, or the panel of that name.

    Raises:
        StorageError: No study or panel of that name (the existing ones are
            listed), or the study was not fully created.
        ConfigError: ``name`` is not a valid study name.
    """
    url = resolve_url(storage)
    if studies_named(name, url) == [name]:
        return TunedStudy(name, url)
    return TunedPanel(name, url)


@dataclass(frozen=True)
class EvaluationPlan:
    """A configuration and its series, prepared and checked, ready to evaluate.

    Attributes:
        config: The configuration.
        prepared: Its series, prepared as the configuration says.
    """

    config: EvaluationConfig
    prepared: PreparedData

    @property
    def total_epochs(self) -> int:
        """Repeat-epochs the evaluation trains: the unit of its progress."""
        return planned_epochs(self.prepared, self.config)

    def run(self, progress: Progress | None = None) -> Evaluation:
        """Fit the repeats and score them (see :func:`tuner.evaluation.runner.evaluate`)."""
        shape = evaluation_shape(self.prepared, self.config.hyperparameters)
        return evaluate(self.prepared, self.config, progress=progress, shape=shape)


def plan_evaluation(config: EvaluationConfig) -> EvaluationPlan:
    """Load and prepare a configuration's series, and check the configuration fits it.

    Raises:
        ConfigError: The batch size does not fit the data.
        DataError: The series cannot be loaded or prepared.
    """
    members = config.repeats * config.scoring.fits
    check_configuration_fits(
        config.hyperparameters, members, config.preparation.lag, "this evaluation"
    )
    prepared = load_and_prepare(config)
    planned_epochs(prepared, config)  # the batch size must fit, before any work
    return EvaluationPlan(config, prepared)


def plan_export_evaluation(
    path: str | Path, rank: int = 1, repeats: int | None = None, holdout: bool = False
) -> EvaluationPlan:
    """The exported configuration of ``rank``, its series prepared as it was scored.

    Raises:
        ConfigError: The file is not a valid export, has no such rank, or its data
            no longer matches the exported configuration.
    """
    config, fingerprint = pick_configuration(load_export(path), rank, repeats, holdout=holdout)
    evaluation = plan_evaluation(config)
    if evaluation.prepared.fingerprint != fingerprint:
        raise ConfigError(
            f"{path}: the data no longer matches the exported configuration (series "
            f"{config.source.data!r} or its preparation changed since the export)"
        )
    return evaluation


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
        ConfigError: As :func:`plan_export_evaluation`.
        DivergedError: A repeat's forecasts are not finite.
    """
    return plan_export_evaluation(path, rank, repeats, holdout).run(progress)


def persistence_rmse(
    data: str,
    date_column: str | None = None,
    value_column: str | None = None,
    lag: int = 1,
    test_size: int = 12,
    train_size: int | None = None,
    date_format: str | None = None,
) -> tuple[float, int]:
    """The persistence forecast's RMSE over the last ``test_size`` rows (``tuner baseline``).

    Returns:
        The RMSE, and the number of observations it was scored on.

    Raises:
        ConfigError: A setting breaks its rule.
        DataError: The series cannot be loaded or prepared.
    """
    source = DataSource(data, date_column, value_column, date_format=date_format)
    prepared = prepare(source.load(), Preparation(lag, test_size, train_size))
    return prepared.persistence_rmse, prepared.n_test


def baselines(
    data: str,
    date_column: str | None = None,
    value_column: str | None = None,
    test_size: int = 12,
    season: int | None = None,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Every baseline's one-step forecasts of the last ``test_size`` observations, scored.

    The same baselines and metrics a study stores for its windows (docs/guide.md,
    "Three windows"), so a series can be judged before any tuning.

    Args:
        data: A built-in series or a CSV path.
        date_column: Column of dates (default: the first).
        value_column: Column of values (default: the second).
        test_size: Observations at the end to forecast, each from those before it.
        season: Observations per season (default: from the dates; ``None`` when
            they have none, and the seasonal baselines say why they are absent).
        date_format: How the dates are written, where day and month could be read
            either way.

    Returns:
        One row per baseline: ``baseline``, ``rmse``, ``mae``, ``smape``,
        ``mase`` and ``reason`` (why a baseline has no scores).

    Raises:
        ConfigError: ``test_size`` or ``season`` breaks its rule.
        DataError: The series cannot be loaded.
    """
    series = DataSource(data, date_column, value_column, date_format=date_format).load()
    require_int("test_size", test_size, 1, len(series) - 1)
    scores = score_baselines(
        series.values, len(series) - test_size, len(series), season or season_of(series)
    )
    return pd.DataFrame(
        [
            {
                "baseline": name,
                **{metric: score.score(metric) for metric in METRICS},
                "reason": score.reason,
            }
            for name, score in scores.items()
        ]
    )


def forecast(
    path: str | Path,
    rank: int = 1,
    horizon: int | None = None,
    repeats: int | None = None,
    output: str | Path | None = None,
    progress: Progress | None = None,
    levels: Sequence[int] = DEFAULT_LEVELS,
) -> pd.DataFrame:
    """Refit an exported configuration on the whole series and forecast past its end.

    Args:
        path: An export file (from ``tuner export``).
        rank: Which configuration (1 = best).
        horizon: Steps to forecast (default: the horizon the configuration was
            scored at, or its ``test_size`` at horizon 1).
        repeats: Fits (default: the exported repeats).
        output: Directory to write ``forecast.csv``, ``forecast.png``, the models and
            ``preparation.json`` into (default: write nothing).
        progress: Receives repeat-epochs of the refit as they finish.
        levels: Prediction intervals' levels in percent (docs/method.md, section 14).

    Returns:
        One row per step in statsforecast's long form: ``unique_id`` (the study's
        name), ``ds`` (a timestamp, or a whole number for a series indexed so),
        ``lstm`` (the repeats' mean) and ``lstm-lo-80``, ``lstm-hi-80``,
        ``lstm-lo-95``, ``lstm-hi-95`` (one pair per level). ``forecast.csv`` adds
        every repeat and their spread.

    Raises:
        ConfigError: The export is invalid or has no such rank, a setting is not a
            positive integer, or ``output`` cannot be written.
        DataError: The series' past changed since the export, or it is unusable.
    """
    document = load_export(path)
    plan = plan_forecast(document, str(path), rank, horizon, repeats, output, levels)
    return run_forecast(plan, output, progress).frame(document["study"])


def plan_export_forecast(
    path: str | Path,
    rank: int = 1,
    horizon: int | None = None,
    repeats: int | None = None,
    output: str | Path | None = None,
    levels: Sequence[int] = DEFAULT_LEVELS,
) -> ForecastPlan:
    """Check a forecast from an export file, and its output directory, before any work.

    Raises:
        ConfigError, DataError: As :func:`forecast`.
    """
    return plan_forecast(load_export(path), str(path), rank, horizon, repeats, output, levels)


def plan_forecast(
    document: dict,
    source: str,
    rank: int = 1,
    horizon: int | None = None,
    repeats: int | None = None,
    output: str | Path | None = None,
    levels: Sequence[int] = DEFAULT_LEVELS,
) -> ForecastPlan:
    """Check a forecast from an export document, and its output directory, before any work.

    ``tuner forecast`` and :func:`forecast` both come here, then run the plan with
    :func:`run_forecast`.

    Raises:
        ConfigError, DataError: As :func:`forecast`.
    """
    plan = plan_exported(document, source, rank, horizon, repeats, levels)
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
    result = plan.run(progress)
    if output is not None:
        write_forecast(result, output)
    return result


def serve_dashboard(
    storage: Storage = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    artifacts: str | Path | None = None,
    on_serving: Callable[[DatabaseURL], None] | None = None,
) -> None:
    """Serve optuna-dashboard on the study database, with the trials' plots, until interrupted.

    ``on_serving`` is called with the database URL once everything is checked (the
    database exists, the port is free), just before the server starts (the
    command prints where it serves). Nothing is created.

    Raises:
        ConfigError: ``port`` is out of range, or ``host:port`` cannot be bound.
        StorageError: The database does not exist or cannot be used.
    """
    from optuna_dashboard import run_server  # here, not at the top: it loads its web server

    _require_port(port)
    url = resolve_url(storage)
    database = open_storage(url, create=False)
    # The dashboard only reads the plots: a missing directory shows none, and is not made.
    store = FileSystemArtifactStore(resolve_artifact_dir(artifacts))
    _require_free_port(host, port)
    if on_serving is not None:
        on_serving(url)
    try:
        run_server(database, host=host, port=port, artifact_store=store)
    except OSError as error:
        raise ConfigError(
            f"cannot serve on {host}:{port}: {error.strerror}; choose another --port"
        ) from None


def start_proxy(
    storage: Storage = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PROXY_PORT,
    security: ProxySecurity | None = None,
) -> grpc.Server:
    """Start ``tuner proxy``: serve the study database to workers at ``grpc://host:port``.

    ``security`` gives the TLS files (and ``insecure``); the token comes from
    ``TUNER_PROXY_TOKEN`` or ``TUNER_PROXY_TOKEN_FILE`` (docs/kubernetes.md).

    Returns:
        The running server; ``wait_for_termination`` serves until interrupted.

    Raises:
        ConfigError: ``port`` is out of range, ``host:port`` cannot be bound, the
            storage is itself a proxy, TLS files or the token cannot be read, or
            ``host`` is beyond loopback without TLS and a token (nor ``insecure``).
        StorageError: The database cannot be reached.
    """
    _require_port(port)
    url = resolve_url(storage)
    if url.is_proxy:
        raise ConfigError(
            f"the proxy serves a database, not another proxy; got storage {url.masked!r}, "
            "expected sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:port/db"
        )
    return start(url, host, port, security)


def _require_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535; got {port}")


def _require_free_port(host: str, port: int) -> None:
    """Refuse ``host:port`` when it cannot be bound, before anything is printed.

    The dashboard's server binds only after it has printed where it listens, so a
    port in use would be announced first and refused after.
    """
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        raise ConfigError(
            f"cannot serve on {host}:{port}: {error.strerror}; choose another --port"
        ) from None
