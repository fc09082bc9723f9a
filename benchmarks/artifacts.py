"""Benchmark: how much saving the trials' plots slows a worker down.

A worker draws two PNGs (forecast vs actual, RMSE box plot) for every COMPLETE
trial and uploads them through Optuna's artifact API before the trial is
stored; the time they took is kept in the trial's ``artifact_seconds``.

This runs ``studies/shampoo.toml`` with a budget of ``--trials``, each time as
one fresh ``tuner worker`` process on a fresh SQLite database with the same
sampler seed (so every run tries the same configurations), alternately saving
the plots and with ``--no-artifacts``, ``--rounds`` times each (run-to-run noise
on a busy machine is several percent). It prints every wall time, the ratio of
the medians, and, from the runs with plots, the median time of a trial's plots
next to the median trial duration and their share of all complete trials' time
(the precise figure: it does not depend on run-to-run noise).

Usage: .venv/bin/python benchmarks/artifacts.py [--trials 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.outputs.artifacts import ARTIFACT_SECONDS

STUDY_FILE = Path(__file__).parent.parent / "studies" / "shampoo.toml"


def tuner(*argv: str) -> None:
    """Run a ``tuner`` command as a user would; stop on failure."""
    subprocess.run([sys.executable, "-m", "tuner", *argv], check=True, capture_output=True)


def run_study(scratch: Path, trials: int, artifacts: bool) -> tuple[float, list[FrozenTrial]]:
    """Wall time of one worker running the whole study, and its complete trials."""
    url = f"sqlite:///{scratch / 'study.db'}"
    tuner("create", str(STUDY_FILE), "--storage", url, "--trials", str(trials))
    plots = ["--artifacts", str(scratch / "artifacts")] if artifacts else ["--no-artifacts"]
    started = time.perf_counter()
    tuner("worker", "shampoo", "--storage", url, "--worker-index", "0", "--quiet", *plots)
    seconds = time.perf_counter() - started
    study = optuna.load_study(study_name="shampoo", storage=url)
    return seconds, study.get_trials(states=(TrialState.COMPLETE,))


def main() -> None:
    """Print the side-by-side figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="the study's budget (30)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each kind (3)")
    args = parser.parse_args()
    seconds: dict[bool, list[float]] = {True: [], False: []}
    params: dict[bool, list[dict]] = {}
    for _ in range(args.rounds):
        for artifacts in (True, False):
            with tempfile.TemporaryDirectory() as scratch:
                wall, complete = run_study(Path(scratch), args.trials, artifacts)
            seconds[artifacts].append(wall)
            params[artifacts] = [t.params for t in complete]
            if artifacts:
                waits = [t.user_attrs[ARTIFACT_SECONDS] for t in complete]
                durations = [t.duration.total_seconds() for t in complete]
    with_plots, no_plots = (statistics.median(seconds[kind]) for kind in (True, False))
    print(f"studies/shampoo.toml, {args.trials} trials, one worker, SQLite")
    print(f"same configurations in every run: {params[True] == params[False]}")
    print(f"{'':24}{'with plots':>12}{'no plots':>10}")
    for round_ in range(args.rounds):
        print(
            f"{f'wall time, run {round_ + 1} (s)':24}"
            f"{seconds[True][round_]:>12.1f}{seconds[False][round_]:>10.1f}"
        )
    print(f"{'median (s)':24}{with_plots:>12.1f}{no_plots:>10.1f}")
    print(f"slowdown (ratio of medians) {with_plots / no_plots:.3f}")
    print(
        f"plots: median {statistics.median(waits):.3f} s per complete trial, median trial "
        f"{statistics.median(durations):.3f} s (plots included); plots' share of complete "
        f"trials' time {sum(waits) / sum(durations):.1%}"
    )


if __name__ == "__main__":
    main()
