import numpy as np
import pytest

from tuner.exceptions import ConfigError
from tuner.method.protocol import (
    Hyperparameters,
    WalkForward,
    allowed_batch_sizes,
    check_batch_size,
    repeat_setups,
)
from tuner.method.regimes import REGIME_NAMES, REGIMES, get_regime


@pytest.mark.parametrize(
    ("n_train", "n_test", "allowed"),
    [(20, 12, [1, 2, 4]), (22, 12, [1, 2]), (12, 12, [1, 2, 3, 4, 6, 12]), (7, 12, [1])],
)
def test_batch_sizes_are_the_common_divisors(n_train, n_test, allowed):
    assert allowed_batch_sizes(n_train, n_test) == allowed


def test_a_batch_size_that_does_not_divide_is_refused_with_the_allowed_list():
    check_batch_size(4, 20, 12)
    with pytest.raises(ConfigError) as error:
        check_batch_size(3, 20, 12)
    assert str(error.value) == (
        "batch_size must divide both the 20 training rows and the 12 test rows; "
        "allowed: 1, 2, 4; got 3"
    )


def test_the_eight_regimes_match_the_method_table():
    assert REGIME_NAMES == (
        "reset_epoch",
        "reset_epoch_and_forecast",
        "never_reset",
        "seeded",
        "seeded_reset_forecast",
        "seeded_never_reset",
        "stateless",
        "stateless_shuffle",
    )
    flags = {
        name: (r.stateful, r.reset_after_epoch, r.seed_with_training, r.reset_after_forecast)
        for name, r in REGIMES.items()
    }
    assert flags["reset_epoch"] == (True, True, False, False)
    assert flags["reset_epoch_and_forecast"] == (True, True, False, True)
    assert flags["never_reset"] == (True, False, False, False)
    assert flags["seeded"] == (True, True, True, False)
    assert flags["seeded_reset_forecast"] == (True, True, True, True)
    assert flags["seeded_never_reset"] == (True, False, True, False)
    assert not REGIMES["stateless"].stateful and not REGIMES["stateless"].shuffle
    assert not REGIMES["stateless_shuffle"].stateful and REGIMES["stateless_shuffle"].shuffle


def test_an_unknown_regime_lists_the_eight():
    with pytest.raises(ConfigError) as error:
        get_regime("sometimes")
    message = str(error.value)
    assert message.startswith("regime must be one of reset_epoch, reset_epoch_and_forecast,")
    assert all(name in message for name in REGIME_NAMES)
    assert message.endswith("got 'sometimes'")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("epochs", 0, "epochs must be an integer >= 1; got 0"),
        ("batch_size", -4, "batch_size must be an integer >= 1; got -4"),
        ("neurons", 0, "neurons must be an integer >= 1; got 0"),
        ("update_epochs", -1, "update_epochs must be an integer >= 0; got -1"),
        ("epochs", 2.5, "epochs must be an integer >= 1; got 2.5"),
        ("framing", "columns", "framing must be one of features, timesteps; got 'columns'"),
        ("layers", 0, "layers must be an integer >= 1; got 0"),
        ("layers", 4, "layers must be an integer <= 3; got 4"),
        ("learning_rate", 0.0, "learning_rate must be a finite number in [1e-05, 1]; got 0.0"),
        ("learning_rate", 2, "learning_rate must be a finite number in [1e-05, 1]; got 2"),
        (
            "learning_rate",
            float("inf"),
            "learning_rate must be a finite number in [1e-05, 1]; got inf",
        ),
        ("learning_rate", True, "learning_rate must be a finite number in [1e-05, 1]; got True"),
    ],
)
def test_hyperparameters_are_validated(field, value, expected):
    settings = {"epochs": 5, "batch_size": 1, "neurons": 1, "regime": "seeded", field: value}
    with pytest.raises(ConfigError) as error:
        Hyperparameters(**settings)
    assert str(error.value) == expected


def test_walk_forward_phases_grow_the_training_set_by_one_batch_per_step():
    schedule = WalkForward(n_train=20, n_test=12, batch_size=4, epochs=100, update_epochs=2)
    assert schedule.n_steps == 3
    assert schedule.training_phases() == [(100, 20), (2, 24), (2, 28)]
    assert schedule.total_epochs == 104
    fixed = WalkForward(n_train=20, n_test=12, batch_size=4, epochs=100, update_epochs=0)
    assert fixed.training_phases() == [(100, 20)]


def _setups(seed, repeats, regime="seeded", neurons=2):
    hp = Hyperparameters(epochs=3, batch_size=4, neurons=neurons, regime=regime, update_epochs=1)
    return repeat_setups(seed, repeats, hp, lag=1)


def test_repeat_setups_are_reproducible_and_independent():
    first, again, other = _setups(7, 3), _setups(7, 3), _setups(8, 3)
    for a, b in zip(first, again, strict=True):
        for x, y in zip(a.weights.as_list(), b.weights.as_list(), strict=True):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(first[0].weights.kernel, first[1].weights.kernel)
    assert not np.array_equal(first[0].weights.kernel, other[0].weights.kernel)
    more = _setups(7, 5)
    np.testing.assert_array_equal(more[2].weights.kernel, first[2].weights.kernel)
    assert more[2].shuffle_seed == first[2].shuffle_seed
    assert len({setup.shuffle_seed for setup in more}) == 5


def test_shuffle_orders_are_permutations_new_each_epoch_and_repeat():
    first, second = _setups(7, 2, regime="stateless_shuffle")
    orders = [first.order(epoch, rows) for epoch, rows in enumerate([20, 20, 24, 28])]
    assert all(sorted(order) == list(range(len(order))) for order in orders)
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(first.order(0, 20), second.order(0, 20))
    np.testing.assert_array_equal(first.order(3, 28), orders[3])
