"""What a pack of trials, or one configuration alone, is padded to: few graphs cover them.

The fast engine pads a task to a :class:`~tuner.engines.GraphShape` and compiles
one graph per shape (docs/method.md, section 11). Compiling costs a second or more,
and the padding costs arithmetic at every training step, so the shape is a
trade between the two:

- **Layers and units** follow the pack: its largest layer count, and its largest
  ``neurons`` rounded up to a power of two, at least ``UNITS_FLOOR`` and at most
  the study's largest. A one-layer trial padded to a study's two layers computed
  twice the cells it needed: padding every trial to the study's largest sizes
  made the M3 monthly benchmark's tuning take 1.8 times as long as this rule
  (docs/benchmarks.md). A study then compiles a few graphs (layer counts times
  powers of two), not one; a study of at most ``UNITS_FLOOR`` units (the
  shipped quick ones) still one per layer count, since so few units cost little
  more padded than not.
- **Rows** are rounded up to a multiple of ``ROWS_STEP`` and, for the
  ``features`` framing, a **lag** above ``LAG_STEP`` up to a multiple of it, so
  that series of a panel whose lengths differ a little share their graphs, in a
  worker and through the compile cache (:mod:`tuner.distributed.compile_cache`).
  Padded rows cost no training step. Padded lags cost more than their share of
  a small matrix product: padding the shampoo study's lag of 1 to 8 made the
  quick start 9% slower (``benchmarks/quickstart.py``), so a lag up to
  ``LAG_STEP`` stays as it is. With ``timesteps`` a padded lag is a time step
  computed for nothing, so the lag stays the study's.

One configuration fitted alone (the confirmation on the holdout, section 10, or a refit,
section 12) is padded by the same rule to its own sizes, so that those of a
panel's series share their graphs as their trials do, except that any
``features`` lag rounds up: such a fit runs once per series, so its compile
weighs more than its padding. Leaving its lags of 8 and under as they were made
the M3 benchmark's forecasts take 209 s instead of 169 and 173
(docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tuner.data.preparation import PreparedData
from tuner.engines import GraphShape
from tuner.method.protocol import Hyperparameters

__all__ = [
    "LAG_STEP",
    "ROWS_STEP",
    "UNITS_FLOOR",
    "evaluation_shape",
    "pack_shape",
    "single_shape",
    "study_shape",
]

ROWS_STEP = 32
"""Rows are padded to a multiple of this: M3 monthly's lengths fall in four steps."""
LAG_STEP = 8
"""A ``features`` lag above this is padded to a multiple of it."""
UNITS_FLOOR = 8
"""Units are padded to at least this many (within the study's largest)."""


def study_shape(
    prepared: Iterable[PreparedData], batch_sizes: Sequence[int], units: int, layers: int
) -> GraphShape:
    """The largest sizes a study's trials can have, its rows rounded up to ``ROWS_STEP``.

    Args:
        prepared: Every preparation the study's space samples.
        batch_sizes: The batch sizes it samples.
        units: The most ``neurons`` it samples.
        layers: The most layers it samples.
    """
    prepared = list(prepared)
    return GraphShape(
        rows=_rounded_up(max(p.n_train + p.n_test for p in prepared), ROWS_STEP),
        lag=max(p.preparation.lag for p in prepared),
        units=units,
        batch=max(batch_sizes),
        layers=layers,
    )


def pack_shape(study: GraphShape, pack: Sequence[Hyperparameters], trials: int) -> GraphShape:
    """The shape a pack of trials is padded to (see the module's rule).

    Args:
        study: The study's largest sizes (:func:`study_shape`).
        pack: The configurations trained together.
        trials: Trials each graph run holds (``GraphShape.trials``).
    """
    features = all(hp.framing == "features" for hp in pack)
    return GraphShape(
        repeats=study.repeats,
        rows=study.rows,
        lag=_lag(study.lag, features),
        units=min(study.units, _units(max(hp.neurons for hp in pack))),
        batch=study.batch,
        layers=max(hp.layers for hp in pack),
        trials=trials,
    )


def single_shape(rows: int, lag: int, hp: Hyperparameters) -> GraphShape:
    """The shape ``hp`` fitted alone on ``rows`` rows of ``lag`` inputs is padded to."""
    return GraphShape(
        rows=_rounded_up(rows, ROWS_STEP),
        lag=_rounded_up(lag, LAG_STEP) if hp.framing == "features" else lag,
        units=_units(hp.neurons),
        layers=hp.layers,
        trials=1,
    )


def evaluation_shape(prepared: PreparedData, hp: Hyperparameters) -> GraphShape:
    """The shape ``hp`` evaluated alone on ``prepared`` is padded to (:func:`single_shape`).

    The confirmation and ``tuner evaluate --holdout`` both pad so, and so give the
    same scores to the last bit.
    """
    return single_shape(prepared.n_train + prepared.n_test, prepared.preparation.lag, hp)


def _lag(lag: int, features: bool) -> int:
    """A ``features`` lag above ``LAG_STEP`` rounded up to a multiple of it; any other as it is."""
    return _rounded_up(lag, LAG_STEP) if features and lag > LAG_STEP else lag


def _rounded_up(value: int, step: int) -> int:
    """The smallest multiple of ``step`` at least ``value``."""
    return -(-value // step) * step


def _units(neurons: int) -> int:
    """The smallest power of two at least ``neurons`` and ``UNITS_FLOOR``."""
    return max(UNITS_FLOOR, 1 << max(neurons - 1, 0).bit_length())
