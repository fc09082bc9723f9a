"""What to build: the forecasting network and its initial weights (docs/method.md, section 2).

The network is ``LSTM(neurons)`` followed by ``Dense(1)``. Initial weights are
drawn here, with NumPy, the way Keras's default initialisers draw them, so that
every engine can start a repeat from exactly the same weights: that is what makes
one engine a test oracle for another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FRAMINGS", "InitialWeights", "draw_initial_weights", "input_shape", "shape_inputs"]

FRAMINGS: tuple[str, ...] = ("features", "timesteps")


@dataclass(frozen=True)
class InitialWeights:
    """One network's weights, in Keras's layout (LSTM gates ordered i, f, c, o).

    Attributes:
        kernel: Input weights, shape ``(features, 4 * units)``.
        recurrent_kernel: Recurrent weights, shape ``(units, 4 * units)``.
        bias: LSTM bias, shape ``(4 * units,)``; the forget-gate slice is 1.
        dense_kernel: Output weights, shape ``(units, 1)``.
        dense_bias: Output bias, shape ``(1,)``.
    """

    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray
    dense_kernel: np.ndarray
    dense_bias: np.ndarray

    def as_list(self) -> list[np.ndarray]:
        """The arrays in the order ``keras.Model.set_weights`` expects."""
        return [self.kernel, self.recurrent_kernel, self.bias, self.dense_kernel, self.dense_bias]


def input_shape(lag: int, framing: str) -> tuple[int, int]:
    """``(timesteps, features)`` of one sample: ``(1, lag)`` or ``(lag, 1)``."""
    return (1, lag) if framing == "features" else (lag, 1)


def shape_inputs(inputs: np.ndarray, framing: str) -> np.ndarray:
    """Reshape ``(rows, lag)`` inputs into ``(rows, timesteps, features)``."""
    rows, lag = inputs.shape
    return inputs.reshape((rows, *input_shape(lag, framing)))


def draw_initial_weights(rng: np.random.Generator, features: int, units: int) -> InitialWeights:
    """Draw weights as Keras's defaults do: glorot-uniform, orthogonal, forget bias 1.

    Args:
        rng: Source of randomness; the same state gives the same weights.
        features: Inputs per time step.
        units: LSTM units (``neurons``).
    """
    bias = np.zeros(4 * units)
    bias[units : 2 * units] = 1.0
    weights = InitialWeights(
        kernel=_glorot_uniform(rng, (features, 4 * units)),
        recurrent_kernel=_orthogonal(rng, (units, 4 * units)),
        bias=bias,
        dense_kernel=_glorot_uniform(rng, (units, 1)),
        dense_bias=np.zeros(1),
    )
    return InitialWeights(*(array.astype(np.float32) for array in weights.as_list()))


def _glorot_uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, size=shape)


def _orthogonal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    rows, cols = shape
    normal = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(normal)
    q *= np.sign(np.diag(r))
    return q.T if rows < cols else q
