"""``tuner proxy``: workers behind it share the budget, its lock and heartbeats."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import grpc
import optuna
import pytest
from filelock import FileLock, Timeout
from optuna.storages._grpc.auto_generated import api_pb2
from optuna.trial import TrialState

from tests.helpers.commands import free_port, run_tuner
from tests.helpers.studies import trials_of, unit_study_toml
from tests.helpers.tls import make_certificates
from tuner.distributed import worker as worker_module
from tuner.distributed.proxy import ProxySecurity, start_proxy
from tuner.distributed.worker import run_worker
from tuner.exceptions import StorageError
from tuner.search.objective import Objective
from tuner.search.study import create_study
from tuner.search.studyfile import parse_study_text
from tuner.search.windows import StudyData
from tuner.storage.database import Heartbeat, open_storage
from tuner.storage.optuna_internals import api_pb2_grpc
from tuner.storage.proxy_client import ProxyStorage, open_channel
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


def _proxy_process(
    database: str, port: int, *options: str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """``tuner proxy`` for ``database`` on ``port``, its own process; it prints where it serves."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuner",
            "proxy",
            "--storage",
            database,
            "--port",
            str(port),
            *options,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_tuner_proxy_serves_a_study_to_a_tuner_worker(tmp_path):
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    create(database, 2)
    port = free_port()
    proxy = _proxy_process(database, port)
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
            "running there (and, if it serves TLS, is TUNER_PROXY_CA_FILE set)?",
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


TOKEN = "s3cret-proxy-token"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def guarded(tmp_path, certificates, monkeypatch):
    """A proxy with TLS and a token on a SQLite study ``unit`` of 2 trials.

    Yields (database URL, proxy address); the worker-side variables are left unset.
    """
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    create(database, 2)
    port = free_port()
    monkeypatch.setenv("TUNER_PROXY_TOKEN", TOKEN)
    security = ProxySecurity(certificates.server_cert, certificates.server_key)
    server = start_proxy(database, "127.0.0.1", port, security)
    monkeypatch.delenv("TUNER_PROXY_TOKEN")
    yield database, f"grpc://127.0.0.1:{port}"
    server.stop(grace=None)


def study_snapshot(database: str) -> tuple[list[str], list[tuple[int, TrialState]]]:
    names = [study.study_name for study in optuna.get_all_study_summaries(database)]
    return names, [(t.number, t.state) for t in trials_of(database)]


def delete_through(channel) -> grpc.RpcError:
    """Ask the proxy to delete study 1 (Optuna's protocol allows it); return the refusal."""
    stub = api_pb2_grpc.StorageServiceStub(channel)
    with pytest.raises(grpc.RpcError) as refusal:
        stub.DeleteStudy(api_pb2.DeleteStudyRequest(study_id=1), timeout=5)
    channel.close()
    return refusal.value


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, grpc.StatusCode.UNAUTHENTICATED),
        ("wrong-token", grpc.StatusCode.UNAUTHENTICATED),
    ],
)
def test_a_call_without_the_right_token_is_refused_and_the_study_unchanged(
    guarded, certificates, monkeypatch, token, code
):
    database, _ = guarded
    before = study_snapshot(database)
    monkeypatch.setenv("TUNER_PROXY_CA_FILE", str(certificates.ca))
    if token is not None:
        monkeypatch.setenv("TUNER_PROXY_TOKEN", token)
    port = int(guarded[1].rsplit(":", 1)[1])
    refusal = delete_through(open_channel("127.0.0.1", port))
    assert refusal.code() == code
    assert TOKEN not in refusal.details()
    assert study_snapshot(database) == before and before[0] == ["unit"]


def test_a_plaintext_client_is_refused_by_a_tls_proxy_and_the_study_unchanged(guarded, monkeypatch):
    database, address = guarded
    before = study_snapshot(database)
    monkeypatch.setenv("TUNER_PROXY_TOKEN", TOKEN)  # the right token, but in plaintext
    refusal = delete_through(open_channel("127.0.0.1", int(address.rsplit(":", 1)[1])))
    assert refusal.code() == grpc.StatusCode.UNAVAILABLE
    assert study_snapshot(database) == before and before[0] == ["unit"]


def test_a_worker_with_the_token_runs_the_study_over_tls(guarded, certificates, monkeypatch):
    database, address = guarded
    monkeypatch.setenv("TUNER_PROXY_CA_FILE", str(certificates.ca))
    token_file = certificates.ca.parent / "token"
    token_file.write_text(TOKEN + "\n")  # as a mounted Secret made from a file may hold it
    monkeypatch.setenv("TUNER_PROXY_TOKEN_FILE", str(token_file))
    assert run_worker("unit", address, None, worker_index=0) == 2
    assert SlotCounts.of(trials_of(database)).finished == 2


def test_a_worker_with_a_wrong_token_stops_in_one_line(guarded, certificates, cli, monkeypatch):
    _, address = guarded
    monkeypatch.setenv("TUNER_PROXY_CA_FILE", str(certificates.ca))
    monkeypatch.setenv("TUNER_PROXY_TOKEN", "wrong-token")
    status, out, err = cli("worker", "unit", "--storage", address, "--no-artifacts")
    assert status == 2
    assert err.splitlines() == [
        f"tuner worker: error: the tuner proxy at {address[len('grpc://') :]} refused this "
        "worker: missing or wrong proxy token; set TUNER_PROXY_TOKEN or "
        "TUNER_PROXY_TOKEN_FILE to the proxy's token"
    ]
    assert "wrong-token" not in out + err


def test_client_certificates_are_asked_for_when_a_client_ca_is_given(
    tmp_path, certificates, monkeypatch
):
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    create(database, 1)
    port = free_port()
    security = ProxySecurity(certificates.server_cert, certificates.server_key, certificates.ca)
    server = start_proxy(database, "127.0.0.1", port, security)
    monkeypatch.setenv("TUNER_PROXY_CA_FILE", str(certificates.ca))
    try:
        without = delete_through(open_channel("127.0.0.1", port))
        assert without.code() == grpc.StatusCode.UNAVAILABLE
        monkeypatch.setenv("TUNER_PROXY_CERT_FILE", str(certificates.client_cert))
        monkeypatch.setenv("TUNER_PROXY_KEY_FILE", str(certificates.client_key))
        storage = open_storage(f"grpc://127.0.0.1:{port}")
        assert storage.get_study_id_from_name("unit") == 1
        storage.close()
    finally:
        server.stop(grace=None)


def test_a_worker_given_no_ca_for_a_tls_proxy_says_so(guarded, monkeypatch):
    _, address = guarded
    monkeypatch.setattr("tuner.storage.proxy_client.CONNECT_SECONDS", 1)
    with pytest.raises(StorageError, match="is TUNER_PROXY_CA_FILE set"):
        open_storage(address)


@pytest.mark.parametrize(
    ("options", "environment", "message"),
    [
        (
            ["--host", "0.0.0.0"],
            {},
            "--host '0.0.0.0' serves beyond this machine, so the proxy needs TLS and a token "
            "to let in only its workers; missing: TLS (--tls-cert, --tls-key) and a token "
            "(TUNER_PROXY_TOKEN or TUNER_PROXY_TOKEN_FILE) (or --insecure, on a network only "
            "the workers reach)",
        ),
        (
            [
                "--host",
                "10.1.2.3",
                "--tls-cert",
                "{tls}/server.crt",
                "--tls-key",
                "{tls}/server.key",
            ],
            {},
            "--host '10.1.2.3' serves beyond this machine, so the proxy needs TLS and a token "
            "to let in only its workers; missing: a token (TUNER_PROXY_TOKEN or "
            "TUNER_PROXY_TOKEN_FILE) (or --insecure, on a network only the workers reach)",
        ),
        (
            ["--tls-cert", "{tls}/missing.crt", "--tls-key", "{tls}/server.key"],
            {},
            "--tls-cert: cannot read '{tls}/missing.crt': No such file or directory",
        ),
        (
            ["--tls-cert", "{tls}/server.crt"],
            {},
            "--tls-cert and --tls-key go together; got --tls-cert '{tls}/server.crt' alone",
        ),
        (
            ["--tls-cert", "{tls}/server.crt", "--tls-key", "{tls}/client.key"],
            {},
            "--tls-cert and --tls-key must be a PEM certificate and its unencrypted key; "
            "got '{tls}/server.crt' and '{tls}/client.key' (KEY_VALUES_MISMATCH)",
        ),
        (
            [],
            {"TUNER_PROXY_TOKEN_FILE": "{tls}/no-token"},
            "TUNER_PROXY_TOKEN_FILE: cannot read '{tls}/no-token': No such file or directory",
        ),
        (
            [],
            {"TUNER_PROXY_TOKEN_FILE": "{tls}/no-token", "TUNER_PROXY_TOKEN": TOKEN},
            "set TUNER_PROXY_TOKEN or TUNER_PROXY_TOKEN_FILE, not both; got both "
            "(TUNER_PROXY_TOKEN_FILE='{tls}/no-token')",
        ),
    ],
)
def test_tuner_proxy_refuses_unsafe_or_unreadable_settings_in_one_line(
    cli, tmp_path, certificates, monkeypatch, options, environment, message
):
    tls = str(certificates.ca.parent)
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(tls=tls))
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    argv = [option.format(tls=tls) for option in options]
    status, out, err = cli("proxy", "--storage", database, "--port", str(free_port()), *argv)
    assert status == 2
    assert err == f"tuner proxy: error: {message.format(tls=tls)}\n"
    assert TOKEN not in out + err
    assert not (tmp_path / "tuner.db").exists()  # refused before the database is opened


@pytest.mark.slow
def test_tuner_proxy_with_tls_and_a_token_file_serves_a_tuner_worker(tmp_path, certificates):
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    create(database, 2)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    port = free_port()
    environment = {**os.environ, "TUNER_PROXY_TOKEN_FILE": str(token_file)}
    tls = ["--tls-cert", str(certificates.server_cert), "--tls-key", str(certificates.server_key)]
    proxy = _proxy_process(database, port, "--host", "0.0.0.0", *tls, env=environment)
    try:
        line = proxy.stdout.readline()
        assert line.startswith(f"tuner proxy for {database} at grpc://0.0.0.0:{port} (TLS;"), (
            line + proxy.stderr.read()
        )
        worker = subprocess.run(
            [sys.executable, "-m", "tuner", "worker", "unit", "--no-artifacts"],
            env={
                **environment,
                "TUNER_STORAGE": f"grpc://127.0.0.1:{port}",
                "TUNER_PROXY_CA_FILE": str(certificates.ca),
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert worker.returncode == 0, worker.stderr
        assert "ran 2 trial(s) of study 'unit'" in worker.stdout
    finally:
        proxy.terminate()
        _, errors = proxy.communicate(timeout=30)
    assert TOKEN not in line + errors + worker.stdout + worker.stderr


def test_a_token_is_checked_on_loopback_without_tls_too(tmp_path, monkeypatch):
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    create(database, 1)
    port = free_port()
    monkeypatch.setenv("TUNER_PROXY_TOKEN", TOKEN)
    server = start_proxy(database, "127.0.0.1", port)
    try:
        assert open_storage(f"grpc://127.0.0.1:{port}").get_study_id_from_name("unit") == 1
        monkeypatch.setenv("TUNER_PROXY_TOKEN", "wrong-token")
        with pytest.raises(StorageError, match="refused this worker"):
            open_storage(f"grpc://127.0.0.1:{port}")
    finally:
        server.stop(grace=None)


def test_insecure_lets_the_proxy_serve_beyond_loopback_without_tls_or_token(tmp_path):
    database = f"sqlite:///{tmp_path / 'tuner.db'}"
    port = free_port()
    server = start_proxy(database, "0.0.0.0", port, ProxySecurity(insecure=True))
    try:
        assert open_storage(f"grpc://127.0.0.1:{port}").get_all_studies() == []
    finally:
        server.stop(grace=None)
