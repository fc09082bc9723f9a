"""``tuner proxy``: workers behind it share the budget, its lock and heartbeats."""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
import pytest
from filelock import FileLock, Timeout
from optuna.trial import TrialState

from tests.helpers.commands import free_port, run_tuner
from tests.helpers.studies import trials_of, unit_study_toml
from tuner.distributed import worker as worker_module
from tuner.distributed.proxy import start_proxy
from tuner.distributed.worker import run_worker
from tuner.search.objective import Objective
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text
from tuner.search.windows import StudyData
from tuner.storage.database import Heartbeat, open_storage
from tuner.storage.proxy_client import ProxyStorage
from tuner.storage.slots import SlotCounts, count_slots


@pytest.fixture
def proxy(storage_url):
    """A proxy for a fresh SQLite or PostgreSQL database; yields (database URL, proxy URL)."""
    port = free_port()
    server = start_proxy(storage_url, "127.0.0.1", port)
    yield storage_url, f"grpc://127.0.0.1:{port}"
    server.stop(grace=None)


def create(url: str, trials: int) -> None:
    text = unit_study_toml(trials)
    create_study(parse_study_text(text), text, url)


def test_a_worker_behind_the_proxy_meets_the_budget_with_heartbeats(proxy):
    database, address = proxy
    create(address, 3)
    assert run_worker("unit", address, None, worker_index=0) == 3
    trials = trials_of(database)
    assert SlotCounts.of(trials).finished == 3 and len(trials) == 3
    storage = open_storage(database)
    with storage.engine.connect() as connection:
        beats = connection.exec_driver_sql("SELECT count(*) FROM trial_heartbeats").scalar_one()
    assert beats == 3  # every trial beat through the proxy
    proxied = open_storage(address)
    study_id = proxied.get_study_id_from_name("unit")
    assert count_slots(proxied, study_id) == SlotCounts.of(trials)


def test_a_dead_workers_trial_behind_the_proxy_is_failed_and_retried(proxy):
    database, address = proxy
    create(address, 2)
    config = parse_study_text(unit_study_toml(2))
    storage = open_storage(address, Heartbeat(1, 2, 3))
    assert isinstance(storage, ProxyStorage)
    dead = optuna.load_study(study_name="unit", storage=storage)
    objective = Objective(StudyData.load(config))
    slots = worker_module._Slots(dead, storage, address, config, objective)
    assert slots._claim() == (worker_module._Claim.RAN, 1)
    orphan = dead.ask()  # the worker dies with its trial RUNNING and one beat recorded
    run_worker("unit", address, None, worker_index=0)
    trials = trials_of(database)
    counts = SlotCounts.of(trials)
    assert counts.finished == 2 and counts.running == counts.waiting == 0
    assert trials[orphan.number].state == TrialState.FAIL and counts.retried == 1


def test_the_proxy_holds_the_database_lock_for_a_worker_until_it_dies(tmp_path):
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    port = free_port()
    server = start_proxy(database, "127.0.0.1", port)
    probe = FileLock(f"{tmp_path / 'tuner.db'}.lock")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from tuner.storage.locks import exclusive\n"
            f"lock = exclusive('grpc://127.0.0.1:{port}', 'budget:unit')\n"
            "lock.acquire()\n"
            "print('held', flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(Timeout):  # a worker on the database directly would wait
            probe.acquire(timeout=0.2)
    finally:
        holder.kill()
        holder.wait()
    probe.acquire(timeout=30)  # the proxy let go when the holder's call dropped
    probe.release()
    server.stop(grace=None)


@pytest.mark.slow
def test_tuner_proxy_serves_a_study_to_a_tuner_worker(tmp_path):
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    create(database, 2)
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "tuner", "proxy", "--storage", database, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proxy.stdout.readline()
        assert line.startswith(f"tuner proxy for {database} at grpc://127.0.0.1:{port} "), (
            line + proxy.stderr.read()
        )
        address = f"grpc://127.0.0.1:{port}"
        worker = run_tuner("worker", "unit", "--storage", address, "--no-artifacts")
        assert worker.returncode == 0, worker.stderr
        assert "ran 2 trial(s) of study 'unit'" in worker.stdout
        status = run_tuner("status", "unit", "--storage", address)
        assert "2 of 2 trials finished (2 complete" in status.stdout, status.stderr
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "0"], "--port must be between 1 and 65535; got 0"),
        (["--port", "70000"], "--port must be between 1 and 65535; got 70000"),
        (
            ["--storage", "grpc://127.0.0.1:13000"],
            "the proxy serves a database, not another proxy; got storage "
            "'grpc://127.0.0.1:13000', expected sqlite:///path/to/file.db or "
            "postgresql+psycopg://user:password@host:port/db",
        ),
        (
            ["--storage", "mysql://user:secret@db/x"],
            "storage 'mysql://user:***@db/x' uses 'mysql'; supported: sqlite, postgresql",
        ),
    ],
)
def test_tuner_proxy_refuses_bad_input_in_one_line(cli, options, message):
    status, out, err = cli("proxy", *options)
    assert status == 2
    assert err == f"tuner proxy: error: {message}\n"
    assert "secret" not in out + err


def test_tuner_proxy_refuses_a_port_in_use_in_one_line(cli, tmp_path):
    port = free_port()
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    server = start_proxy(database, "127.0.0.1", port)
    try:
        status, _, err = cli("proxy", "--storage", database, "--port", str(port))
    finally:
        server.stop(grace=None)
    assert status == 2
    assert err == (
        f"tuner proxy: error: cannot serve on 127.0.0.1:{port} (in use, or not an address "
        "of this machine); choose another --port or --host\n"
    )


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            "grpc://127.0.0.1",
            "storage 'grpc://127.0.0.1' is not a proxy address; expected grpc://HOST:PORT, "
            "as 'tuner proxy' prints it",
        ),
        (
            "grpc://127.0.0.1:{port}",
            "cannot reach the tuner proxy at 127.0.0.1:{port} within 10 s; is 'tuner proxy' "
            "running there?",
        ),
    ],
)
def test_a_worker_given_no_proxy_says_so_in_one_line(cli, address, message):
    port = free_port()
    started = time.monotonic()
    status, _, err = cli("worker", "unit", "--storage", address.format(port=port))
    assert status == 2
    assert err.splitlines() == [f"tuner worker: error: {message.format(port=port)}"]
    assert time.monotonic() - started < 60
