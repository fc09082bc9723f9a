"""The Optuna objective: one trial is the repeats of one sampled configuration.

A trial's value is its evaluation's score under the study's objective: a metric
of each repeat, averaged, or of their mean forecast (computed by
:func:`tuner.evaluation.runner.evaluate`; every metric of both is stored, overall
and by horizon step); everything else worth keeping about the trial (each
repeat's RMSE, their spread, the persistence baseline, skill, wall time, engine
and library versions) is stored as user attributes. The objective knows nothing
about where trials are stored: whoever runs it learns of a finished evaluation
through the ``on_evaluation`` callback (the worker draws the trial's plots there).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from importlib.metadata import version

import numpy as np
import optuna
from optuna.exceptions import UpdateFinishedTrialError

from tuner.data.preparation import PreparedData
from tuner.engines import Progress
from tuner.evaluation.config import EvaluationConfig
from tuner.evaluation.metrics import OBJECTIVE_LABELS
from tuner.evaluation.padding import pack_shape, study_shape
from tuner.evaluation.runner import Evaluation, evaluate_many
from tuner.exceptions import DivergedError
from tuner.search import names
from tuner.search.packing import member_step_work, study_schedules, trials_per_graph
from tuner.search.space import SearchSpace
from tuner.search.windows import StudyData

__all__ = ["EvaluationCallback", "Objective", "trial_seed"]

EvaluationCallback = Callable[[optuna.Trial, Evaluation], None]
"""Called with a trial and its evaluation once it has a value, before Optuna stores it."""


def trial_seed(study_seed: int, trial_number: int) -> int:
    """The base seed of a trial's repeats, from the study's seed and the trial's number.

    A retried trial inherits its original's user attributes, seed included, so it
    replays exactly the fits that were interrupted.
    """
    return int(np.random.SeedSequence([study_seed, trial_number]).generate_state(1)[0])


class Objective:
    """Callable Optuna objective for one study file.

    Args:
        data: The study's series, prepared every way its space samples
            (:class:`tuner.search.windows.StudyData`).
        on_evaluation: Called with each complete trial and its evaluation (whose
            forecasts are too large for the database), before the value is returned.
        on_progress: The engine's progress callback, called with epochs done as
            they are; whatever it raises ends the pack (a worker asked to stop
            stops there, between two epochs, never inside a database call).
    """

    def __init__(
        self,
        data: StudyData,
        on_evaluation: EvaluationCallback | None = None,
        on_progress: Progress | None = None,
    ) -> None:
        self.data = data
        self.on_progress = on_progress
        config = self.config = data.config
        prepared = data.search
        self.space = SearchSpace.build(data)
        self.on_evaluation = on_evaluation
        self.shape = study_shape(
            prepared.values(),
            self.space.batch_sizes,
            self.space.largest_neurons,
            self.space.largest_layers,
        )
        """The largest sizes of the study's trials; a pack is padded to its own part of
        them (:mod:`tuner.search.padding`; docs/method.md, section 11)."""
        pruner = config.pruner
        self.chunks = pruner.checkpoints if pruner.enabled else 1
        self.trials_per_graph = self._trials_per_graph()
        """How many trials a worker asks for and trains together (:mod:`tuner.search.packing`)."""

    def _trials_per_graph(self) -> int:
        """The pack width: the study file's, or estimated from the study's configurations."""
        config, setting = self.config, self.config.workers.trials_per_graph
        if setting != "auto":
            return int(setting)
        grid = self.space.grid_points() if config.sampler.kind == "grid" else None
        schedules = study_schedules(
            config.search.epochs,
            self.space.batch_sizes,
            config.search.update_epochs,
            grid,
            n_train=max(p.n_train for p in self.data.search.values()),
            n_test=max(p.n_test for p in self.data.search.values()),
        )
        chunk = dataclasses.replace(self.shape, repeats=-(-config.repeats // self.chunks))
        timesteps = self.shape.lag if "timesteps" in config.search.framing else 1
        limit = config.trials if grid is not None else max(1, config.trials // 10)
        return trials_per_graph(schedules, member_step_work(chunk, timesteps), limit)

    def __call__(self, trial: optuna.Trial) -> float:
        """Evaluate the sampled configuration; NaN (a failed trial) if the fit diverged.

        Raises:
            optuna.TrialPruned: The pruner stopped the trial.
        """
        (outcome,) = self.run_pack([trial])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def run_pack(self, trials: Sequence[optuna.Trial]) -> list[float | Exception]:
        """Evaluate several trials' configurations together, in one graph per chunk.

        Each trial samples its configuration in turn, so a sampler that treats
        running trials as lies (TPE's ``constant_liar``) spreads the pack out. The
        numbers of each trial are those it would have alone (docs/method.md,
        section 11); pruning stops one trial, not the pack.

        Returns:
            Per trial, in order: its value (NaN, a failed trial, if its fit
            diverged), or the exception that ended it instead: ``optuna.TrialPruned``,
            or ``UpdateFinishedTrialError`` if another worker took it over.
        """
        items = [self._prepare(trial) for trial in trials]
        outcomes = evaluate_many(
            items,
            self.on_progress,
            chunks=self.chunks,
            after_chunk=lambda index, so_far: _report(trials[index], so_far, self.config.objective),
            # the pack's width is the study's, however many trials are left, so that its
            # graphs are few; each trial's forecast origins are members too (docs/method.md,
            # section 13)
            shape=pack_shape(
                self.shape,
                [config.hyperparameters for _, config in items],
                trials=max(self.trials_per_graph, len(trials)) * self.config.data.scoring.fits,
            ),
        )
        return [self._finish(t, o) for t, o in zip(trials, outcomes, strict=True)]

    def _prepare(self, trial: optuna.Trial) -> tuple[PreparedData, EvaluationConfig]:
        """Sample the trial's configuration and store what reproduces it."""
        hyperparameters, preparation = self.space.suggest(trial)
        seed = trial.user_attrs.get(names.SEED, trial_seed(self.config.seed, trial.number))
        evaluation_config = EvaluationConfig(
            source=self.data.source,
            preparation=preparation,
            hyperparameters=hyperparameters,
            repeats=self.config.repeats,
            seed=seed,
            engine=self.config.engine,
            scoring=self.config.data.scoring,
        )
        trial.set_user_attr(names.SEED, seed)  # a retry inherits it and replays the same fits
        trial.set_user_attr(names.CONFIG, evaluation_config.to_dict())
        prepared = self.data.search[preparation]
        trial.set_user_attr(names.DATA_FINGERPRINT, prepared.fingerprint)
        return prepared, evaluation_config

    def _finish(self, trial: optuna.Trial, outcome: Evaluation | Exception) -> float | Exception:
        """Store a trial's result; its value, or the exception that ended it.

        Raises:
            Exception: Whatever ended the trial that is neither pruning nor divergence
                (a lost database while reporting): the pack cannot go on.
        """
        if isinstance(outcome, optuna.TrialPruned):
            return outcome
        try:
            if isinstance(outcome, DivergedError):
                trial.set_user_attr(names.FAIL_REASON, str(outcome))
                return math.nan
            if isinstance(outcome, Exception):
                raise outcome
            for key, value in _attributes(outcome).items():
                trial.set_user_attr(key, value)
        except UpdateFinishedTrialError as error:
            return error
        if self.on_evaluation is not None:
            self.on_evaluation(trial, outcome)
        return outcome.score(self.config.objective)


def _report(trial: optuna.Trial, so_far: Evaluation, objective: str) -> None:
    """Report the score of the repeats done so far; stop if the pruner says so."""
    value, repeats = so_far.score(objective), len(so_far.rmses)
    trial.report(value, step=repeats)
    if trial.should_prune():
        label = OBJECTIVE_LABELS[objective]
        raise optuna.TrialPruned(f"{label} {value:.3f} after {repeats} repeats")


def _attributes(evaluation: Evaluation) -> dict[str, object]:
    """User attributes of a complete trial (docs/method.md, section 6)."""
    summary = evaluation.summary
    return {
        names.RMSES: [float(rmse) for rmse in evaluation.rmses],
        names.MEAN_RMSE: evaluation.mean,
        names.ENSEMBLE_RMSE: evaluation.ensemble_rmse,
        names.METRICS: evaluation.metrics,
        names.BY_STEP: evaluation.by_step,
        names.RESIDUALS: evaluation.residuals.tolist(),
        names.STD: summary["std"],
        names.MIN: summary["min"],
        names.MEDIAN: summary["50%"],
        names.MAX: summary["max"],
        names.SUMMARY: summary,
        names.PERSISTENCE_RMSE: evaluation.persistence_rmse,
        names.SKILL: evaluation.skill,
        names.SECONDS: evaluation.seconds,
        names.COMPILE_SECONDS: evaluation.compile_seconds,
        names.ENGINE: evaluation.config.engine,
        names.VERSIONS: _versions(),
    }


def _versions() -> dict[str, str]:
    return {name: version(name) for name in ("lstm-tuner", "optuna", "tensorflow", "keras")}
