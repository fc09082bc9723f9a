"""Every SIGTERM exits cleanly: recorded, acted on between steps, status 130, nothing lost.

A worker is sent SIGTERM in the middle of its database calls, one point of its
life per case (start-up, claims, asks, the trial's attributes, tells, the
confirmation), in the fits, and in the confirmation; each time it must exit 130
with no traceback, leave no trial RUNNING and no failed trial unretried, and a
rerun must meet the budget exactly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from tests.helpers.studies import trials_of, unit_study_toml
from tuner.distributed import worker as worker_module
from tuner.distributed.stopping import StopRequest
from tuner.distributed.worker import run_worker
from tuner.search import objective as objective_module
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text
from tuner.storage.slots import SlotCounts

BUDGET = 2
FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Where the SIGTERM lands: fractions of the database statements of a whole worker's run."""


def _new_study(url: str) -> str:
    text = unit_study_toml(BUDGET)
    create_study(parse_study_text(text), text, url)
    return url


class _Statements:
    """Counts the statements the main thread sends to the database; SIGTERM at one of them."""

    def __init__(self, sigterm_at: int | None = None) -> None:
        self.count = 0
        self.sigterm_at = sigterm_at

    def __call__(self, *args: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # a heartbeat thread's: its timing varies from run to run
        self.count += 1
        if self.count == self.sigterm_at:
            signal.raise_signal(signal.SIGTERM)  # the statement sent, its results unread


@contextlib.contextmanager
def _listening(statements: _Statements) -> Iterator[_Statements]:
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "after_cursor_execute", statements)
    try:
        yield statements
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "after_cursor_execute", statements)


_REFERENCE: dict[str, int] = {}


@pytest.fixture
def statements_of_a_run(request, tmp_path_factory) -> int:
    """How many statements a worker's whole run sends on the test's kind of database.

    Measured once per kind, on a study of its own: the budget, then the confirmation.
    """
    kind = request.getfixturevalue("storage_url").split(":")[0].split("+")[0]
    if kind not in _REFERENCE:
        url = f"sqlite:///{tmp_path_factory.mktemp('reference') / 'tuner.db'}"
        if kind != "sqlite":
            url = request.getfixturevalue("postgres_admin_url")
            url = _fresh_postgres_database(request, url)
        _new_study(url)
        with _listening(_Statements()) as statements:
            assert run_worker("unit", url, None, worker_index=0) == BUDGET
        _REFERENCE[kind] = statements.count
    return _REFERENCE[kind]


def _fresh_postgres_database(request, admin_url: str) -> str:
    """A new database beside the test's own, dropped at the end of the test."""
    name = f"tuner_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _worker(cli, url: str) -> tuple[int, str]:
    status, _, err = cli("worker", "unit", "--storage", url, "--no-artifacts", "--quiet")
    return status, err


def _assert_stopped_cleanly_and_nothing_lost(cli, url: str, status: int, err: str) -> None:
    assert status == 130, err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "tuner worker: interrupted"
    counts = SlotCounts.of(trials_of(url))
    assert counts.running == 0 and counts.unretried == ()
    status, err = _worker(cli, url)  # the rerun meets the budget exactly
    assert status == 0, err
    counts = SlotCounts.of(trials_of(url))
    assert counts.finished == BUDGET and counts.running == 0 and counts.unretried == ()


@pytest.mark.slow
@pytest.mark.parametrize("fraction", FRACTIONS)
def test_a_sigterm_in_the_middle_of_any_database_call_exits_130_and_loses_nothing(
    cli, storage_url, statements_of_a_run, fraction
):
    url = _new_study(storage_url)
    at = 1 + int(fraction * statements_of_a_run)
    with _listening(_Statements(sigterm_at=at)) as statements:
        status, err = _worker(cli, url)
    assert statements.count >= at, "the run ended before the SIGTERM"
    _assert_stopped_cleanly_and_nothing_lost(cli, url, status, err)


def _sigterm_before(monkeypatch, module: object, name: str) -> None:
    """Make ``module.name`` raise SIGTERM in this process, then do its work."""
    real = getattr(module, name)

    def raising(*args, **kwargs):
        signal.raise_signal(signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, raising)


def test_a_sigterm_during_the_fits_stops_at_the_next_epoch_and_queues_the_trial_again(
    cli, tmp_path, monkeypatch
):
    url = _new_study(f"sqlite:///{tmp_path / 'tuner.db'}")
    _sigterm_before(monkeypatch, objective_module, "evaluate_many")
    status, err = _worker(cli, url)
    (interrupted, retry) = trials_of(url)
    assert interrupted.user_attrs["fail_reason"] == "interrupted"
    assert retry.system_attrs["retry_history"] == [interrupted.number]
    monkeypatch.undo()
    _assert_stopped_cleanly_and_nothing_lost(cli, url, status, err)


def test_a_sigterm_during_the_confirmation_exits_130(cli, tmp_path, monkeypatch):
    url = _new_study(f"sqlite:///{tmp_path / 'tuner.db'}")
    _sigterm_before(monkeypatch, worker_module, "confirm_study")
    status, err = _worker(cli, url)
    assert status == 130 and "Traceback" not in err
    assert SlotCounts.of(trials_of(url)).finished == BUDGET


def test_a_stop_request_records_the_signal_and_stops_at_the_check():
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest().handling() as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.requested  # recorded, nothing raised
        with pytest.raises(KeyboardInterrupt, match="signal 15"):
            stop.check()
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_stop_request_leaves_alone_a_signal_the_caller_leaves_to_the_system():
    # Python's own Ctrl+C handler, set here: a process started in the background
    # (nohup, &) inherits SIGINT ignored instead
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with StopRequest().handling(only_caught=True):
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def test_a_pause_ends_when_a_stop_is_requested():
    with StopRequest().handling() as stop:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        started = time.monotonic()
        stop.pause(60)
        assert stop.requested and time.monotonic() - started < 30
