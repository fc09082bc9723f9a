"""What to build: the forecasting network and its initial weights (docs/method.md, section 2).

The network is ``layers`` stacked ``LSTM(neurons)`` (every layer but the last
returns its sequence to the next) followed by ``Dense(1)``. Initial weights are
drawn here, with NumPy, the way Keras's default initialisers draw them, so that
every engine can start a repeat from exactly the same weights: that is what makes
one engine a test oracle for another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "FRAMINGS",
    "InitialWeights",
    "LayerWeights",
    "draw_initial_weights",
    "input_shape",
    "shape_inputs",
]

FRAMINGS: tuple[str, ...] = ("features", "timesteps")


class LayerWeights(NamedTuple):
    """One stacked LSTM layer above the first: its input is the layer below's output.

    Attributes:
        kernel: Input weights, shape ``(units, 4 * units)``.
        recurrent_kernel: Recurrent weights, shape ``(units, 4 * units)``.
        bias: LSTM bias, shape ``(4 * units,)``; the forget-gate slice is 1.
    """

    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True)
class InitialWeights:
    """One network's weights, in Keras's layout (LSTM gates ordered i, f, c, o).

    The first layer's arrays keep their own fields (they are all a one-layer
    network has, and every caller of the one-layer network reads them by name);
    the layers stacked on it are in ``upper_layers``.

    Attributes:
        kernel: First layer's input weights, shape ``(features, 4 * units)``.
        recurrent_kernel: First layer's recurrent weights, shape ``(units, 4 * units)``.
        bias: First layer's bias, shape ``(4 * units,)``; the forget-gate slice is 1.
        dense_kernel: Output weights, shape ``(units, 1)``.
        dense_bias: Output bias, shape ``(1,)``.
        upper_layers: The layers above the first, bottom to top.
    """

    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray
    dense_kernel: np.ndarray
    dense_bias: np.ndarray
    upper_layers: tuple[LayerWeights, ...] = ()

    @property
    def layers(self) -> int:
        """Stacked LSTM layers."""
        return 1 + len(self.upper_layers)

    def lstm_layers(self) -> list[LayerWeights]:
        """Every LSTM layer's ``(kernel, recurrent_kernel, bias)``, bottom to top."""
        return [LayerWeights(self.kernel, self.recurrent_kernel, self.bias), *self.upper_layers]

    def as_list(self) -> list[np.ndarray]:
        """The arrays in the order ``keras.Model.set_weights`` expects: layers, then Dense."""
        return [
            *(a for layer in self.lstm_layers() for a in layer),
            self.dense_kernel,
            self.dense_bias,
        ]

    @classmethod
    def from_list(cls, arrays: Sequence[np.ndarray]) -> InitialWeights:
        """The inverse of :meth:`as_list` (``keras.Model.get_weights``'s order)."""
        *lstm, dense_kernel, dense_bias = arrays
        layers = [LayerWeights(*lstm[i : i + 3]) for i in range(0, len(lstm), 3)]
        return cls(*layers[0], dense_kernel, dense_bias, upper_layers=tuple(layers[1:]))


def input_shape(lag: int, framing: str) -> tuple[int, int]:
    """``(timesteps, features)`` of one sample: ``(1, lag)`` or ``(lag, 1)``."""
    return (1, lag) if framing == "features" else (lag, 1)


def shape_inputs(inputs: np.ndarray, framing: str) -> np.ndarray:
    """Reshape ``(rows, lag)`` inputs into ``(rows, timesteps, features)``."""
    rows, lag = inputs.shape
    return inputs.reshape((rows, *input_shape(lag, framing)))


def draw_initial_weights(
    rng: np.random.Generator, features: int, units: int, layers: int = 1
) -> InitialWeights:
    """Draw weights as Keras's defaults do: glorot-uniform, orthogonal, forget bias 1.

    The first layer and the Dense head are drawn first, in the order a one-layer
    network always drew them, and the stacked layers after: a one-layer draw is
    unchanged, so stored studies and exported scores reproduce from their seeds,
    and a deeper network's first layer is the one-layer network's.

    Args:
        rng: Source of randomness; the same state gives the same weights.
        features: Inputs per time step.
        units: LSTM units (``neurons``) of every layer.
        layers: Stacked LSTM layers.
    """
    kernel = _glorot_uniform(rng, (features, 4 * units))
    recurrent_kernel = _orthogonal(rng, (units, 4 * units))
    dense_kernel = _glorot_uniform(rng, (units, 1))
    upper = [
        LayerWeights(
            _glorot_uniform(rng, (units, 4 * units)),
            _orthogonal(rng, (units, 4 * units)),
            _lstm_bias(units),
        )
        for _ in range(layers - 1)
    ]
    weights = InitialWeights(
        kernel, recurrent_kernel, _lstm_bias(units), dense_kernel, np.zeros(1), tuple(upper)
    )
    return InitialWeights.from_list([array.astype(np.float32) for array in weights.as_list()])


def _lstm_bias(units: int) -> np.ndarray:
    """Keras's LSTM bias: zeros, but 1 for the forget gate (``unit_forget_bias``)."""
    bias = np.zeros(4 * units)
    bias[units : 2 * units] = 1.0
    return bias


def _glorot_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, size=shape)


def _orthogonal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    rows, cols = shape
    normal = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(normal)
    q *= np.sign(np.diag(r))
    return q.T if rows < cols else q
