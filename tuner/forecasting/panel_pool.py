"""Forecasting a panel's series in worker processes, one series a task.

A panel's forecast refits every series' LSTM, and the refits share nothing, so
N processes take about 1/N of the time one takes on N cores. The processes are
spawned, never forked: TensorFlow's threads and locks do not survive a fork.
Each process gets its share of the cores, as local trial workers do
(:func:`tuner.distributed.pool.threads_per_worker`), since N TensorFlows sized
to every core would spend the gain switching threads.

Tasks and their results travel pickled through pipes, never on a command line,
so a database URL given to a task does not show its password to ``ps``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import TypeVar

from tuner.distributed.pool import threads_per_worker

__all__ = ["map_in_processes"]

Result = TypeVar("Result")


def map_in_processes(
    task: Callable[..., Result],
    arguments: Sequence[tuple[object, ...]],
    workers: int,
    on_done: Callable[[Result], None],
) -> list[Result]:
    """``task(*one)`` for each ``one`` of ``arguments``, in ``workers`` spawned processes.

    ``task`` must be a module-level function (the processes import it by name).
    ``on_done`` is called in this process with each result as it arrives, in
    whatever order the tasks finish; the results are returned in the order of
    ``arguments``, so they do not depend on ``workers``.

    Raises:
        Exception: The first failure a task raised, as the task raised it (a
            ``DivergedError`` stays one, with its message); the tasks not yet
            started are cancelled, and those running are waited for.
    """
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_use_environment,
        initargs=(threads_per_worker(workers),),
    )
    try:
        futures = [pool.submit(task, *one) for one in arguments]
        _report(futures, on_done)
    finally:
        pool.shutdown(cancel_futures=True)
    return [future.result() for future in futures]


def _report(futures: list[Future[Result]], on_done: Callable[[Result], None]) -> None:
    """Call ``on_done`` with each result as it arrives; raise the first failure."""
    for future in as_completed(futures):
        on_done(future.result())


def _use_environment(variables: dict[str, str]) -> None:
    """Set ``variables`` in a new process, before its task imports TensorFlow."""
    os.environ.update(variables)
