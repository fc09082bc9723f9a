"""How studies run: creating them, worker loops, local worker pools and status.

The budget is global: a study stops at exactly ``trials`` finished trials
(complete, pruned or failed), however many workers share it. A worker claims a
slot under a database-wide lock before each trial and keeps the lock through
Optuna's ``ask``, so two workers never take the same slot. A failed trial that is
retried (its worker died, or was interrupted) hands its slot to its retry and
does not count.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.trial import FrozenTrial, TrialState
from optuna_dashboard import save_note

from tuner.artifacts import open_artifact_store, save_trial_artifacts, study_note
from tuner.exceptions import StorageError
from tuner.objective import Objective, prepare_for_study
from tuner.space import TUTORIAL_CONFIGURATION, SearchSpace
from tuner.storage import (
    ExclusiveLock,
    connection_lost,
    database_failure,
    exclusive,
    mask,
    open_storage,
)
from tuner.studyfile import StudyConfig, parse_study_text

__all__ = [
    "SlotCounts",
    "StudyStatus",
    "complete_trials",
    "create_study",
    "load_study_config",
    "run_local_workers",
    "run_worker",
    "study_status",
]

STUDY_FILE_ATTR = "study_file"
BUDGET_ATTR = "budget"
POLL_SECONDS = 1.0
RECONNECT_PAUSE_SECONDS = 5
RECONNECT_SECONDS = 300
"""How long a worker keeps trying to get a lost PostgreSQL connection back."""

logger = logging.getLogger(__name__)


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


def create_study(config: StudyConfig, text: str, url: str, budget: int | None = None) -> bool:
    """Create the study (tables too) if it does not exist; return whether it was created.

    Idempotent and safe to run concurrently: creation happens under the database
    lock, and the tutorial's configuration is enqueued only by the call that
    creates the study. ``budget`` overrides the file's ``trials``.

    Raises:
        StorageError: The database cannot be reached, or a study of that name
            exists with a different study file.
        ConfigError: The study file does not fit the data.
        DataError: The series cannot be loaded.
    """
    prepared = prepare_for_study(config)
    space = SearchSpace.build(config, prepared)
    with exclusive(url, f"create:{config.name}"):
        storage = open_storage(url)  # creates the tables: under the lock too
        if config.name in optuna.get_all_study_names(storage):
            study = optuna.load_study(study_name=config.name, storage=storage)
            if parse_study_text(study.user_attrs[STUDY_FILE_ATTR]) != config:
                raise StorageError(
                    f"study {config.name!r} already exists in {mask(url)} with a different "
                    "study file; choose another name"
                )
            if budget is not None:
                study.set_user_attr(BUDGET_ATTR, budget)
            return False
        study = optuna.create_study(study_name=config.name, storage=storage, direction="minimize")
        study.set_user_attr(STUDY_FILE_ATTR, text)
        study.set_user_attr(BUDGET_ATTR, budget or config.trials)
        baseline = next(iter(prepared.values()))
        study.set_user_attr("persistence_rmse", baseline.persistence_rmse)
        study.set_user_attr("series", config.data.series)
        save_note(study, study_note(config, text, prepared))
        if space.contains(TUTORIAL_CONFIGURATION):
            study.enqueue_trial(TUTORIAL_CONFIGURATION, user_attrs={"warm_start": "tutorial"})
        return True


def load_study_config(name: str, url: str) -> tuple[StudyConfig, optuna.storages.RDBStorage]:
    """The study file stored with study ``name``, and the opened storage.

    Raises:
        StorageError: No study of that name (the existing ones are listed).
    """
    storage = open_storage(url)
    names = optuna.get_all_study_names(storage)
    if name not in names:
        existing = ", ".join(sorted(names)) or "none"
        raise StorageError(f"no study {name!r} in {mask(url)}; existing studies: {existing}")
    study = optuna.load_study(study_name=name, storage=storage)
    return parse_study_text(study.user_attrs[STUDY_FILE_ATTR], f"study {name!r}"), storage


def run_worker(name: str, url: str, artifacts: Path | None, worker_index: int | None = None) -> int:
    """Run trials of study ``name`` until its budget is met or its timeout passes.

    SIGTERM is turned into KeyboardInterrupt, so a stopped worker's running trial
    ends FAIL (never left RUNNING) and is queued again for another worker. A lost
    PostgreSQL connection (a server restart) is retried for ``RECONNECT_SECONDS``;
    the trial it broke stops beating and is failed and retried like a dead worker's.

    Args:
        name: The study.
        url: The study database.
        artifacts: Directory of the artifact store for the trials' plots; ``None``
            saves none.
        worker_index: Seeds this worker's sampler together with the study seed;
            workers sharing a study need different ones, or they would propose the
            same configurations. ``None``: a random seed.

    Returns:
        The number of trials this worker ran.

    Raises:
        StorageError: Unknown study, unreachable database (or lost for too long), or
            unusable artifact directory.
    """
    config, first = load_study_config(name, url)
    first.engine.dispose()  # the worker's storage needs the study's heartbeat settings
    store = None if artifacts is None else open_artifact_store(artifacts)
    storage = open_storage(url, config.workers)
    objective = Objective(config, prepare_for_study(config))
    study = optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=_sampler(config, objective.space, worker_index),
        pruner=_pruner(config),
    )
    grid = objective.space.grid_points() if config.sampler.kind == "grid" else None
    deadline = None if config.timeout is None else time.monotonic() + config.timeout
    signal.signal(signal.SIGTERM, _interrupt)
    ran = 0
    lost_since: float | None = None
    while deadline is None or time.monotonic() < deadline:
        try:
            action = _run_one_slot(study, url, objective, store, grid, config.workers.max_retry)
        except Exception as error:  # whatever wraps it, a lost connection is waited out
            lost_since = lost_since or time.monotonic()
            _wait_for_the_database(url, error, lost_since)
            continue
        lost_since = None
        ran += action == "run"
        if action == "done":
            break
        if action == "wait":
            time.sleep(POLL_SECONDS)
    return ran


def _wait_for_the_database(url: str, error: Exception, lost_since: float) -> None:
    """Pause before reconnecting after a lost PostgreSQL connection; re-raise anything else.

    Optuna and SQLAlchemy wrap a dropped connection in various exceptions, so the
    whole chain of ``error`` is inspected (see :func:`tuner.storage.connection_lost`).

    Raises:
        StorageError: The connection has been lost for over ``RECONNECT_SECONDS``.
    """
    if not connection_lost(url, error):
        raise error
    if time.monotonic() - lost_since > RECONNECT_SECONDS:
        raise StorageError(
            f"lost the database at {mask(url)} for over {RECONNECT_SECONDS} s; giving up"
        ) from None
    logger.warning(
        "lost the database at %s (%s); retrying in %d s",
        mask(url),
        database_failure(error),
        RECONNECT_PAUSE_SECONDS,
    )
    time.sleep(RECONNECT_PAUSE_SECONDS)


def _run_one_slot(
    study: optuna.Study,
    url: str,
    objective: Objective,
    store: FileSystemArtifactStore | None,
    grid: list[dict[str, object]] | None,
    max_retry: int,
) -> str:
    """Claim a slot and, if there is one, run a trial in it; return the claim's answer."""
    with exclusive(url, f"budget:{study.study_name}") as lock:
        action = _claim_slot(study, grid)
        if action == "run":
            objective.current_trial = None  # set again once this trial starts
            try:
                study.optimize(_trial_runner(lock, objective, store), n_trials=1)
            except KeyboardInterrupt:
                _requeue_interrupted(study, objective.current_trial, max_retry)
                raise
    return action


def _trial_runner(
    lock: ExclusiveLock, objective: Objective, store: FileSystemArtifactStore | None
) -> Callable[[optuna.Trial], float]:
    """The objective, wrapped for a worker.

    It releases the slot lock once Optuna has taken the trial (``ask``), and has
    the plots of a trial that has its value saved before Optuna stores it.
    """

    def run(trial: optuna.Trial) -> float:
        lock.release()
        value = objective(trial)
        if store is not None and objective.last_evaluation is not None:
            save_trial_artifacts(store, trial, objective.series, objective.last_evaluation)
        return value

    return run


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _claim_slot(study: optuna.Study, grid: list[dict[str, object]] | None) -> str:
    """Under the lock: fail stale trials, then say ``run``, ``wait`` or ``done``.

    ``run`` leaves a WAITING trial for the ``ask`` that follows under the same
    lock: an existing one (enqueued or retried), else a reservation made here.
    In a grid study the reservation is the next configuration no trial has taken,
    so every configuration runs once however many workers share the grid, and
    the grid's size caps the budget.
    """
    optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    counts = SlotCounts.of(trials)
    budget = study.user_attrs[BUDGET_ATTR]
    if grid is not None:
        budget = min(budget, len(grid))
    if counts.waiting:
        return "run"
    if counts.finished + counts.running < budget:
        params = {} if grid is None else _untaken(grid, trials)
        study.enqueue_trial(params, user_attrs={"reserved": True})
        return "run"
    return "done" if counts.finished >= budget else "wait"


def _untaken(grid: list[dict[str, object]], trials: list[FrozenTrial]) -> dict[str, object]:
    """The first grid configuration that no trial has taken (run, running or queued)."""
    taken = [{**t.system_attrs.get("fixed_params", {}), **t.params} for t in trials]
    return next(point for point in grid if all(point.items() - t.items() for t in taken))


def _requeue_interrupted(study: optuna.Study, number: int | None, max_retry: int) -> None:
    """Queue an interrupted (now FAIL) trial again, as the heartbeat retry would."""
    if number is None:
        return
    trial = study.get_trials(deepcopy=False)[number]
    if trial.state == TrialState.FAIL:
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, trial)


def _sampler(
    config: StudyConfig, space: SearchSpace, worker_index: int | None
) -> optuna.samplers.BaseSampler:
    seed = None
    if worker_index is not None:
        seed = int(np.random.SeedSequence([config.seed, worker_index]).generate_state(1)[0])
    if config.sampler.kind == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=config.sampler.n_startup_trials)


def _pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    if not config.pruner.enabled:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=config.pruner.n_startup_trials)


@dataclass(frozen=True)
class StudyStatus:
    """What ``tuner status`` shows."""

    name: str
    budget: int
    counts: SlotCounts
    best_value: float | None
    best_params: dict[str, object] | None
    persistence_rmse: float
    trials_per_minute: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {**dataclasses.asdict(self), "finished": self.counts.finished}


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's complete trials with a finite value, best (lowest RMSE) first."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted((t for t in trials if math.isfinite(t.value)), key=lambda t: t.value)


def study_status(name: str, url: str) -> StudyStatus:
    """Counts by state, best trial, baseline and throughput of study ``name``."""
    _, storage = load_study_config(name, url)
    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    complete = complete_trials(study)
    best = complete[0] if complete else None
    return StudyStatus(
        name=name,
        budget=study.user_attrs[BUDGET_ATTR],
        counts=SlotCounts.of(trials),
        best_value=None if best is None else best.value,
        best_params=None if best is None else best.params,
        persistence_rmse=study.user_attrs["persistence_rmse"],
        trials_per_minute=_trials_per_minute(trials),
    )


def _trials_per_minute(trials: list[FrozenTrial]) -> float | None:
    finished = [t for t in trials if t.state.is_finished() and t.datetime_complete]
    if len(finished) < 2:
        return None
    start = min(t.datetime_start for t in finished if t.datetime_start)
    end = max(t.datetime_complete for t in finished)
    minutes = (end - start).total_seconds() / 60
    return len(finished) / minutes if minutes > 0 else None


def run_local_workers(
    name: str,
    url: str,
    artifacts: Path | None,
    workers: int,
    on_progress: Callable[[int, int], None],
) -> int:
    """Start ``workers`` worker processes on this machine and wait for them.

    The workers save their trials' plots in ``artifacts`` (none if ``None``).
    ``on_progress(finished, budget)`` is called about once a second. SIGINT or
    SIGTERM stops every worker (their running trials end FAIL and are queued
    again), so a later run continues the study.

    Returns:
        The highest exit status of the workers (0 when all succeeded).
    """
    command = [sys.executable, "-m", "tuner", "worker", name, "--storage", url, "--quiet"]
    command += ["--no-artifacts"] if artifacts is None else ["--artifacts", str(artifacts)]
    processes = [
        subprocess.Popen([*command, "--worker-index", str(index)]) for index in range(workers)
    ]
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        while any(process.poll() is None for process in processes):
            _report_progress(study, url, on_progress)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    _report_progress(study, url, on_progress)
    return max(process.returncode for process in processes)


def _report_progress(
    study: optuna.Study, url: str, on_progress: Callable[[int, int], None]
) -> None:
    """Pass the finished count on; skip the update while the database is unreachable."""
    try:
        counts = SlotCounts.of(study.get_trials(deepcopy=False))
    except Exception as error:  # re-raised unless the connection was lost
        if not connection_lost(url, error):
            raise
        return
    on_progress(counts.finished, study.user_attrs[BUDGET_ATTR])
