"""What to try: the search space of a study and how a trial samples it.

Batch sizes are the delicate dimension: a stateful LSTM needs the batch size to
divide both the training and the test size, and the training size depends on the
preparation (the lag, and a seasonal difference, cost rows). The space offers only
batch sizes valid for every preparation it can sample, and a study file that lists
another is refused with the allowed ones (docs/method.md, sections 3 and 6).

The preparations it samples are those :mod:`tuner.search.candidates` found
valid; ``transform`` and ``seasonal_difference`` become trial params only when
the study file searches them, so other studies' params are unchanged.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import optuna

from tuner.data.preparation import Preparation
from tuner.exceptions import ConfigError
from tuner.method.protocol import KERAS_LEARNING_RATE, Hyperparameters, allowed_batch_sizes
from tuner.search.studyfile import FloatChoice, FloatRange, IntChoice, IntRange, StudyConfig
from tuner.search.windows import StudyData

__all__ = ["TUTORIAL_CONFIGURATION", "SearchSpace"]

TUTORIAL_CONFIGURATION = {
    "epochs": 1000,
    "batch_size": 4,
    "neurons": 1,
    "regime": "seeded",
    "update_epochs": 0,
    "lag": 1,
    "framing": "features",
}
"""The tuning tutorial's configuration, enqueued first when it fits the space."""


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions a trial samples, with batch sizes resolved against the data.

    Attributes:
        config: The study file.
        batch_sizes: Batch sizes valid for every sampled preparation.
        preparations: The preparations a trial can sample (valid for the series).
    """

    config: StudyConfig
    batch_sizes: list[int]
    preparations: tuple[Preparation, ...] = ()

    @classmethod
    def build(cls, data: StudyData) -> SearchSpace:
        """Resolve the study's space against its series, prepared every way it can sample.

        Batch sizes must fit the search's windows and the holdout run's (the whole
        series with the holdout as test rows), for every preparation.

        Raises:
            ConfigError: A listed batch size does not divide the training and test
                sizes for some preparation or window, or no batch size does.
        """
        config = data.config
        runs = {p.label(): prepared for p, prepared in data.search.items()}
        runs |= {f"holdout at {p.label()}": d for p, d in data.holdout_runs.items()}
        valid = sorted(
            set.intersection(
                *(set(allowed_batch_sizes(p.n_train, p.n_test)) for p in runs.values())
            )
        )
        sizes = "; ".join(
            f"{run}: {p.n_train} training, {p.n_test} test rows" for run, p in runs.items()
        )
        wanted = config.search.batch_size or valid
        invalid = [size for size in wanted if size not in valid]
        if invalid or not valid:
            raise ConfigError(
                f"search.batch_size {(invalid or ['(any)'])[0]} does not divide both the "
                f"training and the test rows ({sizes}); allowed: "
                f"{', '.join(map(str, valid)) or 'none'}"
            )
        return cls(config=config, batch_sizes=list(wanted), preparations=tuple(data.search))

    @property
    def lags(self) -> IntChoice:
        """The lags a trial samples: the study file's, less those dropped as invalid."""
        lags = sorted({p.lag for p in self.preparations})
        choice = self.config.search.lag
        if isinstance(choice, IntRange):
            return IntRange(lags[0], lags[-1], choice.log)
        return [lag for lag in choice if lag in lags]

    @property
    def transforms(self) -> list[str]:
        """The value transforms a trial samples, in the study file's order."""
        valid = {p.transform for p in self.preparations}
        return [name for name in self.config.search.transform if name in valid]

    @property
    def seasonal_differences(self) -> list[bool]:
        """The seasonal-difference choices a trial samples, as the study file writes them."""
        valid = {p.seasonal_difference > 0 for p in self.preparations}
        return [wanted for wanted in self.config.search.seasonal_difference if wanted in valid]

    @property
    def season(self) -> int:
        """The seasonal difference ``true`` stands for (0 when the study never asks)."""
        return max(p.seasonal_difference for p in self.preparations)

    def suggest(self, trial: optuna.Trial) -> tuple[Hyperparameters, Preparation]:
        """Sample one configuration; return it and how its series is prepared."""
        search = self.config.search
        hyperparameters = Hyperparameters(
            epochs=_suggest_int(trial, "epochs", search.epochs),
            batch_size=trial.suggest_categorical("batch_size", self.batch_sizes),
            neurons=_suggest_int(trial, "neurons", search.neurons),
            regime=trial.suggest_categorical("regime", search.regimes),
            update_epochs=trial.suggest_categorical("update_epochs", search.update_epochs),
            framing=trial.suggest_categorical("framing", search.framing),
            **self._suggest_model(trial),
        )
        lag = _suggest_int(trial, "lag", self.lags)
        params = {name: choices[0] for name, choices in self._preparation_dimensions().items()}
        params |= {
            name: trial.suggest_categorical(name, choices)
            for name, choices in self._preparation_dimensions().items()
            if self._searched(name)
        }
        data = self.config.data
        preparation = Preparation(
            lag,
            data.window,
            data.train_size,
            transform=params["transform"],
            seasonal_difference=self.season if params["seasonal_difference"] else 0,
        )
        return hyperparameters, preparation

    def _preparation_dimensions(self) -> dict[str, list]:
        return {"transform": self.transforms, "seasonal_difference": self.seasonal_differences}

    def _searched(self, name: str) -> bool:
        """Whether the study file sets ``name`` (only then is it a trial param)."""
        defaults = {"transform": ["none"], "seasonal_difference": [False]}
        return getattr(self.config.search, name) != defaults[name]

    def _suggest_model(self, trial: optuna.Trial) -> dict[str, object]:
        """Layers and learning rate, sampled only where the study searches them.

        A study that leaves them out samples exactly what it sampled before they
        existed, so its trials (and a seeded sampler's draws) are unchanged.
        """
        search, model = self.config.search, {}
        if self.searches_layers:
            model["layers"] = _suggest_int(trial, "layers", search.layers)
        if search.learning_rate is not None:
            model["learning_rate"] = _suggest_rate(trial, search.learning_rate)
        return model

    @property
    def searches_layers(self) -> bool:
        """Whether ``layers`` is a dimension: the study asks for more than one layer."""
        return self.config.search.layers != [1]

    def with_defaults(self, params: dict[str, object]) -> dict[str, object]:
        """``params`` with the searched layers and learning rate, where absent, at their defaults.

        A configuration written before these dimensions (the tutorial's) means one
        layer and Keras's learning rate; enqueued as such it is that configuration.
        """
        defaults = {}
        if self.searches_layers:
            defaults["layers"] = 1
        if self.config.search.learning_rate is not None:
            defaults["learning_rate"] = KERAS_LEARNING_RATE
        return defaults | params

    @property
    def largest_layers(self) -> int:
        """The most layers a trial can sample: what the study's graphs are padded to."""
        layers = self.config.search.layers
        return layers.high if isinstance(layers, IntRange) else max(layers)

    @property
    def largest_neurons(self) -> int:
        """The most units a trial can sample: what the study's graphs are padded to."""
        neurons = self.config.search.neurons
        return neurons.high if isinstance(neurons, IntRange) else max(neurons)

    def grid(self) -> dict[str, list]:
        """Every dimension's values, for Optuna's GridSampler (lists only)."""
        search = self.config.search
        return {
            "epochs": list(search.epochs),
            "batch_size": self.batch_sizes,
            "neurons": list(search.neurons),
            "regime": search.regimes,
            "update_epochs": search.update_epochs,
            "lag": list(self.lags),
            "framing": search.framing,
            **({"layers": list(search.layers)} if self.searches_layers else {}),
            **(
                {"learning_rate": list(search.learning_rate)}
                if search.learning_rate is not None
                else {}
            ),
        } | {
            name: choices
            for name, choices in self._preparation_dimensions().items()
            if self._searched(name)
        }

    def grid_points(self) -> list[dict[str, object]]:
        """Every configuration of the grid, in a fixed order (lists only)."""
        grid = self.grid()
        return [
            dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())
        ]

    def contains(self, params: dict[str, object]) -> bool:
        """Whether a configuration (as trial params) lies inside the space.

        An absent ``layers`` or ``learning_rate`` means its default (one layer,
        Keras's rate), as in a configuration stored before they were dimensions.
        """
        search = self.config.search
        rate = params.get("learning_rate", KERAS_LEARNING_RATE)
        return (
            _contains(search.epochs, params["epochs"])
            and params["batch_size"] in self.batch_sizes
            and _contains(search.neurons, params["neurons"])
            and params["regime"] in search.regimes
            and params["update_epochs"] in search.update_epochs
            and _contains(self.lags, params["lag"])
            and params["framing"] in search.framing
            and params.get("transform", "none") in self.transforms
            and params.get("seasonal_difference", False) in self.seasonal_differences
            and _contains(search.layers, params.get("layers", 1))
            and (
                rate == KERAS_LEARNING_RATE
                if search.learning_rate is None
                else _contains_rate(search.learning_rate, rate)
            )
        )


def _suggest_int(trial: optuna.Trial, name: str, choice: IntChoice) -> int:
    if isinstance(choice, IntRange):
        return trial.suggest_int(name, choice.low, choice.high, log=choice.log)
    return trial.suggest_categorical(name, choice)


def _suggest_rate(trial: optuna.Trial, choice: FloatChoice) -> float:
    if isinstance(choice, FloatRange):
        return trial.suggest_float("learning_rate", choice.low, choice.high, log=True)
    return trial.suggest_categorical("learning_rate", choice)


def _contains_rate(choice: FloatChoice, value: object) -> bool:
    if isinstance(choice, FloatRange):
        return isinstance(value, int | float) and choice.low <= value <= choice.high
    return value in choice


def _contains(choice: IntChoice, value: object) -> bool:
    if isinstance(choice, IntRange):
        return isinstance(value, int) and choice.low <= value <= choice.high
    return value in choice
