"""Benchmark: a claim's database cost at 100, 1,000 and 10,000 trials, and 32 workers' connections.

Method. For each study size N, a study is pre-filled with N COMPLETE trials by a
bulk insert (seconds, where running 10,000 trials through workers would take
far longer), its budget set to N + ``--trials``; then ``--workers`` light
worker processes run the remaining ``--trials`` trials, once against
PostgreSQL directly and once through ``tuner proxy``. A light worker is the
product's slot loop (``tuner.distributed.worker._Slots``: budget lock, claim, Optuna's
``optimize`` for one trial, heartbeats on) with an instant objective and
Optuna's random sampler, both defined here only, so nearly all of a trial's
time is database time. Each worker times, per trial:

- **claim**: the budget claim under the lock (Optuna's stale-trial check, the
  slot counts, the reservation, the next trial's first beat): the work this
  benchmark is about;
- **trial**: everything else of the slot as well: waiting for the lock, and
  Optuna's ``ask`` and ``tell``.

A worker's first trial is left out: Optuna's cache reads the whole study once
per process (with TPE, the product's sampler, every ``ask`` then also builds
its model from all cached trials: CPU, not database, and Optuna's, not the
claim's). Medians over all workers' trials are printed, and each size's ratio
to the smallest.

Then 32 light workers run on one study (direct, then through the proxy) and
the connections to its database (``pg_stat_activity``) are counted every 0.2 s
for 5 s once all 32 have finished a trial; the largest count is printed.

PostgreSQL: ``--url`` (an admin URL; a database is created and dropped per
run), default ``TUNER_TEST_POSTGRES_URL`` or
``postgresql+psycopg://postgres@127.0.0.1:5432/test``. 32 direct workers hold
about 100 connections: the server needs ``max_connections`` above that.

Usage: .venv/bin/python benchmarks/claims.py [--url URL] [--sizes 100 1000 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url

ADMIN = os.environ.get(
    "TUNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
STUDY = """
name = "claims"
trials = 1
[data]
series = "shampoo"
[search]
epochs = [10]
neurons = [1]
"""


def light_worker(name: str, url: str, index: int, report: str) -> None:
    """Run slots of study ``name`` with an instant objective until the budget is met."""
    import optuna

    from tuner.distributed import worker
    from tuner.search.studyfile import parse_study_text
    from tuner.storage.database import Heartbeat, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    claims: list[float] = []

    class Instant:
        space = None
        trials_per_graph = 1

        def run_pack(self, trials: list[optuna.Trial]) -> list[float]:
            return [trial.suggest_float("x", 0.0, 1.0) for trial in trials]

    class TimedSlots(worker._Slots):
        def _claim(self) -> tuple[worker._Claim, int]:
            started = time.perf_counter()
            claim = super()._claim()
            claims.append(time.perf_counter() - started)
            return claim

    storage = open_storage(url, Heartbeat(10, 30, 3))
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=index)
    )
    slots = TimedSlots(study, storage, url, parse_study_text(STUDY), Instant())
    timed: list[tuple[float, float]] = []
    while True:
        started = time.perf_counter()
        (claim, *_) = slots.run_one()
        if claim == worker._Claim.DONE:
            break
        if claim == worker._Claim.WAIT:
            time.sleep(0.05)
            continue
        timed.append((claims[-1], time.perf_counter() - started))
        if len(timed) == 1:
            Path(f"{report}.ready").touch()
    Path(report).write_text(json.dumps(timed[1:]))


def create(url: str, name: str, finished: int, budget: int) -> None:
    """A study of ``finished`` COMPLETE trials, inserted in bulk, with room for ``budget``."""
    import optuna
    from optuna.distributions import FloatDistribution, distribution_to_json
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    study = optuna.create_study(study_name=name, storage=url)
    study.set_user_attr("budget", budget)
    trials = models.TrialModel.__table__
    now = datetime.now()
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    with engine.begin() as connection:
        if not finished:
            return
        connection.execute(
            sqlalchemy.insert(trials),
            [
                {
                    "number": number,
                    "study_id": study._study_id,
                    "state": TrialState.COMPLETE,
                    "datetime_start": now,
                    "datetime_complete": now,
                }
                for number in range(finished)
            ],
        )
        ids = connection.execute(
            sqlalchemy.select(trials.c.trial_id).where(trials.c.study_id == study._study_id)
        ).scalars()
        rows = [(trial_id, random.random()) for trial_id in ids]
        finite = models.TrialValueModel.TrialValueType.FINITE
        distribution = distribution_to_json(FloatDistribution(0.0, 1.0))
        for model, record in (
            (
                models.TrialValueModel,
                lambda i, x: {"trial_id": i, "objective": 0, "value": x, "value_type": finite},
            ),
            (
                models.TrialParamModel,
                lambda i, x: {
                    "trial_id": i,
                    "param_name": "x",
                    "param_value": x,
                    "distribution_json": distribution,
                },
            ),
            (
                models.TrialUserAttributeModel,
                lambda i, x: {"trial_id": i, "key": "reserved", "value_json": "true"},
            ),
        ):
            connection.execute(sqlalchemy.insert(model.__table__), [record(i, x) for i, x in rows])


@contextmanager
def proxy_for(url: str, enabled: bool) -> Iterator[str]:
    """``url``, or the address of a ``tuner proxy`` serving it while the block runs."""
    if not enabled:
        yield url
        return
    from tests.helpers.commands import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tuner", "proxy", "--storage", url, "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        process.stdout.readline()  # its ready line
        yield f"grpc://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait()


def start_workers(name: str, url: str, count: int, scratch: Path) -> list[tuple]:
    reports = [scratch / f"{name}-{index}.json" for index in range(count)]
    return [
        (
            subprocess.Popen(
                [sys.executable, __file__, "--worker", name, url, str(index), str(report)]
            ),
            report,
        )
        for index, report in enumerate(reports)
    ]


def claim_costs(url: str, size: int, proxied: bool, args: argparse.Namespace, scratch: Path):
    """Median claim and trial seconds of the measured trials at study size ``size``."""
    name = f"claims-{size}-{'proxy' if proxied else 'direct'}"
    create(url, name, size, size + args.trials)
    with proxy_for(url, proxied) as storage:
        workers = start_workers(name, storage, args.workers, scratch)
        if any(process.wait() != 0 for process, _ in workers):
            raise SystemExit("a worker failed")
    timed = [row for _, report in workers for row in json.loads(report.read_text())]
    return statistics.median(c for c, _ in timed), statistics.median(t for _, t in timed)


def connections_held(url: str, proxied: bool, scratch: Path) -> int:
    """The most connections to the database while 32 light workers run."""
    name = f"connections-{'proxy' if proxied else 'direct'}"
    create(url, name, 0, 10**9)
    database = make_url(url).database
    counting = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    query = sqlalchemy.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
    )
    with proxy_for(url, proxied) as storage:
        workers = start_workers(name, storage, 32, scratch)
        try:
            deadline = time.monotonic() + 600
            while not all(Path(f"{report}.ready").exists() for _, report in workers):
                if time.monotonic() > deadline:
                    raise SystemExit("32 workers did not all start within 10 minutes")
                time.sleep(0.5)
            counts = []
            with counting.connect() as connection:
                for _ in range(25):
                    counts.append(connection.execute(query, {"d": database}).scalar_one())
                    time.sleep(0.2)
        finally:
            for process, _ in workers:
                process.kill()
                process.wait()
    counting.dispose()
    return max(counts)


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=ADMIN, help="PostgreSQL admin URL")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--trials", type=int, default=100, help="trials measured per size (100)")
    parser.add_argument("--workers", type=int, default=4, help="light workers per size (4)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, url, index, report = args.worker
        light_worker(name, url, int(index), report)
        return
    sys.path.insert(0, str(Path(__file__).parent.parent))
    rows = {}
    held = {}
    from workers import postgres_database

    with postgres_database(args.url) as url, tempfile.TemporaryDirectory() as scratch:
        if url is None:
            raise SystemExit(1)
        for size in args.sizes:
            for proxied in (False, True):
                rows[size, proxied] = claim_costs(url, size, proxied, args, Path(scratch))
        for proxied in (False, True):
            held[proxied] = connections_held(url, proxied, Path(scratch))
    print(
        f"\nmedian ms per trial, {args.trials} trials by {args.workers} light workers at each "
        "study size (x: against the smallest size)"
    )
    titles = ("claim", "x", "trial", "x", "claim proxy", "x", "trial proxy", "x")
    print(f"{'trials':>8}" + "".join(f"{title:>12}" for title in titles))
    first = args.sizes[0]
    for size in args.sizes:
        cells = []
        for proxied in (False, True):
            for column in (0, 1):
                value, base = rows[size, proxied][column], rows[first, proxied][column]
                cells += [f"{value * 1000:>12.1f}", f"{value / base:>12.2f}"]
        print(f"{size:>8,}" + "".join(cells))
    print(
        f"\nPostgreSQL connections held by 32 workers: {held[False]} directly, "
        f"{held[True]} through tuner proxy ({held[False] / max(held[True], 1):.0f}x fewer)"
    )


if __name__ == "__main__":
    main()
