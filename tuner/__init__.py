"""lstm-tuner: find good LSTM configurations for time-series forecasting.

The public API is re-exported here. Behind it, subpackages by job, each
depending only on those listed before it (docs/development.md, "Layout"):

- :mod:`tuner.data`: loading a series, its calendar, preparing it;
- :mod:`tuner.method`: regimes, shuffling, the network, the schedule, limits;
- :mod:`tuner.engines`: how fits are computed;
- :mod:`tuner.evaluation`: how a configuration is scored, metrics, baselines;
- :mod:`tuner.storage`: the database URL, opening it, locks, slot counts;
- :mod:`tuner.search`: study files, the space, the objective, studies as stored;
- :mod:`tuner.outputs`: exports, reports, plots;
- :mod:`tuner.forecasting`: refitting and forecasting, and the files a forecast writes;
- :mod:`tuner.distributed`: workers, pools, the proxy server, the compile cache;
- :mod:`tuner.api` (the functions the command line calls) and :mod:`tuner.cli`.

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
    "TunedPanel": "tuner.api",
    "TunedStudy": "tuner.api",
    "baselines": "tuner.api",
    "create_study": "tuner.api",
    "evaluate_export": "tuner.api",
    "forecast": "tuner.api",
    "init_study": "tuner.api",
    "open_study": "tuner.api",
    "persistence_rmse": "tuner.api",
    "plan_evaluation": "tuner.api",
    "run_study": "tuner.api",
    "run_worker": "tuner.api",
    "serve_dashboard": "tuner.api",
    "start_proxy": "tuner.api",
    "tune": "tuner.notebook",
    "BUILTIN_SERIES": "tuner.data.series",
    "Series": "tuner.data.series",
    "load_series": "tuner.data.series",
    "ConfigError": "tuner.exceptions",
    "DataError": "tuner.exceptions",
    "DivergedError": "tuner.exceptions",
    "TunerError": "tuner.exceptions",
    "Preparation": "tuner.data.preparation",
    "PreparedData": "tuner.data.preparation",
    "prepare": "tuner.data.preparation",
    "Hyperparameters": "tuner.method.protocol",
    "allowed_batch_sizes": "tuner.method.protocol",
    "REGIMES": "tuner.method.regimes",
    "REGIME_NAMES": "tuner.method.regimes",
    "Regime": "tuner.method.regimes",
    "DataSource": "tuner.data.source",
    "Evaluation": "tuner.evaluation.runner",
    "Scoring": "tuner.method.scoring",
    "EvaluationConfig": "tuner.evaluation.config",
    "evaluate": "tuner.evaluation.runner",
    "load_and_prepare": "tuner.evaluation.config",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is used."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tuner' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
