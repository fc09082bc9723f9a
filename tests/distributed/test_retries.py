"""A failed trial is always retried, even when its worker dies between failing and queuing.

Failing trials and queuing their retries are two steps, in Optuna's
``fail_stale_trials`` and in an interrupted worker; the next claim queues what a
dead worker left unqueued, exactly once (``tuner.storage.slots.SlotCounts.unretried``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import optuna
import pytest
from optuna.trial import TrialState

from tests.helpers.studies import trials_of, unit_study_toml
from tests.helpers.training import fail_the_pack_on_call
from tuner.distributed import worker as worker_module
from tuner.distributed.worker import run_worker
from tuner.search import names
from tuner.search import objective as objective_module
from tuner.search.objective import Objective
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text
from tuner.search.windows import StudyData
from tuner.storage.database import Heartbeat, open_storage
from tuner.storage.slots import FAIL_REASON, REQUEUE, SlotCounts, count_slots

GRACE = 2  # unit_study_toml's grace_period

DIE_BETWEEN_FAILING_AND_QUEUING = textwrap.dedent(
    """
    import os, signal, sys
    import optuna

    def die(study, trial):  # Optuna's retry callback: the worker is killed before it runs
        os.kill(os.getpid(), signal.SIGKILL)

    storage = optuna.storages.RDBStorage(
        sys.argv[1], heartbeat_interval=1, grace_period=2, heartbeat_stale_trial_callback=die
    )
    optuna.storages.fail_stale_trials(optuna.load_study(study_name="unit", storage=storage))
    """
)


@pytest.fixture
def url(tmp_path) -> str:
    """Study ``unit`` with a budget of 4, in SQLite."""
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = unit_study_toml(4)
    create_study(parse_study_text(text), text, url)
    return url


def _claimed_by_a_dead_worker(url: str, count: int) -> list[int]:
    """Claim and ask ``count`` trials as a worker does, then abandon them (the worker died)."""
    config = parse_study_text(unit_study_toml(4))
    storage = open_storage(url, Heartbeat(1, GRACE, 3))
    study = optuna.load_study(study_name="unit", storage=storage)
    slots = worker_module._Slots(study, storage, url, config, Objective(StudyData.load(config)))
    numbers = []
    for _ in range(count):
        assert slots._claim() == (worker_module._Claim.RAN, 1)
        numbers.append(study.ask().number)
    return numbers


def _wait_until_stale(url: str, numbers: list[int], seconds: float = 30) -> None:
    """Wait until the trials' heartbeats are older than the grace period."""
    storage = optuna.storages.RDBStorage(url, heartbeat_interval=1, grace_period=GRACE)
    study_id = storage.get_study_id_from_name("unit")
    end = time.monotonic() + seconds
    while set(storage._get_stale_trial_ids(study_id)) < set(_ids_of(url, numbers)):
        assert time.monotonic() < end, "the trials never went stale"
        time.sleep(0.2)


def _ids_of(url: str, numbers: list[int]) -> list[int]:
    trials = trials_of(url)
    return [trials[number]._trial_id for number in numbers]


def _retries_of(trials: list[optuna.trial.FrozenTrial], number: int) -> list[int]:
    """The trials whose retry history ends with ``number``: its retries (one at most)."""
    return [t.number for t in trials if t.system_attrs.get("retry_history", [None])[-1] == number]


def _assert_every_failure_retried_once_and_the_budget_exact(url: str, budget: int) -> None:
    trials = trials_of(url)
    counts = SlotCounts.of(trials)
    assert counts.finished == budget and counts.running == counts.waiting == 0
    assert counts.unretried == ()
    failed = [t.number for t in trials if t.state == TrialState.FAIL]
    assert failed and all(len(_retries_of(trials, number)) == 1 for number in failed)
    assert counts.retried == len(failed) and counts.failed == 0


def test_trials_failed_by_a_worker_killed_before_it_queued_their_retries_are_retried_once(url):
    stale = _claimed_by_a_dead_worker(url, 2)
    _wait_until_stale(url, stale)
    killed = subprocess.run([sys.executable, "-c", DIE_BETWEEN_FAILING_AND_QUEUING, url])
    assert killed.returncode == -signal.SIGKILL
    trials = trials_of(url)
    assert [trials[number].state for number in stale] == [TrialState.FAIL] * 2
    assert len(trials) == 2  # failed, and no retry queued: the window the worker died in
    storage = optuna.storages.RDBStorage(url)
    assert count_slots(storage, storage.get_study_id_from_name("unit")).unretried == tuple(stale)
    assert SlotCounts.of(trials).unretried == tuple(stale)

    assert run_worker("unit", url, None, worker_index=0) == 4
    _assert_every_failure_retried_once_and_the_budget_exact(url, 4)


class _Died(BaseException):
    """The worker's death, where a test stops it (a SIGKILL cannot be survived in-process)."""


def test_an_interrupted_trial_whose_worker_died_before_queuing_it_is_retried_once(url, monkeypatch):
    monkeypatch.setattr(objective_module, "evaluate_many", _raise(KeyboardInterrupt))
    monkeypatch.setattr(worker_module._Slots, "_requeue", _raise(_Died))
    with pytest.raises(_Died):
        run_worker("unit", url, None, worker_index=0)
    (interrupted,) = trials_of(url)
    assert interrupted.state == TrialState.FAIL and interrupted.system_attrs[REQUEUE]
    assert interrupted.user_attrs[FAIL_REASON] == "interrupted"
    monkeypatch.undo()

    assert run_worker("unit", url, None, worker_index=0) == 4
    _assert_every_failure_retried_once_and_the_budget_exact(url, 4)
    (retry,) = [trials_of(url)[n] for n in _retries_of(trials_of(url), interrupted.number)]
    assert FAIL_REASON not in retry.user_attrs and REQUEUE not in retry.system_attrs


def test_a_trial_that_failed_by_itself_is_not_retried(url, monkeypatch):
    fail_the_pack_on_call(monkeypatch, 1, RuntimeError("boom"))
    run_worker("unit", url, None, worker_index=0)
    counts = SlotCounts.of(trials_of(url))
    assert counts.finished == 4 and counts.failed == 1 and counts.retried == 0
    assert counts.unretried == ()


def test_the_slots_name_the_failure_reason_the_search_stores():
    assert FAIL_REASON == names.FAIL_REASON


def _raise(kind: type[BaseException]):
    def fail(*args, **kwargs):
        raise kind()

    return fail
