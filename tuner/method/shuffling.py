"""Shuffle orders: one permutation per repeat and epoch, computed where it is used.

A shuffling regime trains each epoch on the rows in a new order. The fast engine
builds those orders inside its compiled graph, so their number (the epochs) is
not part of the graph's shape and one graph serves every epoch count
(docs/method.md, section 11); the Keras reference builds the same orders with
NumPy.

Both must agree bit for bit, and no library op does that: TensorFlow's stateless
random ops give different numbers under XLA than when run eagerly, and its
``index_shuffle`` has no XLA kernel. So the order comes from SplitMix64, a
published integer mixer that NumPy and XLA evaluate identically: each row gets
a key from ``(seed, epoch, row)`` and the order sorts the rows by key. A row's
key does not depend on how many rows there are, so padding rows (sorted last)
does not move the real ones.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["KEY_BITS", "shuffle_order", "shuffle_orders_tf"]

_GOLDEN = 0x9E3779B97F4A7C15
_MULTIPLIERS = (0xBF58476D1CE4E5B9, 0x94D049BB133111EB)
_SHIFTS = (30, 27, 31)
KEY_BITS = 53
"""Keys are cut to 53 bits so that a float64 holds them exactly (sorting needs floats)."""


def _mix_numpy(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 (wrapping arithmetic)."""
    first, second, third = (np.uint64(shift) for shift in _SHIFTS)
    z = (z ^ (z >> first)) * np.uint64(_MULTIPLIERS[0])
    z = (z ^ (z >> second)) * np.uint64(_MULTIPLIERS[1])
    return z ^ (z >> third)


def shuffle_order(seed: int, epoch: int, n_rows: int) -> np.ndarray:
    """The order of ``n_rows`` rows in epoch ``epoch`` of the repeat with ``seed``.

    Args:
        seed: The repeat's shuffle seed (an unsigned 64-bit integer).
        epoch: The epoch's index among all the repeat's epochs, updates included.
        n_rows: Rows trained on in that epoch.
    """
    golden = np.uint64(_GOLDEN)
    with np.errstate(over="ignore"):
        base = _mix_numpy(np.uint64(seed) + golden * np.uint64(epoch + 1))
        keys = _mix_numpy(base + golden * np.arange(1, n_rows + 1, dtype=np.uint64))
    return np.argsort(keys >> np.uint64(64 - KEY_BITS), kind="stable")


def shuffle_orders_tf(tf: ModuleType, seeds: Any, epoch: Any, n_rows: Any, max_rows: int) -> Any:
    """:func:`shuffle_order` for every repeat at once, as TensorFlow ops (XLA-compatible).

    The epoch and the row count may differ between repeats (the fast engine trains
    repeats of several trials together, each at its own epoch on its own rows).

    Args:
        tf: The TensorFlow module.
        seeds: Each repeat's shuffle seed, a ``uint64`` tensor ``(repeats,)``.
        epoch: The epoch's index, an integer tensor: a scalar, or ``(repeats,)``.
        n_rows: Rows trained on, an integer tensor: a scalar, or ``(repeats,)``;
            rows from ``n_rows`` on sort last.
        max_rows: Static length of the orders.

    Returns:
        An ``int32`` tensor ``(repeats, max_rows)`` whose first ``n_rows`` columns are
        each repeat's order.
    """
    golden = tf.constant(_GOLDEN, tf.uint64)

    def mix(z: Any) -> Any:
        first, second, third = (tf.constant(shift, tf.uint64) for shift in _SHIFTS)
        z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, first))
        z = z * tf.constant(_MULTIPLIERS[0], tf.uint64)
        z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, second))
        z = z * tf.constant(_MULTIPLIERS[1], tf.uint64)
        return tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, third))

    base = mix(seeds + golden * tf.cast(epoch + 1, tf.uint64))
    rows = tf.cast(tf.range(1, max_rows + 1, dtype=tf.int64), tf.uint64)
    keys = mix(base[:, None] + golden * rows[None, :])
    keys = tf.cast(tf.bitwise.right_shift(keys, tf.constant(64 - KEY_BITS, tf.uint64)), tf.float64)
    beyond = tf.range(max_rows)[None, :] >= tf.reshape(n_rows, (-1, 1))
    keys = tf.where(beyond, tf.constant(2.0**KEY_BITS, tf.float64), keys)
    return tf.argsort(keys, axis=1, stable=True)
