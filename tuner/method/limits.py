"""The bounds on every size a configuration or a study file may ask for.

A study file can ask for a trial no machine can run (``repeats = 100000`` with
100,000 units needs about 90 GiB). Such a trial used to die allocating, and took
its worker with it. The bounds below refuse absurd values outright; within them,
:func:`tuner.search.memory.check_fits_in_memory` refuses a study whose largest
trial would not fit in this machine's memory.
"""

from __future__ import annotations

__all__ = [
    "MAX_EPOCHS",
    "MAX_HORIZON",
    "MAX_LAG",
    "MAX_LAYERS",
    "MAX_LEARNING_RATE",
    "MAX_NEURONS",
    "MAX_ORIGINS",
    "MAX_REPEATS",
    "MAX_TRIALS_PER_GRAPH",
    "MAX_UPDATE_EPOCHS",
    "MIN_LEARNING_RATE",
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
MAX_HORIZON = 1_000
"""Steps one forecast covers; a recursive forecast of more compounds its own errors."""
MAX_ORIGINS = 100
"""Forecast origins of a window: each is a fit of every repeat, trained in one graph."""
