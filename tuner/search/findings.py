"""What a study found, in the order a user should read it.

Every place that shows a study's result (``tuner status``, the report, the
dashboard note, exports) leads with the same things, in the same words: the
holdout score of each confirmed configuration with its validation score beside
it, the baselines on the same windows, and, for a study without a holdout, the
plain statement that its best score is the one used to select it.
"""

from __future__ import annotations

from collections.abc import Mapping

from tuner.evaluation.baselines import BaselineScore, best_baseline
from tuner.evaluation.metrics import (
    DEFAULT_OBJECTIVE,
    METRIC_LABELS,
    METRICS,
    OBJECTIVE_LABELS,
    objective_metric,
    skill,
)
from tuner.search import names
from tuner.search.studyfile import parse_study_text

__all__ = [
    "NO_HOLDOUT",
    "baseline_table",
    "best_baseline_score",
    "confirmed_table",
    "findings_markdown",
    "objective_of",
    "persistence_score",
    "skill_reference",
]

NO_HOLDOUT = (
    "This study has no holdout (data.holdout = 0), so its best score is the one used to "
    "select it: it is optimistic, and a rerun on new data will most likely score worse."
)


def _baseline_score(record: Mapping[str, object], metric: str) -> float | None:
    """A stored baseline score's ``metric`` (see :meth:`BaselineScore.score`)."""
    return BaselineScore.from_dict(record).score(metric) if record else None


def best_baseline_score(attrs: Mapping[str, object], window: str, metric: str) -> float | None:
    """The lowest baseline score by ``metric`` on ``window`` (``validation`` or ``holdout``)."""
    scores = (attrs.get(names.BASELINES) or {}).get(window) or {}  # type: ignore[union-attr]
    records = {name: BaselineScore.from_dict(record) for name, record in scores.items()}
    best = best_baseline(records, metric)
    return None if best is None else best.score(metric)


def persistence_score(attrs: Mapping[str, object], metric: str) -> float | None:
    """Persistence's validation score by ``metric`` (a study stored before metrics: RMSE only)."""
    scores = (attrs.get(names.BASELINES) or {}).get("validation") or {}  # type: ignore[union-attr]
    if "persistence" in scores:
        return _baseline_score(scores["persistence"], metric)
    return attrs.get(names.PERSISTENCE_RMSE) if metric == "rmse" else None  # type: ignore[return-value]


def skill_reference(attrs: Mapping[str, object]) -> float | None:
    """What a trial's skill is measured against: persistence's score by the objective's metric.

    The one definition that status, exports, reports and ``study.trials()`` share:
    a trial's skill is ``skill(trial.value, skill_reference(attrs))``, the score
    that ranked it (mean or ensemble, by the objective's metric) against
    persistence's validation score by that metric. Read once per study, since
    the objective comes from parsing the stored study file.
    """
    return persistence_score(attrs, objective_metric(objective_of(attrs)))


def confirmed_table(attrs: Mapping[str, object]) -> list[dict[str, object]]:
    """One row per confirmed configuration: holdout first, validation beside it, skills.

    ``holdout_rmse`` and ``validation_rmse`` hold the study's objective (what ranked
    the configurations, RMSE or another metric); the mean's and the ensemble's
    holdout scores of that metric are beside them, and skill is measured by that
    metric too. A confirmation stored before ensembles were scored has the mean only.
    """
    objective = objective_of(attrs)
    metric = objective_metric(objective)
    confirmation = attrs.get(names.CONFIRMATION) or {}
    holdout_baselines = (attrs.get(names.BASELINES) or {}).get("holdout") or {}  # type: ignore[union-attr]
    persistence = (
        _baseline_score(holdout_baselines["persistence"], metric)
        if "persistence" in holdout_baselines
        else attrs.get(names.HOLDOUT_PERSISTENCE_RMSE)
    )
    best = best_baseline_score(attrs, "holdout", metric)
    rows = []
    for record in confirmation.get("configurations", []):  # type: ignore[union-attr]
        holdout = record.get("holdout_rmse")
        metrics = record.get("holdout_metrics") or {
            "mean_rmse": record.get("holdout_mean_rmse", holdout),
            "ensemble_rmse": record.get("holdout_ensemble_rmse"),
        }
        rows.append(
            {
                "trial": record["trial"],
                "holdout_rmse": holdout,
                "holdout_std": record.get("holdout_std"),
                "holdout_mean": metrics.get(f"mean_{metric}"),
                "holdout_ensemble": metrics.get(f"ensemble_{metric}"),
                "validation_rmse": record["validation_rmse"],
                "holdout_coverage": record.get("holdout_coverage"),
                "skill_vs_persistence": None
                if holdout is None or persistence is None
                else skill(holdout, persistence),
                "skill_vs_best_baseline": None
                if holdout is None or best is None
                else skill(holdout, best),
                "params": record["params"],
            }
        )
    return rows


def objective_of(attrs: Mapping[str, object]) -> str:
    """The objective a study ranks by, from its stored confirmation or study file.

    Read from the confirmation when there is one (it names the objective its
    scores use), else from the stored study file; a study made before objectives
    existed ranks by the mean.
    """
    confirmation = attrs.get(names.CONFIRMATION) or {}
    if "objective" in confirmation:  # type: ignore[operator]
        return confirmation["objective"]  # type: ignore[index]
    text = attrs.get(names.STUDY_FILE)
    return parse_study_text(text).objective if isinstance(text, str) else DEFAULT_OBJECTIVE


def baseline_table(attrs: Mapping[str, object]) -> list[dict[str, object]]:
    """One row per baseline: every metric on each window, or why it is not available."""
    baselines = attrs.get(names.BASELINES) or {}
    validation = baselines.get("validation") or {}  # type: ignore[union-attr]
    holdout = baselines.get("holdout") or {}  # type: ignore[union-attr]
    rows = []
    for name, score in validation.items():
        row: dict[str, object] = {"baseline": name}
        for metric in METRICS:
            row[f"validation_{metric}"] = _baseline_score(score, metric)
            row[f"holdout_{metric}"] = _baseline_score(holdout.get(name) or {}, metric)
        row["reason"] = score.get("reason") or (holdout.get(name) or {}).get("reason")
        rows.append(row)
    return rows


def findings_markdown(attrs: Mapping[str, object], best_validation: float | None) -> str:
    """The study's findings as Markdown: confirmed scores (or the caveat), then baselines."""
    parts = []
    rows = confirmed_table(attrs)
    if not attrs.get(names.HOLDOUT):
        parts.append(f"**No holdout.** {NO_HOLDOUT}")
    elif rows:
        label = OBJECTIVE_LABELS[objective_of(attrs)]
        parts.append(
            f"**Confirmed on the holdout** ({attrs.get(names.HOLDOUT)} observations the search "
            f"never saw; fresh seeds). Holdout {label} first (the study's objective, in the "
            f"`holdout_rmse` column whatever its metric), the mean's and the ensemble's "
            f"beside it, then the validation {label} that selected the configuration:"
        )
        parts.append(
            _markdown_table(
                rows,
                [
                    "trial",
                    "holdout_rmse",
                    "holdout_std",
                    "holdout_mean",
                    "holdout_ensemble",
                    "validation_rmse",
                    "skill_vs_persistence",
                    "skill_vs_best_baseline",
                ],
            )
        )
    else:
        parts.append(
            "**Not confirmed yet.** The best validation score"
            + ("" if best_validation is None else f" ({best_validation:.3f})")
            + " selected the configuration, so it is optimistic; `tuner confirm` scores the "
            "best configurations on the holdout."
        )
    baselines = baseline_table(attrs)
    if baselines:
        metric = objective_metric(objective_of(attrs))
        columns = [f"validation_{m}" for m in dict.fromkeys(("rmse", metric))]
        columns += [f"holdout_{m}" for m in dict.fromkeys(("rmse", metric))]
        parts.append(
            "**Baselines** on the same windows and forecasts (refitted at every origin; "
            f"{METRIC_LABELS[metric]} is the study's metric):"
        )
        parts.append(_markdown_table(baselines, ["baseline", *columns, "reason"]))
    return "\n\n".join(parts)


def _markdown_table(rows: list[dict[str, object]], columns: list[str]) -> str:
    def cell(value: object) -> str:
        if value is None:
            return "n/a"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
