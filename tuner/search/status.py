"""What ``tuner status`` shows: trials by state, the best trial, findings and throughput."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from optuna.trial import FrozenTrial

from tuner.evaluation.metrics import objective_metric
from tuner.search import names
from tuner.search.findings import (
    NO_HOLDOUT,
    baseline_table,
    best_baseline_score,
    confirmed_table,
    persistence_score,
)
from tuner.search.records import study_attrs
from tuner.search.study import complete_trials, open_study
from tuner.storage.slots import SlotCounts
from tuner.storage.url import DatabaseURL

__all__ = ["StudyStatus", "study_status"]


@dataclass(frozen=True)
class StudyStatus:
    """What ``tuner status`` shows, read from the study in one pass.

    Attributes:
        name: The study.
        budget: Finished trials the study stops at.
        counts: Its trials by what they mean for the budget.
        objective: What ranks the trials (``mean_rmse``, ``ensemble_smape``, ...).
        best_value: The best validation score, if any trial is complete.
        best_params: That trial's parameters.
        persistence_rmse: Persistence's validation RMSE.
        trials_per_minute: Finished trials per minute, from the first to the last.
        holdout: The holdout in observations (0: none).
        windows: Each window's first and last date.
        confirmed: The holdout scores, once confirmed (see ``confirmed_table``).
        baselines: Each baseline's score on each window.
        best_baseline_validation: The best baseline's validation score by the
            objective's metric.
        persistence_validation: Persistence's validation score by that metric.
        choice: The series' forecaster, chosen on validation, and every candidate's
            scores (tuner.search.choice); ``None`` before the confirmation stores it.
    """

    name: str
    budget: int
    counts: SlotCounts
    objective: str
    best_value: float | None
    best_params: dict[str, object] | None
    persistence_rmse: float
    trials_per_minute: float | None
    holdout: int
    windows: dict[str, object] | None
    confirmed: list[dict[str, object]]
    baselines: list[dict[str, object]]
    best_baseline_validation: float | None
    persistence_validation: float | None
    choice: dict[str, object] | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form, with clear key names for each window's scores."""
        fields = dataclasses.asdict(self)
        best = {"best_validation_rmse": fields.pop("best_value")}
        return {
            "name": self.name,
            "confirmed_on_holdout": self.confirmed,
            **best,
            "note": None if self.holdout else NO_HOLDOUT,
            **fields,
            "finished": self.counts.finished,
        }


def study_status(name: str, url: DatabaseURL) -> StudyStatus:
    """Counts by state, best trial, baseline and throughput of study ``name``."""
    study, config = open_study(name, url)
    trials = study.get_trials(deepcopy=False)
    complete = complete_trials(study)
    best = complete[0] if complete else None
    attrs = study_attrs(study)
    metric = objective_metric(config.objective)
    baselines = baseline_table(attrs)
    return StudyStatus(
        name=name,
        budget=attrs[names.BUDGET],
        counts=SlotCounts.of(trials),
        objective=config.objective,
        best_value=None if best is None else best.value,
        best_params=None if best is None else best.params,
        persistence_rmse=attrs[names.PERSISTENCE_RMSE],
        trials_per_minute=_trials_per_minute(trials),
        holdout=attrs.get(names.HOLDOUT, 0),
        windows=attrs.get(names.WINDOWS),
        confirmed=confirmed_table(attrs),
        baselines=baselines,
        best_baseline_validation=best_baseline_score(attrs, "validation", metric),
        persistence_validation=persistence_score(attrs, metric),
        choice=attrs.get(names.CHOICE),  # type: ignore[arg-type]
    )


def _trials_per_minute(trials: list[FrozenTrial]) -> float | None:
    finished = [t for t in trials if t.state.is_finished() and t.datetime_complete]
    if len(finished) < 2:
        return None
    start = min(t.datetime_start for t in finished if t.datetime_start)
    end = max(t.datetime_complete for t in finished)
    minutes = (end - start).total_seconds() / 60
    return len(finished) / minutes if minutes > 0 else None
