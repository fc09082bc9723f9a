"""An honest choice per series: one forecaster, picked on validation only, scored on the holdout.

A study tunes an LSTM and scores classical baselines beside it on the same
forecasts (docs/method.md, section 10), but a table of scores does not say which
forecaster to use. The choice does, by one rule (docs/method.md, section 15):
the mean of AutoETS, AutoARIMA and Theta, unless the tuned LSTM ensemble, one of
those three or the combination of the LSTM with the best of them beats it by the
study objective's metric on each half of the validation origins; then the
lowest-scoring of those. The holdout then scores every candidate,
the chosen one among them, and is never read to make the choice: a choice that
looked at it would make its holdout score as optimistic as a validation score.

The LSTM candidate is the ensemble (the repeats' mean forecast), whatever the
objective ranked the trials by, since that is the forecast ``tuner forecast``
gives and the one the combination averages. Its forecasts are not stored, only
its residuals, so they are rebuilt as the actual observations minus the
residuals.

The best trial's own validation score would flatter the LSTM: it is the lowest
of many, picked on the very origins it is scored on, while each classical
forecaster is fitted once. So the LSTM's validation forecasts are cross-fitted
(:func:`cross_fitted`): at each origin, the forecast of the trial that scored
best on the other origins, as the search would have picked it without seeing
that one. That scores the search itself, as it is used, on forecasts it did
not pick.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from optuna.trial import FrozenTrial

from tuner.evaluation.baselines import BaselineScore
from tuner.evaluation.metrics import METRIC_LABELS, METRICS, finite_or_none, forecast_errors
from tuner.method.scoring import Scoring
from tuner.search import names

__all__ = [
    "CANDIDATES",
    "CLASSICAL",
    "CLASSICAL_MEAN",
    "Span",
    "WindowForecasts",
    "choice_line",
    "choose",
    "classical_mean",
    "combined_forecasts",
    "cross_fitted",
    "study_choice",
]

CLASSICAL: tuple[str, ...] = ("theta", "auto_ets", "auto_arima")
"""The classical candidates, simplest first: Theta is simple exponential smoothing with
a drift, AutoETS selects among exponential smoothing models, AutoARIMA searches
ARIMA orders."""
CLASSICAL_MEAN = "classical_mean"
"""The candidate averaging the three classical forecasters point by point: a
combination of unlike models errs less than the one of them that validation picks,
whose lead over two origins is mostly noise (docs/method.md, section 15)."""
CANDIDATES: tuple[str, ...] = (*CLASSICAL, CLASSICAL_MEAN, "lstm", "combination")
"""Every candidate, in the order that breaks a tie of validation scores. The simpler
forecaster goes first: it costs less to run and to explain, and where the window has
a single origin the LSTM's validation score is its best trial's, the lowest of many
picked on that window, so a classical forecaster that only ties it is likely the
better one on new data. The classical mean fits all three, so it follows them; the
combination needs the LSTM and a classical forecaster both, so it comes last."""
Span = tuple[Scoring, tuple[int, int]]
"""A window as it was scored: its scoring (horizon and origins) and ``(start, stop)``."""


@dataclass(frozen=True)
class WindowForecasts:
    """One window's observations and what the candidates forecast over it.

    Attributes:
        actual: The observations forecast, ``(origins, horizon)``, origin after origin.
        starts: The index in ``history`` of each origin's first forecast observation.
        history: The series up to the window's end; MASE's scale reads it.
        season: MASE's seasonal naive lag (1: none), the baselines' own.
        baselines: Each baseline's score on the window, its forecasts origin after
            origin as :attr:`actual`'s.
        lstm: The LSTM ensemble's score by the metric, as the study stored it;
            ``None`` where there is none (a configuration that diverged).
        residuals: Actual minus the LSTM ensemble's forecast, ``(origins, horizon)``;
            ``None`` where they were not stored.
    """

    actual: np.ndarray
    starts: tuple[int, ...]
    history: np.ndarray
    season: int
    baselines: Mapping[str, BaselineScore]
    lstm: float | None
    residuals: np.ndarray | None


def combined_forecasts(window: WindowForecasts, partner: str) -> np.ndarray | None:
    """The mean of the LSTM ensemble's and ``partner``'s forecasts, ``(origins, horizon)``.

    ``None`` where either has no forecasts. Both are in origin order, so they are
    averaged point by point: the residuals were taken at the scoring's origins in
    ascending order, and a baseline's forecasts are statsforecast's, sorted by
    cutoff then date (tuner.evaluation.baselines).
    """
    classical = _forecasts(window, partner)
    if window.residuals is None or classical is None:
        return None
    return (window.actual - window.residuals + classical) / 2.0


def _forecasts(window: WindowForecasts, baseline: str) -> np.ndarray | None:
    """``baseline``'s forecasts, ``(origins, horizon)``; ``None`` where it has none."""
    score = window.baselines.get(baseline)
    if score is None or score.forecasts is None:
        return None
    return np.asarray(score.forecasts, dtype=np.float64).reshape(window.actual.shape)


def classical_mean(window: WindowForecasts) -> np.ndarray | None:
    """The mean of the classical candidates' forecasts, ``(origins, horizon)``.

    ``None`` unless all three have forecasts: a mean of fewer would be another
    candidate than the one ``tuner forecast`` refits.
    """
    forecasts = [_forecasts(window, name) for name in CLASSICAL]
    if any(forecast is None for forecast in forecasts):
        return None
    return np.mean(forecasts, axis=0)


def cross_fitted(window: WindowForecasts, forecasts: np.ndarray, metric: str) -> np.ndarray | None:
    """The tuned LSTM's validation forecasts, each origin's picked on the other origins.

    At each origin, the forecast of the trial whose ``metric`` over the other
    origins is lowest (the first such trial among equals): nested
    cross-validation of the search, so that no forecast is scored on the origin
    it was picked on. A trial's score over one origin fewer is noisier, so the
    estimate leans pessimistic, which the choice may afford: it errs towards the
    classical forecasters.

    Args:
        window: The validation window.
        forecasts: Every complete trial's ensemble forecasts, ``(trials, origins,
            horizon)``, finite.
        metric: One of :data:`tuner.evaluation.metrics.METRICS`.

    Returns:
        ``(origins, horizon)``; ``None`` with fewer than two origins or no trial,
        where nothing is left to pick on.
    """
    trials, origins = forecasts.shape[:2]
    if trials == 0 or origins < 2:
        return None
    picked = np.empty_like(window.actual)
    for origin in range(origins):
        others = [other for other in range(origins) if other != origin]
        errors = forecast_errors(
            window.actual[others],
            forecasts[:, others],
            tuple(window.starts[other] for other in others),
            window.history,
            window.season,
        )
        scores = np.nan_to_num(errors.overall[metric], nan=np.inf)
        picked[origin] = forecasts[int(np.argmin(scores)), origin]
    return picked


def _score(window: WindowForecasts, forecasts: np.ndarray | None, metric: str) -> float | None:
    """``forecasts``' ``metric``, scored as the baselines are; ``None`` without forecasts."""
    if forecasts is None:
        return None
    errors = forecast_errors(
        window.actual, forecasts[None], window.starts, window.history, window.season
    )
    return finite_or_none(errors.overall[metric][0])


def _candidate_scores(
    window: WindowForecasts, metric: str, partner: str | None
) -> dict[str, float | None]:
    """Each candidate's ``metric`` on ``window``, the combination's with ``partner``."""
    scores = {name: _baseline(window, name, metric) for name in CLASSICAL}
    forecasts = _candidate_forecasts(window, partner)
    return scores | {
        CLASSICAL_MEAN: _score(window, forecasts[CLASSICAL_MEAN], metric),
        "lstm": window.lstm,
        "combination": _score(window, forecasts["combination"], metric),
    }


def _candidate_forecasts(
    window: WindowForecasts, partner: str | None
) -> dict[str, np.ndarray | None]:
    """Every candidate's forecasts on ``window``, ``(origins, horizon)``; ``None`` where none."""
    classical = {name: _forecasts(window, name) for name in CLASSICAL}
    lstm = None if window.residuals is None else window.actual - window.residuals
    combination = None if partner is None else combined_forecasts(window, partner)
    return classical | {
        CLASSICAL_MEAN: classical_mean(window),
        "lstm": lstm,
        "combination": combination,
    }


def _baseline(window: WindowForecasts, name: str, metric: str) -> float | None:
    baseline = window.baselines.get(name)
    return None if baseline is None else baseline.score(metric)


def _chosen(
    window: WindowForecasts, metric: str, partner: str | None, scores: Mapping[str, float | None]
) -> str | None:
    """The candidate chosen on ``window``: the classical mean, unless a challenger beats it.

    A challenger is a candidate whose ``metric`` is below the classical mean's on
    each half of the origins (:func:`_by_half`); the lowest-scoring challenger is
    chosen. A lead over the average of a few origins is mostly noise, and the mean
    of unlike forecasters errs less than the one of them such a lead would pick
    (docs/method.md, section 15), so the mean holds unless the lead holds in both
    halves. Without the mean (a classical forecaster failed), the lowest score
    is chosen.
    """
    forecasts = _candidate_forecasts(window, partner)
    mean = forecasts.pop(CLASSICAL_MEAN)
    if mean is None:
        return _lowest(scores)
    rivals = {
        name: forecast
        for name, forecast in forecasts.items()
        if forecast is not None and scores.get(name) is not None
    }
    if not rivals:
        return CLASSICAL_MEAN
    by_half = _by_half(window, np.array([mean, *rivals.values()]), metric)
    ahead = [
        name for name, row in zip(rivals, by_half[1:], strict=True) if (row < by_half[0]).all()
    ]
    return _lowest({name: scores[name] for name in ahead}) or CLASSICAL_MEAN


def _by_half(window: WindowForecasts, forecasts: np.ndarray, metric: str) -> np.ndarray:
    """Each forecast's ``metric`` on each half of the origins, ``(forecasts, halves)``.

    Two origins are two halves; one origin is one; at horizon 1, where every
    observation of the window is an origin, the window's first and second half.
    NaN (an undefined metric) counts as +inf.
    """
    halves = [half for half in np.array_split(np.arange(len(window.starts)), 2) if len(half)]
    columns = [
        forecast_errors(
            window.actual[half],
            forecasts[:, half],
            tuple(window.starts[origin] for origin in half),
            window.history,
            window.season,
        ).overall[metric]
        for half in halves
    ]
    return np.nan_to_num(np.stack(columns, axis=1), nan=np.inf)


def _lowest(scores: Mapping[str, float | None]) -> str | None:
    """The name with the lowest score, the first of :data:`CANDIDATES` among equals."""
    scored = [(scores[name], rank) for rank, name in enumerate(CANDIDATES) if name in scores]
    ranked = sorted((score, rank) for score, rank in scored if score is not None)
    return CANDIDATES[ranked[0][1]] if ranked else None


def choose(
    metric: str, validation: WindowForecasts, holdout: WindowForecasts | None
) -> dict[str, object]:
    """Choose on ``validation`` alone; score every candidate on ``holdout`` too.

    The classical mean is chosen unless another candidate beats it on each half
    of the validation origins (:func:`_chosen`). The combination's classical half is
    the best classical candidate on validation, and the holdout scores that same
    pair, so the holdout is read for scores only.

    Args:
        metric: One of :data:`tuner.evaluation.metrics.METRICS`.
        validation: The validation window.
        holdout: The holdout, or ``None`` for a study without one.

    Returns:
        The record stored as the study's ``choice``: ``metric``, ``chosen`` (``None``
        when no candidate has a score), each candidate's ``validation`` and
        ``holdout`` scores (``None`` where there is none), every candidate's every
        metric on validation (``validation_metrics``: ``tuner forecast`` checks
        a refit against its validation RMSE) and on the holdout
        (``holdout_metrics``, ``None`` without one), and ``combined_with``.
    """
    partner = _lowest({name: _baseline(validation, name, metric) for name in CLASSICAL})
    scores = _candidate_scores(validation, metric, partner)
    held = None if holdout is None else _candidate_scores(holdout, metric, partner)
    return {
        "metric": metric,
        "chosen": _chosen(validation, metric, partner, scores),
        "validation": scores,
        "holdout": held or dict.fromkeys(CANDIDATES),
        "validation_metrics": _every_metric(validation, partner),
        "holdout_metrics": None if holdout is None else _every_metric(holdout, partner),
        "combined_with": partner,
    }


def _every_metric(
    window: WindowForecasts, partner: str | None
) -> dict[str, dict[str, float | None]]:
    """Each candidate's every metric on ``window``: a panel averages sMAPE and MASE over series.

    The LSTM's are scored from its forecasts (actual minus residuals), as the
    combination's are; without residuals, only the study's own metric is known.
    """
    lstm = _candidate_forecasts(window, partner)["lstm"]
    by_metric = {
        metric: _candidate_scores(window, metric, partner)
        | ({} if lstm is None else {"lstm": _score(window, lstm, metric)})
        for metric in METRICS
    }
    return {name: {metric: by_metric[metric][name] for metric in METRICS} for name in CANDIDATES}


def study_choice(
    attrs: Mapping[str, object],
    trial: FrozenTrial,
    trials: Sequence[FrozenTrial],
    values: np.ndarray,
    spans: tuple[Span, Span | None],
    metric: str,
) -> dict[str, object]:
    """The choice from a study's records: its baselines, best trial and confirmation.

    Args:
        attrs: The study's records (tuner.search.records.study_attrs), baselines stored.
        trial: The LSTM candidate: the configuration the confirmation ranked first,
            else the best complete trial.
        trials: The study's complete trials, which the LSTM's validation forecasts
            are cross-fitted from (:func:`cross_fitted`).
        values: The whole series, holdout included.
        spans: The validation window's and the holdout's scoring and observations, as
            the baselines were scored on them (tuner.search.study.store_baselines);
            the holdout's ``None`` without one.
        metric: The study objective's metric.

    Returns:
        The record of :func:`choose`, with ``lstm_validation``: ``"cross-fitted"``,
        or ``"best trial"`` where the window has a single origin and the LSTM's
        validation score is its best trial's own, optimistic.
    """
    baselines: Mapping[str, object] = attrs[names.BASELINES]  # type: ignore[assignment]
    season = int(baselines.get("season") or 1)
    validation_span, holdout_span = spans
    metrics = trial.user_attrs.get(names.METRICS) or {
        "ensemble_rmse": trial.user_attrs.get(names.ENSEMBLE_RMSE)
    }
    validation = _window(
        values,
        validation_span,
        season,
        baselines.get("validation") or {},  # type: ignore[arg-type]
        metrics.get(f"ensemble_{metric}"),
        trial.user_attrs.get(names.RESIDUALS),
    )
    picked = cross_fitted(validation, _trial_forecasts(validation, trials), metric)
    if picked is not None:
        validation = dataclasses.replace(
            validation,
            lstm=_score(validation, picked, metric),
            residuals=validation.actual - picked,
        )
    holdout = None
    if holdout_span is not None:
        record = _confirmed(attrs, trial.number)
        confirmed = record.get("holdout_metrics") or {
            "ensemble_rmse": record.get("holdout_ensemble_rmse")
        }
        holdout = _window(
            values,
            holdout_span,
            season,
            baselines.get("holdout") or {},  # type: ignore[arg-type]
            confirmed.get(f"ensemble_{metric}"),  # type: ignore[union-attr]
            record.get("holdout_residuals"),  # type: ignore[arg-type]
        )
    lstm_validation = "best trial" if picked is None else "cross-fitted"
    return choose(metric, validation, holdout) | {"lstm_validation": lstm_validation}


def _trial_forecasts(window: WindowForecasts, trials: Sequence[FrozenTrial]) -> np.ndarray:
    """Each trial's ensemble forecasts over ``window``, ``(trials, origins, horizon)``.

    A trial without residuals at the window's shape (stored before residuals
    were, or at other origins) or with a non-finite one (diverged) is left out.
    """
    forecasts = [
        window.actual - np.asarray(residuals, dtype=np.float64)
        for residuals in (trial.user_attrs.get(names.RESIDUALS) for trial in trials)
        if residuals is not None and np.shape(residuals) == window.actual.shape
    ]
    finite = [forecast for forecast in forecasts if np.isfinite(forecast).all()]
    return np.array(finite).reshape(-1, *window.actual.shape)


def _confirmed(attrs: Mapping[str, object], trial: int) -> Mapping[str, object]:
    """The confirmation's record of ``trial``; empty when it was not confirmed."""
    confirmation: Mapping[str, object] = attrs.get(names.CONFIRMATION) or {}  # type: ignore[assignment]
    records = confirmation.get("configurations") or []
    return next((r for r in records if r["trial"] == trial), {})  # type: ignore[union-attr]


def _window(
    values: np.ndarray,
    span: Span,
    season: int,
    baselines: Mapping[str, Mapping[str, object]],
    lstm: float | None,
    residuals: list[list[float]] | None,
) -> WindowForecasts:
    """One window's forecasts, at the origins the baselines and the LSTM were scored from."""
    scoring, (start, stop) = span
    starts = tuple(scoring.starts(stop, stop - start))
    return WindowForecasts(
        actual=np.array([values[o : o + scoring.horizon] for o in starts], dtype=np.float64),
        starts=starts,
        history=np.asarray(values[:stop], dtype=np.float64),
        season=season,
        baselines={name: BaselineScore.from_dict(score) for name, score in baselines.items()},
        lstm=lstm,
        residuals=None if residuals is None else np.asarray(residuals, dtype=np.float64),
    )


def choice_line(record: Mapping[str, object]) -> str:
    """The chosen forecaster in one line, its validation score against the runner-up's.

    The runner-up named is the LSTM, or, when the LSTM was chosen, the best
    classical candidate: the comparison a reader asks for either way.
    """
    chosen = record.get("chosen")
    if chosen is None:
        return "no candidate was scored on validation"
    validation: Mapping[str, float | None] = record["validation"]  # type: ignore[assignment]
    holdout: Mapping[str, float | None] = record["holdout"]  # type: ignore[assignment]
    other = "lstm" if chosen != "lstm" else record.get("combined_with")
    label = METRIC_LABELS[str(record["metric"])]
    versus = (
        "" if other is None else f" vs {_label(other, record)} {_number(validation.get(other))}"
    )
    return (
        f"{_label(str(chosen), record)} (validation {label} {_number(validation[chosen])}"
        f"{versus}; holdout {_number(holdout.get(chosen))})"
    )


def _label(name: str, record: Mapping[str, object]) -> str:
    if name == "lstm":
        return "LSTM"
    if name == "combination":
        return f"the mean of LSTM and {record.get('combined_with')}"
    if name == CLASSICAL_MEAN:
        return "the mean of " + ", ".join(CLASSICAL)
    return name


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
