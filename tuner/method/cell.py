"""The LSTM cell in NumPy: one step of the network as Keras computes it.

A forecast steps a refitted model one observation at a time from any batch
slot's state (docs/method.md, section 12); a Keras model would need a graph per
batch size, so the step is computed here, in float32, exactly as both engines
compute it.
"""

from __future__ import annotations

import numpy as np

from tuner.method.model import InitialWeights

__all__ = ["lstm_step"]


def lstm_step(
    weights: InitialWeights, x: np.ndarray, h: np.ndarray, c: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """One sample through the stacked ``LSTM`` then ``Dense(1)`` from state ``(h, c)``, in float32.

    Keras's LSTM cell (gates i, f, c, o; sigmoid and tanh) in every layer over the
    sample's time steps, each layer reading the output of the one below, as both
    engines compute it (docs/method.md, section 2).

    Args:
        weights: One network's weights.
        x: One sample, ``(timesteps, features)``.
        h: Hidden state of every layer, ``(layers, units)``.
        c: Cell state of every layer, ``(layers, units)``.

    Returns:
        The scaled forecast and the next ``(h, c)``, each ``(layers, units)``.
    """
    layers = [
        [np.asarray(array, dtype=np.float32) for array in layer] for layer in weights.lstm_layers()
    ]
    h = [np.asarray(state, dtype=np.float32) for state in h]
    c = [np.asarray(state, dtype=np.float32) for state in c]
    for time in range(x.shape[0]):
        below = x[time]
        for layer, (kernel, recurrent, bias) in enumerate(layers):
            z_i, z_f, z_c, z_o = np.split(below @ kernel + h[layer] @ recurrent + bias, 4)
            c[layer] = _sigmoid(z_f) * c[layer] + _sigmoid(z_i) * np.tanh(z_c)
            h[layer] = _sigmoid(z_o) * np.tanh(c[layer])
            below = h[layer]
    dense_kernel, dense_bias = (
        np.asarray(array, dtype=np.float32) for array in (weights.dense_kernel, weights.dense_bias)
    )
    return float((h[-1] @ dense_kernel + dense_bias)[0]), np.stack(h), np.stack(c)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return (1 / (1 + np.exp(-z))).astype(np.float32)
