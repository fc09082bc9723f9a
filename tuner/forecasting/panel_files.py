"""What a panel's forecast leaves behind: one long table, one picture, and what they are.

A panel's forecast directory holds ``forecast.csv`` (every series: ``unique_id``,
``ds``, ``forecast`` and its intervals from the forecaster each series chose,
``lstm`` and its intervals beside it, ``chosen``), ``forecast.png`` (a few series
drawn) and ``panel.json``, which marks the directory as one, so that a later
forecast replaces it whole and nothing else is ever replaced
(tuner.forecasting.directories). The models of each series stay in its study:
``tuner forecast --study PANEL.ID -o DIR`` writes them for one series.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from tuner.data.series import Series
from tuner.forecasting.chosen import CHOSEN
from tuner.forecasting.directories import OutputKind, check_output, replace_directory
from tuner.outputs.plots import save_panel_plot

__all__ = ["PANEL_FORECAST", "check_panel_output", "write_panel_forecast"]

PANEL_FILE = "panel.json"
PANEL_FORECAST = OutputKind(
    "panel forecast", PANEL_FILE, re.compile(r"forecast\.csv|forecast\.png|panel\.json")
)
"""A panel's forecast directory: marked by ``panel.json``, holding these names only."""


def check_panel_output(directory: str | Path) -> Path:
    """Refuse, before any work, a directory a panel's forecast must not or cannot replace.

    Raises:
        ConfigError: See :func:`tuner.forecasting.directories.check_output`.
    """
    return check_output(directory, PANEL_FORECAST)


def write_panel_forecast(
    panel: str, forecast: pd.DataFrame, histories: Mapping[str, Series], directory: str | Path
) -> Path:
    """Write a panel's forecast into ``directory``, all or nothing.

    Raises:
        ConfigError: ``directory`` is refused, or cannot be written.
    """

    def write(staging: Path) -> None:
        forecast.to_csv(staging / "forecast.csv", index=False)
        save_panel_plot(histories, forecast, staging / "forecast.png")
        record = {
            "kind": "lstm-tuner panel forecast",
            "panel": panel,
            "series": len(histories),
            "horizon": int(forecast.groupby("unique_id").size().max()),
            "chosen": forecast.drop_duplicates("unique_id")[CHOSEN].value_counts().to_dict(),
        }
        (staging / PANEL_FILE).write_text(json.dumps(record, indent=2) + "\n")

    return replace_directory(directory, PANEL_FORECAST, write)
