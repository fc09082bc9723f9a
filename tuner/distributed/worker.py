"""How to run trials: a worker claims slots of the budget, runs a trial in each, repeats.

The budget is global and exact. A worker claims up to a pack of slots (the
trials it trains together in one graph, ``workers.trials_per_graph``) under a
database-wide lock and keeps the lock through Optuna's ``ask`` of each, so two
workers never take the same slot. Every way a trial can end without its own
result is handled so that its slot is neither lost nor counted twice:

- **Interrupted** (SIGTERM, Ctrl-C): every trial of the pack is told FAIL and
  queued again under the lock, so no other worker counts the failed trials in
  between; then the worker stops.
- **Its worker died** (SIGKILL, out of memory): the trials stop beating; a later
  claim fails them and Optuna's retry callback queues them again. A worker that
  dies between failing trials and queuing their retries (two steps in Optuna's
  ``fail_stale_trials``, and in an interruption) leaves failed trials without a
  retry; every claim queues those first, exactly once, under the same lock
  (:attr:`tuner.storage.slots.SlotCounts.unretried`).
- **Taken over** (the worker was frozen, or cut off from the database, for longer
  than the grace period): another worker failed and retried it. When the
  original worker comes back, its result is dropped with a warning and it goes on.
- **Raised** (a bug, or out of memory inside TensorFlow): every trial of the pack
  ends FAIL with its ``fail_reason``, and the worker goes on; after
  ``workers.max_consecutive_failures`` such trials in a row it stops with a
  one-line error, since something is wrong with the study or the machine.
- **Lost the database mid-trial** (a PostgreSQL restart): the worker waits for
  the database for up to ``RECONNECT_SECONDS``, and the pack's trials are retried.

A pruned or diverged trial ends alone; the rest of its pack goes on.

What a signal means is the caller's business: a signal the caller handles in
Python (Ctrl-C; SIGTERM, which the CLI turns into KeyboardInterrupt, see
:func:`tuner.cli.signals.sigterm_interrupts`) stops the worker, one it
leaves to the operating system is left alone. When is the worker's: for its
whole run the signal is only recorded (:class:`tuner.distributed.stopping.StopRequest`),
and the worker stops between two steps (before a claim, after its trials are
asked, at each epoch of a trial, between the confirmation's configurations, in
its waits), never in the middle of a database call, whose connection an
exception would leave unusable. Its running trials are then failed and queued
again, and it raises KeyboardInterrupt.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import enum
import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.data.series import Series
from tuner.distributed.compile_cache import use_compile_cache
from tuner.distributed.stopping import StopRequest
from tuner.evaluation.runner import Evaluation
from tuner.exceptions import StorageError, TunerError
from tuner.outputs.artifacts import (
    open_artifact_store,
    save_study_artifacts,
    save_trial_artifacts,
)
from tuner.search import names
from tuner.search.confirmation import confirm_study
from tuner.search.objective import EvaluationCallback, Objective
from tuner.search.panel_studies import studies_named
from tuner.search.space import SearchSpace
from tuner.search.study import load_study_config
from tuner.search.studyfile import StudyConfig
from tuner.search.windows import StudyData
from tuner.storage.database import open_storage, release_connections
from tuner.storage.failures import connection_lost, database_failure, in_chain
from tuner.storage.heartbeat import Heartbeat
from tuner.storage.locks import exclusive
from tuner.storage.optuna_internals import (
    FIXED_PARAMS,
    get_heartbeat_thread,
    study_id_of,
    trial_id_of,
)
from tuner.storage.slots import FAIL_REASON, REQUEUE, SlotCounts, count_slots
from tuner.storage.url import DatabaseURL

__all__ = ["RECONNECT_SECONDS", "run_worker"]

POLL_SECONDS = 1.0
RECONNECT_PAUSE_SECONDS = 5
RECONNECT_SECONDS = 300
"""How long a worker keeps trying to get a lost PostgreSQL connection back."""

logger = logging.getLogger(__name__)


class _Claim(enum.Enum):
    """What a claim of a slot came to."""

    RAN = "ran"
    FAILED = "failed"
    TAKEN_OVER = "taken over"
    WAIT = "wait"
    DONE = "done"


def run_worker(
    name: str,
    url: DatabaseURL,
    artifacts: Path | None,
    worker_index: int | None = None,
    compile_cache: Path | None = None,
) -> int:
    """Run trials of study ``name`` until its budget is met or its timeout passes.

    Given a panel's name, serve each of its studies in turn until every budget is
    met (see :mod:`tuner.search.panel`).

    Args:
        name: The study, or the panel.
        url: The study database.
        artifacts: Directory of the artifact store for the trials' plots; ``None``
            saves none.
        worker_index: Seeds this worker's sampler together with the study seed;
            workers sharing a study need different ones, or they would propose the
            same configurations. ``None``: a random seed.
        compile_cache: Where compiled graphs are kept for later workers (see
            :mod:`tuner.distributed.compile_cache`); made only once the study is
            found, so a mistyped name leaves nothing behind. ``None``: no cache.

    Returns:
        The number of trials this worker finished with its own result.

    Raises:
        StorageError: Unknown study, unreachable database (or lost for too long), or
            unusable artifact directory.
        TunerError: ``workers.max_consecutive_failures`` trials in a row raised.
        KeyboardInterrupt: The worker was interrupted (a signal the caller handles
            in Python); its trials were queued again.
    """
    with StopRequest().handling(only_caught=True) as stop:
        return _run(name, DatabaseURL.of(url), artifacts, worker_index, compile_cache, stop)


def _run(
    name: str,
    url: DatabaseURL,
    artifacts: Path | None,
    worker_index: int | None,
    compile_cache: Path | None,
    stop: StopRequest,
) -> int:
    """:func:`run_worker`, with its signals recorded in ``stop`` and acted on between steps.

    A panel's studies are served in turn, a pack of one study at a time, so that
    every series progresses together; each worker starts at another study (by
    its index), and a study whose free slots other workers hold is passed over.
    """
    queue = collections.deque(studies_named(name, url))
    queue.rotate(-(worker_index or 0))
    stop.check()
    use_compile_cache(compile_cache)
    first = _StudyRun.open(queue[0], url, artifacts, worker_index, stop)
    runs = {first.name: first}
    config = first.config
    deadline = None if config.timeout is None else time.monotonic() + config.timeout
    ran = failures_in_a_row = waiting = 0
    lost_since: float | None = None
    while queue and (deadline is None or time.monotonic() < deadline):
        stop.check()
        study_name = queue[0]
        queue.rotate(-1)
        if study_name not in runs:
            runs[study_name] = _StudyRun.open(
                study_name, url, artifacts, worker_index, stop, first.storage
            )
        run = runs[study_name]
        try:
            claims = run.slots.run_one()
        except Exception as error:  # whatever wraps it, a lost connection is waited out
            lost_since = lost_since or time.monotonic()
            _wait_for_the_database(url, error, lost_since, stop)
            continue
        lost_since = None
        ran += claims.count(_Claim.RAN)
        for claim in claims:
            failures_in_a_row = failures_in_a_row + 1 if claim == _Claim.FAILED else 0
        if failures_in_a_row >= config.workers.max_consecutive_failures:
            raise TunerError(
                f"stopped after {failures_in_a_row} trials in a row failed (the last: "
                f"{run.slots.last_failure}); see the log, and workers.max_consecutive_failures"
            )
        (claim, *_) = claims
        waiting = waiting + 1 if claim == _Claim.WAIT else 0
        if claim == _Claim.DONE:
            queue.remove(study_name)
            run.finish(url, artifacts, stop)
            del runs[study_name]
        elif waiting >= len(queue):  # every study's free slots are held by other workers
            waiting = 0
            stop.pause(POLL_SECONDS)
    return ran


@dataclass
class _StudyRun:
    """One study a worker serves: its data and objective, loaded once, and its slots."""

    name: str
    config: StudyConfig
    storage: optuna.storages.BaseStorage
    study: optuna.Study
    slots: _Slots

    @classmethod
    def open(
        cls,
        name: str,
        url: DatabaseURL,
        artifacts: Path | None,
        worker_index: int | None,
        stop: StopRequest,
        storage: optuna.storages.BaseStorage | None = None,
    ) -> _StudyRun:
        """Load study ``name``'s series and objective; ``storage``: the one to share, if any.

        A panel's studies share one study file, so one storage, opened with its
        heartbeat settings, serves them all.
        """
        config, found = load_study_config(name, url)
        if storage is None:
            release_connections(found)  # the worker's storage needs the study's heartbeat
            storage = open_storage(url, _heartbeat(config))
        stop.check()
        data = StudyData.load(config)  # the series, loaded and prepared once for every trial
        stop.check()
        saver = _plots_saver(artifacts, data.search_series, data.config.objective)
        objective = Objective(data, saver, on_progress=lambda epochs: stop.check())
        study = optuna.load_study(
            study_name=name,
            storage=storage,
            sampler=_sampler(config, objective.space, worker_index),
            pruner=_pruner(config),
        )
        return cls(
            name, config, storage, study, _Slots(study, storage, url, config, objective, stop)
        )

    def finish(self, url: DatabaseURL, artifacts: Path | None, stop: StopRequest) -> None:
        """The budget is met: confirm the study, then save its plots."""
        release_connections(self.storage)  # the confirmation needs none of them
        _confirm(self.name, url, stop)
        stop.check()
        _save_study_plots(artifacts, self.study, url)


def _confirm(name: str, url: DatabaseURL, stop: StopRequest) -> None:
    """The budget is met: confirm the best configurations on the holdout (once per study).

    A stop requested meanwhile ends it between two configurations, before
    anything is stored: the next worker to meet the budget confirms the study.
    """
    try:
        confirm_study(name, url, lambda done, total: stop.check())
    except StorageError as error:  # no complete trial: nothing to confirm, the search is done
        logger.warning("the study is finished but not confirmed: %s", error)


def _save_study_plots(artifacts: Path | None, study: optuna.Study, url: DatabaseURL) -> None:
    """The search is over: upload the study's plots, once, whichever worker gets here first."""
    if artifacts is not None:
        with exclusive(url, f"study-plots:{study.study_name}"):
            save_study_artifacts(open_artifact_store(artifacts), study)


def _plots_saver(
    artifacts: Path | None, series: Series, objective: str
) -> EvaluationCallback | None:
    """The objective's callback that draws a complete trial's plots, if plots are kept."""
    if artifacts is None:
        return None
    store = open_artifact_store(artifacts)

    def save(trial: optuna.Trial, evaluation: Evaluation) -> None:
        save_trial_artifacts(store, trial, series, evaluation, objective)

    return save


def _heartbeat(config: StudyConfig) -> Heartbeat:
    workers = config.workers
    return Heartbeat(workers.heartbeat_interval, workers.grace_period, workers.max_retry)


def _wait_for_the_database(
    url: DatabaseURL, error: Exception, lost_since: float, stop: StopRequest
) -> None:
    """Pause before reconnecting after a lost PostgreSQL connection; re-raise anything else.

    Optuna and SQLAlchemy wrap a dropped connection in various exceptions, so the
    whole chain of ``error`` is inspected (see :func:`tuner.storage.failures.connection_lost`).

    Raises:
        StorageError: The connection has been lost for over ``RECONNECT_SECONDS``.
    """
    if not connection_lost(url, error):
        raise error
    if time.monotonic() - lost_since > RECONNECT_SECONDS:
        raise StorageError(
            f"lost the database at {url} for over {RECONNECT_SECONDS} s; giving up"
        ) from None
    logger.warning(
        "lost the database at %s (%s); retrying in %d s",
        url,
        database_failure(error),
        RECONNECT_PAUSE_SECONDS,
    )
    stop.pause(RECONNECT_PAUSE_SECONDS)


class _Slots:
    """Claims slots of one study's budget and runs a trial in each."""

    def __init__(
        self,
        study: optuna.Study,
        storage: optuna.storages.BaseStorage,
        url: DatabaseURL,
        config: StudyConfig,
        objective: Objective,
        stop: StopRequest | None = None,
    ) -> None:
        self.study = study
        self.storage = storage
        self.url = url
        self.objective = objective
        self.grid = objective.space.grid_points() if config.sampler.kind == "grid" else None
        self.max_retry = config.workers.max_retry
        self.pack = objective.trials_per_graph
        self.last_failure: str | None = None
        self.stop = stop or StopRequest()  # none: never asked to stop (tests, benchmarks)
        self.past_retrying: set[int] = set()
        """Failed trials this worker found unretried and queued, or found past ``max_retry``."""

    def run_one(self) -> list[_Claim]:
        """Claim up to a pack of slots and run a trial in each; how each claim came out.

        The trials are asked under the budget lock and trained together
        (:meth:`Objective.run_pack`); each is told its own result. A pack that
        raises fails every trial in it, and an interrupted or disconnected one
        queues every trial again. A stop requested while the trials are asked takes
        effect once they all are and beat, and within a trial at its next epoch
        (the engine's progress callback), so none is left RUNNING unqueued.
        """
        trials: list[optuna.Trial] = []
        try:
            with contextlib.ExitStack() as beating:
                with exclusive(self.url, f"budget:{self.study.study_name}"):
                    claim, slots = self._claim()
                    if claim != _Claim.RAN:
                        return [claim]
                    self._ask(slots, trials, beating)
                self.stop.check()
                outcomes = self.objective.run_pack(trials)
        except KeyboardInterrupt:
            if trials:
                self._fail_and_requeue(trials, "interrupted")
            raise
        except Exception as error:
            if not trials:
                raise  # the claim failed (a lost database, say): run_worker waits it out
            return self._pack_failed(trials, error)
        return [self._tell(trial, outcome) for trial, outcome in zip(trials, outcomes, strict=True)]

    def _ask(self, slots: int, trials: list[optuna.Trial], beating: contextlib.ExitStack) -> None:
        """Ask ``slots`` trials into ``trials``, each beating from its ``ask`` on.

        ``study.optimize`` starts Optuna's heartbeat thread for its one trial; a
        pack is asked and told directly, so it starts one per trial itself, as
        soon as the trial is asked: the asks of a large pack on a busy machine
        can take longer than the grace period, and a trial that waited for the
        last ask to beat would be failed as stale by the next worker to claim.
        """
        with warnings.catch_warnings():
            # Optuna's advice to use optimize: a pack beats by itself
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            for _ in range(slots):
                trial = self.study.ask()
                trials.append(trial)
                beating.enter_context(get_heartbeat_thread(trial_id_of(trial), self.storage))

    def _pack_failed(self, trials: list[optuna.Trial], error: Exception) -> list[_Claim]:
        """A pack raised: its trials fail, or are queued again if it was not their fault.

        A lost database, or a trial of the pack taken over by another worker (its
        heartbeat late on a busy machine: storing the trial's configuration then
        fails), is not the trials' fault: the pack's trials still RUNNING are
        queued again, and none counts toward ``max_consecutive_failures``.
        """
        failure = database_failure(error)
        if failure is not None:  # the database was lost mid-pack: not the trials' fault
            self._fail_and_requeue(trials, failure)
            return [_Claim.RAN] * len(trials)
        if in_chain(error, optuna.exceptions.UpdateFinishedTrialError) is not None:
            self._fail_and_requeue(trials, "a trial of its pack was taken over by another worker")
            return [_Claim.TAKEN_OVER] * len(trials)
        self.last_failure = _one_line(error)
        for trial in trials:
            logger.warning("trial %d failed: %s", trial.number, self.last_failure)
            _store_fail_reason(trial, self.last_failure)
            self._told(trial, state=TrialState.FAIL)
        return [_Claim.FAILED] * len(trials)

    def _tell(self, trial: optuna.Trial, outcome: float | Exception) -> _Claim:
        """Tell Optuna how one trial of a pack ended."""
        if isinstance(outcome, optuna.TrialPruned):
            logger.info("trial %d pruned: %s", trial.number, outcome)
            return self._told(trial, state=TrialState.PRUNED)
        if isinstance(outcome, Exception):  # another worker took it over meanwhile
            return self._dropped(trial.number)
        if math.isnan(outcome):  # the fit diverged; the reason is stored
            return self._told(trial, state=TrialState.FAIL)
        logger.info(
            "trial %d finished with value %s and parameters %s", trial.number, outcome, trial.params
        )
        return self._told(trial, outcome)

    def _told(
        self, trial: optuna.Trial, value: float | None = None, state: TrialState | None = None
    ) -> _Claim:
        """``study.tell``; a trial another worker finished meanwhile is dropped instead."""
        if self.storage.get_trial(trial_id_of(trial)).state != TrialState.RUNNING:
            return self._dropped(trial.number)
        self.study.tell(trial, value, state=state, skip_if_finished=True)
        return _Claim.RAN

    def _dropped(self, number: int) -> _Claim:
        logger.warning(
            "trial %s was failed and queued again by another worker while this one "
            "ran it (no heartbeat for over the grace period); its result is dropped",
            number,
        )
        return _Claim.TAKEN_OVER

    def _fail_and_requeue(self, trials: list[optuna.Trial], reason: str) -> None:
        """Fail each trial and queue it again, holding the budget lock throughout.

        Holding the lock means no worker counts the failed trials before their
        retries are queued; a trial another worker took over meanwhile was queued
        again by that worker, and is left alone. Each trial is marked
        :data:`~tuner.storage.slots.REQUEUE` before it is failed, so that should
        this worker die before the retry is queued, the next claim queues it.
        """
        with exclusive(self.url, f"budget:{self.study.study_name}"):
            for trial in trials:
                if not self._marked_for_a_retry(trial):
                    continue
                _store_fail_reason(trial, reason)
                if self._told(trial, state=TrialState.FAIL) == _Claim.RAN:
                    self._requeue(trial.number)

    def _marked_for_a_retry(self, trial: optuna.Trial) -> bool:
        """Mark a running trial :data:`~tuner.storage.slots.REQUEUE`; False if it is not ours."""
        try:
            self.storage.set_trial_system_attr(trial_id_of(trial), REQUEUE, True)
        except optuna.exceptions.UpdateFinishedTrialError:
            self._dropped(trial.number)
            return False
        return True

    def _claim(self) -> tuple[_Claim, int]:
        """Under the lock: fail stale trials, then say whether trials may run, and how many.

        ``RAN`` comes with the number of slots taken (up to a pack) and leaves as
        many WAITING trials for the ``ask`` calls that follow under the same lock:
        existing ones (enqueued or retried), else reservations made here.
        Finished and running trials fill the budget first, so queued trials do not
        run past a budget that was lowered. In a grid study the reservation is the
        next configuration no trial has taken, so every configuration runs once
        however many workers share the grid, and the grid's size caps the budget.

        Its database work does not grow with the study: Optuna's stale check reads
        the RUNNING trials only, the counts are two aggregate queries
        (:func:`tuner.storage.slots.count_slots`), and only WAITING trials are read.
        """
        study = self.study
        optuna.storages.fail_stale_trials(study)
        counts = self._queue_missing_retries(count_slots(self.storage, study_id_of(study)))
        attrs = study.user_attrs
        budget = attrs[names.BUDGET]
        if self.grid is not None:
            budget = min(budget, len(self.grid))
        if counts.finished >= budget:
            return _Claim.DONE, 0
        free = budget - counts.finished - counts.running
        if free <= 0:
            return _Claim.WAIT, 0
        slots = min(free, self.pack)
        for _ in range(slots - counts.waiting):
            cursor = attrs.get(names.GRID_CURSOR)
            params = {} if self.grid is None else self._next_grid_point(cursor)
            study.enqueue_trial(params, user_attrs={names.RESERVED: True})
            attrs = study.user_attrs  # the grid cursor moved on
        self._beat_for_the_next_asks(slots)
        return _Claim.RAN, slots

    def _queue_missing_retries(self, counts: SlotCounts) -> SlotCounts:
        """Queue the retries that the workers which failed trials died before queuing.

        Optuna's ``fail_stale_trials`` fails every stale trial, then runs the retry
        callback for each; a worker killed in between leaves failed trials that
        nothing retries, and their slots spent on nothing. Under the budget lock,
        before anything is counted, each such trial gets its one retry here; a
        trial that got one is no longer unretried, so none gets two. The counts
        are taken again when any was queued.
        """
        missing = [number for number in counts.unretried if number not in self.past_retrying]
        for number in missing:
            logger.warning(
                "trial %d was failed but its retry never queued (its worker died in "
                "between); queued now",
                number,
            )
            self._requeue(number)
            self.past_retrying.add(number)  # queued now, or past max_retry: never again here
        if not missing:
            return counts
        return count_slots(self.storage, study_id_of(self.study))

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
        self.study.set_user_attr(names.GRID_CURSOR, {"next": index + 1, "skip": skip})
        return self.grid[index]

    def _beat_for_the_next_asks(self, slots: int) -> None:
        """Give the trials that ``ask`` will take (the oldest WAITING ones) a heartbeat now.

        The heartbeat threads start beating only after ``ask``, and a RUNNING
        trial that never beat is never found stale: a worker killed in between
        would leave its trials RUNNING forever, and the study short of slots.
        """
        waiting = self.storage.get_all_trials(
            study_id_of(self.study), deepcopy=False, states=(TrialState.WAITING,)
        )
        for trial in waiting[:slots]:
            self.storage.record_heartbeat(trial_id_of(trial))

    def _trial(self, number: int) -> FrozenTrial:
        """Trial ``number`` alone (two lookups, however many trials the study holds)."""
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(
            study_id_of(self.study), number
        )
        return self.storage.get_trial(trial_id)

    def _requeue(self, number: int) -> None:
        """Queue a trial that ended FAIL through no fault of its own, as a retry would.

        Optuna's retry callback copies the failed trial's attributes into its
        retry; the retry starts without the failure's reason and
        :data:`~tuner.storage.slots.REQUEUE` mark, which are the failed trial's.
        """
        trial = copy.deepcopy(self._trial(number))  # the storage's cache may hold it
        if trial.state != TrialState.FAIL:
            return
        trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k != FAIL_REASON}
        trial.system_attrs = {k: v for k, v in trial.system_attrs.items() if k != REQUEUE}
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=self.max_retry)(
            self.study, trial
        )


def _store_fail_reason(trial: optuna.Trial, reason: str | None) -> None:
    """Keep why a trial failed; skipped when the trial is no longer ours to update."""
    try:
        trial.set_user_attr(names.FAIL_REASON, reason)
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
        params = {**trial.system_attrs.get(FIXED_PARAMS, {}), **trial.params}
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
    # constant_liar: the trials of a pack, and of other workers, that are still running
    # count as bad results, so that trials sampled together spread out.
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=config.sampler.n_startup_trials, constant_liar=True
    )


def _pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    if not config.pruner.enabled:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=config.pruner.n_startup_trials)
