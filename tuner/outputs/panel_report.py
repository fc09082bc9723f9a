"""A panel's report: where the LSTM earned its cost across the series, in Markdown.

One study's report (tuner.outputs.report) asks whether its winner beats the
runners-up; a panel's asks how the LSTM, the classical methods and the choice
between them did over many series, on the holdouts the searches never saw
(docs/method.md, section 16), and lists each series' choice.
"""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from tuner.exceptions import ConfigError
from tuner.search.panel_status import PanelStatus

__all__ = ["panel_report_markdown", "write_panel_report"]


def write_panel_report(status: PanelStatus, directory: Path) -> Path:
    """Write ``report.md`` for the panel into ``directory``.

    Raises:
        ConfigError: ``directory`` cannot be created or written.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "report.md"
        path.write_text(panel_report_markdown(status), encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"cannot write the report to {str(directory)!r}: {error.strerror}"
        ) from None
    return path


def panel_report_markdown(status: PanelStatus) -> str:
    """The panel's aggregate, choices and wins, then a table of every series."""
    parts = [
        f"# Panel {status.name}",
        f"{len(status.series)} series; {status.finished} of {status.budget} trials finished.",
    ]
    if status.means:
        parts.append(
            f"## Holdout, mean over the {status.compared_over} series every method scored\n\n"
            + _means_table(status)
        )
        wins = ", ".join(f"{name} on {count}" for name, count in status.lstm_wins.items())
        parts.append(f"The LSTM's holdout sMAPE was lower than {wins} of those series.")
    if status.chosen:
        parts.append(f"Chosen on validation: {status.chosen_counts()}.")
    headers, rows = status.series_rows()  # as text: an id such as 001 stays as written
    table = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    parts.append("## Every series\n\n" + table)
    return "\n\n".join(parts) + "\n"


def _means_table(status: PanelStatus) -> str:
    headers, rows = status.means_rows()
    return tabulate(rows, headers=headers, tablefmt="github", floatfmt=".3f")
