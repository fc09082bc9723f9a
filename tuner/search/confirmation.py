"""Confirmation: the best configurations of a finished search, scored on the holdout.

The search chose its best configurations on the validation window, so their
validation scores are optimistic. Confirmation reruns the top ``confirm.top``
complete configurations with fresh seeds and ``confirm.repeats`` fits each,
trained on every observation before the holdout and walked forward over it
(docs/guide.md, "Three windows"), with the search's horizon and spacing. Each is scored
by the study's objective, as the search ranked it, with every other metric
beside it. It runs once per study, under
the study's lock: the worker that finds the budget met, ``tuner run`` and
``tuner confirm`` may all ask for it, and all but the first find it done. Its
results are stored in one attribute, written once at the end, so an interrupted
confirmation leaves nothing half-written. Last, it stores the series' choice of
forecaster (tuner.search.choice), which needs the holdout scores; each confirmed
configuration keeps its holdout residuals for that.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import optuna

from tuner.evaluation.config import EvaluationConfig
from tuner.evaluation.intervals import DEFAULT_LEVELS, coverage, half_widths
from tuner.evaluation.metrics import objective_metric
from tuner.evaluation.padding import evaluation_shape
from tuner.evaluation.runner import Evaluation, evaluate
from tuner.exceptions import DivergedError, StorageError
from tuner.search import names
from tuner.search.choice import Span, study_choice
from tuner.search.note import save_study_note
from tuner.search.records import set_study_attr, study_attrs
from tuner.search.study import complete_trials, load_study_config
from tuner.search.studyfile import StudyConfig
from tuner.search.windows import StudyData, Windows, study_series
from tuner.storage.database import release_connections
from tuner.storage.locks import exclusive
from tuner.storage.url import DatabaseURL

__all__ = ["confirm_study", "confirmation_seed", "stored_confirmation"]


def confirmation_seed(study_seed: int, trial_number: int) -> int:
    """A trial's seed for the holdout: fresh, so none of the search's fits is reused."""
    sequence = np.random.SeedSequence([study_seed, trial_number, 1])
    return int(sequence.generate_state(1)[0])


def stored_confirmation(study: optuna.Study) -> dict[str, object] | None:
    """The study's confirmation, or ``None`` before it ran (or with no holdout)."""
    return study_attrs(study).get(names.CONFIRMATION)


def confirm_study(
    name: str, url: DatabaseURL, on_progress: Callable[[int, int], None] | None = None
) -> dict[str, object] | None:
    """Score the study's best configurations on its holdout, once; return what is stored.

    Then, once, the series' forecaster is chosen (:func:`_store_choice`), with or
    without a holdout.

    Args:
        name: The study.
        url: Its database.
        on_progress: Called with (configurations done, configurations to do).

    Returns:
        The stored confirmation, or ``None`` when the study has no holdout.

    Raises:
        StorageError: The study is unknown, or has no complete trial yet (with a holdout).
    """
    config, storage = load_study_config(name, url)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        with exclusive(url, f"confirm:{name}"):
            confirmation = None
            if study.user_attrs.get(names.HOLDOUT):  # resolved and stored when it was created
                confirmation = stored_confirmation(study) or _confirmation(
                    study, config, on_progress
                )
        # after the lock: the choice reads stored records only, so two workers store the same one
        _store_choice(study, config)
    finally:
        # A worker goes on to its study plots on its own storage: keeping these open
        # would take it past the 3 connections docs/deployment.md promises.
        release_connections(storage)
    return confirmation


def _confirmation(
    study: optuna.Study, config: StudyConfig, on_progress: Callable[[int, int], None] | None
) -> dict[str, object]:
    """Confirm the study's best configurations on the holdout; store and return the record.

    Called under the study's lock when no confirmation is stored: every worker
    asks at the end, and the first one confirms.
    """
    best = complete_trials(study)[: config.confirm.top]
    if not best:
        raise StorageError(
            f"study {study.study_name!r} has no complete trial to confirm yet; "
            "run its workers first"
        )
    data = StudyData.load(config)
    records = []
    for number, trial in enumerate(best):
        if on_progress is not None:
            on_progress(number, len(best))
        records.append(_confirm(data, trial))
    if on_progress is not None:
        on_progress(len(best), len(best))
    confirmation = {
        "holdout": data.holdout,
        "objective": config.objective,
        "repeats": config.confirm.repeats,
        "configurations": records,
    }
    set_study_attr(study, names.CONFIRMATION, confirmation)
    save_study_note(study, data)  # the dashboard's note now leads with the holdout
    return confirmation


def _store_choice(study: optuna.Study, config: StudyConfig) -> None:
    """Choose the series' forecaster on validation and store it, once (docs/method.md, 15).

    After the confirmation, so the LSTM's holdout scores exist. Nothing is stored
    before the study has a complete trial or its baselines (``tuner run`` scores
    them while its workers run, and the first worker may finish first): the next
    call, ``tuner run``'s own confirmation or ``tuner confirm``, stores it then.
    """
    attrs = study_attrs(study)
    complete = complete_trials(study)
    if names.CHOICE in attrs or names.BASELINES not in attrs or not complete:
        return
    series = study_series(config)
    spans = _spans(config, len(series), attrs.get(names.HOLDOUT) or 0)  # type: ignore[arg-type]
    trial = _lstm_trial(attrs, complete)
    metric = objective_metric(config.objective)
    record = study_choice(attrs, trial, complete, series.values, spans, metric)
    set_study_attr(study, names.CHOICE, record)


def _lstm_trial(
    attrs: dict[str, object], complete: list[optuna.trial.FrozenTrial]
) -> optuna.trial.FrozenTrial:
    """The LSTM candidate: the configuration the confirmation ranked first, else the best."""
    confirmation = attrs.get(names.CONFIRMATION) or {}
    confirmed = confirmation.get("configurations") or []  # type: ignore[attr-defined]
    number = confirmed[0]["trial"] if confirmed else complete[0].number
    return next(t for t in complete if t.number == number)


def _spans(config: StudyConfig, observations: int, holdout: int) -> tuple[Span, Span | None]:
    """The validation window and the holdout as the baselines were scored on them."""
    windows = Windows.of(observations, config.data.window, holdout)
    scoring = config.data.scoring
    validation = (scoring, windows.validation)
    if windows.holdout is None:
        return validation, None
    return validation, (scoring.over(holdout), windows.holdout)


def _confirm(data: StudyData, trial: optuna.trial.FrozenTrial) -> dict[str, object]:
    """Rerun one trial's configuration on the holdout; its record for the study."""
    config = data.config
    searched = EvaluationConfig.from_dict(trial.user_attrs[names.CONFIG])
    holdout_config = dataclasses.replace(
        searched,
        source=dataclasses.replace(searched.source, withheld=0),
        preparation=dataclasses.replace(searched.preparation, test_size=data.holdout),
        repeats=config.confirm.repeats,
        seed=confirmation_seed(config.seed, trial.number),
        scoring=data.holdout_scoring,
    )
    prepared = data.holdout_runs[holdout_config.preparation]
    record: dict[str, object] = {
        "trial": trial.number,
        "params": trial.params,
        "validation_rmse": trial.value,
        "validation_mean_rmse": trial.user_attrs.get(names.MEAN_RMSE, trial.value),
        "validation_ensemble_rmse": trial.user_attrs.get(names.ENSEMBLE_RMSE),
        "validation_std": trial.user_attrs.get(names.STD),
        "validation_metrics": trial.user_attrs.get(names.METRICS),
        "holdout_config": holdout_config.to_dict(),
        "holdout_fingerprint": prepared.fingerprint,
        "holdout_persistence_rmse": prepared.persistence_rmse,
    }
    try:
        shape = evaluation_shape(prepared, holdout_config.hyperparameters)
        evaluation = evaluate(prepared, holdout_config, shape=shape)
    except DivergedError as error:
        return {**record, "holdout_rmse": None, "reason": str(error)}
    rmses = [float(rmse) for rmse in evaluation.rmses]
    std = float(np.std(rmses, ddof=1)) if len(rmses) > 1 else 0.0
    return {
        **record,
        "holdout_rmse": evaluation.score(config.objective),
        "holdout_mean_rmse": evaluation.mean,
        "holdout_ensemble_rmse": evaluation.ensemble_rmse,
        "holdout_std": std if math.isfinite(std) else None,
        "holdout_rmses": rmses,
        "holdout_metrics": evaluation.metrics,
        "holdout_by_step": evaluation.by_step,
        "holdout_coverage": _coverage(trial, evaluation),
        "holdout_residuals": evaluation.residuals.tolist(),
    }


def _coverage(trial: optuna.trial.FrozenTrial, evaluation: Evaluation) -> dict[str, float] | None:
    """How often the holdout fell inside the trial's intervals, per level (docs/method.md, 14).

    The intervals come from the trial's validation residuals, as a forecast's do;
    ``None`` for a trial stored before residuals were.
    """
    residuals = trial.user_attrs.get(names.RESIDUALS)
    if residuals is None:
        return None
    widths = half_widths(np.array(residuals), DEFAULT_LEVELS)
    return {str(level): coverage(evaluation.residuals, width) for level, width in widths.items()}
