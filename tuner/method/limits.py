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
from tuner.method.model import input_shape

if TYPE_CHECKING:  # they import the bounds below: imported where used, not here
    from tuner.data.preparation import Preparation, PreparedData
    from tuner.method.protocol import Hyperparameters
    from tuner.search.studyfile import StudyConfig

__all__ = [
    "MAX_EPOCHS",
    "MAX_LAG",
    "MAX_LAYERS",
    "MAX_LEARNING_RATE",
    "MAX_NEURONS",
    "MAX_REPEATS",
    "MAX_TRIALS_PER_GRAPH",
    "MAX_UPDATE_EPOCHS",
    "MIN_LEARNING_RATE",
    "check_fits_in_memory",
    "physical_memory",
    "trial_bytes",
]

MAX_REPEATS = 1_000
MAX_TRIALS_PER_GRAPH = 16
"""Trials one graph trains together; past a few, a pack only delays its trials' results."""
MAX_NEURONS = 1_024
MAX_EPOCHS = 100_000
MAX_UPDATE_EPOCHS = 10_000
MAX_LAG = 1_000
MAX_LAYERS = 3
"""Stacked LSTM layers; deeper stacks do not pay on series of a few hundred points."""
MIN_LEARNING_RATE = 1e-5
MAX_LEARNING_RATE = 1.0
"""Adam's learning rate: below 1e-5 nothing trains in a study's epochs, above 1 it diverges."""
MEMORY_SHARE = 0.5
"""The share of the machine's memory one trial may take."""

_WEIGHT_COPIES = 6
"""Float32 copies of the weights the fast engine holds: the weights, their gradients,
Adam's two moments and XLA's temporaries (counted twice); plus the float64 draw."""


def physical_memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def trial_bytes(hyperparameters: Hyperparameters, repeats: int, lag: int) -> dict[str, int]:
    """Estimated bytes of one fast-engine trial, by the part that needs them.

    Only the part that grows with the study file is counted: the repeats'
    weights (``repeats x units x (inputs + units)`` for the first layer, ``repeats x
    units x 2 units`` for each layer stacked on it). Shuffle orders are built in
    the graph one epoch at a time, so epochs cost no memory.
    """
    features = input_shape(lag, hyperparameters.framing)[1]
    units = hyperparameters.neurons
    first = 4 * units * (features + units + 1)
    stacked = (hyperparameters.layers - 1) * 4 * units * (units + units + 1)
    per_repeat = first + stacked + units + 1
    return {"weights": repeats * per_repeat * (8 + 4 * _WEIGHT_COPIES)}


def check_fits_in_memory(
    config: StudyConfig, prepared: dict[Preparation, PreparedData], batch_sizes: list[int]
) -> None:
    """Refuse a study whose largest trial would not fit in this machine's memory.

    Raises:
        ConfigError: The estimate of the largest trial exceeds ``MEMORY_SHARE`` of
            the physical memory; the message names the dimensions that drive it.
    """
    from tuner.method.protocol import Hyperparameters

    search = config.search
    lag = max(p.lag for p in prepared)
    largest = Hyperparameters(
        epochs=_highest(search.epochs),
        batch_size=min(batch_sizes),
        neurons=_highest(search.neurons),
        regime=search.regimes[0],
        update_epochs=max(search.update_epochs),
        framing="features",
        layers=_highest(search.layers),
    )
    # A pack trains its trials' repeats side by side; "auto" packs only graphs so small
    # that a pack's weights are a few megabytes (tuner/search/packing.py).
    pack = config.workers.trials_per_graph
    parts = trial_bytes(largest, config.repeats * (pack if isinstance(pack, int) else 1), lag)
    needed, allowed = sum(parts.values()), int(physical_memory() * MEMORY_SHARE)
    if needed <= allowed:
        return
    stacked = f", layers={largest.layers}" if largest.layers > 1 else ""
    packed = f" (x{pack} trials per graph)" if isinstance(pack, int) and pack > 1 else ""
    raise ConfigError(
        f"a trial of study {config.name!r} at repeats={config.repeats}{packed}, "
        f"neurons={largest.neurons}{stacked}, epochs={largest.epochs}, lag={lag} needs about "
        f"{_gib(needed)} of memory, mostly for its weights; this machine allows "
        f"{_gib(allowed)} per trial ({MEMORY_SHARE:.0%} of {_gib(physical_memory())}); "
        f"lower repeats and search.neurons{' or search.layers' if stacked else ''}"
    )


def _highest(choice: object) -> int:
    high = getattr(choice, "high", None)
    return high if high is not None else max(choice)  # type: ignore[call-overload]


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"
