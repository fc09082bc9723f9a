"""A trial's memory estimate, and the refusal of work that would not fit: the one place.

At ``tuner create``, before anything is written, the largest trial the study can
sample is estimated, and the study is refused when that trial would take more
than half of this machine's memory (the other half is for the operating system
and the other workers). ``tuner evaluate`` and ``tuner forecast`` check the one
configuration they fit the same way, before any fit.
"""

from __future__ import annotations

import os

from tuner.data.preparation import Preparation, PreparedData
from tuner.exceptions import ConfigError
from tuner.method.model import input_shape
from tuner.method.protocol import Hyperparameters
from tuner.search.studyfile import StudyConfig

__all__ = [
    "MEMORY_SHARE",
    "check_configuration_fits",
    "check_fits_in_memory",
    "physical_memory",
    "trial_bytes",
]

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


def check_configuration_fits(
    hyperparameters: Hyperparameters, members: int, lag: int, what: str
) -> None:
    """Refuse one configuration whose fits (``members`` of them at once) would not fit.

    Raises:
        ConfigError: The estimate exceeds ``MEMORY_SHARE`` of the physical memory.
    """
    needed = sum(trial_bytes(hyperparameters, members, lag).values())
    allowed = int(physical_memory() * MEMORY_SHARE)
    if needed > allowed:
        raise ConfigError(
            f"{what} at {members} fit(s) of neurons={hyperparameters.neurons}, "
            f"layers={hyperparameters.layers}, lag={lag} needs about {_gib(needed)} of memory; "
            f"this machine allows {_gib(allowed)} ({MEMORY_SHARE:.0%} of "
            f"{_gib(physical_memory())}); lower repeats or neurons"
        )


def check_fits_in_memory(
    config: StudyConfig, prepared: dict[Preparation, PreparedData], batch_sizes: list[int]
) -> None:
    """Refuse a study whose largest trial would not fit in this machine's memory.

    Raises:
        ConfigError: The estimate of the largest trial exceeds ``MEMORY_SHARE`` of
            the physical memory; the message names the dimensions that drive it.
    """
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
    # Each forecast origin of a trial is one more set of its repeats (docs/method.md, 13).
    pack = config.workers.trials_per_graph
    origins = config.data.scoring.fits
    members = config.repeats * origins * (pack if isinstance(pack, int) else 1)
    parts = trial_bytes(largest, members, lag)
    needed, allowed = sum(parts.values()), int(physical_memory() * MEMORY_SHARE)
    if needed <= allowed:
        return
    stacked = f", layers={largest.layers}" if largest.layers > 1 else ""
    packed = f" (x{pack} trials per graph)" if isinstance(pack, int) and pack > 1 else ""
    packed += f" (x{origins} origins)" if origins > 1 else ""
    raise ConfigError(
        f"a trial of study {config.name!r} at repeats={config.repeats}{packed}, "
        f"neurons={largest.neurons}{stacked}, epochs={largest.epochs}, lag={lag} needs about "
        f"{_gib(needed)} of memory, mostly for its weights; this machine allows "
        f"{_gib(allowed)} per trial ({MEMORY_SHARE:.0%} of {_gib(physical_memory())}); "
        f"lower repeats and search.neurons{' or search.layers' if stacked else ''}"
        f"{' or data.origins' if origins > 1 else ''}"
    )


def _highest(choice: object) -> int:
    high = getattr(choice, "high", None)
    return high if high is not None else max(choice)  # type: ignore[call-overload]


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"
