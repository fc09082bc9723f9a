"""Counting a study's trials by what they mean for its budget.

The budget is global: a study stops at exactly ``trials`` finished trials
(complete, pruned or failed). A failed trial that is retried (its worker died,
or was interrupted) hands its slot to its retry and does not count.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from tuner.storage.optuna_internals import RETRY_HISTORY, models, rdb_of

__all__ = ["SlotCounts", "count_slots"]


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
    storage = rdb_of(storage)
    if not isinstance(storage, optuna.storages.RDBStorage):
        return storage.count_slots(study_id)  # a ProxyStorage: the proxy counts
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
        .where(trials.study_id == study_id, attrs.key == RETRY_HISTORY)
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
