"""Studies with real worker processes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import run_tuner
from tuner.service import SlotCounts
from tuner.space import TUTORIAL_CONFIGURATION

TINY_STUDY = """
name = "tiny"
trials = {trials}
repeats = 2
[data]
series = "shampoo"
train_size = 20
[search]
epochs = [5, 1000]
neurons = [1]
batch_size = [4]
regimes = ["seeded", "reset_epoch"]
[pruner]
enabled = false
[workers]
heartbeat_interval = 1
grace_period = 3
max_retry = 2
"""

WORKER_TIMEOUT = 240


@pytest.fixture
def study_file(tmp_path):
    def write(trials: int) -> str:
        path = tmp_path / "tiny.toml"
        path.write_text(TINY_STUDY.format(trials=trials))
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
        assert "Traceback" not in err, err
    return [process.returncode for process in processes]


def _trials(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="tiny", storage=url).get_trials()


def _wait_for_running_trial(url: str, seconds: float = 60) -> optuna.trial.FrozenTrial:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        running = [t for t in _trials(url) if t.state == TrialState.RUNNING]
        if running:
            time.sleep(1.5)  # past the first heartbeat, and the trial's params are sampled
            return _trials(url)[running[0].number]
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
            assert attrs["persistence_rmse"] == pytest.approx(136.76131884905664)
            assert attrs["skill"] == pytest.approx(1 - trial.value / attrs["persistence_rmse"])
            assert {"std", "min", "median", "max", "seconds", "engine", "versions", "seed"} <= set(
                attrs
            )


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


def test_sigterm_fails_the_running_trial_and_queues_it_again(tmp_path, study_file):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    assert run_tuner("create", study_file(4), "--storage", url).returncode == 0
    (worker,) = _workers(url, 1)
    stopped = _wait_for_running_trial(url)
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 130
    assert err.strip().endswith("tuner worker: interrupted")
    trials = _trials(url)
    assert trials[stopped.number].state == TrialState.FAIL
    (again,) = [t for t in trials if t.system_attrs.get("failed_trial") == stopped.number]
    assert again.state == TrialState.WAITING


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
    assert report["persistence_rmse"] == pytest.approx(136.76131884905664)
    best = min(t.value for t in _trials(url) if t.state == TrialState.COMPLETE)
    assert report["best_value"] == pytest.approx(best)


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
    with open(path, "a") as handle:
        handle.write("\n[sampler]\nn_startup_trials = 3\n")
    result = run_tuner("create", path, "--storage", url)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "with a different study file" in result.stderr


def test_an_unreachable_database_names_host_and_port_and_masks_the_password():
    result = run_tuner(
        "status", "tiny", "--storage", "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/test"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("tuner status: error: cannot reach the database at 127.0.0.1:1")
    assert "postgres:***@127.0.0.1:1/test" in result.stderr
    assert "hunter2" not in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "is not a database URL; expected sqlite:///"),
        ("mysql://root:pw@localhost/x", "uses 'mysql'; supported: sqlite, postgresql"),
    ],
)
def test_malformed_or_unsupported_urls_are_refused(url, expected):
    result = run_tuner("status", "tiny", "--storage", url)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "pw" not in result.stderr


def test_a_bad_study_file_is_one_line_through_the_cli(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(TINY_STUDY.format(trials=0))
    result = run_tuner("create", str(path), "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2
    assert result.stderr == (
        f"tuner create: error: {path}: trials must be an integer >= 1; got 0\n"
    )
