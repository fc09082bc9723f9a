"""The study's note in optuna-dashboard: what it found, its data, its windows, its file.

Written when the study is created and again when its confirmation is stored, so
the dashboard leads with the same findings as ``tuner status`` and the report.
"""

from __future__ import annotations

from collections.abc import Mapping

import optuna
import pandas as pd

from tuner.search import names
from tuner.search.findings import findings_markdown
from tuner.search.records import study_attrs
from tuner.search.windows import StudyData

__all__ = ["save_study_note", "study_note"]


def study_note(data: StudyData, text: str, attrs: Mapping[str, object] | None = None) -> str:
    """The study's note in optuna-dashboard.

    It leads with the findings (holdout scores once confirmed, or the caveat of a
    study without holdout, and the baselines table), then the data, the windows
    and the study file. ``text`` is the stored study file, ``attrs`` the study's
    user attributes.
    """
    config, prepared = data.config, data.search
    first = data.first
    series = first.series
    values = pd.Series(series.values, name=series.value_column)
    attrs = attrs or {}
    windows = attrs.get(names.WINDOWS) or {}
    holdout = windows.get("holdout")  # type: ignore[union-attr]
    scoring = config.data.scoring
    protocol = (
        f" It is scored by {scoring.horizon}-step recursive forecasts from "
        f"{scoring.origins} origin(s), {scoring.spacing} observations apart."
        if scoring.recursive
        else ""
    )
    persistence = attrs.get(names.PERSISTENCE_RMSE, first.persistence_rmse)
    return "\n\n".join(
        [
            f"# {config.name}",
            findings_markdown(attrs, None),
            f"**Data**: `{config.data.series}`, column `{series.value_column}`: {len(series)} "
            f"observations searched, from {series.index[0]} to {series.index[-1]}; the "
            f"last {first.n_test} are the validation window; {first.n_train} training rows "
            f"at {first.preparation.label()}"
            + (f" (one of {len(prepared)} preparations searched)." if len(prepared) > 1 else ".")
            + protocol
            + (
                ""
                if not holdout
                else f" The holdout, {holdout['first']} to {holdout['last']}, is never read "
                "by the search."
            ),
            values.describe().to_frame().to_markdown(floatfmt=".3f"),
            f"**Persistence baseline**: validation RMSE {persistence:.3f} (forecast "
            "each observation by the last one before its origin). A trial beats it when its "
            "mean RMSE is lower (skill above 0).",
            "**Study file**:",
            f"```toml\n{text.strip()}\n```",
        ]
    )


def save_study_note(study: optuna.Study, data: StudyData) -> None:
    """Write the study's note from what it stores now (its file and attributes)."""
    from optuna_dashboard import save_note  # here, not at the top: it loads its web server

    attrs = study_attrs(study)
    save_note(study, study_note(data, attrs[names.STUDY_FILE], attrs))
