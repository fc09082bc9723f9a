"""The PNGs a user looks at: forecasts against the actual series, errors and their spreads.

Figures are built with matplotlib's object API (no pyplot), so plotting keeps no
global state and a worker can draw after every trial without leaking figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tuner.data.dates import date_label
from tuner.data.series import Series

__all__ = [
    "median_repeat",
    "save_bar_chart",
    "save_box_plot",
    "save_forecast_plot",
    "save_future_plot",
    "save_panel_plot",
    "save_step_plot",
]

HISTORY_SHOWN = 24
"""Observations before the test period drawn for context."""


def median_repeat(rmses: np.ndarray) -> int:
    """Index of the repeat whose RMSE is the median (the lower middle one if even)."""
    return int(np.argsort(rmses, kind="stable")[(len(rmses) - 1) // 2])


def save_forecast_plot(
    series: Series,
    forecasts: np.ndarray,
    rmses: np.ndarray,
    path: Path | BinaryIO,
    starts: Sequence[int] | None = None,
) -> None:
    """Actual vs forecast over the validation window: the ensemble, the median repeat, the range.

    The ensemble (the repeats' mean forecast) is what an ``ensemble_*`` objective
    scores; the median repeat is what one fit gives; the shaded range is all of them.

    Args:
        series: The series the scored window ends.
        forecasts: Each repeat's test forecasts in series units, ``(repeats, points)``.
        rmses: Each repeat's test RMSE (chooses the median repeat).
        path: Where to write the PNG (a file or a binary stream).
        starts: The position in ``series`` of each forecast origin's first point, its
            forecasts consecutive (default: one step ahead over the series' last
            ``points`` observations, the walk-forward's).
    """
    points = forecasts.shape[1]
    starts = list(range(len(series) - points, len(series))) if starts is None else list(starts)
    horizon = points // len(starts)
    start = max(0, starts[0] - HISTORY_SHOWN)
    positions = np.arange(start, len(series))
    middle = median_repeat(rmses)
    figure = Figure(figsize=(7, 3.5))
    axes = figure.subplots()
    axes.plot(positions, series.values[start:], color="black", marker=".", label="actual")
    for origin, first in enumerate(starts if horizon > 1 else [starts[0]]):
        columns = slice(origin * horizon, (origin + 1) * horizon) if horizon > 1 else slice(None)
        steps = np.arange(first, first + horizon) if horizon > 1 else np.array(starts)
        axes.fill_between(
            steps,
            forecasts[:, columns].min(axis=0),
            forecasts[:, columns].max(axis=0),
            alpha=0.25,
            color="C0",
            label=None if origin else f"range of {len(rmses)} repeats",
        )
        axes.plot(
            steps,
            forecasts[middle, columns],
            marker="o",
            color="C1",
            label=None if origin else f"median repeat (RMSE {rmses[middle]:.2f})",
        )
        axes.plot(
            steps,
            forecasts[:, columns].mean(axis=0),
            color="C2",
            linestyle="--",
            label=None if origin else "ensemble (mean of the repeats)",
        )
    axes.axvline(starts[0] - 0.5, color="grey", linestyle=":")
    ticks = positions[:: max(1, len(positions) // 8)]
    axes.set_xticks(ticks, [date_label(series.index[i]) for i in ticks], rotation=30, fontsize=8)
    _label_axes(axes, series)
    axes.set_title(
        f"validation: recursive {horizon}-step forecasts from {len(starts)} origin(s)"
        if horizon > 1
        else "validation: one-step walk-forward forecasts"
    )
    axes.legend(fontsize=8, loc="upper left")
    figure.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.2)
    _save(figure, path)


def save_step_plot(
    by_step: Mapping[str, Sequence[float | None]], metric: str, path: Path | BinaryIO
) -> None:
    """A metric's error at each horizon step, of the repeats (mean) and of their ensemble.

    Args:
        by_step: Every objective's values by step (``Evaluation.by_step``).
        metric: The metric drawn (``rmse``, ``mae``, ``smape`` or ``mase``).
        path: Where to write the PNG.
    """
    figure = Figure(figsize=(5, 3))
    axes = figure.subplots()
    for kind in ("mean", "ensemble"):
        values = [np.nan if v is None else v for v in by_step[f"{kind}_{metric}"]]
        axes.plot(np.arange(1, len(values) + 1), values, marker="o", label=kind)
    axes.set_xlabel("horizon step")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} by horizon step, over the origins")
    axes.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def save_future_plot(
    series: Series, table: pd.DataFrame, path: Path | BinaryIO, history: int = 36
) -> None:
    """The last ``history`` observations, then the mean forecast, its intervals, the repeats.

    Each prediction interval is shaded and labelled as one; the repeats' spread is
    dotted, and labelled as what it is (the initial weights'), not an interval.

    Args:
        series: The series the forecast continues.
        table: The forecast: ``date``, ``mean``, ``q05`` and ``q95`` columns, one row per
            step, and ``lo-L``/``hi-L`` for each interval level ``L``.
        path: Where to write the PNG (a file or a binary stream).
        history: Observations drawn before the forecast, for context.
    """
    past = min(history, len(series))
    steps = len(table)
    positions = np.arange(past + steps)
    labels = [date_label(label) for label in series.index[-past:]] + list(table["date"])
    figure = Figure(figsize=(7, 3.5))
    axes = figure.subplots()
    axes.plot(positions[:past], series.values[-past:], color="black", marker=".", label="observed")
    future = positions[past - 1 :]
    levels = sorted(int(c[3:]) for c in table.columns if c.startswith("lo-"))
    for shade, level in zip((0.15, 0.2, 0.25, 0.3), reversed(levels), strict=False):
        axes.fill_between(
            future[1:],
            table[f"lo-{level}"],
            table[f"hi-{level}"],
            alpha=shade,
            color="C1",
            label=f"{level}% prediction interval (conformal)",
        )
    axes.plot(future[1:], table["q05"], color="C0", linestyle=":", linewidth=1)
    axes.plot(
        future[1:],
        table["q95"],
        color="C0",
        linestyle=":",
        linewidth=1,
        label="5%-95% of the repeats (initial weights, not an interval)",
    )
    axes.plot(
        future,
        np.concatenate([[series.values[-1]], table["mean"]]),
        marker="o",
        markersize=3,
        label="mean forecast",
    )
    axes.axvline(past - 0.5, color="grey", linestyle=":")
    ticks = positions[:: max(1, len(positions) // 8)]
    axes.set_xticks(ticks, [labels[i] for i in ticks], rotation=30, fontsize=8)
    _label_axes(axes, series)
    axes.set_title(f"{Path(series.name).stem}: forecast of the next {steps} steps", fontsize=10)
    axes.legend(fontsize=8, loc="upper left")
    figure.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.2)
    _save(figure, path)


def save_box_plot(rmses: pd.DataFrame, path: Path | BinaryIO, title: str) -> None:
    """Box-and-whisker plot of repeat RMSEs, one box per column (the tutorials' plot)."""
    figure = Figure(figsize=(max(4, 1.4 * rmses.shape[1]), 4))
    axes = figure.subplots()
    columns = [rmses[column].dropna() for column in rmses.columns]
    axes.boxplot(columns)
    for position, values in enumerate(columns, start=1):
        axes.plot(np.full(len(values), position), values, ".", color="grey", alpha=0.6)
    axes.set_xticks(
        range(1, rmses.shape[1] + 1),
        [str(column) for column in rmses.columns],
        rotation=25,
        ha="right",
        fontsize=8,
    )
    axes.set_ylabel("validation RMSE of each repeat")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.subplots_adjust(left=0.18, right=0.97, top=0.9, bottom=0.3)
    _save(figure, path)


def _label_axes(axes: Axes, series: Series) -> None:
    """Name the axes: the date column below, the value column (the series' unit) beside."""
    axes.set_xlabel(series.index.name or "date", fontsize=8)
    axes.set_ylabel(series.value_column)


def save_bar_chart(values: dict[str, float], path: Path | BinaryIO, label: str) -> None:
    """Horizontal bars in the order given, the first at the top (importances, scores best first)."""
    figure = Figure(figsize=(5, 3))
    axes = figure.subplots()
    axes.barh(list(values)[::-1], list(values.values())[::-1])
    axes.set_xlabel(label)
    figure.tight_layout()
    _save(figure, path)


def save_validation_holdout_plot(
    rows: list[dict[str, object]], path: Path | BinaryIO, label: str = "RMSE"
) -> None:
    """Validation score against holdout score of the confirmed configurations.

    ``label`` names the score: the study's objective (``mean RMSE``, ``ensemble sMAPE``...).

    Points on the diagonal scored the same on both windows; a ranking that
    carried over keeps the points in the same order along both axes.
    """
    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.subplots()
    points = [r for r in rows if r["holdout_rmse"] is not None]
    x = [r["validation_rmse"] for r in points]
    y = [r["holdout_rmse"] for r in points]
    axes.scatter(x, y)
    for row, vx, vy in zip(points, x, y, strict=True):
        axes.annotate(
            f"trial {row['trial']}", (vx, vy), fontsize=8, xytext=(3, 3), textcoords="offset points"
        )
    low, high = min(x + y, default=0), max(x + y, default=1)
    axes.plot([low, high], [low, high], linestyle=":", color="grey")
    axes.set_xlabel(f"validation {label} (selected on)")
    axes.set_ylabel(f"holdout {label} (never seen)")
    figure.tight_layout()
    _save(figure, path)


def _save(figure: Figure, path: Path | BinaryIO) -> None:
    """Write a PNG, compressed lightly: plots are drawn after every trial."""
    figure.savefig(path, pil_kwargs={"compress_level": 1})


def save_panel_plot(
    histories: Mapping[str, Series],
    forecast: pd.DataFrame,
    path: Path | BinaryIO,
    shown: int = 4,
    history: int = 36,
) -> None:
    """The first ``shown`` series of a panel, each with its chosen forecast and the LSTM's.

    A panel's forecasts are read from ``forecast.csv``; the picture shows what
    a few of them look like against their series, one panel of the grid each.

    Args:
        histories: Each series, by its id, in the panel's order.
        forecast: The panel's long forecast (``unique_id``, ``forecast``,
            ``forecast-lo-80``/``-hi-80`` where present, ``lstm``, ``chosen``).
        path: Where to write the PNG (a file or a binary stream).
        shown: How many series are drawn.
        history: Observations drawn before each forecast.
    """
    chosen = list(histories)[:shown]
    figure = Figure(figsize=(7, 2.2 * len(chosen)))
    for axes, unique_id in zip(
        figure.subplots(len(chosen), 1, squeeze=False)[:, 0], chosen, strict=True
    ):
        series, rows = histories[unique_id], forecast[forecast["unique_id"] == unique_id]
        past = min(history, len(series))
        future = np.arange(past, past + len(rows))
        axes.plot(
            np.arange(past), series.values[-past:], color="black", marker=".", label="observed"
        )
        if "forecast-lo-80" in rows:
            axes.fill_between(
                future,
                rows["forecast-lo-80"],
                rows["forecast-hi-80"],
                alpha=0.2,
                color="C1",
                label="80% interval",
            )
        axes.plot(
            future,
            rows["forecast"],
            color="C1",
            marker="o",
            label=f"chosen: {rows['chosen'].iloc[0]}",
        )
        axes.plot(future, rows["lstm"], color="C0", linestyle="--", label="LSTM")
        axes.set_title(str(unique_id), fontsize=9)
        axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
