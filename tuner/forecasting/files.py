"""What a forecast leaves behind: its table, its picture, its models and how to feed them.

A forecast directory holds ``forecast.csv``, ``forecast.png``, one Keras model per
repeat (``repeat_0.keras``, ...) that plain ``keras.models.load_model`` opens, and
``preparation.json``: everything needed to turn raw observations into a model's
input and its output back into series units (docs/method.md, section 12).

An output directory is someone's work: it is resolved to a real path first, and
refused when it is the current directory or one of its parents, a symbolic link,
a file, or a directory holding anything but an earlier forecast's files. The new
forecast is written beside it and swapped in by renames, so a failure at any
point, a crash included, leaves the earlier forecast whole and no partial directory.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import glob
import json
import logging
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from tuner._checks import require_path
from tuner.data.dates import date_label
from tuner.engines._tensorflow import import_keras
from tuner.evaluation.recursive import Refit
from tuner.exceptions import ConfigError
from tuner.forecasting.refit import Forecast
from tuner.method.model import InitialWeights, input_shape
from tuner.outputs.plots import save_future_plot

__all__ = [
    "PREPARATION_FILE",
    "check_output",
    "model_file",
    "one_step_model",
    "preparation_record",
    "state_inputs",
    "write_forecast",
]

logger = logging.getLogger(__name__)

PREPARATION_FILE = "preparation.json"
FORECAST_FILES = re.compile(r"forecast\.csv|forecast\.png|preparation\.json|repeat_\d+\.keras")
"""The names a forecast directory holds; anything else in one is someone else's."""
KIND = "lstm-tuner forecast preparation"
VERSION = 1
STEP_RULE = (
    "step h (0-based) runs in batch slot h mod batch_size: its inputs are the last lag "
    "differences d of the transformed observations z (forecasts included), seasonally "
    "differenced first when seasonal_difference m > 0, scaled; its state is that slot's "
    "(every state input, in state_inputs order); with carry_state the returned state replaces "
    "that slot's, otherwise the slot keeps it; the output, unscaled, is added to z[-1] (plus "
    "z[-m] - z[-m-1] when m > 0) and the sum transformed back"
)


def model_file(repeat: int) -> str:
    """The file name of repeat ``repeat``'s model."""
    return f"repeat_{repeat}.keras"


def state_inputs(layers: int) -> list[str]:
    """The names of a one-step model's state inputs (and outputs), in order.

    Layer 0's are ``h`` and ``c``, as a one-layer model has always named them, and
    layer ``l``'s above it ``h_l`` and ``c_l``; ``preparation.json`` stores each
    model's slots under the same names.
    """
    return [f"{part}{f'_{layer}' if layer else ''}" for layer in range(layers) for part in "hc"]


def write_forecast(forecast: Forecast, directory: str | Path) -> Path:
    """Write the forecast's files into ``directory``, all or nothing.

    The files are written into a new directory beside it, which then takes the
    earlier forecast's place in one atomic exchange of the two names (Linux's
    ``renameat2``), so at every instant, a crash included, ``directory`` holds one
    whole forecast, the earlier or the new. The earlier one is then removed;
    what a crash leaves beside it (``.NAME-swap-*``) is removed by the next write.
    Where the exchange is not available, two renames swap them, and a failure
    between them puts the earlier forecast back.

    Raises:
        ConfigError: ``directory`` is refused (see :func:`check_output`), or it
            cannot be written (the reason is given).
    """
    target = check_output(directory)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(target)
        # made with mkdir, not mkdtemp: its 0700 would hide the forecast from others
        staging = target.parent / f"{_swap_prefix(target)}{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    except OSError as error:
        raise ConfigError(
            f"cannot write the output directory {str(target)!r}: {error.strerror}"
        ) from None
    try:
        _write_files(forecast, staging)
        _swap(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the new files, or after the swap the old
    if staging.exists():
        logger.warning("the earlier forecast could not be removed; it is in %s", staging)
    return target


def _swap_prefix(target: Path) -> str:
    """The hidden name prefix of a forecast's staging directories, beside ``target``."""
    return f".{target.name}-swap-"


def _remove_leftovers(target: Path) -> None:
    """Remove what an interrupted earlier write left beside ``target``.

    A staging directory outlives its write only when the process died: before
    the exchange it holds a partial new forecast, after it the replaced one, and
    ``target`` is whole either way, so neither is anyone's work.
    """
    for leftover in target.parent.glob(f"{glob.escape(_swap_prefix(target))}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _swap(staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target``; an earlier forecast there ends up at ``staging``."""
    if not target.exists():
        os.rename(staging, target)
    elif not _exchange(staging, target):
        _swap_by_renames(staging, target)


def _swap_by_renames(staging: Path, target: Path) -> None:
    """The swap without an atomic exchange: ``target`` is briefly missing in between."""
    aside = staging.with_name(f"{staging.name}-old")
    os.rename(target, aside)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(aside, target)
        raise
    os.rename(aside, staging)


def _exchange(first: Path, second: Path) -> bool:
    """Exchange two paths atomically with Linux's ``renameat2(RENAME_EXCHANGE)``.

    Written by hand because neither ``os`` nor any library exposes the call.

    Returns:
        ``False`` where the call does not exist (not Linux, an old kernel or C
        library, a file system without it); nothing was changed then.

    Raises:
        OSError: The exchange failed for another reason.
    """
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    at_cwd, rename_exchange = -100, 2
    if renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), str(second))


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, or ``None`` where there is none to load."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def check_output(directory: str | Path) -> Path:
    """Refuse, before any work, an output directory that must not or cannot be written.

    Returns:
        The directory as a resolved, absolute path.

    Raises:
        ConfigError: ``directory`` is no path or empty, a symbolic link, the current directory
            or one of its parents, a file, or a directory holding anything but an
            earlier forecast's files; or its parent cannot be created or written.
    """
    require_path("output directory", directory)
    given = Path(directory)
    if given.is_symlink():
        raise ConfigError(
            f"output directory {str(directory)!r} is a symbolic link; give the directory itself"
        )
    target = given.resolve()
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        raise ConfigError(
            f"output directory {str(directory)!r} is the current directory or one of its "
            "parents, which a forecast would replace; give a new directory"
        )
    if target.exists():
        _check_earlier_forecast(target, str(directory))
    parent = next(p for p in target.parents if p.exists())
    if not parent.is_dir():
        reason = "Not a directory"
    elif not os.access(parent, os.W_OK | os.X_OK):
        reason = "Permission denied"
    else:
        return target
    raise ConfigError(f"cannot write the output directory {str(directory)!r}: {reason}")


def _check_earlier_forecast(target: Path, given: str) -> None:
    """Refuse an existing path that is not an earlier forecast's directory, naming why."""
    if not target.is_dir():
        raise ConfigError(f"output directory {given!r} is a file; give a directory path")
    if not (target / PREPARATION_FILE).is_file():
        raise ConfigError(
            f"output directory {given!r} exists and holds no earlier forecast "
            f"({PREPARATION_FILE}); give a new directory or an earlier forecast's"
        )
    others = sorted(p.name for p in target.iterdir() if not FORECAST_FILES.fullmatch(p.name))
    if others:
        raise ConfigError(
            f"output directory {given!r} holds an earlier forecast and other files "
            f"({', '.join(others[:3])}), which replacing it would delete; move them, or "
            "give another directory"
        )


def _write_files(forecast: Forecast, directory: Path) -> None:
    table = forecast.table()
    table.to_csv(directory / "forecast.csv", index=False)
    save_future_plot(forecast.refit.series, table, directory / "forecast.png")
    for repeat, weights in enumerate(forecast.refit.weights):
        one_step_model(weights, forecast.refit).save(directory / model_file(repeat))
    record = preparation_record(forecast)
    (directory / PREPARATION_FILE).write_text(json.dumps(record, indent=2) + "\n")


def one_step_model(weights: InitialWeights, fitted: Refit) -> Any:
    """A Keras model of one repeat that forecasts one step from a given state.

    Inputs ``inputs`` ``(batch, timesteps, features)`` and, for each layer, its
    ``h`` and ``c`` ``(batch, units)`` (named by :func:`state_inputs`); outputs
    the scaled forecast ``(batch, 1)`` and each layer's next ``h`` and ``c`` in
    the same order. Only built-in layers, so ``keras.models.load_model`` needs no
    custom objects; the state is an input, so any slot of a stateful model of any
    batch size can be stepped (docs/method.md, section 12).
    """
    keras = import_keras()
    config = fitted.config
    hp = config.hyperparameters
    inputs = keras.Input(shape=input_shape(config.preparation.lag, hp.framing), name="inputs")
    states = [keras.Input(shape=(hp.neurons,), name=name) for name in state_inputs(hp.layers)]
    output, next_states = inputs, []
    for layer in range(hp.layers):
        lstm = keras.layers.LSTM(
            hp.neurons,
            return_sequences=layer < hp.layers - 1,
            return_state=True,
            name=f"lstm_{layer}" if layer else "lstm",
        )
        output, next_h, next_c = lstm(output, initial_state=states[2 * layer : 2 * layer + 2])
        next_states += [next_h, next_c]
    forecast = keras.layers.Dense(1, name="dense")(output)
    model = keras.Model([inputs, *states], [forecast, *next_states], name="lstm_tuner_step")
    model.set_weights(weights.as_list())
    return model


def preparation_record(forecast: Forecast) -> dict[str, object]:
    """What ``preparation.json`` holds: transform, differencing, scaling, regime, layers, states."""
    fitted = forecast.refit
    config = fitted.config
    hp = config.hyperparameters
    lag, m = config.preparation.lag, config.preparation.seasonal_difference
    series = fitted.series
    return {
        "kind": KIND,
        "version": VERSION,
        "series": series.name,
        "value_column": series.value_column,
        "last_date": date_label(series.index[-1]),
        "new_observations": forecast.new_observations,
        "training_rows": fitted.n_rows,
        "transform": fitted.transform.to_dict(),
        "seasonal_difference": m,
        "differencing": {
            "order": 1,
            "interval": 1,
            "rule": "s[t] = z[t] - z[t-m] (s = z when m is 0); d[t] = s[t+1] - s[t]",
        },
        "lag": lag,
        "framing": hp.framing,
        "input_shape": list(input_shape(lag, hp.framing)),
        "scaler": {
            "feature_range": [-1, 1],
            "columns": [*(f"d[t-{lag - i}]" for i in range(lag)), "d[t] (target)"],
            "data_min": fitted.scaler.data_min_.tolist(),
            "data_max": fitted.scaler.data_max_.tolist(),
            "rule": "scaled = (x - min) / (max - min) * 2 - 1, with max - min taken as 1 "
            "where it is 0; the inverse for the target column",
        },
        "last_observations": [float(v) for v in series.values[-(lag + config.preparation.lost) :]],
        "regime": hp.regime,
        "stateful": hp.state_regime.stateful,
        "carry_state": fitted.carries_state,
        "batch_size": hp.batch_size,
        "neurons": hp.neurons,
        "layers": hp.layers,
        "state_inputs": state_inputs(hp.layers),
        "step_rule": STEP_RULE,
        "models": [
            {"file": model_file(repeat), **_layer_slots(state)}
            for repeat, state in enumerate(fitted.states)
        ],
        "config": config.to_dict(),
        "forecast_dates": forecast.dates,
    }


def _layer_slots(state: np.ndarray) -> dict[str, list[list[float]]]:
    """A repeat's ``(layers, 2, batch, units)`` state under the model's state input names."""
    parts = [part for layer in state for part in layer]
    return {name: _slots(part) for name, part in zip(state_inputs(len(state)), parts, strict=True)}


def _slots(state: np.ndarray) -> list[list[float]]:
    """A ``(batch, units)`` state as one list of floats per batch slot."""
    return [[float(value) for value in slot] for slot in state]
