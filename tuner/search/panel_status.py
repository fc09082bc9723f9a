"""What ``tuner status PANEL`` shows: each series' scores, and the panel's over all series.

One series tells little; a panel tells where the LSTM earns its cost. So each
series shows its best validation score, the forecaster chosen on validation and
the holdout scores beside the baselines'; the panel shows, per method, the mean
holdout sMAPE and MASE over the series that have every method scored, how often
each forecaster was chosen, and on how many series the LSTM beat each baseline
on the holdout (docs/guide.md, "Panels").
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import optuna

from tuner.evaluation.metrics import OBJECTIVE_LABELS
from tuner.search import names
from tuner.search.panel_studies import panel_studies
from tuner.search.records import study_attrs
from tuner.search.study import complete_trials, open_study
from tuner.storage.slots import SlotCounts
from tuner.storage.url import DatabaseURL

__all__ = ["COMPARED", "PanelStatus", "SeriesStatus", "panel_status"]

COMPARED = ("lstm", "theta", "auto_ets", "auto_arima", "seasonal_naive", "persistence")
"""The methods compared on each series' holdout: the tuned LSTM, then the baselines."""
SHOWN = ("lstm", "theta", "choice")
"""The methods whose holdout sMAPE each series' row shows."""
AGGREGATED = ("smape", "mase")
"""The scale-free metrics averaged over series (RMSE's units differ from series to series)."""


@dataclass(frozen=True)
class SeriesStatus:
    """One series of a panel.

    Attributes:
        unique_id: The series' id.
        study: Its study's name.
        finished: Its finished trials.
        budget: Its budget.
        best_value: Its best validation score under the study's objective.
        chosen: The forecaster chosen on validation (``None`` before confirmation).
        holdout: Each method's holdout scores (:data:`AGGREGATED` and ``rmse``);
            a method without a score is absent. ``choice`` is the chosen forecaster's.
    """

    unique_id: str
    study: str
    finished: int
    budget: int
    best_value: float | None
    chosen: str | None
    holdout: dict[str, dict[str, float]]


@dataclass(frozen=True)
class PanelStatus:
    """A panel: its series, and the aggregate over them.

    Attributes:
        name: The panel.
        objective: What ranks each series' trials.
        series: One entry per series, in the file's order.
        means: Per method, the mean of each :data:`AGGREGATED` metric on the holdout,
            over the series where every method has it.
        compared_over: How many series those means are over.
        chosen: How often each forecaster was chosen.
        lstm_wins: Per baseline, on how many of those series the LSTM's holdout
            sMAPE was lower.
    """

    name: str
    objective: str
    series: list[SeriesStatus]
    means: dict[str, dict[str, float]]
    compared_over: int
    chosen: dict[str, int]
    lstm_wins: dict[str, int]

    def series_rows(self) -> tuple[list[str], list[list[str]]]:
        """Headers and one row per series, as text: trials, best validation, choice, holdout sMAPEs.

        The text of ``tuner status`` and the panel's report show the same table; an
        id stays as written (``001`` is not the number 1).
        """
        label = OBJECTIVE_LABELS.get(self.objective, self.objective)
        headers = ["series", "trials", f"best validation {label}", "chosen"]
        headers += ["holdout sMAPE, LSTM", "Theta", "choice"]
        rows = [
            [
                one.unique_id,
                f"{one.finished}/{one.budget}",
                _shown(one.best_value),
                one.chosen or "n/a",
                *(_shown(one.holdout.get(method, {}).get("smape")) for method in SHOWN),
            ]
            for one in self.series
        ]
        return headers, rows

    def means_rows(self) -> tuple[list[str], list[list[str]]]:
        """Headers and one row per method, as text: its mean holdout sMAPE and MASE."""
        rows = [
            [method, *(_shown(means[m]) for m in AGGREGATED)]
            for method, means in self.means.items()
        ]
        return ["method", "sMAPE", "MASE"], rows

    def chosen_counts(self) -> str:
        """How often each forecaster was chosen, in one line (``lstm 30, theta 16``)."""
        return ", ".join(f"{name} {count}" for name, count in sorted(self.chosen.items()))

    @property
    def finished(self) -> int:
        """Finished trials over every series."""
        return sum(one.finished for one in self.series)

    @property
    def budget(self) -> int:
        """The budgets of every series, summed."""
        return sum(one.budget for one in self.series)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return dataclasses.asdict(self) | {"finished": self.finished, "budget": self.budget}


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def panel_status(name: str, url: DatabaseURL) -> PanelStatus:
    """Read every study of panel ``name`` and aggregate their holdout scores."""
    opened = [open_study(study, url) for study in panel_studies(name, url)]
    rows = [_series_status(study) for study, _ in opened]
    objective = opened[0][1].objective if opened else ""
    methods = [*COMPARED, "choice"]
    complete = [row for row in rows if all(m in row.holdout for m in methods if m != "choice")]
    means = {
        method: {
            metric: float(np.mean([row.holdout[method][metric] for row in complete]))
            for metric in AGGREGATED
        }
        for method in methods
        if complete and all(method in row.holdout for row in complete)
    }
    return PanelStatus(
        name=name,
        objective=objective,
        series=rows,
        means=means,
        compared_over=len(complete),
        chosen=dict(Counter(row.chosen for row in rows if row.chosen is not None)),
        lstm_wins={
            baseline: sum(
                row.holdout["lstm"]["smape"] < row.holdout[baseline]["smape"] for row in complete
            )
            for baseline in COMPARED[1:]
        },
    )


def _series_status(study: optuna.Study) -> SeriesStatus:
    attrs = study_attrs(study)
    complete = complete_trials(study)
    choice = attrs.get(names.CHOICE) or {}
    holdout = _baseline_holdout(attrs) | _candidates_holdout(choice)  # type: ignore[arg-type]
    chosen = choice.get("chosen")  # type: ignore[union-attr]
    if chosen in holdout:
        holdout["choice"] = holdout[chosen]
    return SeriesStatus(
        unique_id=str(attrs[names.PANEL]["unique_id"]),  # type: ignore[index]
        study=study.study_name,
        finished=SlotCounts.of(study.get_trials(deepcopy=False)).finished,
        budget=int(attrs[names.BUDGET]),  # type: ignore[arg-type]
        best_value=complete[0].value if complete else None,
        chosen=chosen,
        holdout=holdout,
    )


def _baseline_holdout(attrs: Mapping[str, object]) -> dict[str, dict[str, float]]:
    """Each baseline's holdout metrics, where it has them."""
    holdout = (attrs.get(names.BASELINES) or {}).get("holdout") or {}  # type: ignore[union-attr]
    scores = {name: _finite(score.get("metrics") or {}) for name, score in holdout.items()}
    return {name: metrics for name, metrics in scores.items() if metrics}


def _candidates_holdout(choice: Mapping[str, object]) -> dict[str, dict[str, float]]:
    """The choice's candidates' holdout metrics: the LSTM ensemble, the combination...

    The LSTM is its ensemble (the repeats' mean forecast), the forecast a user gets,
    whatever the objective ranked the trials by (tuner.search.choice).
    """
    metrics = choice.get("holdout_metrics") or {}
    scores = {name: _finite(values) for name, values in metrics.items()}  # type: ignore[union-attr]
    return {name: values for name, values in scores.items() if values}


def _finite(metrics: Mapping[str, object]) -> dict[str, float]:
    return {
        key: float(value)  # type: ignore[arg-type]
        for key, value in metrics.items()
        if isinstance(value, int | float) and np.isfinite(value)
    }
