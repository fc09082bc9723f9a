"""Studies with real worker processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.helpers.commands import run_tuner
from tests.helpers.studies import study_toml
from tests.helpers.training import SHAMPOO_PERSISTENCE_RMSE
from tuner.search.space import TUTORIAL_CONFIGURATION
from tuner.storage.slots import SlotCounts


def tiny_study_toml(trials: int, name: str = "tiny", **settings: object) -> str:
    """Short trials, and heartbeats fast enough that a dead worker's trial is retried soon."""
    return study_toml(
        name,
        trials=trials,
        repeats=2,
        search={
            "epochs": [5, 1000],
            "neurons": [1],
            "batch_size": [4],
            "regimes": ["seeded", "reset_epoch"],
        },
        pruner={"enabled": False},
        workers={"heartbeat_interval": 1, "grace_period": 3, "max_retry": 2},
        **settings,
    )


WORKER_TIMEOUT = 240


@pytest.fixture
def study_file(tmp_path):
    def write(trials: int) -> str:
        path = tmp_path / "tiny.toml"
        path.write_text(tiny_study_toml(trials))
        return str(path)

    return write


def _workers(url: str, count: int, first_index: int = 0) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tuner",
                "worker",
                "tiny",
                "--storage",
                url,
                "--worker-index",
                str(first_index + index),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(count)
    ]


def _wait(processes: list[subprocess.Popen]) -> list[int]:
    for process in processes:
        _, err = process.communicate(timeout=WORKER_TIMEOUT)
        print(err)  # shown when a test fails
        assert "Traceback" not in err, err
    return [process.returncode for process in processes]


def _trials(url: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials; none while ``tuner run`` has not created it yet."""
    try:
        return optuna.load_study(study_name="tiny", storage=url).get_trials()
    except KeyError:
        return []


def _wait_for_running_trial(url: str, seconds: float = 60) -> optuna.trial.FrozenTrial:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        running = [
            t for t in _trials(url) if t.state == TrialState.RUNNING and "config" in t.user_attrs
        ]
        if running:  # sampled, seeded and configured: the objective is fitting
            return running[0]
        time.sleep(0.2)
    pytest.fail("no trial started running")


def test_three_workers_meet_the_budget_exactly(storage_url, study_file):
    created = run_tuner("create", study_file(12), "--storage", storage_url)
    assert created.returncode == 0, created.stderr
    assert _wait(_workers(storage_url, 3)) == [0, 0, 0]
    trials = _trials(storage_url)
    counts = SlotCounts.of(trials)
    assert counts.finished == 12
    assert counts.running == counts.waiting == counts.retried == 0
    warm = [t for t in trials if t.user_attrs.get("warm_start") == "tutorial"]
    assert len(warm) == 1
    assert warm[0].params == TUTORIAL_CONFIGURATION
    for trial in trials:
        if trial.state == TrialState.COMPLETE:
            attrs = trial.user_attrs
            assert len(attrs["rmses"]) == 2
            assert trial.value == pytest.approx(sum(attrs["rmses"]) / 2)
            assert attrs["persistence_rmse"] == pytest.approx(SHAMPOO_PERSISTENCE_RMSE)
            assert attrs["skill"] == pytest.approx(1 - trial.value / attrs["persistence_rmse"])
            assert {"std", "min", "median", "max", "seconds", "engine", "versions", "seed"} <= set(
                attrs
            )


@pytest.mark.slow
def test_a_killed_workers_trial_is_failed_retried_and_not_counted(storage_url, study_file):
    assert run_tuner("create", study_file(4), "--storage", storage_url).returncode == 0
    (victim,) = _workers(storage_url, 1)
    doomed = _wait_for_running_trial(storage_url)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert _wait(_workers(storage_url, 2, first_index=1)) == [0, 0]
    trials = _trials(storage_url)
    counts = SlotCounts.of(trials)
    assert counts.finished == 4
    assert counts.retried == 1 and counts.failed == 0
    assert counts.running == counts.waiting == 0
    assert trials[doomed.number].state == TrialState.FAIL
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == doomed.number]
    assert retry.state == TrialState.COMPLETE
    assert retry.params == doomed.params
    assert retry.user_attrs["seed"] == doomed.user_attrs["seed"]


@pytest.mark.slow
def test_sigterm_fails_the_running_trial_and_queues_it_again(tmp_path, study_file):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    assert run_tuner("create", study_file(4), "--storage", url).returncode == 0
    (worker,) = _workers(url, 1)
    stopped = _wait_for_running_trial(url)
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 130
    assert err.strip().endswith("tuner worker: interrupted") and "Traceback" not in err
    trials = _trials(url)
    assert trials[stopped.number].state == TrialState.FAIL
    (again,) = [t for t in trials if t.system_attrs.get("failed_trial") == stopped.number]
    assert again.state == TrialState.WAITING


def _catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a SIGTERM handler (the CLI's, once its command is read)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1)


@pytest.mark.slow
def test_a_worker_sigtermed_in_its_start_up_exits_130_having_taken_nothing(tmp_path, study_file):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    assert run_tuner("create", study_file(4), "--storage", url).returncode == 0
    (worker,) = _workers(url, 1)
    deadline = time.monotonic() + WORKER_TIMEOUT
    while not _catches_sigterm(worker.pid):
        assert time.monotonic() < deadline, "the worker never caught SIGTERM"
        time.sleep(0.01)
    worker.send_signal(signal.SIGTERM)  # it is reading the study, loading the series
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 130, err
    assert err.strip().endswith("tuner worker: interrupted") and "Traceback" not in err
    counts = SlotCounts.of(_trials(url))
    assert counts.running == 0 and counts.unretried == () and counts.finished == 0


@pytest.mark.slow
def test_concurrent_creates_on_an_empty_postgresql_make_one_study(postgres_url, study_file):
    path = study_file(12)
    creates = [
        subprocess.Popen(
            [sys.executable, "-m", "tuner", "create", path, "--storage", postgres_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in creates]
    assert [process.returncode for process in creates] == [0, 0], outputs
    said = sorted(out.split(" in ")[0] for out, _ in outputs)
    assert said == ["study 'tiny' already exists", "study 'tiny' created"]
    assert optuna.get_all_study_names(postgres_url) == ["tiny"]
    waiting = [t for t in _trials(postgres_url) if t.state == TrialState.WAITING]
    assert [t.system_attrs["fixed_params"] for t in waiting] == [TUTORIAL_CONFIGURATION]


def test_status_reports_counts_best_and_baseline(tmp_path, study_file):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    ran = run_tuner(
        "run",
        study_file(3),
        "--storage",
        url,
        "--workers",
        "1",
        "--no-progress",
        timeout=WORKER_TIMEOUT,
    )
    assert ran.returncode == 0, ran.stderr
    assert "study 'tiny': 3 of 3 trials finished" in ran.stdout
    status = run_tuner("status", "tiny", "--storage", url, "--json")
    report = __import__("json").loads(status.stdout)
    assert report["finished"] == 3 and report["budget"] == 3
    assert report["persistence_rmse"] == pytest.approx(SHAMPOO_PERSISTENCE_RMSE)
    best = min(t.value for t in _trials(url) if t.state == TrialState.COMPLETE)
    assert report["best_validation_rmse"] == pytest.approx(best)


def test_unknown_study_lists_the_existing_ones(tmp_path, study_file):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    assert run_tuner("create", study_file(3), "--storage", url).returncode == 0
    result = run_tuner("worker", "nope", "--storage", url)
    assert result.returncode == 2
    assert result.stderr == (
        f"tuner worker: error: no study 'nope' in {url}; existing studies: tiny\n"
    )


def test_same_name_with_a_different_study_file_is_refused(tmp_path, study_file):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    path = study_file(3)
    assert run_tuner("create", path, "--storage", url).returncode == 0
    Path(path).write_text(tiny_study_toml(3, sampler={"n_startup_trials": 3}))
    result = run_tuner("create", path, "--storage", url)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "with a different study file" in result.stderr


def test_an_unreachable_database_names_host_and_port_and_masks_the_password():
    result = run_tuner(
        "status", "tiny", "--storage", "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/test"
    )
    assert result.returncode == 2
    warning, error = result.stderr.splitlines()
    assert warning.endswith(
        "tuner: --storage carries a password, which 'ps' shows to every user of this machine; "
        "set TUNER_STORAGE instead"
    )
    assert error.startswith("tuner status: error: cannot reach the database at 127.0.0.1:1")
    assert "postgres:***@127.0.0.1:1/test" in error
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "is not a database URL; expected sqlite:///"),
        ("mysql://root:pw@localhost/x", "uses 'mysql'; supported: sqlite, postgresql"),
    ],
)
def test_malformed_or_unsupported_urls_are_refused(url, expected):
    for command in ("status", "worker"):  # a worker resolves its compile cache from it first
        result = run_tuner(command, "tiny", "--storage", url)
        assert result.returncode == 2
        assert expected in result.stderr
        assert "pw" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_study_file_is_one_line_through_the_cli(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(tiny_study_toml(0))
    result = run_tuner("create", str(path), "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2
    assert result.stderr == (
        f"tuner create: error: {path}: trials must be an integer >= 1; got 0\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_tuner_run_stops_its_workers_and_a_rerun_finishes_the_study(
    tmp_path, study_file, stop
):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    command = ["run", study_file(6), "--storage", url, "--workers", "2", "--no-progress"]
    run = subprocess.Popen(
        [sys.executable, "-m", "tuner", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_running_trial(url)
    workers = [
        int(pid) for pid in Path(f"/proc/{run.pid}/task/{run.pid}/children").read_text().split()
    ]
    assert len(workers) == 2
    run.send_signal(stop)
    _, err = run.communicate(timeout=WORKER_TIMEOUT)
    assert run.returncode == 130, err
    assert err.strip().endswith("tuner run: interrupted")
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "workers left running"
    states = [t.state for t in _trials(url)]
    assert TrialState.RUNNING not in states and TrialState.FAIL in states
    again = run_tuner(*command)
    assert again.returncode == 0, again.stderr
    assert SlotCounts.of(_trials(url)).finished == 6


@pytest.mark.slow
def test_two_studies_share_one_database_without_mixing(tmp_path, study_file):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    other = tmp_path / "other.toml"
    other.write_text(tiny_study_toml(1, "other"))
    assert run_tuner("create", study_file(2), "--storage", url).returncode == 0
    assert run_tuner("create", str(other), "--storage", url).returncode == 0
    assert _wait(_workers(url, 1)) == [0]
    ran = run_tuner("worker", "other", "--storage", url, "--no-artifacts")
    assert ran.returncode == 0, ran.stderr
    assert len(_trials(url)) == 2
    assert len(optuna.load_study(study_name="other", storage=url).trials) == 1
    status = run_tuner("status", "other", "--storage", url, "--json")
    assert json.loads(status.stdout)["counts"]["complete"] == 1


@pytest.mark.slow
def test_a_read_only_sqlite_database_is_one_line_and_left_untouched(tmp_path, study_file):
    database = tmp_path / "tuner.db"
    url = f"sqlite:///{database}"
    assert run_tuner("create", study_file(2), "--storage", url).returncode == 0
    before = database.read_bytes()
    with read_only(database):
        ran = run_tuner("worker", "tiny", "--storage", url, "--no-artifacts")
    assert ran.returncode == 2
    assert ran.stderr == (
        "tuner worker: error: the database failed: attempt to write a readonly database; "
        "make the database file and its directory writable\n"
    )
    assert database.read_bytes() == before


@contextlib.contextmanager
def read_only(path: Path):
    """Make ``path`` read-only, even for root (immutable), for the duration."""
    path.chmod(0o444)
    immutable = os.geteuid() == 0
    if immutable and subprocess.run(["chattr", "+i", str(path)], check=False).returncode != 0:
        path.chmod(0o644)
        pytest.skip(
            "running as root and chattr +i is not permitted here: cannot make a file read-only"
        )
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o644)


@pytest.fixture
def private_postgres():
    """A PostgreSQL server of this test's own, so that it can be restarted mid-study."""
    from tests.helpers.pgcluster import PrivateCluster, require_server_binaries

    with PrivateCluster(require_server_binaries()) as cluster:
        yield {"url": cluster.url, "restart": cluster.restart}


@pytest.mark.slow
def test_workers_ride_out_a_postgresql_restart_and_lose_nothing(private_postgres, study_file):
    url = private_postgres["url"]
    assert run_tuner("create", study_file(12), "--storage", url).returncode == 0
    workers = _workers(url, 2)
    deadline = time.monotonic() + 120
    while len(done := _complete(url)) < 3:
        assert time.monotonic() < deadline, "no trials completed"
        time.sleep(0.2)
    _wait_for_running_trial(url)
    private_postgres["restart"]()
    assert _wait(workers) == [0, 0]
    trials = _trials(url)
    after = {t.number: t.value for t in trials if t.state == TrialState.COMPLETE}
    assert done.items() <= after.items(), "a trial finished before the restart was lost"
    counts = SlotCounts.of(trials)
    assert counts.finished == 12 and counts.running == counts.waiting == 0


def _complete(url: str) -> dict[int, float]:
    return {t.number: t.value for t in _trials(url) if t.state == TrialState.COMPLETE}


def test_create_and_status_never_print_the_database_password(postgres_url, study_file):
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url).set(password="s3cret-pw")  # trust auth ignores it
    plain = url.render_as_string(hide_password=False)
    created = run_tuner("create", study_file(1), "--storage", plain)
    status = run_tuner("status", "tiny", "--storage", plain)
    missing = run_tuner("status", "nope", "--storage", plain)
    for result in (created, status, missing):
        assert "s3cret-pw" not in result.stdout + result.stderr
    assert created.stdout.strip() == f"study 'tiny' created in {url.render_as_string()}"
    assert ":***@" in missing.stderr


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
def test_a_worker_killed_by_a_signal_makes_tuner_run_fail(tmp_path, study_file):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    command = ["run", study_file(4), "--storage", url, "--workers", "2", "--no-progress"]
    run = subprocess.Popen(
        [sys.executable, "-m", "tuner", *command, "--no-artifacts"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_running_trial(url)
    os.kill(_children(run.pid)[0], signal.SIGKILL)
    _, err = run.communicate(timeout=WORKER_TIMEOUT)
    assert run.returncode == 128 + signal.SIGKILL, err
    assert re.search(r"worker \d was killed by SIGKILL", err), err
    counts = SlotCounts.of(_trials(url))
    assert counts.finished == 4 and counts.running == counts.waiting == 0


@pytest.mark.slow
def test_the_password_is_never_in_sight(postgres_url, tmp_path, monkeypatch):
    from sqlalchemy.engine import make_url

    secret = "s3cret-pw"
    url = make_url(postgres_url).set(password=secret).render_as_string(hide_password=False)
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_study_toml(3, storage=url))
    monkeypatch.setenv("TUNER_ARTIFACTS", str(tmp_path / "artifacts"))
    run = subprocess.Popen(
        [sys.executable, "-m", "tuner", "run", str(path), "--workers", "2", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + WORKER_TIMEOUT
    while run.poll() is None:  # every command line on the machine while the study runs
        assert time.monotonic() < deadline, "tuner run did not finish"
        seen.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)
        time.sleep(0.2)
    out, err = run.communicate()
    assert run.returncode == 0, err
    assert any("tuner worker tiny" in snapshot for snapshot in seen)
    monkeypatch.setenv("TUNER_STORAGE", url)
    status = run_tuner("status", "tiny")
    export = run_tuner("export", "tiny", "--format", "yaml")
    report = run_tuner("report", "tiny", "-o", str(tmp_path / "report"))
    assert status.returncode == export.returncode == report.returncode == 0, report.stderr
    study = optuna.load_study(study_name="tiny", storage=url)
    stored = [
        repr(study.user_attrs),
        repr(study._storage.get_study_system_attrs(study._study_id)),
        *(repr(t.user_attrs) + repr(t.system_attrs) for t in study.get_trials()),
    ]
    files = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != path]
    assert files, "no artifacts or report files were written"
    printed = [out, err, status.stdout, status.stderr, export.stdout, report.stdout]
    for text in [*seen, *printed, *stored]:
        assert secret not in text
    for content in files:
        assert secret.encode() not in content
