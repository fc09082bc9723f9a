"""How to run trials: a worker claims a slot of the budget, runs a trial in it, repeats.

The budget is global and exact. A worker claims a slot under a database-wide
lock and keeps the lock through Optuna's ``ask``, so two workers never take the
same slot. Every way a trial can end without its own result is handled so that
its slot is neither lost nor counted twice:

- **Interrupted** (SIGTERM, Ctrl-C): the trial is told FAIL and queued again
  under the lock, so no other worker counts the failed trial in between; then
  the worker stops.
- **Its worker died** (SIGKILL, out of memory): the trial stops beating; a later
  claim fails it and Optuna's retry callback queues it again.
- **Taken over** (the worker was frozen, or cut off from the database, for longer
  than the grace period): another worker failed and retried it. When the
  original worker comes back, its result is dropped with a warning and it goes on.
- **Raised** (a bug, or out of memory inside TensorFlow): the trial ends FAIL with
  its ``fail_reason``, and the worker goes on; after
  ``workers.max_consecutive_failures`` such trials in a row it stops with a
  one-line error, since something is wrong with the study or the machine.
- **Lost the database mid-trial** (a PostgreSQL restart): the worker waits for
  the database for up to ``RECONNECT_SECONDS``, and the trial is retried.

Signals are the caller's business: :func:`run_worker` installs no handler (the
CLI turns SIGTERM into KeyboardInterrupt, see :mod:`tuner.pool`).
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from tuner.data import Series
from tuner.exceptions import StorageError, TunerError
from tuner.objective import EvaluationCallback, Objective
from tuner.runner import Evaluation
from tuner.space import SearchSpace
from tuner.storage import (
    ExclusiveLock,
    Heartbeat,
    connection_lost,
    database_failure,
    exclusive,
    mask,
    open_storage,
    release_connections,
)
from tuner.study import BUDGET_ATTR, count_slots, load_study_config
from tuner.studyfile import StudyConfig
from tuner.windows import prepare_for_study

__all__ = ["RECONNECT_SECONDS", "run_worker"]

POLL_SECONDS = 1.0
RECONNECT_PAUSE_SECONDS = 5
RECONNECT_SECONDS = 300
"""How long a worker keeps trying to get a lost PostgreSQL connection back."""
FAIL_REASON_ATTR = "fail_reason"
GRID_CURSOR_ATTR = "grid_cursor"

logger = logging.getLogger(__name__)


class _Claim(enum.Enum):
    """What a claim of a slot came to."""

    RAN = "ran"
    FAILED = "failed"
    TAKEN_OVER = "taken over"
    WAIT = "wait"
    DONE = "done"


def run_worker(name: str, url: str, artifacts: Path | None, worker_index: int | None = None) -> int:
    """Run trials of study ``name`` until its budget is met or its timeout passes.

    Args:
        name: The study.
        url: The study database.
        artifacts: Directory of the artifact store for the trials' plots; ``None``
            saves none.
        worker_index: Seeds this worker's sampler together with the study seed;
            workers sharing a study need different ones, or they would propose the
            same configurations. ``None``: a random seed.

    Returns:
        The number of trials this worker finished with its own result.

    Raises:
        StorageError: Unknown study, unreachable database (or lost for too long), or
            unusable artifact directory.
        TunerError: ``workers.max_consecutive_failures`` trials in a row raised.
        KeyboardInterrupt: The worker was interrupted; its trial was queued again.
    """
    config, first = load_study_config(name, url)
    release_connections(first)  # the worker's storage needs the study's heartbeat settings
    prepared = prepare_for_study(config)
    series = next(iter(prepared.values())).series
    objective = Objective(config, prepared, _plots_saver(artifacts, series))
    storage = open_storage(url, _heartbeat(config))
    study = optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=_sampler(config, objective.space, worker_index),
        pruner=_pruner(config),
    )
    slots = _Slots(study, storage, url, config, objective)
    deadline = None if config.timeout is None else time.monotonic() + config.timeout
    ran = failures_in_a_row = 0
    lost_since: float | None = None
    while deadline is None or time.monotonic() < deadline:
        try:
            claim = slots.run_one()
        except Exception as error:  # whatever wraps it, a lost connection is waited out
            lost_since = lost_since or time.monotonic()
            _wait_for_the_database(url, error, lost_since)
            continue
        lost_since = None
        ran += claim == _Claim.RAN
        failures_in_a_row = failures_in_a_row + 1 if claim == _Claim.FAILED else 0
        if failures_in_a_row >= config.workers.max_consecutive_failures:
            raise TunerError(
                f"stopped after {failures_in_a_row} trials in a row failed (the last: "
                f"{slots.last_failure}); see the log, and workers.max_consecutive_failures"
            )
        if claim == _Claim.DONE:
            release_connections(storage)  # the confirmation needs none of them
            _confirm(name, url)
            break
        if claim == _Claim.WAIT:
            time.sleep(POLL_SECONDS)
    return ran


def _confirm(name: str, url: str) -> None:
    """The budget is met: confirm the best configurations on the holdout (once per study)."""
    from tuner.confirmation import confirm_study

    try:
        confirm_study(name, url)
    except StorageError as error:  # no complete trial: nothing to confirm, the search is done
        logger.warning("the study is finished but not confirmed: %s", error)


def _plots_saver(artifacts: Path | None, series: Series) -> EvaluationCallback | None:
    """The objective's callback that draws a complete trial's plots, if plots are kept."""
    if artifacts is None:
        return None
    from tuner.artifacts import open_artifact_store, save_trial_artifacts

    store = open_artifact_store(artifacts)

    def save(trial: optuna.Trial, evaluation: Evaluation) -> None:
        save_trial_artifacts(store, trial, series, evaluation)

    return save


def _heartbeat(config: StudyConfig) -> Heartbeat:
    workers = config.workers
    return Heartbeat(workers.heartbeat_interval, workers.grace_period, workers.max_retry)


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


@dataclass
class _TrialEnd:
    """How the trial of one slot ended, as the objective's wrapper saw it."""

    number: int | None = None
    claim: _Claim = _Claim.RAN
    interrupted: bool = False
    requeue: bool = False
    reason: str | None = None


class _Slots:
    """Claims slots of one study's budget and runs a trial in each."""

    def __init__(
        self,
        study: optuna.Study,
        storage: optuna.storages.BaseStorage,
        url: str,
        config: StudyConfig,
        objective: Objective,
    ) -> None:
        self.study = study
        self.storage = storage
        self.url = url
        self.objective = objective
        self.grid = objective.space.grid_points() if config.sampler.kind == "grid" else None
        self.max_retry = config.workers.max_retry
        self.last_failure: str | None = None

    def run_one(self) -> _Claim:
        """Claim a slot and, if there is one, run a trial in it."""
        with exclusive(self.url, f"budget:{self.study.study_name}") as lock:
            claim = self._claim()
            if claim != _Claim.RAN:
                return claim
            end = _TrialEnd()
            try:
                self.study.optimize(self._wrapped(lock, end), n_trials=1)
            except Exception:
                if end.number is None or not self._taken_over(end.number):
                    raise
                end.claim = _Claim.TAKEN_OVER
            if end.requeue and end.claim != _Claim.TAKEN_OVER:  # else retried by the other
                lock.acquire()  # held while queued again: no worker counts the FAIL meanwhile
                self._requeue(end.number)
            if end.claim == _Claim.TAKEN_OVER:
                logger.warning(
                    "trial %s was failed and queued again by another worker while this one "
                    "ran it (no heartbeat for over the grace period); its result is dropped",
                    end.number,
                )
            if end.interrupted:
                raise KeyboardInterrupt
            self.last_failure = end.reason
            return end.claim

    def _claim(self) -> _Claim:
        """Under the lock: fail stale trials, then say whether a trial may run.

        ``RAN`` leaves a WAITING trial for the ``ask`` that follows under the same
        lock: an existing one (enqueued or retried), else a reservation made here.
        Finished and running trials fill the budget first, so queued trials do not
        run past a budget that was lowered. In a grid study the reservation is the
        next configuration no trial has taken, so every configuration runs once
        however many workers share the grid, and the grid's size caps the budget.

        Its database work does not grow with the study: Optuna's stale check reads
        the RUNNING trials only, the counts are two aggregate queries
        (:func:`tuner.study.count_slots`), and only WAITING trials are read.
        """
        study = self.study
        optuna.storages.fail_stale_trials(study)
        counts = count_slots(self.storage, study._study_id)
        attrs = study.user_attrs
        budget = attrs[BUDGET_ATTR]
        if self.grid is not None:
            budget = min(budget, len(self.grid))
        if counts.finished >= budget:
            return _Claim.DONE
        if counts.finished + counts.running >= budget:
            return _Claim.WAIT
        if not counts.waiting:
            params = {} if self.grid is None else self._next_grid_point(attrs.get(GRID_CURSOR_ATTR))
            study.enqueue_trial(params, user_attrs={"reserved": True})
        self._beat_for_the_next_ask()
        return _Claim.RAN

    def _next_grid_point(self, cursor: dict[str, object] | None) -> dict[str, object]:
        """The first grid configuration that no trial has taken, moving the study's cursor on.

        The cursor (study attribute ``grid_cursor``) holds the index of the next
        configuration and the later ones that trials queued otherwise already took
        (the tutorial's, which ``tuner create`` queues), so a reservation reads no
        trial. It is built from every trial once: on the study's first reservation,
        and should it point past the grid, which only a worker that died between
        moving it and queuing its trial leaves behind; the rebuilt cursor finds the
        configuration that worker skipped.
        """
        assert self.grid is not None
        index = None if cursor is None else _free_index(cursor)
        if index is None or index >= len(self.grid):
            cursor = _grid_cursor(self.grid, self.study.get_trials(deepcopy=False))
            index = _free_index(cursor)
        skip = [taken for taken in cursor["skip"] if taken > index]
        self.study.set_user_attr(GRID_CURSOR_ATTR, {"next": index + 1, "skip": skip})
        return self.grid[index]

    def _beat_for_the_next_ask(self) -> None:
        """Give the trial that ``ask`` will take (the oldest WAITING one) a heartbeat now.

        Optuna's heartbeat thread starts beating only after ``ask``, and a RUNNING
        trial that never beat is never found stale: a worker killed in between
        would leave its trial RUNNING forever, and the study one slot short.
        """
        (oldest, *_) = self.storage.get_all_trials(
            self.study._study_id, deepcopy=False, states=(TrialState.WAITING,)
        )
        self.storage.record_heartbeat(oldest._trial_id)

    def _wrapped(self, lock: ExclusiveLock, end: _TrialEnd) -> Callable[[optuna.Trial], float]:
        """The objective, run for a worker; ``end`` records how the trial ended.

        It releases the slot lock once Optuna has taken the trial (``ask``). It
        lets Optuna see no exception but pruning: a failure becomes a NaN value
        (Optuna's FAIL) with the reason stored, and never a traceback in the log.
        """

        def run(trial: optuna.Trial) -> float:
            end.number = trial.number
            lock.release()
            try:
                return self.objective(trial)
            except optuna.TrialPruned:
                raise
            except KeyboardInterrupt:
                lock.acquire()  # held through Optuna's FAIL until the trial is queued again
                end.interrupted, end.requeue, end.reason = True, True, "interrupted"
            except UpdateFinishedTrialError:
                end.claim = _Claim.TAKEN_OVER
                return math.nan
            except Exception as error:
                if database_failure(error) is None:
                    end.claim, end.reason = _Claim.FAILED, _one_line(error)
                    logger.warning("trial %d failed: %s", trial.number, end.reason)
                else:  # the database was lost mid-trial: not the trial's fault
                    end.claim, end.requeue = _Claim.RAN, True
                    end.reason = database_failure(error)
            _store_fail_reason(trial, end.reason)
            return math.nan

        return run

    def _trial(self, number: int) -> FrozenTrial:
        """Trial ``number`` alone (two lookups, however many trials the study holds)."""
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(
            self.study._study_id, number
        )
        return self.storage.get_trial(trial_id)

    def _taken_over(self, number: int) -> bool:
        """Whether trial ``number`` was finished by someone else (its tell was refused)."""
        return self._trial(number).state == TrialState.FAIL

    def _requeue(self, number: int | None) -> None:
        """Queue a trial that ended FAIL through no fault of its own, as a retry would."""
        if number is None:
            return
        trial = self._trial(number)
        if trial.state == TrialState.FAIL:
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=self.max_retry)(
                self.study, trial
            )


def _store_fail_reason(trial: optuna.Trial, reason: str | None) -> None:
    """Keep why a trial failed; skipped when the trial is no longer ours to update."""
    try:
        trial.set_user_attr(FAIL_REASON_ATTR, reason)
    except Exception as error:  # taken over, or the database is gone: the reason is lost
        logger.debug("trial %d: fail_reason not stored: %s", trial.number, error)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _grid_cursor(grid: list[dict[str, object]], trials: list[FrozenTrial]) -> dict[str, object]:
    """A grid cursor built from every trial: the first free index, and the later taken ones."""
    index = {tuple(point.items()): number for number, point in enumerate(grid)}
    taken = set()
    for trial in trials:
        params = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
        key = tuple((name, params.get(name)) for name in grid[0])
        if key in index:
            taken.add(index[key])
    first = next(number for number in range(len(grid)) if number not in taken)
    return {"next": first, "skip": sorted(number for number in taken if number > first)}


def _free_index(cursor: dict[str, object]) -> int:
    """The cursor's next index, past the configurations already taken."""
    index, skip = cursor["next"], set(cursor["skip"])
    while index in skip:
        index += 1
    return index


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
