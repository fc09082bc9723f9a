"""What the commands print: a study's status, an evaluation, a forecast, as plain text.

Imported by a command once it has its result, so the heavy modules it names are
loaded by then.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from tuner.evaluation.metrics import (
    METRIC_LABELS,
    METRICS,
    OBJECTIVE_LABELS,
    objective_metric,
    skill,
)
from tuner.search.choice import CANDIDATES, choice_line
from tuner.search.findings import NO_HOLDOUT

if TYPE_CHECKING:
    import pandas as pd

    from tuner.evaluation.runner import Evaluation
    from tuner.forecasting.refit import Forecast
    from tuner.search.panel_status import PanelStatus
    from tuner.search.status import StudyStatus

__all__ = [
    "baselines_text",
    "evaluation_text",
    "forecast_text",
    "panel_status_text",
    "status_text",
]


def panel_status_text(status: PanelStatus) -> str:
    """The panel's trials, its aggregate over series, then one line per series."""
    lines = [
        f"panel {status.name!r}: {len(status.series)} series, {status.finished} of "
        f"{status.budget} trials finished",
    ]
    if status.means:
        lines.append(f"holdout, mean over the {status.compared_over} series every method scored:")
        headers, rows = status.means_rows()
        lines.append(tabulate(rows, headers=headers, floatfmt=".3f"))
        wins = ", ".join(f"{name} {count}" for name, count in status.lstm_wins.items())
        lines.append(f"LSTM's holdout sMAPE lower than, on that many series: {wins}")
    if status.chosen:
        lines.append(f"chosen on validation: {status.chosen_counts()}")
    headers, rows = status.series_rows()
    lines.append(tabulate(rows, headers=headers, disable_numparse=True))
    return "\n".join(lines)


def status_text(status: StudyStatus) -> str:
    """Counts, then the findings: holdout scores first, validation beside them, baselines."""
    counts = status.counts
    lines = [
        f"study {status.name!r}: {counts.finished} of {status.budget} trials finished "
        f"({counts.complete} complete, {counts.pruned} pruned, {counts.failed} failed; "
        f"{counts.running} running, {counts.waiting} waiting, {counts.retried} retried)",
    ]
    label = OBJECTIVE_LABELS[status.objective]
    metric = objective_metric(status.objective)
    for row in status.confirmed:
        lines.append(f"confirmed trial {row['trial']}: {_confirmed_scores(row, status.objective)}")
    if status.best_value is not None:
        params = " ".join(f"{key}={value}" for key, value in status.best_params.items())
        lines.append(
            f"best validation {label} {status.best_value:.3f} (skill "
            f"{_number(skill(status.best_value, status.persistence_validation))} vs persistence, "
            f"{_number(skill(status.best_value, status.best_baseline_validation))} vs the "
            f"best baseline): {params}"
        )
        if not status.holdout:
            lines.append(NO_HOLDOUT)
        elif not status.confirmed:
            lines.append("not confirmed on the holdout yet: 'tuner confirm' does it")
    if status.choice is not None:
        lines += _choice_lines(status.choice)
    lines.append(f"validation RMSE of persistence {status.persistence_rmse:.3f}")
    for row in status.baselines:
        scores = f"validation {METRIC_LABELS[metric]} {_number(row[f'validation_{metric}'])}"
        if status.holdout:
            scores += f", holdout {_number(row[f'holdout_{metric}'])}"
        reason = f" (not available: {row['reason']})" if row["reason"] else ""
        lines.append(f"baseline {row['baseline']}: {scores}{reason}")
    if status.trials_per_minute is not None:
        lines.append(f"throughput {status.trials_per_minute:.1f} trials per minute")
    return "\n".join(lines)


def _confirmed_scores(row: dict[str, object], objective: str) -> str:
    """A confirmed configuration's holdout score under the objective, the other beside it.

    The other is the same metric of the ensemble for a mean objective, and of the
    mean for an ensemble one.
    """
    label = OBJECTIVE_LABELS[objective]
    kind, metric = objective.split("_", 1)
    other = "ensemble" if kind == "mean" else "mean"
    holdout = row["holdout_rmse"]
    scores = (
        "n/a"
        if holdout is None
        else f"{holdout:.3f} (std of the repeats' RMSEs {_number(row['holdout_std'])}; "
        f"{OBJECTIVE_LABELS[f'{other}_{metric}']} {_number(row[f'holdout_{other}'])})"
    )
    coverage = row.get("holdout_coverage") or {}
    covered = "".join(
        f", {level}% interval covered {value:.0%} of the holdout"
        for level, value in coverage.items()  # type: ignore[union-attr]
    )
    return f"holdout {label} {scores}, validation {label} {row['validation_rmse']:.3f}{covered}"


def _choice_lines(choice: dict[str, object]) -> list[str]:
    """The chosen forecaster, then every candidate's validation and holdout scores.

    How the LSTM was scored on validation is said (cross-fitted, or its best
    trial's own score), since it differs from the best validation score above it.
    """
    validation, holdout = choice["validation"], choice["holdout"]
    # a choice stored before the classical mean was a candidate has no score for it
    scores = ", ".join(
        f"{name} {_number(validation.get(name))}/{_number(holdout.get(name))}"  # type: ignore[attr-defined]
        for name in CANDIDATES
    )
    scored = choice.get("lstm_validation")
    how = f"LSTM validation {scored}; " if scored else ""
    return [
        f"choice: {choice_line(choice)}",
        f"  candidates, validation/holdout {METRIC_LABELS[choice['metric']]} "  # type: ignore[index]
        f"({how}combination: LSTM and {choice['combined_with']}): {scores}",
    ]


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def baselines_text(table: pd.DataFrame) -> str:
    """Every baseline's scores, one line each; a baseline without scores says why."""
    rows = [
        [
            row.baseline,
            *(_number(_finite(getattr(row, metric))) for metric in METRICS),
            row.reason or "",
        ]
        for row in table.itertuples(index=False)
    ]
    headers = ["baseline", *(METRIC_LABELS[m] for m in METRICS), "why not scored"]
    if not any(row[-1] for row in rows):
        rows, headers = [row[:-1] for row in rows], headers[:-1]
    return tabulate(rows, headers=headers, disable_numparse=True, colalign=("left",))


def _finite(value: float) -> float | None:
    """``value``, or ``None`` for a table's NaN (a baseline with no score)."""
    return None if math.isnan(value) else value


def forecast_text(result: Forecast, output: Path) -> str:
    """What was refitted on which data, the forecast's mean and spread, and the files."""
    fitted = result.refit
    series = fitted.series
    table = result.table()
    table = table[["date", "mean", *(c for c in table if c[:3] in ("lo-", "hi-")), "q05", "q95"]]
    return "\n".join(
        [
            f"refitted {fitted.config.repeats} repeat(s) on {fitted.n_rows} rows of "
            f"{series.name} ({len(series)} observations, {result.new_observations} new since "
            "the export)",
            table.to_string(index=False, float_format=lambda value: f"{value:.3f}"),
            *_interval_notes(result),
            f"wrote {output}: forecast.csv, forecast.png, preparation.json and "
            f"{len(fitted.weights)} Keras model(s)",
        ]
    )


def _interval_notes(result: Forecast) -> list[str]:
    """What the prediction intervals rest on, and the levels too few origins cannot promise."""
    from tuner.evaluation.intervals import origins_needed

    if not result.intervals:
        return ["no prediction intervals: the export holds no validation residuals"]
    origins = result.calibration_origins
    notes = [f"prediction intervals: conformal, on the residuals of {origins} validation origin(s)"]
    for level in sorted(result.intervals):
        if origins < origins_needed(level):
            notes.append(
                f"  the {level}% interval needs {origins_needed(level)} origins to promise "
                f"{level}% coverage; with {origins} it is the largest residual ([data] origins)"
            )
    return notes


def _metrics_line(evaluation: Evaluation) -> str:
    """Every metric of the repeats (mean) and of their ensemble, and the protocol scored."""
    scoring = evaluation.config.scoring
    protocol = (
        f"{scoring.horizon}-step forecasts from {scoring.origins} origin(s)"
        if scoring.recursive
        else "one step ahead"
    )
    metrics = evaluation.metrics
    parts = [
        f"{METRIC_LABELS[metric]} {_number(metrics[f'mean_{metric}'])}/"
        f"{_number(metrics[f'ensemble_{metric}'])}"
        for metric in METRIC_LABELS
    ]
    return f"mean/ensemble     {', '.join(parts)}  ({protocol})"


def evaluation_text(evaluation: Evaluation) -> str:
    """The configuration, its repeats' RMSE summary, the ensemble, persistence and skill."""
    config = evaluation.config.to_dict()
    settings = " ".join(f"{key}={value}" for key, value in config.items() if value is not None)
    rows = [
        f"{key:<8}{value:>12.0f}" if key == "count" else f"{key:<8}{value:>12.3f}"
        for key, value in evaluation.summary.items()
        if value is not None
    ]
    skill = evaluation.skill
    return "\n".join(
        [
            settings,
            f"test RMSE over {evaluation.config.repeats} repeats:",
            *rows,
            f"ensemble RMSE     {evaluation.ensemble_rmse:.3f}  (of the repeats' mean forecast)",
            _metrics_line(evaluation),
            f"persistence RMSE  {evaluation.persistence_rmse:.3f}",
            f"skill             {'n/a' if skill is None else f'{skill:.3f}'}"
            "  (1 - mean / persistence; above 0 beats persistence)",
            f"wall time         {evaluation.seconds:.1f} s",
        ]
    )
