"""Local worker processes: starting them, stopping them on a signal, and their exit status.

``tuner run`` starts N ``tuner worker`` processes on this machine. They get the
database URL through the ``TUNER_STORAGE`` environment variable, never on their
command line, where ``ps`` would show its password to every user of the machine.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import optuna

from tuner.distributed.stopping import StopRequest
from tuner.search import names
from tuner.search.panel_studies import studies_named
from tuner.storage.database import open_storage
from tuner.storage.failures import connection_lost
from tuner.storage.optuna_internals import storage_of, study_id_of
from tuner.storage.slots import count_slots
from tuner.storage.url import ENVIRONMENT_VARIABLE, DatabaseURL

__all__ = [
    "THREAD_VARIABLES",
    "exit_status",
    "run_local_workers",
    "threads_per_worker",
]

POLL_SECONDS = 1.0
SIGNAL_EXIT_BASE = 128
"""A process killed by signal N exits 128 + N, as shells report it."""

logger = logging.getLogger(__name__)


def exit_status(returncodes: list[int]) -> int:
    """One exit status for many processes: 0 only if every one succeeded.

    A process killed by a signal (a negative return code) counts as 128 + the
    signal's number, so the out-of-memory killer's SIGKILL (137) is never hidden
    behind another process's 0.
    """
    statuses = [SIGNAL_EXIT_BASE - code if code < 0 else code for code in returncodes]
    return max(statuses, default=0)


THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
"""TensorFlow's thread-pool sizes, which it reads from the environment at start-up."""


def threads_per_worker(workers: int) -> dict[str, str]:
    """The environment that gives each of ``workers`` local workers its share of the cores.

    TensorFlow sizes its thread pools to every core of the machine in every process;
    N workers on one machine then run N times the threads there are cores, and
    switching between them costs more than the small graphs of a trial gain from
    threads (docs/benchmarks.md, "Study throughput"). What the user set is kept.
    """
    share = str(max(1, (os.cpu_count() or 1) // workers))
    return {name: os.environ.get(name, share) for name in THREAD_VARIABLES}


def run_local_workers(
    name: str,
    url: DatabaseURL,
    artifacts: Path | None,
    workers: int,
    on_progress: Callable[[int, int], None],
) -> int:
    """Start ``workers`` worker processes on this machine and wait for them.

    The workers save their trials' plots in ``artifacts`` (none if ``None``).
    ``on_progress(finished, budget)`` is called about once a second (for a panel,
    ``name`` is the panel's, and the counts are over all of its studies). SIGINT or
    SIGTERM stops every worker (their running trials end FAIL and are queued
    again), so a later run continues the study.

    Returns:
        The combined exit status of the workers (see :func:`exit_status`); a
        worker that failed or was killed is logged.

    Raises:
        KeyboardInterrupt: SIGINT or SIGTERM arrived; every worker was stopped.
    """
    url = DatabaseURL.of(url)
    command = [sys.executable, "-m", "tuner", "worker", name, "--quiet"]
    command += ["--no-artifacts"] if artifacts is None else ["--artifacts", str(artifacts)]
    environment = {**os.environ, **threads_per_worker(workers), ENVIRONMENT_VARIABLE: url.text}
    # The recording handlers go in before any worker starts, and stay while the
    # workers are stopped: a signal raised in the middle of the loop's database
    # reads, or while the workers end, would leave workers never stopped or waited for.
    with StopRequest().handling() as stop:
        processes = [
            subprocess.Popen([*command, "--worker-index", str(index)], env=environment)
            for index in range(workers)
        ]
        storage = open_storage(url)
        studies = [
            optuna.load_study(study_name=study, storage=storage)
            for study in studies_named(name, url)
        ]
        while any(process.poll() is None for process in processes) and not stop.requested:
            _report_progress(studies, url, on_progress)
            stop.pause(POLL_SECONDS)
        if stop.requested:
            _stop(processes)
            stop.check()
    _report_progress(studies, url, on_progress)
    for index, process in enumerate(processes):
        _log_failure(index, process.returncode)
    return exit_status([process.returncode for process in processes])


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait()


def _log_failure(index: int, returncode: int) -> None:
    if returncode < 0:
        logger.error("worker %d was killed by %s", index, signal.Signals(-returncode).name)
    elif returncode:
        logger.error("worker %d exited with status %d", index, returncode)


def _report_progress(
    studies: list[optuna.Study], url: DatabaseURL, on_progress: Callable[[int, int], None]
) -> None:
    """Pass on the finished count over every study (a panel has many), if the database is up."""
    try:
        finished = sum(
            count_slots(storage_of(study), study_id_of(study)).finished for study in studies
        )
    except Exception as error:  # re-raised unless the connection was lost
        if not connection_lost(url, error):
            raise
        return
    on_progress(finished, sum(study.user_attrs[names.BUDGET] for study in studies))
