"""Shuffle orders: NumPy (the Keras reference) and XLA (the fast engine) agree bit for bit."""

import numpy as np
import pytest
from scipy.stats import chisquare

from tuner.engines._tensorflow import import_tensorflow
from tuner.method.shuffling import shuffle_order, shuffle_orders_tf


@pytest.fixture(scope="module")
def compiled_orders():
    tf = import_tensorflow()
    function = tf.function(
        lambda seeds, epoch, n_rows: shuffle_orders_tf(tf, seeds, epoch, n_rows, 40),
        jit_compile=True,
    )

    def orders(seeds, epoch, n_rows):
        return function(
            tf.constant(np.array(seeds, dtype=np.uint64)), tf.constant(epoch), tf.constant(n_rows)
        ).numpy()

    return orders


@pytest.mark.parametrize(("epoch", "n_rows"), [(0, 40), (7, 23), (1999, 1), (123456, 39)])
def test_the_compiled_orders_are_numpys_and_padding_sorts_last(compiled_orders, epoch, n_rows):
    seeds = [0, 1, 2**63 + 5, 2**64 - 1, 987654321]
    orders = compiled_orders(seeds, epoch, n_rows)
    for seed, order in zip(seeds, orders, strict=True):
        np.testing.assert_array_equal(order[:n_rows], shuffle_order(seed, epoch, n_rows))
        np.testing.assert_array_equal(order[n_rows:], np.arange(n_rows, 40))


def test_orders_are_permutations_that_differ_by_seed_and_epoch():
    orders = {(seed, epoch): shuffle_order(seed, epoch, 20) for seed in (3, 4) for epoch in (0, 1)}
    assert all(sorted(order) == list(range(20)) for order in orders.values())
    assert len({order.tobytes() for order in orders.values()}) == 4


def test_positions_spread_evenly_over_many_epochs():
    """Each row lands in the first place about as often as any other: no row is favoured."""
    firsts = np.bincount([shuffle_order(11, epoch, 10)[0] for epoch in range(5000)], minlength=10)
    assert chisquare(firsts).pvalue > 1e-3
    assert chisquare(np.bincount(np.arange(5000) % 7 % 3, minlength=10)).pvalue < 1e-3


def test_orders_with_each_repeats_own_epoch_and_row_count_are_numpys(compiled_orders):
    """Repeats of a pack's trials shuffle at their own epoch, over their own rows."""
    seeds, epochs, rows = [3, 3, 2**64 - 1, 42], [0, 5, 17, 123456], [40, 9, 1, 23]
    orders = compiled_orders(seeds, np.array(epochs, np.int32), np.array(rows, np.int32))
    for seed, epoch, n_rows, order in zip(seeds, epochs, rows, orders, strict=True):
        np.testing.assert_array_equal(order[:n_rows], shuffle_order(seed, epoch, n_rows))
        np.testing.assert_array_equal(order[n_rows:], np.arange(n_rows, 40))
