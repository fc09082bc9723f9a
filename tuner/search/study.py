"""Studies as stored: creating one, loading it back, and reading its state.

A study is created in steps that Optuna cannot make one transaction (the study
row, then its attributes, note and first trial), so the last step marks it
ready. A study found without that mark was interrupted halfway: ``tuner
create`` finishes it, and every other command refuses it in one line instead
of failing on a missing attribute.

The budget is global: a study stops at exactly ``trials`` finished trials
(complete, pruned or failed). A failed trial that is retried (its worker died,
or was interrupted) hands its slot to its retry and does not count.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import optuna
import sqlalchemy
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState

from tuner._checks import require_study_name
from tuner.exceptions import StorageError
from tuner.search.studyfile import StudyConfig, parse_study_text
from tuner.storage.database import exclusive, mask, open_storage, redact

__all__ = [
    "BUDGET_ATTR",
    "SlotCounts",
    "StudyStatus",
    "complete_trials",
    "count_slots",
    "create_study",
    "load_study_config",
    "open_study",
    "study_status",
]

STUDY_FILE_ATTR = "study_file"
BUDGET_ATTR = "budget"
READY_ATTR = "ready"
"""Set last by :func:`create_study`: a study without it was interrupted while created."""
WARM_START_ATTR = "warm_start"


@dataclass(frozen=True)
class SlotCounts:
    """Trials of a study by what they mean for the budget."""

    complete: int
    pruned: int
    failed: int
    retried: int
    running: int
    waiting: int

    @property
    def finished(self) -> int:
        """Trials that count toward the budget."""
        return self.complete + self.pruned + self.failed

    @classmethod
    def of(cls, trials: list[FrozenTrial]) -> SlotCounts:
        """Count ``trials``; a failed trial that some trial retries is ``retried``."""
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        states = [t.state for t in trials]
        failed = [t for t in trials if t.state == TrialState.FAIL]
        return cls(
            complete=states.count(TrialState.COMPLETE),
            pruned=states.count(TrialState.PRUNED),
            failed=sum(t.number not in retried for t in failed),
            retried=sum(t.number in retried for t in failed),
            running=states.count(TrialState.RUNNING),
            waiting=states.count(TrialState.WAITING),
        )


def count_slots(storage: optuna.storages.BaseStorage, study_id: int) -> SlotCounts:
    """The study's :class:`SlotCounts`, counted by the database rather than by reading trials.

    Two aggregate queries answer with a handful of rows however many trials the
    study holds, so a worker's claim costs the same at 60 trials as at 10,000
    (README, "Database cost per trial"). A failed trial is retried when some
    trial's ``retry_history`` (set by Optuna's retry callback) ends with its
    number; the history of a given failed trial is always the same list, so the
    distinct histories count the retried trials exactly as :meth:`SlotCounts.of`
    does. A storage reached through ``tuner proxy`` is counted by the proxy.
    """
    if isinstance(storage, optuna.storages._CachedStorage):  # what a Study wraps an RDB in
        storage = storage._backend
    if not isinstance(storage, optuna.storages.RDBStorage):
        return storage.count_slots(
            study_id
        )  # a tuner.distributed.proxy.ProxyStorage: the proxy counts
    trials = models.TrialModel
    attrs = models.TrialSystemAttributeModel
    by_state = (
        sqlalchemy.select(trials.state, sqlalchemy.func.count())
        .where(trials.study_id == study_id)
        .group_by(trials.state)
    )
    retried = (
        sqlalchemy.select(sqlalchemy.func.count(sqlalchemy.distinct(attrs.value_json)))
        .join(trials, attrs.trial_id == trials.trial_id)
        .where(trials.study_id == study_id, attrs.key == "retry_history")
    )
    with storage.engine.connect() as connection:
        states = dict(connection.execute(by_state).all())
        retried_count = connection.execute(retried).scalar_one()
    return SlotCounts(
        complete=states.get(TrialState.COMPLETE, 0),
        pruned=states.get(TrialState.PRUNED, 0),
        failed=states.get(TrialState.FAIL, 0) - retried_count,
        retried=retried_count,
        running=states.get(TrialState.RUNNING, 0),
        waiting=states.get(TrialState.WAITING, 0),
    )


def create_study(config: StudyConfig, text: str, url: str, budget: int | None = None) -> bool:
    """Create the study (tables too) if it does not exist; return whether it was created.

    Idempotent and safe to run concurrently: creation happens under the database
    lock, and the tutorial's configuration is enqueued only once. A study whose
    creation was interrupted is finished. ``budget`` overrides the file's
    ``trials``. The stored study file has any password in its ``storage`` key
    masked.

    Raises:
        StorageError: The database cannot be reached, or a study of that name
            exists with a different study file.
        ConfigError: The study file does not fit the data, or a trial of it would
            not fit in memory.
        DataError: The series cannot be loaded.
    """
    from tuner.method.limits import check_fits_in_memory
    from tuner.outputs.artifacts import study_note
    from tuner.search.space import TUTORIAL_CONFIGURATION, SearchSpace
    from tuner.search.windows import prepare_for_study

    prepared = prepare_for_study(config)
    space = SearchSpace.build(config, prepared)
    check_fits_in_memory(config, prepared, space.batch_sizes)
    stored_text = redact(text, config.storage)
    attrs = _window_attributes(config)
    with exclusive(url, f"create:{config.name}"):
        storage = open_storage(url)  # creates the tables: under the lock too
        if config.name in optuna.get_all_study_names(storage):
            study = optuna.load_study(study_name=config.name, storage=storage)
            if study.user_attrs.get(READY_ATTR):
                _check_same_file(study, config, stored_text, url)
                if budget is not None:
                    study.set_user_attr(BUDGET_ATTR, budget)
                return False
        else:
            study = optuna.create_study(
                study_name=config.name, storage=storage, direction="minimize"
            )
        from optuna_dashboard import save_note

        attrs |= {
            STUDY_FILE_ATTR: stored_text,
            BUDGET_ATTR: budget or config.trials,
            "persistence_rmse": next(iter(prepared.values())).persistence_rmse,
            "series": config.data.series,
        }
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        save_note(study, study_note(config, stored_text, prepared, attrs))
        tutorial = space.with_defaults(TUTORIAL_CONFIGURATION)
        if space.contains(tutorial) and not _has_warm_start(study):
            study.enqueue_trial(tutorial, user_attrs={WARM_START_ATTR: "tutorial"})
        study.set_user_attr(READY_ATTR, True)
        return True


def _window_attributes(config: StudyConfig) -> dict[str, object]:
    """The study's windows (sizes and dates), and the baselines scored on them.

    Baselines are scored here, once per study, on exactly the observations the
    search is validated on and the confirmation is scored on.
    """
    from tuner.evaluation.baselines import score_baselines, season_of
    from tuner.search.findings import BASELINES_ATTR
    from tuner.search.windows import prepare_for_holdout, study_holdout, study_series, study_windows

    windows = study_windows(config)
    series = study_series(config)
    season = config.data.season or season_of(series)
    scores = {
        name: None
        if window is None
        else {
            baseline: score.to_dict()
            for baseline, score in score_baselines(series.values, *window, season).items()
        }
        for name, window in (("validation", windows.validation), ("holdout", windows.holdout))
    }
    holdout_runs = prepare_for_holdout(config)
    return {
        "holdout": study_holdout(config),
        "windows": windows.labels(series.index),
        "holdout_persistence_rmse": next(iter(holdout_runs.values())).persistence_rmse
        if holdout_runs
        else None,
        BASELINES_ATTR: {"season": season, **scores},
    }


def _check_same_file(study: optuna.Study, config: StudyConfig, text: str, url: str) -> None:
    stored = parse_study_text(study.user_attrs[STUDY_FILE_ATTR])
    if stored != parse_study_text(text):
        raise StorageError(
            f"study {config.name!r} already exists in {mask(url)} with a different "
            "study file; choose another name"
        )


def _has_warm_start(study: optuna.Study) -> bool:
    return any(WARM_START_ATTR in t.user_attrs for t in study.get_trials(deepcopy=False))


def open_study(name: str, url: str) -> tuple[optuna.Study, StudyConfig]:
    """Load study ``name`` and its stored study file.

    Raises:
        StorageError: No study of that name (the existing ones are listed), or its
            creation was interrupted.
        ConfigError: ``name`` is not a safe study name.
    """
    config, storage = load_study_config(name, url)
    return optuna.load_study(study_name=name, storage=storage), config


def load_study_config(name: str, url: str) -> tuple[StudyConfig, optuna.storages.BaseStorage]:
    """The study file stored with study ``name``, and the opened storage.

    Raises:
        StorageError: No study of that name (the existing ones are listed), or its
            creation was interrupted.
        ConfigError: ``name`` is not a safe study name (names become paths).
    """
    require_study_name("study name", name)
    storage = open_storage(url)
    names = optuna.get_all_study_names(storage)
    if name not in names:
        existing = ", ".join(sorted(names)) or "none"
        raise StorageError(f"no study {name!r} in {mask(url)}; existing studies: {existing}")
    study = optuna.load_study(study_name=name, storage=storage)
    if not study.user_attrs.get(READY_ATTR):
        raise StorageError(
            f"study {name!r} in {mask(url)} was not fully created (its creation was "
            "interrupted); run 'tuner create' with its study file again"
        )
    return parse_study_text(study.user_attrs[STUDY_FILE_ATTR], f"study {name!r}"), storage


@dataclass(frozen=True)
class StudyStatus:
    """What ``tuner status`` shows."""

    name: str
    budget: int
    counts: SlotCounts
    objective: str
    best_value: float | None
    best_params: dict[str, object] | None
    persistence_rmse: float
    trials_per_minute: float | None
    holdout: int
    windows: dict[str, object] | None
    confirmed: list[dict[str, object]]
    baselines: list[dict[str, object]]
    best_baseline_validation_rmse: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form, with clear key names for each window's scores."""
        from tuner.search.findings import NO_HOLDOUT

        fields = dataclasses.asdict(self)
        best = {"best_validation_rmse": fields.pop("best_value")}
        return {
            "name": self.name,
            "confirmed_on_holdout": self.confirmed,
            **best,
            "note": None if self.holdout else NO_HOLDOUT,
            **fields,
            "finished": self.counts.finished,
        }


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's complete trials with a finite value, best first.

    A trial's value is its score under the study's objective, so this is the
    objective's ranking (lowest RMSE first).
    """
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted((t for t in trials if math.isfinite(t.value)), key=lambda t: t.value)


def study_status(name: str, url: str) -> StudyStatus:
    """Counts by state, best trial, baseline and throughput of study ``name``."""
    study, config = open_study(name, url)
    trials = study.get_trials(deepcopy=False)
    complete = complete_trials(study)
    best = complete[0] if complete else None
    from tuner.search.findings import baseline_table, best_baseline_rmse, confirmed_table

    attrs = study.user_attrs
    return StudyStatus(
        name=name,
        budget=attrs[BUDGET_ATTR],
        counts=SlotCounts.of(trials),
        objective=config.objective,
        best_value=None if best is None else best.value,
        best_params=None if best is None else best.params,
        persistence_rmse=attrs["persistence_rmse"],
        trials_per_minute=_trials_per_minute(trials),
        holdout=attrs.get("holdout", 0),
        windows=attrs.get("windows"),
        confirmed=confirmed_table(attrs),
        baselines=baseline_table(attrs),
        best_baseline_validation_rmse=best_baseline_rmse(attrs, "validation"),
    )


def _trials_per_minute(trials: list[FrozenTrial]) -> float | None:
    finished = [t for t in trials if t.state.is_finished() and t.datetime_complete]
    if len(finished) < 2:
        return None
    start = min(t.datetime_start for t in finished if t.datetime_start)
    end = max(t.datetime_complete for t in finished)
    minutes = (end - start).total_seconds() / 60
    return len(finished) / minutes if minutes > 0 else None
