import numpy as np

from tuner.model import draw_initial_weights, input_shape, shape_inputs


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
