"""lstm-tuner: find good LSTM configurations for time-series forecasting.

The public API is re-exported here; the modules behind it are named for one idea
each: :mod:`tuner.data` (loading), :mod:`tuner.preparation` (differencing,
framing, scaling), :mod:`tuner.regimes` (state resets), :mod:`tuner.protocol`
(batch sizes, schedule, seeds), :mod:`tuner.model` (network and initial weights),
:mod:`tuner.engines` (how fits are computed), :mod:`tuner.runner` (how a
configuration is scored) and :mod:`tuner.api` (studies, exports and forecasts
for notebooks: the functions the command line calls).

Names are imported on first use, so ``import tuner`` (and ``tuner --help``) stays
instant while pandas, scikit-learn and TensorFlow load only when work needs them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("lstm-tuner")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_EXPORTS: dict[str, str] = {
    "TunedStudy": "tuner.api",
    "create_study": "tuner.api",
    "evaluate_export": "tuner.api",
    "forecast": "tuner.api",
    "open_study": "tuner.api",
    "run_study": "tuner.api",
    "BUILTIN_SERIES": "tuner.data",
    "Series": "tuner.data",
    "load_series": "tuner.data",
    "ConfigError": "tuner.exceptions",
    "DataError": "tuner.exceptions",
    "DivergedError": "tuner.exceptions",
    "TunerError": "tuner.exceptions",
    "Preparation": "tuner.preparation",
    "PreparedData": "tuner.preparation",
    "prepare": "tuner.preparation",
    "Hyperparameters": "tuner.protocol",
    "allowed_batch_sizes": "tuner.protocol",
    "REGIMES": "tuner.regimes",
    "REGIME_NAMES": "tuner.regimes",
    "Regime": "tuner.regimes",
    "DataSource": "tuner.runner",
    "Evaluation": "tuner.runner",
    "EvaluationConfig": "tuner.runner",
    "evaluate": "tuner.runner",
    "load_and_prepare": "tuner.runner",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is used."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tuner' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
