"""Counting a study's trials by what they mean for its budget.

The budget is global: a study stops at exactly ``trials`` finished trials
(complete, pruned or failed). A failed trial that is retried (its worker died,
or was interrupted) hands its slot to its retry and does not count.

Failing a trial and queuing its retry are two steps, whoever takes them
(Optuna's ``fail_stale_trials`` and its retry callback, or an interrupted
worker), and a worker can die between them. So the counts also name the failed
trials that wait for a retry nobody queued (:attr:`SlotCounts.unretried`), which
the next claim queues (:mod:`tuner.distributed.worker`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from tuner.storage.optuna_internals import RETRY_HISTORY, models, rdb_of

__all__ = ["FAIL_REASON", "REQUEUE", "SlotCounts", "count_slots", "wants_a_retry"]

FAIL_REASON = "fail_reason"
"""The user attribute where a trial that failed by itself keeps why: the search's
``FAIL_REASON``, named here since the storage layer sits below the search."""

REQUEUE = "requeue"
"""The system attribute of a trial that failed through no fault of its own (an
interrupted worker, a lost database) and is to be queued again; set before it
is failed, so that a retry its worker did not live to queue is still found."""


@dataclass(frozen=True)
class SlotCounts:
    """Trials of a study by what they mean for the budget.

    Attributes:
        unretried: The numbers of the failed trials that wait for a retry nobody
            queued: failed by heartbeat (no ``fail_reason``) or marked
            :data:`REQUEUE`, and retried by no trial. Counted in ``failed`` until
            their retries are queued. Empty from a proxy too old to count them.
    """

    complete: int
    pruned: int
    failed: int
    retried: int
    running: int
    waiting: int
    unretried: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # A proxy sends the counts as JSON, where the tuple arrives as a list.
        object.__setattr__(self, "unretried", tuple(self.unretried))

    @property
    def finished(self) -> int:
        """Trials that count toward the budget."""
        return self.complete + self.pruned + self.failed

    @classmethod
    def of(cls, trials: list[FrozenTrial]) -> SlotCounts:
        """Count ``trials``; a failed trial that some trial retries is ``retried``."""
        retried = {n for t in trials for n in t.system_attrs.get(RETRY_HISTORY, [])}
        states = [t.state for t in trials]
        failed = [t for t in trials if t.state == TrialState.FAIL]
        return cls(
            complete=states.count(TrialState.COMPLETE),
            pruned=states.count(TrialState.PRUNED),
            failed=sum(t.number not in retried for t in failed),
            retried=sum(t.number in retried for t in failed),
            running=states.count(TrialState.RUNNING),
            waiting=states.count(TrialState.WAITING),
            unretried=tuple(
                t.number
                for t in failed
                if t.number not in retried
                and wants_a_retry(FAIL_REASON in t.user_attrs, REQUEUE in t.system_attrs)
            ),
        )


def wants_a_retry(has_fail_reason: bool, marked: bool) -> bool:
    """Whether a failed trial is to be retried: it did not fail by itself.

    A trial that raised or diverged keeps why in ``fail_reason``, stored before it
    is failed; one failed by heartbeat has none; an interrupted one has both a
    reason and the :data:`REQUEUE` mark.
    """
    return marked or not has_fail_reason


def count_slots(storage: optuna.storages.BaseStorage, study_id: int) -> SlotCounts:
    """The study's :class:`SlotCounts`, counted by the database rather than by reading trials.

    An aggregate query answers with a handful of rows however many trials the
    study holds, so a worker's claim costs the same at 60 trials as at 10,000
    (docs/benchmarks.md, "Database cost per trial"). The retried trials are read from the
    retry histories (one row per retry) and the trials that may want a retry from
    the failed trials without a reason or with the :data:`REQUEUE` mark (one row
    per heartbeat failure or interruption): both grow with the chaos a study met,
    not with its size. A failed trial is retried when some trial's
    ``retry_history`` (set by Optuna's retry callback) ends with its number; the
    history of a given failed trial is always the same list, so the distinct
    histories count the retried trials exactly as :meth:`SlotCounts.of` does. A
    storage reached through ``tuner proxy`` is counted by the proxy.
    """
    storage = rdb_of(storage)
    if not isinstance(storage, optuna.storages.RDBStorage):
        return storage.count_slots(study_id)  # a ProxyStorage: the proxy counts
    with storage.engine.connect() as connection:
        states = dict(connection.execute(_by_state(study_id)).all())
        histories = connection.execute(_retry_histories(study_id)).scalars().all()
        candidates = connection.execute(_retry_candidates(study_id)).scalars().all()
    retried = {json.loads(history)[-1] for history in histories}
    return SlotCounts(
        complete=states.get(TrialState.COMPLETE, 0),
        pruned=states.get(TrialState.PRUNED, 0),
        failed=states.get(TrialState.FAIL, 0) - len(histories),
        retried=len(histories),
        running=states.get(TrialState.RUNNING, 0),
        waiting=states.get(TrialState.WAITING, 0),
        unretried=tuple(sorted(set(candidates) - retried)),
    )


def _by_state(study_id: int) -> sqlalchemy.Select:
    trials = models.TrialModel
    return (
        sqlalchemy.select(trials.state, sqlalchemy.func.count())
        .where(trials.study_id == study_id)
        .group_by(trials.state)
    )


def _retry_histories(study_id: int) -> sqlalchemy.Select:
    """The distinct retry histories of the study's trials: one per retried trial."""
    trials, attrs = models.TrialModel, models.TrialSystemAttributeModel
    return (
        sqlalchemy.select(attrs.value_json)
        .distinct()
        .join(trials, attrs.trial_id == trials.trial_id)
        .where(trials.study_id == study_id, attrs.key == RETRY_HISTORY)
    )


def _retry_candidates(study_id: int) -> sqlalchemy.Select:
    """The numbers of the study's failed trials that want a retry (:func:`wants_a_retry`)."""
    trials = models.TrialModel
    user, system = models.TrialUserAttributeModel, models.TrialSystemAttributeModel
    has_reason = sqlalchemy.exists().where(
        user.trial_id == trials.trial_id, user.key == FAIL_REASON
    )
    marked = sqlalchemy.exists().where(system.trial_id == trials.trial_id, system.key == REQUEUE)
    return sqlalchemy.select(trials.number).where(
        trials.study_id == study_id,
        trials.state == TrialState.FAIL,
        sqlalchemy.or_(~has_reason, marked),
    )
