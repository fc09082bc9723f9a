"""Benchmark: a study under chaos meets its budget exactly and loses no trial.

Runs the chaos harness (tests/helpers/chaos.py, which tells the chaos steps and
what is counted) at full size: a study of ``--trials`` short trials (default 200)
with ``--workers`` ``tuner worker`` processes (default 4) on a private PostgreSQL
cluster, ``--kills`` SIGKILLs of workers (default 20) and ``--terms`` SIGTERMs
of workers, each replaced as a rollout would (default 10), one every
``--kill-every`` seconds, a SIGSTOP of a worker, a PostgreSQL stop and a
SIGTERMed ``tuner run``. It prints the counts; every count but the budget, the
kills and the SIGTERMs must be 0 (a SIGTERMed worker must exit 130), and
the exit status is 1 when one is not (the logs' error lines are then printed,
and the logs kept), or when a chaos step could not happen because the study
finished first.

A grace period of 3 s is tight: on a machine loaded far beyond its cores (other
test runs beside this one), a live worker's heartbeat thread can miss it and
its trial is failed and retried without any chaos. ``--grace`` raises it.

Usage: .venv/bin/python benchmarks/chaos.py [--trials 200] [--workers 4] [--kills 20]
       [--terms 10] [--kill-every 5] [--seconds 900] [--repeats 1] [--engine keras] [--grace 3]
       [--stall 120] [--seed N] [--keep]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the harness lives in the repository's tests
    sys.path.insert(0, str(ROOT))

from tests.helpers.chaos import GRACE_PERIOD, run_chaos  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark from the command line; 0 when every count is 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="the study's budget (200)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (4)")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of workers (20)")
    parser.add_argument("--terms", type=int, default=10, help="SIGTERMs of workers (10)")
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between steps (5)")
    parser.add_argument("--seconds", type=float, default=900.0, help="limit of the run (900)")
    parser.add_argument("--repeats", type=int, default=1, choices=(1, 2), help="fits per trial")
    parser.add_argument("--engine", default="keras", choices=("keras", "fast"), help="(keras)")
    parser.add_argument("--grace", type=int, default=GRACE_PERIOD, help="grace_period (3 s)")
    parser.add_argument(
        "--stall", type=float, default=120.0, help="give up after so long without progress (120)"
    )
    parser.add_argument("--seed", type=int, help="seeds the choice of victims (random)")
    parser.add_argument("--keep", action="store_true", help="keep the logs even when all is 0")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.workers < 1 or args.kills < 0 or args.terms < 0:
        parser.error("--trials and --workers must be at least 1, --kills and --terms at least 0")
    result = run_chaos(
        args.trials,
        args.workers,
        kills=args.kills,
        terms=args.terms,
        kill_every=args.kill_every,
        seconds=args.seconds,
        repeats=args.repeats,
        engine=args.engine,
        grace=args.grace,
        stall=args.stall,
        seed=args.seed,
        keep=args.keep,
        out=lambda line: print(line, flush=True),
    )
    print(result.report(), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
