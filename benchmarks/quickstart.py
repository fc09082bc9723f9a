"""Benchmark: the README's quick start from a fresh directory, side by side with an older version.

Times the quick start's command, ``tuner run studies/shampoo.toml --workers 2``
(creation, baselines, 60 trials, the confirmation), in a new empty directory,
for this tree and for an older revision (``--against``; by default ffa5ccf of
2026-11-23, the version whose quick start took about 87 s, before a study's
trials shared one compiled graph). The older revision is extracted with ``git
archive`` into a temporary directory and run from there with this environment's
packages, on its own ``studies/shampoo.toml``. Rounds alternate the versions, so
a drift in the machine's load falls on both.

The compile cache (docs/cli.md, "Compiled graphs") is per user, so a
user's first quick start finds it empty and later ones find it filled:
``--cache cold`` gives every run an empty cache directory (``XDG_CACHE_HOME``),
``--cache warm`` one that an untimed run filled first. Both by default.

Prints each run's wall time, then per cache state the median of each version and
their ratio (this tree's time over the older one's).

Usage: .venv/bin/python benchmarks/quickstart.py [--rounds 3] [--against REV]
       [--cache cold warm]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ("run", "studies/shampoo.toml", "--workers", "2", "--no-progress")


def extract(revision: str, into: Path) -> Path:
    """The tree of ``revision``, written into ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def quick_start(tree: Path, cache: Path) -> float:
    """Wall seconds of the quick start of ``tree``, run in a fresh directory with ``cache``."""
    with tempfile.TemporaryDirectory(prefix="quickstart-") as scratch:
        studies = Path(scratch) / "studies"
        studies.mkdir()
        (studies / "shampoo.toml").write_bytes((tree / "studies" / "shampoo.toml").read_bytes())
        environment = {**os.environ, "PYTHONPATH": str(tree), "XDG_CACHE_HOME": str(cache)}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tuner", *COMMAND],
            cwd=scratch,
            env=environment,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - started


def run(rounds: int, against: str, states: list[str]) -> None:
    """Time both versions ``rounds`` times per cache state; print the runs and the ratios."""
    with tempfile.TemporaryDirectory(prefix="quickstart-trees-") as trees:
        versions = {"this tree": ROOT, against: extract(against, Path(trees) / "old")}
        for state in states:
            walls: dict[str, list[float]] = {name: [] for name in versions}
            caches = {name: Path(trees) / f"cache-{state}-{i}" for i, name in enumerate(versions)}
            if state == "warm":
                for name, tree in versions.items():
                    quick_start(tree, caches[name])  # fills the cache, untimed
            for round_number in range(rounds):
                for name, tree in versions.items():
                    cache = caches[name] if state == "warm" else Path(tempfile.mkdtemp(dir=trees))
                    wall = quick_start(tree, cache)
                    walls[name].append(wall)
                    print(f"{state} round {round_number + 1}: {name}: {wall:.1f} s", flush=True)
            new, old = (statistics.median(values) for values in walls.values())
            print(
                f"{state} cache, median of {rounds}: this tree {new:.1f} s, {against} {old:.1f} s, "
                f"ratio {new / old:.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", default="ffa5ccf")
    parser.add_argument("--cache", nargs="+", choices=("cold", "warm"), default=["cold", "warm"])
    args = parser.parse_args()
    run(args.rounds, args.against, args.cache)


if __name__ == "__main__":
    main()
