"""Benchmark: scoring at a horizon, what origins cost, and what a 12-step study finds.

Three parts, each printing its figures (docs/guide.md, "Horizons, metrics and intervals"):

* ``cost``: warm (already compiled) seconds per trial of one airline configuration
  scored by 12-step forecasts from 1, 5 and 19 origins, each origin a member of the
  same graph run as the repeats (docs/method.md, section 13), and the ratio to one
  origin; the engine's share and the recursive stepping and scoring beside it.
* ``study``: runs ``studies/airline-horizon.toml`` (12 steps, 10 origins, ranked by
  the ensemble's sMAPE) with two local workers, then prints the confirmed best's
  holdout sMAPE against AutoARIMA's, Theta's and AutoETS's on the same origin, and
  how often its 80% and 95% intervals covered the holdout.
* ``winners``: the study's ten best configurations rescored one step ahead (the
  walk-forward) over the validation window's last 12 months: does the 1-step
  winner win 12 steps ahead? Both winners then forecast the holdout 12 steps ahead.

Usage: .venv/bin/python benchmarks/horizon.py {cost,study,winners} [--storage URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import optuna

from tuner import api
from tuner.data.preparation import Preparation
from tuner.data.source import DataSource
from tuner.engines import GraphShape
from tuner.evaluation.config import EvaluationConfig, load_and_prepare
from tuner.evaluation.runner import evaluate
from tuner.method.protocol import Hyperparameters
from tuner.method.scoring import Scoring
from tuner.search import names
from tuner.search.confirmation import confirmation_seed
from tuner.search.records import study_attrs
from tuner.search.study import complete_trials
from tuner.search.studyfile import load_study_file
from tuner.search.windows import StudyData

STUDY_FILE = Path(__file__).parent.parent / "studies" / "airline-horizon.toml"
CONFIGURATION = Hyperparameters(
    epochs=150, batch_size=1, neurons=4, regime="stateless", learning_rate=0.002
)
"""A configuration from the middle of the study's space."""


def cost(times: int) -> None:
    """Warm seconds per trial at 1, 5 and 19 origins, and their ratio to one."""
    results = {}
    for origins in (1, 5, 19):
        scoring = Scoring(horizon=12, origins=origins, step=1)
        preparation = Preparation(lag=13, test_size=scoring.span, transform="log")
        config = EvaluationConfig(
            DataSource("airline", withheld=12), preparation, CONFIGURATION, 10, 1, scoring=scoring
        )
        prepared = load_and_prepare(config)
        shape = GraphShape(rows=131, lag=24, units=8, batch=1, layers=2, trials=origins)
        evaluate(prepared, config, shape=shape)  # compiles the graph
        walls, engines = [], []
        for _ in range(times):
            started = time.perf_counter()
            evaluation = evaluate(prepared, config, shape=shape)
            walls.append(time.perf_counter() - started)
            engines.append(evaluation.seconds)
        results[origins] = (statistics.median(walls), statistics.median(engines))
    one = results[1][0]
    print("origins  seconds per trial  engine  stepping+scoring  ratio to 1 origin")
    for origins, (wall, engine) in results.items():
        print(
            f"{origins:>7}  {wall:>17.3f}  {engine:>6.3f}  {wall - engine:>16.3f}  {wall / one:.2f}"
        )


def study(storage: str) -> None:
    """Run the 12-step study and compare its confirmed best with the baselines."""
    started = time.perf_counter()
    tuned, status = api.run_study(STUDY_FILE, workers=2, storage=storage, save_artifacts=False)
    if status:
        raise SystemExit(f"the study's workers exited with status {status}")
    print(f"study {tuned.name}: {time.perf_counter() - started:.0f} s, confirmation included")
    attrs = study_attrs(tuned.optuna_study())
    holdout = attrs[names.BASELINES]["holdout"]
    confirmed = attrs[names.CONFIRMATION]["configurations"]
    best = confirmed[0]
    print(
        f"confirmed best (trial {best['trial']}): holdout ensemble sMAPE "
        f"{best['holdout_rmse']:.3f}, validation {best['validation_rmse']:.3f}"
    )
    for name in ("auto_arima", "theta", "auto_ets", "seasonal_naive"):
        print(f"{name}: holdout sMAPE {holdout[name]['metrics']['smape']:.3f}")
    for record in confirmed:
        coverage = ", ".join(f"{k}%: {v:.0%}" for k, v in record["holdout_coverage"].items())
        print(
            f"trial {record['trial']}: holdout ensemble sMAPE {record['holdout_rmse']:.3f}; "
            f"interval coverage {coverage}"
        )


def winners(storage: str) -> None:
    """The study's top ten, rescored one step ahead over the validation window's last year.

    Then both winners forecast the holdout 12 steps ahead, as the confirmation
    scores it (fresh seeds, ``confirm.repeats`` fits): the score a user would get.
    """
    study = optuna.load_study(study_name="airline-horizon", storage=storage)
    config, _ = load_study_file(STUDY_FILE)
    data = StudyData.load(config)
    rows = []
    for trial in complete_trials(study)[:10]:
        searched = EvaluationConfig.from_dict(trial.user_attrs[names.CONFIG])
        one_step = dataclasses.replace(
            searched,
            scoring=Scoring(),
            preparation=dataclasses.replace(searched.preparation, test_size=12),
        )
        evaluation = evaluate(load_and_prepare(one_step), one_step)
        rows.append((trial, evaluation.metrics["ensemble_smape"]))
    scoring = config.data.scoring
    print(f"validation window: {data.windows.labels(data.series.index)['validation']}")
    print(
        f"trial  {scoring.horizon}-step ensemble sMAPE ({scoring.origins} origins)  "
        "1-step ensemble sMAPE (the window's last 12 months)"
    )
    for trial, one in rows:
        print(f"{trial.number:>5}  {trial.value:>35.3f}  {one:>50.3f}")
    by_one = min(rows, key=lambda row: row[1])[0]
    for label, trial in (("12-step winner", rows[0][0]), ("1-step winner", by_one)):
        searched = EvaluationConfig.from_dict(trial.user_attrs[names.CONFIG])
        holdout = dataclasses.replace(
            searched,
            source=dataclasses.replace(searched.source, withheld=0),
            preparation=dataclasses.replace(searched.preparation, test_size=data.holdout),
            scoring=data.holdout_scoring,
            repeats=config.confirm.repeats,
            seed=confirmation_seed(config.seed, trial.number),
        )
        score = evaluate(load_and_prepare(holdout), holdout).metrics["ensemble_smape"]
        print(f"{label}: trial {trial.number}, holdout {scoring.horizon}-step sMAPE {score:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("cost", "study", "winners"))
    parser.add_argument("--storage", default="sqlite:///storage/horizon-benchmark.db")
    parser.add_argument("--times", type=int, default=3, help="warm runs per figure (cost)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.part == "cost":
        cost(args.times)
    elif args.part == "study":
        study(args.storage)
    else:
        winners(args.storage)


if __name__ == "__main__":
    main()
