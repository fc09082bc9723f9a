"""A study report: is the winner really better, or is it noise?

The tutorials compared configurations by the describe() table and box plot of
their repeat RMSEs, and suggested significance tests. The report does that for a
study's best configurations: the top trials, their repeat RMSEs side by side,
a box-and-whisker plot, Optuna's parameter importances, and pairwise
Mann-Whitney U p-values (small p: the two configurations really differ).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import FrozenTrial
from scipy.stats import mannwhitneyu

from tuner.evaluation.metrics import OBJECTIVE_LABELS, skill
from tuner.exceptions import ConfigError, StorageError
from tuner.outputs.plots import save_bar_chart, save_box_plot, save_validation_holdout_plot
from tuner.search import names
from tuner.search.findings import (
    confirmed_table,
    findings_markdown,
    objective_of,
    skill_reference,
)
from tuner.search.records import study_attrs
from tuner.search.study import complete_trials, open_study
from tuner.storage.url import DatabaseURL

__all__ = ["pairwise_p_values", "write_report"]

TABLE_ROWS = 20


def write_report(name: str, url: DatabaseURL, directory: Path, top: int) -> Path:
    """Write ``report.md``, ``boxplot.png`` and ``importances.png`` into ``directory``.

    Raises:
        StorageError: Unknown study, or no complete trial.
        ConfigError: ``directory`` cannot be created or written.
    """
    study, _ = open_study(name, url)
    complete = complete_trials(study)
    if not complete:
        raise StorageError(f"study {name!r} has no complete trial to report on yet")
    best = complete[:top]
    rmses = pd.DataFrame(
        dict(zip(_labels(best), (t.user_attrs[names.RMSES] for t in best), strict=True))
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        save_box_plot(rmses, directory / "boxplot.png", "repeat RMSEs of the best configurations")
        importances = _importances(study, directory / "importances.png")
        attrs = study_attrs(study)
        confirmed = confirmed_table(attrs)
        if confirmed:
            label = OBJECTIVE_LABELS[objective_of(attrs)]
            save_validation_holdout_plot(confirmed, directory / "validation_holdout.png", label)
        path = directory / "report.md"
        path.write_text(_markdown(study, attrs, complete, rmses, importances), encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"cannot write the report to {str(directory)!r}: {error.strerror}"
        ) from None
    return path


def pairwise_p_values(rmses: pd.DataFrame) -> pd.DataFrame:
    """Two-sided Mann-Whitney U p-values for every pair of columns, Holm-corrected.

    Comparing K configurations makes K(K-1)/2 tests, and some would come out
    "significant" by chance alone; Holm's step-down correction keeps the chance
    of any false difference at the nominal level. 1 on the diagonal.
    """
    from statsmodels.stats.multitest import multipletests  # slow to import: only here

    labels = list(rmses.columns)
    table = pd.DataFrame(1.0, index=labels, columns=labels)
    pairs = list(itertools.combinations(labels, 2))
    raw = [mannwhitneyu(rmses[a], rmses[b], alternative="two-sided").pvalue for a, b in pairs]
    corrected = multipletests(raw, method="holm")[1] if raw else []
    for (a, b), p in zip(pairs, corrected, strict=True):
        table.loc[a, b] = table.loc[b, a] = p
    return table


def _labels(trials: list[FrozenTrial]) -> list[str]:
    """Column names: the parameters that differ between the compared trials.

    In a sweep that is the swept parameter (``epochs=500``), which says more than
    a trial number; the number is added where two labels would be the same.
    """
    varying = [
        key for key in trials[0].params if len({repr(t.params.get(key)) for t in trials}) > 1
    ]
    labels = [
        ", ".join(f"{key}={t.params.get(key)}" for key in varying) or f"trial {t.number}"
        for t in trials
    ]
    return [
        label if labels.count(label) == 1 else f"{label} (trial {t.number})"
        for label, t in zip(labels, trials, strict=True)
    ]


def _importances(study: optuna.Study, path: Path) -> dict[str, float] | str:
    """Parameter importances (and their bar chart), or why there are none."""
    try:
        importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as error:
        return str(error).splitlines()[0]
    save_bar_chart(importances, path, "importance")
    return importances


def _scatter_section(attrs: dict[str, object]) -> list[str]:
    if not confirmed_table(attrs):
        return []
    return [
        "Did the ranking carry over? Validation RMSE against holdout RMSE of the "
        "confirmed configurations:",
        "![validation against holdout](validation_holdout.png)",
    ]


def _markdown(
    study: optuna.Study,
    attrs: dict[str, object],
    complete: list[FrozenTrial],
    rmses: pd.DataFrame,
    importances: dict[str, float] | str,
) -> str:
    persistence = attrs[names.PERSISTENCE_RMSE]
    reference = skill_reference(attrs)
    table = pd.DataFrame(
        [
            {
                "rank": rank,
                "trial": t.number,
                "validation mean RMSE": t.user_attrs.get(names.MEAN_RMSE, t.value),
                "validation ensemble RMSE": t.user_attrs.get(names.ENSEMBLE_RMSE),
                "std": t.user_attrs[names.STD],
                "skill": skill(t.value, reference),
                **t.params,
            }
            for rank, t in enumerate(complete[:TABLE_ROWS], start=1)
        ]
    )
    if isinstance(importances, str):
        importance_text = f"Not available: {importances}"
    else:
        importance_text = "![importances](importances.png)\n\n" + pd.Series(
            importances, name="importance"
        ).to_frame().to_markdown(floatfmt=".3f")
    return (
        "\n\n".join(
            [
                f"# Study {study.study_name!r}",
                findings_markdown(attrs, complete[0].value),
                *_scatter_section(attrs),
                f"{len(complete)} complete trials; validation RMSE of persistence "
                f"{persistence:.3f}.",
                f"## Best trials (top {min(TABLE_ROWS, len(complete))}, ranked by the "
                f"{OBJECTIVE_LABELS[objective_of(attrs)]})",
                table.to_markdown(index=False, floatfmt=".4g"),  # a learning rate of 0.00058 too
                "## Repeat RMSEs of the best configurations",
                rmses.describe().to_markdown(floatfmt=".3f"),
                "![box plot](boxplot.png)",
                "## Pairwise Mann-Whitney U p-values",
                "Holm-corrected for the number of pairs compared. A small p-value (below "
                "0.05, say) means the two configurations' RMSEs really differ; a large one "
                "means the difference in their means may be noise.",
                pairwise_p_values(rmses).to_markdown(floatfmt=".3f"),
                "## Parameter importances",
                importance_text,
            ]
        )
        + "\n"
    )
