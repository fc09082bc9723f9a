"""The worker loop in-process: every way a trial can end without its own result."""

from __future__ import annotations

import logging
import signal
import time

import optuna
import pytest
from filelock import FileLock, Timeout
from optuna.trial import TrialState

from tests.helpers.studies import trials_of, unit_study_toml
from tests.helpers.training import fail_the_pack_on_call
from tuner.distributed import worker as worker_module
from tuner.distributed.stopping import StopRequest
from tuner.distributed.worker import run_worker
from tuner.search import objective as objective_module
from tuner.search.objective import Objective
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text
from tuner.storage.slots import SlotCounts
from tuner.storage.url import DatabaseURL


@pytest.fixture
def study(tmp_path):
    """Create study ``unit`` with a budget; return its URL."""

    def create(trials: int) -> str:
        url = f"sqlite:///{tmp_path / 'tuner.db'}"
        text = unit_study_toml(trials)
        create_study(parse_study_text(text), text, url)
        return url

    return create


def take_over_the_running_trial(url: str) -> int:
    """Do what a live worker does to a trial whose heartbeat stopped: fail it, queue it again."""
    study = optuna.load_study(study_name="unit", storage=url)
    (trial,) = study.get_trials(states=(TrialState.RUNNING,))
    study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    failed = study._storage.get_trial(trial._trial_id)
    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)(study, failed)
    return trial.number


@pytest.mark.parametrize("when", ["during the fits", "after the objective"])
def test_a_trial_taken_over_by_another_worker_is_dropped_and_the_worker_goes_on(
    study, monkeypatch, caplog, when
):
    url = study(3)
    taken: list[int] = []
    if when == "during the fits":
        real_evaluate = objective_module.evaluate_many

        def evaluate(*args, **kwargs):
            if not taken:
                taken.append(take_over_the_running_trial(url))
            return real_evaluate(*args, **kwargs)

        monkeypatch.setattr(objective_module, "evaluate_many", evaluate)
    else:
        real_run_pack = Objective.run_pack

        def run_pack(self, trials):
            values = real_run_pack(self, trials)
            if not taken:
                taken.append(take_over_the_running_trial(url))
            return values

        monkeypatch.setattr(Objective, "run_pack", run_pack)
    with caplog.at_level(logging.WARNING):
        ran = run_worker("unit", url, None, worker_index=0)
    trials = trials_of(url)
    counts = SlotCounts.of(trials)
    assert counts.finished == 3 and counts.complete == 3
    assert counts.retried == 1 and counts.running == counts.waiting == 0
    assert ran == 3
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == taken[0]]
    assert retry.state == TrialState.COMPLETE
    assert f"trial {taken[0]} was failed and queued again by another worker" in caplog.text


def test_an_interrupted_trial_is_queued_again_before_the_budget_lock_is_let_go(
    study, monkeypatch, tmp_path
):
    url = study(1)
    monkeypatch.setattr(objective_module, "evaluate_many", _raise(KeyboardInterrupt))
    lock_free_while_requeuing: list[bool] = []
    real_requeue = worker_module._Slots._requeue

    def requeue(self, number):
        probe = FileLock(f"{tmp_path / 'tuner.db'}.lock")
        try:
            probe.acquire(timeout=0.2)
            probe.release()
            lock_free_while_requeuing.append(True)
        except Timeout:
            lock_free_while_requeuing.append(False)
        real_requeue(self, number)

    monkeypatch.setattr(worker_module._Slots, "_requeue", requeue)
    with pytest.raises(KeyboardInterrupt):
        run_worker("unit", url, None, worker_index=0)
    assert lock_free_while_requeuing == [False]
    trials = trials_of(url)
    counts = SlotCounts.of(trials)
    assert counts.finished == 0 and counts.retried == 1 and counts.waiting == 1
    assert trials[0].user_attrs["fail_reason"] == "interrupted"


def test_queued_trials_do_not_run_past_a_lowered_budget(study):
    url = study(2)
    queued = optuna.load_study(study_name="unit", storage=url)
    for epochs in (2, 3, 2):
        queued.enqueue_trial({"epochs": epochs, "regime": "stateless"})
    queued.set_user_attr("budget", 1)  # as 'tuner create FILE --trials 1' does
    run_worker("unit", url, None, worker_index=0)
    counts = SlotCounts.of(trials_of(url))
    assert counts.finished == 1
    assert counts.waiting == 2


def test_a_trial_that_raises_fails_with_its_reason_and_the_worker_goes_on(study, monkeypatch):
    url = study(3)
    fail_the_pack_on_call(monkeypatch, 2, MemoryError("Unable to allocate 90.8 GiB for an array"))
    run_worker("unit", url, None, worker_index=0)
    trials = trials_of(url)
    counts = SlotCounts.of(trials)
    assert counts.finished == 3 and counts.complete == 2 and counts.failed == 1
    (failed,) = [t for t in trials if t.state == TrialState.FAIL]
    assert failed.user_attrs["fail_reason"] == (
        "MemoryError: Unable to allocate 90.8 GiB for an array"
    )


def test_a_worker_stops_after_too_many_failures_in_a_row_in_one_line(
    study, monkeypatch, cli, tmp_path
):
    url = study(10)
    monkeypatch.setattr(objective_module, "evaluate_many", _raise(RuntimeError, "CUDA error: boom"))
    status, _, err = cli("worker", "unit", "--storage", url, "--no-artifacts", "--quiet")
    assert status == 2
    assert err.splitlines()[-1] == (
        "tuner worker: error: stopped after 2 trials in a row failed (the last: "
        "RuntimeError: CUDA error: boom); see the log, and workers.max_consecutive_failures"
    )
    assert "Traceback" not in err
    assert SlotCounts.of(trials_of(url)).failed == 2


def test_run_worker_leaves_the_signal_handlers_as_it_found_them(study):
    url = study(1)
    before = signal.getsignal(signal.SIGTERM)
    run_worker("unit", url, None, worker_index=0)
    assert signal.getsignal(signal.SIGTERM) is before


def _raise(kind: type[BaseException], message: str = ""):
    def fail(*args, **kwargs):
        raise kind(message)

    return fail


def test_the_consecutive_failure_limit_counts_only_failures_in_a_row(study, monkeypatch):
    url = study(5)
    real_evaluate = objective_module.evaluate_many
    calls: list[int] = []

    def evaluate(*args, **kwargs):
        calls.append(1)
        if len(calls) % 2:  # every other trial fails: never two in a row
            raise RuntimeError("flaky")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(objective_module, "evaluate_many", evaluate)
    run_worker("unit", url, None, worker_index=0)
    counts = SlotCounts.of(trials_of(url))
    assert counts.finished == 5 and counts.failed == 3


def test_a_worker_that_died_between_ask_and_its_first_heartbeat_loses_no_slot(study):
    from tuner.search.windows import StudyData
    from tuner.storage.database import Heartbeat, open_storage

    url = study(2)
    config = parse_study_text(unit_study_toml(2))
    storage = open_storage(url, Heartbeat(1, 2, 3))
    dead = optuna.load_study(study_name="unit", storage=storage)
    objective = Objective(StudyData.load(config))
    slots = worker_module._Slots(dead, storage, url, config, objective)
    assert slots._claim() == (worker_module._Claim.RAN, 1)
    orphan = dead.ask()  # and the worker dies before Optuna's heartbeat thread starts
    run_worker("unit", url, None, worker_index=0)
    trials = trials_of(url)
    counts = SlotCounts.of(trials)
    assert counts.finished == 2 and counts.running == counts.waiting == 0
    assert trials[orphan.number].state == TrialState.FAIL
    assert counts.retried == 1


def test_a_worker_loads_its_series_once_however_many_trials_it_runs(tmp_path, monkeypatch):
    """The series is loaded and prepared once per worker and handed down to every trial."""
    from tuner.data import source

    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    text = unit_study_toml(3, data={"series": "airline", "holdout": 12, "train_size": 24})
    create_study(parse_study_text(text), text, url)
    loads = []
    real = source.load_series
    monkeypatch.setattr(source, "load_series", lambda *a, **k: loads.append(a) or real(*a, **k))
    monkeypatch.setattr(worker_module, "_confirm", lambda name, url, stop: None)
    assert run_worker("unit", url, None, worker_index=0) == 3
    assert len(loads) == 1, loads  # the search's series and the holdout's, from one load


def test_a_worker_gives_up_on_a_database_lost_for_too_long(monkeypatch):
    import sqlalchemy

    from tuner.distributed import worker
    from tuner.exceptions import StorageError

    lost = sqlalchemy.exc.OperationalError(
        "SELECT 1", {}, Exception("server closed the connection")
    )
    url = DatabaseURL.parse("postgresql+psycopg://user:s3cret@db.example:5432/tuner")
    stop = StopRequest()
    monkeypatch.setattr(worker, "RECONNECT_PAUSE_SECONDS", 0)
    worker._wait_for_the_database(url, lost, time.monotonic(), stop)  # within the limit: waits
    with pytest.raises(StorageError) as error:
        worker._wait_for_the_database(
            url, lost, time.monotonic() - worker.RECONNECT_SECONDS - 1, stop
        )
    assert str(error.value) == (
        "lost the database at postgresql+psycopg://user:***@db.example:5432/tuner "
        "for over 300 s; giving up"
    )
    with pytest.raises(ValueError):  # anything but a lost connection is not waited out
        worker._wait_for_the_database(url, ValueError("bug"), time.monotonic(), stop)


def test_trials_taken_over_before_they_stored_their_configuration_are_no_failures(
    study, monkeypatch
):
    """A pack whose trial was taken over (a late heartbeat) is queued again, not failed."""
    url = study(3)
    real_prepare = Objective._prepare
    taken: list[int] = []

    def prepare(self, trial):
        if len(taken) < 3:  # more in a row than max_consecutive_failures (2)
            taken.append(take_over_the_running_trial(url))
        return real_prepare(self, trial)

    monkeypatch.setattr(Objective, "_prepare", prepare)
    assert run_worker("unit", url, None, worker_index=0) == 3
    counts = SlotCounts.of(trials_of(url))
    assert counts.finished == counts.complete == 3
    assert counts.retried == 3 and counts.unretried == () and counts.waiting == 0
