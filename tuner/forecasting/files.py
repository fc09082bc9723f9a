"""What a forecast leaves behind: its table, its picture, its models and how to feed them.

A forecast directory holds ``forecast.csv``, ``forecast.png``, one Keras model per
repeat (``repeat_0.keras``, ...) that plain ``keras.models.load_model`` opens, and
``preparation.json``: everything needed to turn raw observations into a model's
input and its output back into series units (docs/method.md, section 12).

An output directory is someone's work: it replaces only an earlier forecast,
whole or not at all (tuner.forecasting.directories).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from tuner.data.dates import date_label
from tuner.engines._tensorflow import import_keras
from tuner.evaluation.recursive import Refit
from tuner.forecasting.directories import OutputKind, replace_directory
from tuner.forecasting.directories import check_output as check_directory
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

PREPARATION_FILE = "preparation.json"
FORECAST = OutputKind(
    "forecast",
    PREPARATION_FILE,
    re.compile(r"forecast\.csv|forecast\.png|preparation\.json|repeat_\d+\.keras"),
)
"""A forecast directory: marked by its preparation, holding these names and nothing else."""
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
    """Write the forecast's files into ``directory``, all or nothing (``replace_directory``).

    Raises:
        ConfigError: ``directory`` is refused (see :func:`check_output`), or it
            cannot be written (the reason is given).
    """
    return replace_directory(directory, FORECAST, lambda staging: _write_files(forecast, staging))


def check_output(directory: str | Path) -> Path:
    """Refuse, before any work, an output directory a forecast must not or cannot replace.

    Returns:
        The directory as a resolved, absolute path.

    Raises:
        ConfigError: See :func:`tuner.forecasting.directories.check_output`.
    """
    return check_directory(directory, FORECAST)


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
