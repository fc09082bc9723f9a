"""Benchmark: how trial throughput scales with workers, on SQLite and PostgreSQL.

Runs the same small study (shampoo, 40 trials of 10 fits of 200 or 400 epochs
at batch 1, two regimes, pruning off) with 1 and 2 ``tuner worker`` processes on
a fresh SQLite file and a fresh PostgreSQL database, and prints trials per
minute side by side with the speed-up over one worker. Each worker runs
instrumented (SQLAlchemy event hooks, in this script only) and reports the time
its main thread spent talking to the database: executing statements (the budget
lock's included) and committing. That time's share of the worker's wall time is
the last column. Workers get one TensorFlow thread each
(``TF_NUM_INTRAOP_THREADS=1``, as in docker-compose.yml). This machine has 2
cores, so 2 workers is the most that can scale.

PostgreSQL: ``TUNER_TEST_POSTGRES_URL`` or ``postgresql+psycopg://postgres@127.0.0.1:5432/test``
(a database is created and dropped per run).

Usage: .venv/bin/python benchmarks/workers.py [--trials 40]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url

STUDY = """
name = "scaling"
trials = {trials}
repeats = 10
[data]
series = "shampoo"
[search]
epochs = [200, 400]
neurons = [1]
batch_size = [1]
regimes = ["seeded", "reset_epoch"]
[pruner]
enabled = false
"""
POSTGRES = os.environ.get(
    "TUNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def time_database_work() -> dict[str, float]:
    """Hook SQLAlchemy so the returned dict's ``seconds`` sums this thread's database time.

    Statements (the budget lock's included) and commits, on the calling thread only:
    the heartbeat thread's beats overlap the main thread's work and are not counted.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    main_thread = threading.get_ident()
    spent = {"seconds": 0.0}
    started: dict[str, float] = {}

    def begin(key: str) -> None:
        if threading.get_ident() == main_thread:
            started[key] = time.perf_counter()

    def end(key: str) -> None:
        if threading.get_ident() == main_thread and key in started:
            spent["seconds"] += time.perf_counter() - started.pop(key)

    event.listen(Engine, "before_cursor_execute", lambda *a: begin("statement"))
    event.listen(Engine, "after_cursor_execute", lambda *a: end("statement"))
    event.listen(Engine, "commit", lambda *a: begin("commit"))
    event.listen(Session, "after_commit", lambda *a: end("commit"))
    return spent


def instrumented_worker(name: str, url: str, index: int, report: str) -> None:
    """Run ``tuner worker`` in this process, timing the main thread's database work."""
    from tuner.cli import main

    spent = time_database_work()
    wall = time.perf_counter()
    status = main(["worker", name, "--storage", url, "--worker-index", str(index), "--quiet"])
    wall = time.perf_counter() - wall
    Path(report).write_text(json.dumps({"db": spent["seconds"], "wall": wall}))
    sys.exit(status)


def run(url: str, workers: int, trials: int, scratch: Path) -> dict[str, float]:
    """Create the study at ``url``, run ``workers`` workers, return the figures."""
    study_file = scratch / "scaling.toml"
    study_file.write_text(STUDY.format(trials=trials))
    tuner = [sys.executable, "-m", "tuner"]
    subprocess.run([*tuner, "create", str(study_file), "--storage", url], check=True)
    reports = [scratch / f"worker-{index}.json" for index in range(workers)]
    env = {
        **os.environ,
        "TUNER_ARTIFACTS": str(scratch / "artifacts"),
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
    }
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", "scaling", url, str(index), str(report)],
            env=env,
        )
        for index, report in enumerate(reports)
    ]
    if any(process.wait() != 0 for process in processes):
        raise SystemExit("a worker failed")
    wall = time.perf_counter() - started
    figures = [json.loads(report.read_text()) for report in reports]
    share = sum(f["db"] for f in figures) / sum(f["wall"] for f in figures)
    return {"wall": wall, "per_minute": trials / wall * 60, "db_share": share}


@contextmanager
def postgres_database(admin_url: str = POSTGRES) -> Iterator[str | None]:
    """A fresh PostgreSQL database URL on ``admin_url``'s server, dropped afterwards.

    None (with a message) if no server answers.
    """
    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"tuner_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError as error:
        print(f"PostgreSQL skipped: {str(error.orig).splitlines()[0]}")
        yield None
        return
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="the study's budget (40)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, url, index, report = args.worker
        instrumented_worker(name, url, int(index), report)
    rows = []
    for backend in ("sqlite", "postgresql"):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as scratch:
                if backend == "sqlite":
                    figures = run(f"sqlite:///{scratch}/s.db", workers, args.trials, Path(scratch))
                else:
                    with postgres_database() as url:
                        if url is None:
                            continue
                        figures = run(url, workers, args.trials, Path(scratch))
            rows.append((backend, workers, figures))
    print(f"\n{args.trials} trials of 10 fits (shampoo, batch 1, 200-400 epochs), one study")
    header = ("workers", "wall s", "trials/min", "speed-up", "DB share")
    print(f"{'backend':<11}" + "".join(f"{title:>11}" for title in header))
    single = {backend: f["per_minute"] for backend, workers, f in rows if workers == 1}
    for backend, workers, f in rows:
        print(
            f"{backend:<11}{workers:>11}{f['wall']:>11.1f}{f['per_minute']:>11.1f}"
            f"{f['per_minute'] / single[backend]:>11.2f}{f['db_share']:>11.1%}"
        )


if __name__ == "__main__":
    main()
