"""Studies as stored: creating one, and loading it back with its study file.

A study is created in steps that Optuna cannot make one transaction (the study
row, then its attributes, note and first trial), so the last step marks it
ready. A study found without that mark was interrupted halfway: ``tuner
create`` finishes it, and every other command refuses it in one line instead
of failing on a missing attribute.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner._checks import require_study_name
from tuner.evaluation.baselines import persistence_rmse, score_baselines
from tuner.evaluation.metrics import OBJECTIVE_LABELS
from tuner.exceptions import StorageError
from tuner.method.scoring import Scoring
from tuner.search import names
from tuner.search.memory import check_fits_in_memory
from tuner.search.note import save_study_note
from tuner.search.panel import member_config
from tuner.search.records import set_study_attr, study_attrs
from tuner.search.space import TUTORIAL_CONFIGURATION, SearchSpace
from tuner.search.studyfile import StudyConfig, parse_study_text, with_series
from tuner.search.windows import StudyData, study_season
from tuner.storage.database import open_storage
from tuner.storage.locks import exclusive
from tuner.storage.url import DatabaseURL

__all__ = [
    "complete_trials",
    "create_study",
    "load_study_config",
    "open_study",
    "store_baselines",
    "stored_config",
]


def create_study(
    config: StudyConfig,
    text: str,
    url: DatabaseURL,
    budget: int | None = None,
    *,
    baselines: bool = True,
    panel: Mapping[str, object] | None = None,
) -> bool:
    """Create the study (tables too) if it does not exist; return whether it was created.

    Idempotent and safe to run concurrently: creation happens under the database
    lock, and the tutorial's configuration is enqueued only once. A study whose
    creation was interrupted is finished. ``budget`` overrides the file's
    ``trials``. The stored study file has any password in its ``storage`` key
    masked. ``baselines=False`` leaves the baselines to :func:`store_baselines`
    (``tuner run`` scores them while its workers start: no trial needs them).
    ``panel`` is a panel member's record (:attr:`tuner.search.panel.Member.record`),
    stored so that the study reads its own series of the panel's file.

    Raises:
        StorageError: The database cannot be reached, or a study of that name
            exists with a different study file.
        ConfigError: The study file does not fit the data, or a trial of it would
            not fit in memory.
        DataError: The series cannot be loaded.
    """
    url = DatabaseURL.of(url)
    data = StudyData.load(config)
    space = SearchSpace.build(data)
    check_fits_in_memory(data.config, data.search, space.batch_sizes)  # [search] resolved
    stored_text = config.storage_url.redact(text) if config.storage_url else text
    with exclusive(url, f"create:{config.name}"):
        storage = open_storage(url)  # creates the tables: under the lock too
        study, created = _created(config, storage, stored_text, url, budget)
        if created:
            _fill(study, data, space, stored_text, budget or config.trials, panel)
    if baselines:
        store_baselines(study, data)
    return created


def _created(
    config: StudyConfig,
    storage: optuna.storages.BaseStorage,
    text: str,
    url: DatabaseURL,
    budget: int | None,
) -> tuple[optuna.Study, bool]:
    """The study of that name, and whether it still has to be filled (new or half-made)."""
    if config.name not in optuna.get_all_study_names(storage):
        return _new_study(config, storage), True
    study = optuna.load_study(study_name=config.name, storage=storage)
    if not study.user_attrs.get(names.READY):
        return study, True
    _check_same_file(study, config, text, url)
    if budget is not None:
        study.set_user_attr(names.BUDGET, budget)
    return study, False


def _new_study(config: StudyConfig, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Create the Optuna study, its objective named for the dashboard, without Optuna's log line.

    The dashboard calls an unnamed objective "Objective 0". Optuna logs "A new
    study created in RDB" at INFO through its own handler, which would land in a
    notebook's or a script's output; the command line says what it created itself.
    """
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        study = optuna.create_study(study_name=config.name, storage=storage, direction="minimize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    with warnings.catch_warnings():  # experimental since Optuna 3.2, and stable in use
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([f"validation {OBJECTIVE_LABELS[config.objective]}"])
    return study


def _fill(
    study: optuna.Study,
    data: StudyData,
    space: SearchSpace,
    text: str,
    budget: int,
    panel: Mapping[str, object] | None,
) -> None:
    """Store the study's file, windows and note, queue the tutorial's trial, mark it ready."""
    attrs = _window_attributes(data) | {
        names.STUDY_FILE: text,
        names.BUDGET: budget,
        names.SERIES: data.config.data.series,
    }
    if panel is not None:
        attrs[names.PANEL] = dict(panel)
    for key, value in attrs.items():
        set_study_attr(study, key, value)
    save_study_note(study, data)
    tutorial = space.with_defaults(TUTORIAL_CONFIGURATION)
    if space.contains(tutorial) and not _has_warm_start(study):
        study.enqueue_trial(tutorial, user_attrs={names.WARM_START: "tutorial"})
    study.set_user_attr(names.READY, True)


def store_baselines(study: optuna.Study, data: StudyData) -> None:
    """Score every baseline on the study's windows and store them, unless they are stored.

    The slowest step of a study's creation (statsforecast's AutoARIMA and AutoETS
    on each window), and read only by what shows a study's results. Baselines
    are scored on exactly the forecasts the search is validated on and the
    confirmation is scored on: the same origins, horizon and metrics.
    """
    if names.BASELINES in study_attrs(study):
        return
    windows, series = data.windows, data.series
    runs = (
        ("validation", windows.validation, data.config.data.scoring),
        ("holdout", windows.holdout, data.holdout_scoring if windows.holdout else None),
    )
    season = study_season(data.config.data, series)
    scores = {
        name: None
        if window is None
        else {
            baseline: score.to_dict()
            for baseline, score in score_baselines(
                series.values[: window[1]], *window, season, scoring
            ).items()
        }
        for name, window, scoring in runs
    }
    set_study_attr(study, names.BASELINES, {"season": season, **scores})
    save_study_note(study, data)


def _window_attributes(data: StudyData) -> dict[str, object]:
    """The study's windows (sizes and dates), and persistence's RMSE on each.

    Persistence is what every skill is measured against, and costs next to
    nothing, so it is stored with the windows; the other baselines come later
    (:func:`store_baselines`).
    """
    windows, series = data.windows, data.series

    def persistence(window: tuple[int, int], scoring: Scoring) -> float:
        start, stop = window
        return persistence_rmse(series.values, stop, stop - start, scoring)

    return {
        names.HOLDOUT: data.holdout,
        names.WINDOWS: windows.labels(series.index),
        names.PERSISTENCE_RMSE: persistence(windows.validation, data.config.data.scoring),
        names.HOLDOUT_PERSISTENCE_RMSE: windows.holdout
        and persistence(windows.holdout, data.holdout_scoring),
    }


def _check_same_file(study: optuna.Study, config: StudyConfig, text: str, url: DatabaseURL) -> None:
    stored = parse_study_text(study_attrs(study)[names.STUDY_FILE])
    if stored != parse_study_text(text):
        raise StorageError(
            f"study {config.name!r} already exists in {url} with a different "
            "study file; choose another name"
        )


def _has_warm_start(study: optuna.Study) -> bool:
    return any(names.WARM_START in t.user_attrs for t in study.get_trials(deepcopy=False))


def open_study(name: str, url: DatabaseURL) -> tuple[optuna.Study, StudyConfig]:
    """Load study ``name`` and its stored study file.

    Raises:
        StorageError: No study of that name (the existing ones are listed), or its
            creation was interrupted.
        ConfigError: ``name`` is not a safe study name.
    """
    config, storage = load_study_config(name, url)
    return optuna.load_study(study_name=name, storage=storage), config


def load_study_config(
    name: str, url: DatabaseURL
) -> tuple[StudyConfig, optuna.storages.BaseStorage]:
    """The study file stored with study ``name``, and the opened storage.

    Raises:
        StorageError: No study of that name (the existing ones are listed), no
            database at ``url`` (nothing is created), or the study's creation was
            interrupted.
        ConfigError: ``name`` is not a safe study name (names become paths).
    """
    require_study_name("study name", name)
    url = DatabaseURL.of(url)
    storage = open_storage(url, create=False)  # reading a study creates no database
    if name not in optuna.get_all_study_names(storage):
        raise StorageError(f"no study {name!r} in {url}; existing studies: {_existing(storage)}")
    study = optuna.load_study(study_name=name, storage=storage)
    if not study.user_attrs.get(names.READY):
        raise StorageError(
            f"study {name!r} in {url} was not fully created (its creation was "
            "interrupted); run 'tuner create' with its study file again"
        )
    return stored_config(study), storage


def _existing(storage: optuna.storages.BaseStorage) -> str:
    """The studies of a database, a panel's as one entry with its count of series."""
    panels: dict[str, int] = {}
    alone = []
    for study in storage.get_all_studies():
        record = study.user_attrs.get(names.PANEL)
        if record:
            panels[record["panel"]] = panels.get(record["panel"], 0) + 1
        else:
            alone.append(study.study_name)
    listed = sorted(alone) + [
        f"{panel} (a panel of {count})" for panel, count in sorted(panels.items())
    ]
    return ", ".join(listed) or "none"


def stored_config(study: optuna.Study) -> StudyConfig:
    """The study file stored with ``study``, its series as resolved at creation.

    A CSV path is stored as written, relative to the study file, and resolved
    beside it when the study was created
    (:func:`tuner.search.studyfile.load_study_file`); every worker reads that
    resolution, wherever it runs from. A panel's study stores the panel's file,
    and reads its own series of it (:data:`tuner.search.names.PANEL`).
    """
    attrs = study_attrs(study)
    config = parse_study_text(attrs[names.STUDY_FILE], f"study {study.study_name!r}")
    config = with_series(config, attrs.get(names.SERIES, config.data.series))
    panel = attrs.get(names.PANEL)
    if panel is None:
        return config
    return member_config(config, panel["unique_id"], panel["id_column"])


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's complete trials with a finite value, best first.

    A trial's value is its score under the study's objective, so this is the
    objective's ranking (lowest RMSE first).
    """
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted((t for t in trials if math.isfinite(t.value)), key=lambda t: t.value)
