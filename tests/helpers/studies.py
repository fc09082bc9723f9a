"""Study files for tests, written from settings, and the studies several test files share."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import optuna

SHAMPOO_20 = {"series": "shampoo", "train_size": 20}
"""The ``[data]`` of most test studies: shampoo with the tutorials' 20 training rows."""


def study_toml(name: str = "unit", **settings: object) -> str:
    """The text of a study file: ``name``, the other top-level keys, then one table each.

    Every test writes its studies with this, so that each names only the settings
    it is about and none is TOML typed by hand. A mapping is a table (``data=``,
    ``search=``, ``sampler=``, ``pruner=``, ``workers=``, ``confirm=``); a mapping
    inside a table is written inline (``{ low = 1, high = 4 }``), as the shipped
    study files write ranges. A setting of ``None`` is left out, in a table too;
    ``data`` is :data:`SHAMPOO_20` unless given.
    """
    settings = {"name": name, "data": SHAMPOO_20, **settings}
    tables = {key: value for key, value in settings.items() if isinstance(value, Mapping)}
    keys = {key: value for key, value in settings.items() if key not in tables}
    return _lines(keys) + "".join(
        f"[{table}]\n" + _lines(values) for table, values in tables.items()
    )


def _lines(settings: Mapping[str, object]) -> str:
    """One ``key = value`` line per setting that is not ``None``."""
    return "".join(
        f"{key} = {_literal(value)}\n" for key, value in settings.items() if value is not None
    )


def _literal(value: object) -> str:
    """``value`` as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{key} = {_literal(item)}" for key, item in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    raise TypeError(f"no TOML literal for {value!r}")


def small_study_toml(name: str = "small", series: str | Path = "shampoo", trials: int = 4) -> str:
    """The small study of the ``small_study`` fixture: short trials, two regimes, no pruning."""
    return study_toml(
        name,
        trials=trials,
        repeats=3,
        data={"series": series, "train_size": 20},
        search={
            "epochs": [5, 30],
            "neurons": [1],
            "batch_size": [4],
            "regimes": ["seeded", "reset_epoch"],
        },
        pruner={"enabled": False},
    )


def unit_study_toml(trials: int, **changes: object) -> str:
    """Study ``unit`` as the worker, claim and proxy tests run it, with ``changes``.

    Its trials are short, its heartbeats fast and its failure limit low, so that a
    test sees a dead worker's trial failed and a failing worker stop within seconds.
    Each claim takes one trial, as these tests follow them; tests/search/test_packs.py
    takes several.
    """
    settings = {
        "trials": trials,
        "repeats": 2,
        "timeout": 120,
        "search": {
            "epochs": [2, 3],
            "neurons": [1],
            "batch_size": [4],
            "regimes": ["seeded", "stateless"],
        },
        "pruner": {"enabled": False},
        "workers": {
            "max_consecutive_failures": 2,
            "heartbeat_interval": 1,
            "grace_period": 2,
            "trials_per_graph": 1,
        },
    }
    return study_toml("unit", **{**settings, **changes})


def trials_of(url: str, name: str = "unit") -> list[optuna.trial.FrozenTrial]:
    """Every trial of study ``name``, read afresh from the database."""
    return optuna.load_study(study_name=name, storage=url).get_trials()


SHORT_TRIALS_SEARCH = {
    "epochs": [2, 5],
    "neurons": [1],
    "batch_size": [4],
    "regimes": ["seeded", "reset_epoch"],
}
"""A space of short trials: chaos and signals meet many of them."""


def short_trials_toml(
    name: str, *, trials: int, repeats: int, engine: str, workers: Mapping[str, object]
) -> str:
    """A study of short trials (a second or two each with Keras), never pruned.

    The chaos benchmark and the Kubernetes test both run one, with their own
    heartbeat and retry settings in ``workers``.
    """
    return study_toml(
        name,
        trials=trials,
        repeats=repeats,
        engine=engine,
        search=SHORT_TRIALS_SEARCH,
        pruner={"enabled": False},
        workers=workers,
    )
