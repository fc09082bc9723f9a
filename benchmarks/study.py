"""Benchmark: where a whole study's time goes, with 1 and 2 workers.

Runs the shipped studies (``studies/shampoo.toml`` and ``studies/airline.toml``,
and with ``--only regimes`` the tutorial's regimes sweep, ``studies/tutorials/regimes.toml``;
unchanged but for ``--trials`` and ``--trials-per-graph``) on a fresh SQLite
file with 1 and 2 worker processes, each running ``tuner worker`` instrumented
in this script only. The study is created first and not timed. Every worker reports:

- its wall time, and the part spent importing TensorFlow;
- the time in the fast engine (the fits), and the part of it that built a new
  graph (``compile_seconds``: an engine run that traced counts whole), both
  for the search only;
- the time its main thread spent in the database (statements and commits,
  :func:`workers.time_database_work`);
- the time drawing the trials' plots, and confirming on the holdout (a study
  with a holdout confirms its best configurations once its budget is met).

Printed per run: wall time, finished trials per second, the shares of the
workers' time spent compiling (for the search) and in the database, the database
time per finished trial (flat if a claim's cost is), the per-trial overhead beyond
the fits (worker time less import, fits and confirmation, per finished trial)
and the speed-up in trials per second against one worker. ``--trials N`` replaces
the studies' budgets (``--only shampoo --trials 1000`` is the long run).

``--compile-cache`` runs each study with the workers' persistent XLA cache
(:mod:`tuner.distributed.compile_cache`) in one or more states, each a row: ``cold``, a new
empty directory, as a study's first run finds it (the default); ``warm``, a
directory that an untimed run of the same study and workers filled first, as a
rerun or a later study of the same shape finds it; ``off``, no cache.

Usage: .venv/bin/python benchmarks/study.py [--only shampoo|airline|regimes] [--trials N]
       [--workers 1 2] [--trials-per-graph 1 auto] [--compile-cache cold warm off]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE_STATES = ("cold", "warm", "off")
STUDIES = {
    "shampoo": ROOT / "studies" / "shampoo.toml",
    "airline": ROOT / "studies" / "airline.toml",
    "regimes": ROOT / "studies" / "tutorials" / "regimes.toml",
}


def instrumented_worker(name: str, url: str, index: int, report: str) -> None:
    """Run ``tuner worker`` in this process with timers around its parts; write them."""
    from workers import time_database_work

    spent = {"import": 0.0, "fits": 0.0, "compile": 0.0, "plots": 0.0, "confirm": 0.0}
    wall = time.perf_counter()
    from tuner.distributed.compile_cache import resolve_compile_cache, use_compile_cache
    from tuner.engines import _tensorflow

    use_compile_cache(resolve_compile_cache())  # as `tuner worker` does, before TensorFlow

    _tensorflow.import_tensorflow()
    spent["import"] = time.perf_counter() - wall

    from tuner.cli import main
    from tuner.distributed import worker
    from tuner.engines import FastEngine

    def timed(function, key):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - started

        return run

    engine_run, confirm = FastEngine.run_many, worker.confirm_study
    confirming = []

    def run_engine(self, tasks, progress=None):
        if confirming:  # the confirmation's fits and compiles count as confirmation
            return engine_run(self, tasks, progress)
        results = timed(engine_run, "fits")(self, tasks, progress)
        spent["compile"] += sum(result.compile_seconds for result in results)
        return results

    def confirm_timed(*args, **kwargs):
        confirming.append(True)
        return timed(confirm, "confirm")(*args, **kwargs)

    FastEngine.run_many = run_engine
    worker.save_trial_artifacts = timed(worker.save_trial_artifacts, "plots")
    worker.confirm_study = confirm_timed
    database = time_database_work()
    status = main(["worker", name, "--storage", url, "--worker-index", str(index), "--quiet"])
    spent["db"] = database["seconds"]
    spent["wall"] = time.perf_counter() - wall
    Path(report).write_text(json.dumps(spent))
    sys.exit(status)


def run(
    study: Path, workers: int, trials: int | None, pack: str, scratch: Path, cache: str
) -> dict[str, float]:
    """Create ``study`` in a fresh SQLite file, run ``workers`` workers, return the figures.

    ``cache`` is the workers' ``TUNER_COMPILE_CACHE``: a directory, or ``off``.
    """
    import optuna

    text = study.read_text()
    if trials is not None:
        text = re.sub(r"(?m)^trials = \d+", f"trials = {trials}", text)
    value = '"auto"' if pack == "auto" else pack
    if "[workers]" not in text:
        text += "\n[workers]\n"
    text = re.sub(r"(?m)^\[workers\]$", f"[workers]\ntrials_per_graph = {value}", text)
    study_file = scratch / study.name
    study_file.write_text(text)
    name = re.search(r'(?m)^name = "([^"]+)"', text).group(1)
    url = f"sqlite:///{scratch}/tuner.db"
    tuner = [sys.executable, "-m", "tuner"]
    subprocess.run(
        [*tuner, "create", str(study_file), "--storage", url], check=True, stdout=subprocess.DEVNULL
    )
    reports = [scratch / f"worker-{index}.json" for index in range(workers)]
    from tuner.distributed.pool import threads_per_worker

    # as `tuner run` starts its workers: each with its share of the cores
    env = {
        **os.environ,
        **threads_per_worker(workers),
        "TUNER_ARTIFACTS": str(scratch / "artifacts"),
        "TUNER_COMPILE_CACHE": cache,
    }
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", name, url, str(index), str(report)], env=env
        )
        for index, report in enumerate(reports)
    ]
    if any(process.wait() != 0 for process in processes):
        raise SystemExit("a worker failed")
    wall = time.perf_counter() - started
    parts = [json.loads(report.read_text()) for report in reports]
    total = {key: sum(part[key] for part in parts) for key in parts[0]}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    finished = sum(
        t.state.is_finished() for t in optuna.load_study(study_name=name, storage=url).trials
    )
    searched = total["wall"] - total["import"] - total["confirm"]
    return {
        "wall": wall,
        "per_second": finished / wall,
        "compile": total["compile"] / total["wall"],
        "db": total["db"] / total["wall"],
        "db_per_trial": total["db"] / finished,
        "overhead": (searched - total["fits"]) / finished,
        "plots": total["plots"] / finished,
        "import": total["import"] / workers,
        "confirm": total["confirm"],
        "finished": finished,
    }


def run_with_cache(
    study: Path, workers: int, trials: int | None, pack: str, cache: str
) -> dict[str, float]:
    """:func:`run` with the XLA cache ``cold``, ``warm`` (filled by an untimed run) or ``off``."""
    with tempfile.TemporaryDirectory() as directory:
        if cache == "off":
            return run(study, workers, trials, pack, Path(directory), "off")
        kept = Path(directory) / "xla-cache"
        if cache == "warm":
            with tempfile.TemporaryDirectory() as scratch:
                run(study, workers, trials, pack, Path(scratch), str(kept))
        with tempfile.TemporaryDirectory() as scratch:
            return run(study, workers, trials, pack, Path(scratch), str(kept))


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=sorted(STUDIES), help="one study (default: shampoo and airline)"
    )
    parser.add_argument("--trials", type=int, help="replace the studies' budgets")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="(1 2)")
    parser.add_argument(
        "--trials-per-graph",
        nargs="+",
        default=["auto"],
        help="workers.trials_per_graph settings to run, each a row (default: auto)",
    )
    parser.add_argument(
        "--compile-cache",
        nargs="+",
        choices=CACHE_STATES,
        default=["cold"],
        help="states of the workers' XLA cache to run, each a row (default: cold)",
    )
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, url, index, report = args.worker
        instrumented_worker(name, url, int(index), report)
    header = (
        "pack",
        "cache",
        "workers",
        "trials",
        "wall s",
        "trials/s",
        "compile",
        "DB",
        "DB/trial",
        "overhead",
        "plots",
        "import",
        "confirm",
        "speed-up",
    )
    print("".join(f"{title:>9}" for title in ("study", *header)))
    studies = [args.only] if args.only else ["shampoo", "airline"]
    rows = [
        (study, pack, cache)
        for study in studies
        for pack in args.trials_per_graph
        for cache in args.compile_cache
    ]
    for study, pack, cache in rows:
        single = None
        for workers in args.workers:
            f = run_with_cache(STUDIES[study], workers, args.trials, pack, cache)
            single = single or f["per_second"]
            print(
                f"{study:>9}{pack:>9}{cache:>9}{workers:>9}{f['finished']:>9}{f['wall']:>9.1f}"
                f"{f['per_second']:>9.2f}"
                f"{f['compile']:>9.1%}{f['db']:>9.1%}{f['db_per_trial'] * 1000:>7.1f}ms"
                f"{f['overhead']:>8.2f}s{f['plots']:>8.2f}s"
                f"{f['import']:>8.1f}s{f['confirm']:>8.1f}s{f['per_second'] / single:>9.2f}",
                flush=True,
            )
    print(
        "\npack: workers.trials_per_graph; cache: the workers' XLA cache, new (cold), filled "
        "by an untimed run (warm) or off; speed-up: against 1 worker with the same pack and "
        "cache. compile, DB: shares of the workers' summed wall time; DB/trial: their "
        "database time per finished trial; overhead: worker time per "
        "finished trial beyond the fits, TensorFlow's import and the confirmation (plots, "
        "database, sampling); plots: its drawing part; import: TensorFlow's, per worker; "
        "confirm: refitting the best on the holdout, once per study"
    )


if __name__ == "__main__":
    main()
