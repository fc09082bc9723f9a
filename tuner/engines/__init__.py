"""Engines: how a trial's repeats are computed.

An engine takes scaled rows, one configuration and each repeat's initial weights
and returns scaled forecasts; it knows nothing about Optuna, studies or storage.
The contract is written on :class:`Engine`.
"""

from __future__ import annotations

from tuner._checks import require_choice
from tuner.engines._base import Engine, EngineResult, EngineTask, GraphShape, Progress
from tuner.engines._fast import FastEngine
from tuner.engines._keras import KerasEngine

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "Engine",
    "EngineResult",
    "EngineTask",
    "FastEngine",
    "GraphShape",
    "KerasEngine",
    "Progress",
    "get_engine",
]

ENGINES: dict[str, type[Engine]] = {FastEngine.name: FastEngine, KerasEngine.name: KerasEngine}

DEFAULT_ENGINE = FastEngine.name


def get_engine(name: str) -> Engine:
    """Return a new engine called ``name``.

    Raises:
        ConfigError: No engine has that name (the available ones are listed).
    """
    require_choice("engine", name, ENGINES)
    return ENGINES[name]()
