"""Benchmark: warm seconds per trial when k trials share one graph run (a pack).

For the default shampoo and airline studies, each trial padded to the study's
graph shape as :class:`~tuner.search.objective.Objective` pads it (its ``repeats`` the
pruning chunk), this prints the warm (already compiled) seconds per trial when
k = 1, 2, 4 and 8 trials run in one :meth:`FastEngine.run_many` call, and the
ratio to k = 1, for two mixes:

* ``same``: k trials of one mid-range configuration (different seeds), where a
  pack costs its slowest member and nothing is wasted;
* ``mixed``: the first k of 8 configurations sampled at random from the
  study's space (epochs capped by ``--epochs-cap`` to bound the run time),
  where a pack runs to its largest member's counts; beside it, the same k
  trials run one at a time through ``run``.

The first line of each study is a single trial through ``run``: the figure to
hold against the engine before packs (run this file on an older checkout).

Usage: .venv/bin/python benchmarks/packing.py [--epochs-cap 200] [--times 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import optuna

from tuner.data.preparation import PreparedData
from tuner.engines import EngineTask, FastEngine, GraphShape
from tuner.method.protocol import Hyperparameters, repeat_setups
from tuner.search.objective import Objective
from tuner.search.studyfile import load_study_file
from tuner.search.windows import StudyData

STUDIES = Path(__file__).parent.parent / "studies"
PACKS = (1, 2, 4, 8)
MID_RANGE = {
    "shampoo": {"epochs": 300, "neurons": 3, "batch_size": 2, "regime": "seeded", "lag": 1},
    "airline": {"epochs": 200, "neurons": 4, "batch_size": 3, "regime": "seeded", "lag": 2},
}
"""A configuration near the middle of each default study's space (epochs: about the
geometric mean of its log range)."""


def study(name: str) -> tuple[Objective, GraphShape]:
    """The default study's objective and the shape its trials' chunks are padded to."""
    config, _ = load_study_file(STUDIES / f"{name}.toml")
    objective = Objective(StudyData.load(config))
    chunk = -(-config.repeats // (config.pruner.checkpoints if config.pruner.enabled else 1))
    return objective, dataclasses.replace(objective.shape, repeats=chunk)


def task(prepared: PreparedData, hp: Hyperparameters, seed: int, shape: GraphShape) -> EngineTask:
    """One chunk of a trial, padded to ``shape``."""
    setups = repeat_setups(seed, shape.repeats, hp, prepared.preparation.lag)
    return EngineTask(prepared.train, prepared.test, hp, setups, shape=shape)


def mid_range_tasks(objective: Objective, shape: GraphShape, name: str) -> list[EngineTask]:
    """Eight trials of the study's mid-range configuration, with different seeds."""
    settings = dict(MID_RANGE[name])
    lag = settings.pop("lag")
    (prepared,) = [p for key, p in objective.prepared.items() if key.lag == lag]
    hp = Hyperparameters(**settings)
    return [task(prepared, hp, seed, shape) for seed in range(max(PACKS))]


def sampled_tasks(objective: Objective, shape: GraphShape, epochs_cap: int) -> list[EngineTask]:
    """Eight trials sampled at random from the study's space, epochs capped."""
    sampler = optuna.samplers.RandomSampler(seed=0)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.create_study(sampler=sampler)
    tasks = []
    for seed in range(max(PACKS)):
        hp, preparation = objective.space.suggest(trials.ask())
        hp = dataclasses.replace(hp, epochs=min(hp.epochs, epochs_cap))
        tasks.append(task(objective.prepared[preparation], hp, seed, shape))
    return tasks


def warm_seconds(call: Callable[[], object], times: int) -> float:
    """The best of ``times`` timed calls, after one untimed call that compiles."""
    call()
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def packed(engine: FastEngine, tasks: list[EngineTask], k: int) -> Callable[[], object]:
    """The first ``k`` tasks run as one pack of ``k`` trials."""
    pack = [dataclasses.replace(t, shape=dataclasses.replace(t.shape, trials=k)) for t in tasks]
    return lambda: engine.run_many(pack[:k])


def one_by_one(engine: FastEngine, tasks: list[EngineTask], k: int) -> Callable[[], object]:
    """The first ``k`` tasks run one at a time through ``run``."""
    return lambda: [engine.run(t) for t in tasks[:k]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-cap", type=int, default=200, help="epochs of a sampled trial")
    parser.add_argument("--times", type=int, default=3, help="timed calls; the best is kept")
    args = parser.parse_args()
    engine = FastEngine()
    for name in ("shampoo", "airline"):
        objective, shape = study(name)
        same = mid_range_tasks(objective, shape, name)
        mixed = sampled_tasks(objective, shape, args.epochs_cap)
        print(f"\n{name}: {shape}; mid-range trial {MID_RANGE[name]}")
        single = warm_seconds(lambda same=same: engine.run(same[0]), args.times)
        print(f"one trial through run: {single:.3f} s warm")
        print(
            f"{'k':>3}{'same s/trial':>14}{'ratio':>8}"
            f"{'mixed s/trial':>15}{'ratio':>8}{'run one by one':>16}{'pack/one':>10}"
        )
        base_same = base_mixed = 0.0
        for k in PACKS:
            same_seconds = warm_seconds(packed(engine, same, k), args.times) / k
            mixed_seconds = warm_seconds(packed(engine, mixed, k), args.times) / k
            alone = warm_seconds(one_by_one(engine, mixed, k), 1) / k
            base_same, base_mixed = base_same or same_seconds, base_mixed or mixed_seconds
            print(
                f"{k:>3}{same_seconds:>14.3f}{same_seconds / base_same:>8.2f}"
                f"{mixed_seconds:>15.3f}{mixed_seconds / base_mixed:>8.2f}"
                f"{alone:>16.3f}{mixed_seconds / alone:>10.2f}"
            )


if __name__ == "__main__":
    main()
