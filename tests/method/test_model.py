import numpy as np

from tuner.method.model import InitialWeights, draw_initial_weights, input_shape, shape_inputs


def test_initial_weights_follow_keras_defaults():
    units, features = 3, 2
    weights = draw_initial_weights(np.random.default_rng(0), features, units)
    assert weights.kernel.shape == (features, 4 * units)
    assert weights.recurrent_kernel.shape == (units, 4 * units)
    assert all(array.dtype == np.float32 for array in weights.as_list())
    assert np.abs(weights.kernel).max() <= np.sqrt(6 / (features + 4 * units))
    assert np.abs(weights.dense_kernel).max() <= np.sqrt(6 / (units + 1))
    gram = weights.recurrent_kernel @ weights.recurrent_kernel.T
    np.testing.assert_allclose(gram, np.eye(units), atol=1e-5)
    np.testing.assert_array_equal(weights.bias[units : 2 * units], 1)
    assert np.count_nonzero(weights.bias) == units
    np.testing.assert_array_equal(weights.dense_bias, [0])


def test_framings_shape_the_same_inputs_differently():
    inputs = np.arange(6.0).reshape(2, 3)
    assert input_shape(3, "features") == (1, 3)
    assert input_shape(3, "timesteps") == (3, 1)
    assert shape_inputs(inputs, "features").shape == (2, 1, 3)
    np.testing.assert_array_equal(shape_inputs(inputs, "timesteps")[1, :, 0], [3, 4, 5])


def test_a_deeper_draw_starts_with_the_one_layer_draw():
    """Stacked layers are drawn after the first: one-layer seeds give the same weights."""
    one = draw_initial_weights(np.random.default_rng(7), 2, 3)
    two = draw_initial_weights(np.random.default_rng(7), 2, 3, layers=2)
    three = draw_initial_weights(np.random.default_rng(7), 2, 3, layers=3)
    assert one.layers == 1 and two.layers == 2 and three.layers == 3
    for deeper in (two, three):
        for mine, reference in zip(deeper.as_list()[:3], one.as_list()[:3], strict=True):
            np.testing.assert_array_equal(mine, reference)
        np.testing.assert_array_equal(deeper.dense_kernel, one.dense_kernel)
    np.testing.assert_array_equal(three.upper_layers[0].kernel, two.upper_layers[0].kernel)
    assert not np.allclose(three.upper_layers[1].kernel, three.upper_layers[0].kernel)


def test_stacked_layers_follow_keras_defaults_and_keras_order():
    units = 3
    weights = draw_initial_weights(np.random.default_rng(1), 2, units, layers=2)
    (upper,) = weights.upper_layers
    assert upper.kernel.shape == upper.recurrent_kernel.shape == (units, 4 * units)
    assert np.abs(upper.kernel).max() <= np.sqrt(6 / (units + 4 * units))
    gram = upper.recurrent_kernel @ upper.recurrent_kernel.T
    np.testing.assert_allclose(gram, np.eye(units), atol=1e-5)
    np.testing.assert_array_equal(upper.bias, weights.bias)
    arrays = weights.as_list()
    assert [a.shape for a in arrays] == [
        (2, 12),
        (3, 12),
        (12,),
        (3, 12),
        (3, 12),
        (12,),
        (3, 1),
        (1,),
    ]
    rebuilt = InitialWeights.from_list(arrays)
    assert all(np.array_equal(a, b) for a, b in zip(rebuilt.as_list(), arrays, strict=True))
