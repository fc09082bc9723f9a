"""State regimes: when a stateful LSTM's state is reset (docs/method.md, section 4).

A stateful model keeps one LSTM state that every operation (a training batch, a
forecast) reads and updates. A regime says when that state goes back to zero.
This table is the single definition both engines follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuner._checks import require_choice

__all__ = ["REGIMES", "REGIME_NAMES", "Regime", "get_regime"]


@dataclass(frozen=True)
class Regime:
    """When the LSTM state is reset during training, seeding and walk-forward.

    Attributes:
        name: The regime's name as used in options and study files.
        stateful: State carries from one batch to the next; otherwise every batch
            (training or forecast) starts from a zero state.
        reset_after_epoch: Reset after every training epoch (update epochs too).
        seed_with_training: Before forecasting, forecast the training rows batch by
            batch so the state has seen the training series (tutorial's "seed").
        reset_after_forecast: Reset after every forecast batch (seeding forecasts too).
        shuffle: Training rows are shuffled every epoch (stateless only).
        origin: The tutorial experiment this regime reproduces.
    """

    name: str
    stateful: bool
    reset_after_epoch: bool
    seed_with_training: bool
    reset_after_forecast: bool
    shuffle: bool
    origin: str


REGIMES: dict[str, Regime] = {
    regime.name: regime
    for regime in (
        Regime("reset_epoch", True, True, False, False, False, "noseed_1"),
        Regime("reset_epoch_and_forecast", True, True, False, True, False, "noseed_2"),
        Regime("never_reset", True, False, False, False, False, "noseed_3"),
        Regime("seeded", True, True, True, False, False, "seed_1"),
        Regime("seeded_reset_forecast", True, True, True, True, False, "seed_2"),
        Regime("seeded_never_reset", True, False, True, False, False, "seed_3"),
        Regime("stateless", False, False, False, False, False, "stateless"),
        Regime("stateless_shuffle", False, False, False, False, True, "stateless_shuffle"),
    )
}

REGIME_NAMES: tuple[str, ...] = tuple(REGIMES)


def get_regime(name: str) -> Regime:
    """Return the regime called ``name``.

    Raises:
        ConfigError: ``name`` is not one of the eight regimes (they are listed).
    """
    require_choice("regime", name, REGIME_NAMES)
    return REGIMES[name]
