"""``tuner run``'s pool of worker processes, in-process: signals, exit statuses, threads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest


def test_exit_status_never_hides_a_failure_behind_a_success():
    from tuner.distributed.pool import exit_status

    assert exit_status([0, 0]) == 0
    assert exit_status([0, -signal.SIGKILL]) == 137
    assert exit_status([2, 0]) == 2
    assert exit_status([-signal.SIGTERM, 2]) == 143


def test_a_signal_while_tuner_run_loads_its_study_still_stops_every_worker(monkeypatch):
    """SIGINT landing after the workers started but before the poll loop stops them all."""
    from tuner.distributed import pool

    started: list[subprocess.Popen] = []
    popen = subprocess.Popen

    def sleeper(command, env):
        process = popen([sys.executable, "-c", "import time; time.sleep(60)"])
        started.append(process)
        return process

    def interrupted_load(**kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return object()

    monkeypatch.setattr(pool.subprocess, "Popen", sleeper)
    monkeypatch.setattr(pool.optuna, "load_study", interrupted_load)
    monkeypatch.setattr(pool, "open_storage", lambda url: None)
    monkeypatch.setattr(pool, "studies_named", lambda name, url: [name])
    monkeypatch.setattr(pool, "_report_progress", lambda *args: None)
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.run_local_workers("s", "sqlite://", None, 2, lambda done, total: None)
        assert [process.poll() for process in started] == [-signal.SIGTERM] * 2
    finally:
        for process in started:
            process.kill()
            process.wait()


def test_tuner_run_gives_each_worker_its_share_of_the_cores(monkeypatch):
    """TensorFlow's pools default to every core in every process: N workers would oversubscribe."""
    from tuner.distributed import pool

    environments: list[dict[str, str]] = []
    popen = subprocess.Popen

    def record(command, env):
        environments.append(env)
        return popen([sys.executable, "-c", "pass"])

    monkeypatch.setattr(pool.subprocess, "Popen", record)
    monkeypatch.setattr(pool.optuna, "load_study", lambda **kwargs: object())
    monkeypatch.setattr(pool, "open_storage", lambda url: None)
    monkeypatch.setattr(pool, "studies_named", lambda name, url: [name])
    monkeypatch.setattr(pool, "_report_progress", lambda *args: None)
    monkeypatch.setattr(pool.os, "cpu_count", lambda: 8)
    for name in pool.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    pool.run_local_workers("s", "sqlite://", None, 3, lambda done, total: None)
    assert [env["TF_NUM_INTRAOP_THREADS"] for env in environments] == ["2"] * 3
    assert {env["TF_NUM_INTEROP_THREADS"] for env in environments} == {"2"}
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "5")  # the user's own setting wins
    assert pool.threads_per_worker(16) == {
        "TF_NUM_INTRAOP_THREADS": "5",
        "TF_NUM_INTEROP_THREADS": "1",
    }
