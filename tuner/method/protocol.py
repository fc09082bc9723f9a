"""The rules every engine follows: hyperparameters, batch sizes, schedule, seeds.

Both engines receive the same :class:`WalkForward` schedule, the same initial
weights and the same shuffle orders from here, so they differ only in how they
compute, never in what they compute (docs/method.md, sections 3, 5 and 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tuner._checks import require_choice, require_float, require_int
from tuner.exceptions import ConfigError
from tuner.method.limits import (
    MAX_EPOCHS,
    MAX_LAYERS,
    MAX_LEARNING_RATE,
    MAX_NEURONS,
    MAX_UPDATE_EPOCHS,
    MIN_LEARNING_RATE,
)
from tuner.method.model import FRAMINGS, InitialWeights, draw_initial_weights, input_shape
from tuner.method.regimes import REGIME_NAMES, Regime, get_regime
from tuner.method.shuffling import shuffle_order

__all__ = [
    "KERAS_LEARNING_RATE",
    "Hyperparameters",
    "RepeatSetup",
    "WalkForward",
    "allowed_batch_sizes",
    "check_batch_size",
    "repeat_setups",
]

KERAS_LEARNING_RATE = 0.001
"""Adam's learning rate when a study does not search it: Keras's default."""


@dataclass(frozen=True)
class Hyperparameters:
    """One LSTM configuration, as a trial samples it.

    Attributes:
        epochs: Training epochs before the walk-forward starts.
        batch_size: Rows per batch; must divide the training and test sizes.
        neurons: LSTM units.
        regime: State regime name (see :mod:`tuner.method.regimes`).
        update_epochs: Epochs of retraining on the enlarged training set after each
            walk-forward step (0: a fixed model).
        framing: ``features`` gives samples of shape ``(1, lag)``, ``timesteps``
            gives ``(lag, 1)``.
        learning_rate: Adam's learning rate (Keras's default, 0.001, unless searched).
        layers: Stacked LSTM layers of ``neurons`` units each.
    """

    epochs: int
    batch_size: int
    neurons: int
    regime: str
    update_epochs: int = 0
    framing: str = "features"
    learning_rate: float = KERAS_LEARNING_RATE
    layers: int = 1

    def __post_init__(self) -> None:
        require_int("epochs", self.epochs, 1, MAX_EPOCHS)
        require_int("batch_size", self.batch_size, 1)
        require_int("neurons", self.neurons, 1, MAX_NEURONS)
        require_choice("regime", self.regime, REGIME_NAMES)
        require_int("update_epochs", self.update_epochs, 0, MAX_UPDATE_EPOCHS)
        require_choice("framing", self.framing, FRAMINGS)
        require_float("learning_rate", self.learning_rate, MIN_LEARNING_RATE, MAX_LEARNING_RATE)
        require_int("layers", self.layers, 1, MAX_LAYERS)

    @property
    def state_regime(self) -> Regime:
        """The :class:`Regime` named by ``regime``."""
        return get_regime(self.regime)


def allowed_batch_sizes(n_train: int, n_test: int) -> list[int]:
    """Batch sizes a stateful LSTM accepts: the common divisors of both sizes."""
    return [
        size
        for size in range(1, min(n_train, n_test) + 1)
        if n_train % size == 0 and n_test % size == 0
    ]


def check_batch_size(batch_size: int, n_train: int, n_test: int) -> None:
    """Reject a batch size that does not divide both the training and test sizes.

    Raises:
        ConfigError: Names the sizes and lists the allowed batch sizes.
    """
    allowed = allowed_batch_sizes(n_train, n_test)
    if batch_size not in allowed:
        raise ConfigError(
            f"batch_size must divide both the {n_train} training rows and the {n_test} test "
            f"rows; allowed: {', '.join(map(str, allowed))}; got {batch_size}"
        )


@dataclass(frozen=True)
class WalkForward:
    """The schedule of one repeat: initial training, then forecast steps with updates.

    The test rows are forecast one batch (a *step*) at a time. After every step
    but the last, if ``update_epochs`` > 0, the step's actual rows join the
    training set and the model trains ``update_epochs`` more epochs on it.
    """

    n_train: int
    n_test: int
    batch_size: int
    epochs: int
    update_epochs: int

    @classmethod
    def of(cls, n_train: int, n_test: int, hyperparameters: Hyperparameters) -> WalkForward:
        """The schedule of ``hyperparameters`` on ``n_train`` training and ``n_test`` test rows."""
        return cls(
            n_train=n_train,
            n_test=n_test,
            batch_size=hyperparameters.batch_size,
            epochs=hyperparameters.epochs,
            update_epochs=hyperparameters.update_epochs,
        )

    @property
    def n_steps(self) -> int:
        """Number of forecast steps (batches) in the test period."""
        return self.n_test // self.batch_size

    def training_phases(self) -> list[tuple[int, int]]:
        """``(epochs, training rows)`` of each training phase, in order."""
        phases = [(self.epochs, self.n_train)]
        if self.update_epochs:
            phases += [
                (self.update_epochs, self.n_train + step * self.batch_size)
                for step in range(1, self.n_steps)
            ]
        return phases

    @property
    def total_epochs(self) -> int:
        """Epochs one repeat trains, updates included: the unit of progress."""
        return sum(epochs for epochs, _ in self.training_phases())


@dataclass(frozen=True)
class RepeatSetup:
    """Everything random about one repeat, fixed before any engine runs.

    Attributes:
        weights: Initial weights of the network.
        shuffle_seed: Seed of the row order of every training epoch, for a
            shuffling regime (see :mod:`tuner.method.shuffling`).
    """

    weights: InitialWeights
    shuffle_seed: int

    def order(self, epoch: int, n_rows: int) -> np.ndarray:
        """The row order of training epoch ``epoch`` (counted over every phase) on ``n_rows``."""
        return shuffle_order(self.shuffle_seed, epoch, n_rows)


def repeat_setups(
    seed: int | Sequence[int],
    repeats: int,
    hyperparameters: Hyperparameters,
    lag: int,
) -> list[RepeatSetup]:
    """Draw each repeat's initial weights and shuffle seed from one base seed.

    Repeat ``r`` uses the ``r``-th child of ``numpy.random.SeedSequence(seed)``, so
    repeats are independent, a rerun with the same seed is identical, and asking
    for more repeats keeps the first ones unchanged.
    """
    require_int("repeats", repeats, 1)
    features = input_shape(lag, hyperparameters.framing)[1]
    setups = []
    for child in np.random.SeedSequence(seed).spawn(repeats):
        weights_seed, order_seed = child.spawn(2)
        weights = draw_initial_weights(
            np.random.default_rng(weights_seed),
            features,
            hyperparameters.neurons,
            hyperparameters.layers,
        )
        shuffle_seed = int(order_seed.generate_state(1, np.uint64)[0])
        setups.append(RepeatSetup(weights=weights, shuffle_seed=shuffle_seed))
    return setups
