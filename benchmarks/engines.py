"""Benchmark: the fast engine against the Keras reference loop, side by side.

Runs the tuning tutorial's configuration (shampoo, batch 4, 1 unit, ``seeded``,
20 training rows) on both engines and prints seconds per repeat-epoch, their
ratio, the wall time of a full 30-repeat 1000-epoch fast trial (cold: compile
included; warm: already compiled, as in a worker's later trials), the same for
airline with batch 1, the peak memory of a process running one fast trial, and a
Mann-Whitney U test between 30 repeats of each engine (independent seeds) that
should not separate them.

Usage: .venv/bin/python benchmarks/engines.py [--keras-epochs 200] [--stat-epochs 100]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys

import numpy as np
from scipy.stats import mannwhitneyu

from tuner.data.preparation import Preparation
from tuner.data.source import DataSource
from tuner.evaluation.config import load_and_prepare
from tuner.evaluation.runner import Evaluation, EvaluationConfig, evaluate
from tuner.method.protocol import Hyperparameters

TUTORIAL = {"batch_size": 4, "neurons": 1, "regime": "seeded"}


def config(data: str, engine: str, epochs: int, repeats: int, seed: int, **hp) -> EvaluationConfig:
    """One evaluation of the benchmark's configurations."""
    batch_size = hp.pop("batch_size")
    return EvaluationConfig(
        source=DataSource(data),
        preparation=Preparation(train_size=hp.pop("train_size", None)),
        hyperparameters=Hyperparameters(epochs=epochs, batch_size=batch_size, **hp),
        repeats=repeats,
        seed=seed,
        engine=engine,
    )


def run(cfg: EvaluationConfig) -> Evaluation:
    return evaluate(load_and_prepare(cfg), cfg)


def per_repeat_epoch(evaluation: Evaluation) -> float:
    cfg = evaluation.config
    return evaluation.seconds / (cfg.repeats * cfg.hyperparameters.epochs)


def row(label: str, evaluation: Evaluation) -> str:
    cfg = evaluation.config
    shape = f"{cfg.repeats} x {cfg.hyperparameters.epochs}"
    return (
        f"{label:<22}{shape:>12}{evaluation.seconds:>10.2f}{per_repeat_epoch(evaluation):>16.2e}"
        f"{evaluation.mean:>11.2f}"
    )


def peak_memory_of_fast_trial() -> float:
    """Peak resident memory (MiB) of a fresh process that runs one 30 x 1000 fast trial."""
    subprocess.run([sys.executable, __file__, "--memory-probe"], check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras-epochs", type=int, default=200, help="epochs timed on keras")
    parser.add_argument("--stat-epochs", type=int, default=100, help="epochs of the U test")
    parser.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shampoo = {**TUTORIAL, "train_size": 20}
    if args.memory_probe:
        run(config("shampoo", "fast", 1000, 30, 1, **shampoo))
        return

    print("shampoo, batch 4, 1 unit, seeded, train size 20")
    print(f"{'run':<22}{'repeats x ep':>12}{'wall s':>10}{'s/repeat-epoch':>16}{'mean RMSE':>11}")
    cold = run(config("shampoo", "fast", 1000, 30, 1, **shampoo))
    warm = run(config("shampoo", "fast", 1000, 30, 2, **shampoo))
    keras = run(config("shampoo", "keras", args.keras_epochs, 1, 1, **shampoo))
    for label, evaluation in (("fast (cold)", cold), ("fast (warm)", warm), ("keras", keras)):
        print(row(label, evaluation))
    reference = per_repeat_epoch(keras)
    print(
        f"ratio keras / fast per repeat-epoch: cold {reference / per_repeat_epoch(cold):,.0f}x, "
        f"warm {reference / per_repeat_epoch(warm):,.0f}x"
    )
    print(
        f"30-repeat 1000-epoch fast trial: {cold.seconds:.2f} s cold, {warm.seconds:.2f} s warm "
        f"(a keras trial at this rate: {reference * 30 * 1000 / 60:.1f} min)"
    )

    airline = {"batch_size": 1, "neurons": 1, "regime": "seeded"}
    airline_cold = run(config("airline", "fast", 1000, 30, 1, **airline))
    airline_warm = run(config("airline", "fast", 1000, 30, 2, **airline))
    print("\nairline, batch 1, 1 unit, seeded, all 130 training rows")
    print(row("fast (cold)", airline_cold))
    print(row("fast (warm)", airline_warm))

    print(
        f"\npeak memory of a process running one fast trial: {peak_memory_of_fast_trial():.0f} MiB"
    )

    epochs = args.stat_epochs
    keras_sample = run(config("shampoo", "keras", epochs, 30, 101, **shampoo)).rmses
    fast_sample = run(config("shampoo", "fast", epochs, 30, 202, **shampoo)).rmses
    test = mannwhitneyu(keras_sample, fast_sample, alternative="two-sided")
    print(
        f"\nMann-Whitney U, 30 repeats x {epochs} epochs each, independent seeds: "
        f"keras mean {np.mean(keras_sample):.2f}, fast mean {np.mean(fast_sample):.2f}, "
        f"U = {test.statistic:.0f}, p = {test.pvalue:.3f} "
        f"({'not separated' if test.pvalue >= 0.05 else 'SEPARATED'} at 5%)"
    )


if __name__ == "__main__":
    main()
