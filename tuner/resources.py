"""Resource limits: the largest study a worker accepts, and a trial's memory estimate.

A study file can ask for a trial no machine can run (``repeats = 100000`` with
100,000 units needs about 90 GiB). Such a trial used to die allocating, and took
its worker with it. The bounds below refuse absurd values outright; within them,
:func:`check_fits_in_memory` estimates the largest trial the study can sample and
refuses the study at ``tuner create``, before anything is written, when that
trial would take more than half of this machine's memory (the other half is for
the operating system and the other workers).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tuner.exceptions import ConfigError
from tuner.model import input_shape

if TYPE_CHECKING:  # they import the bounds below: imported where used, not here
    from tuner.preparation import PreparedData
    from tuner.protocol import Hyperparameters
    from tuner.studyfile import StudyConfig

__all__ = [
    "MAX_EPOCHS",
    "MAX_LAG",
    "MAX_NEURONS",
    "MAX_REPEATS",
    "MAX_UPDATE_EPOCHS",
    "check_fits_in_memory",
    "physical_memory",
    "trial_bytes",
]

MAX_REPEATS = 1_000
MAX_NEURONS = 1_024
MAX_EPOCHS = 100_000
MAX_UPDATE_EPOCHS = 10_000
MAX_LAG = 1_000
MEMORY_SHARE = 0.5
"""The share of the machine's memory one trial may take."""

_WEIGHT_COPIES = 6
"""Float32 copies of the weights the fast engine holds: the weights, their gradients,
Adam's two moments and XLA's temporaries (counted twice); plus the float64 draw."""
_ORDER_BYTES_PER_ROW = 16
"""A shuffle order's row index: int64 when drawn, then int32 twice (array and tensor)."""
_ORDER_BYTES_PER_EPOCH = 112
"""NumPy's overhead for each epoch's order array."""


def physical_memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def trial_bytes(
    hyperparameters: Hyperparameters, repeats: int, lag: int, n_train: int, n_test: int
) -> dict[str, int]:
    """Estimated bytes of one fast-engine trial, by the part that needs them.

    Only the parts that grow with the study file are counted: the repeats'
    weights (``repeats x units x (inputs + units)``) and, for a shuffling regime,
    the shuffle orders (``repeats x total epochs x rows``).
    """
    from tuner.protocol import WalkForward

    features = input_shape(lag, hyperparameters.framing)[1]
    units = hyperparameters.neurons
    per_repeat = 4 * units * (features + units + 1) + units + 1
    parts = {"weights": repeats * per_repeat * (8 + 4 * _WEIGHT_COPIES), "shuffle orders": 0}
    if hyperparameters.state_regime.shuffle:
        epochs = WalkForward.of(n_train, n_test, hyperparameters).total_epochs
        row_bytes = (n_train + n_test) * _ORDER_BYTES_PER_ROW + _ORDER_BYTES_PER_EPOCH
        parts["shuffle orders"] = repeats * epochs * row_bytes
    return parts


def check_fits_in_memory(
    config: StudyConfig, prepared: dict[int, PreparedData], batch_sizes: list[int]
) -> None:
    """Refuse a study whose largest trial would not fit in this machine's memory.

    Raises:
        ConfigError: The estimate of the largest trial exceeds ``MEMORY_SHARE`` of
            the physical memory; the message names the dimensions that drive it.
    """
    from tuner.protocol import Hyperparameters

    search = config.search
    lag = max(prepared)
    largest = Hyperparameters(
        epochs=_highest(search.epochs),
        batch_size=min(batch_sizes),
        neurons=_highest(search.neurons),
        regime="stateless_shuffle" if "stateless_shuffle" in search.regimes else search.regimes[0],
        update_epochs=max(search.update_epochs),
        framing="features",
    )
    rows = prepared[lag]
    parts = trial_bytes(largest, config.repeats, lag, rows.n_train, rows.n_test)
    needed, allowed = sum(parts.values()), int(physical_memory() * MEMORY_SHARE)
    if needed <= allowed:
        return
    part = max(parts, key=parts.__getitem__)
    drivers = {
        "weights": "repeats and search.neurons",
        "shuffle orders": "repeats, search.epochs and search.update_epochs "
        "(or drop stateless_shuffle from search.regimes)",
    }[part]
    raise ConfigError(
        f"a trial of study {config.name!r} at repeats={config.repeats}, "
        f"neurons={largest.neurons}, epochs={largest.epochs}, lag={lag} needs about "
        f"{_gib(needed)} of memory, mostly for its {part}; this machine allows "
        f"{_gib(allowed)} per trial ({MEMORY_SHARE:.0%} of {_gib(physical_memory())}); "
        f"lower {drivers}"
    )


def _highest(choice: object) -> int:
    high = getattr(choice, "high", None)
    return high if high is not None else max(choice)  # type: ignore[call-overload]


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"
