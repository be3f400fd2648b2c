"""The framework-free halves of ``lenet_weights_of`` and ``dead_relu_fraction``:
d2l_compat.lenet's ``from_layout`` (the inverse of ``to_layout``) and ``dead_relus``,
on real Fashion-MNIST images. Every room's use of them is in tests/test_rooms.py."""

import numpy as np
import pytest

from d2l_compat.lenet import (LAYOUTS, LENET_SHAPES, RELU_LAYERS, dead_relus, from_layout,
                               lenet_forward, lenet_weights, to_layout)

BATCH = 64


@pytest.fixture(scope="module")
def images():
    """BATCH real test images, NCHW float32, spread over the classes."""
    from d2l_compat.loader import fashion_mnist_arrays
    splits, _ = fashion_mnist_arrays(layout="NCHW")
    X, y = splits["test"]
    return X[np.arange(BATCH) * (len(y) // BATCH)]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_from_layout_inverts_to_layout_exactly(layout):
    weights = lenet_weights(4)
    converted = to_layout(weights, layout)
    for form in (converted, list(converted.values())):  # a dict or the layers' pairs
        back = from_layout(form, layout)
        assert list(back) == list(LENET_SHAPES)
        for name, (w, b) in weights.items():
            assert back[name][0].dtype == np.float32 and back[name][0].flags.c_contiguous
            np.testing.assert_array_equal(back[name][0], w, err_msg=name)
            np.testing.assert_array_equal(back[name][1], b, err_msg=name)


def test_from_layout_of_hwio_gives_the_same_logits(images):
    """The dense1 rows come back from Flatten's NHWC order to the canonical NCHW order."""
    weights = lenet_weights(2)
    hwio = to_layout(weights, "HWIO")
    assert not np.array_equal(hwio["dense1"][0], weights["dense1"][0])
    np.testing.assert_array_equal(lenet_forward(from_layout(hwio, "HWIO"), images),
                                  lenet_forward(weights, images))


def test_from_layout_refuses_what_is_not_lenet():
    pairs = list(to_layout(lenet_weights(), "OIHW").values())
    with pytest.raises(ValueError, match="5 \\(weight, bias\\) pairs.*got 4"):
        from_layout(pairs[:4], "OIHW")
    with pytest.raises(ValueError, match="layout must be one of"):
        from_layout(pairs, "NHWC")
    with pytest.raises(ValueError, match="weights\\['conv1'\\].*canonical layout"):
        from_layout(pairs, "HWIO")  # torch's OIHW kernels read as Keras'
    with pytest.raises(ValueError, match="layers"):
        from_layout({"conv1": pairs[0]}, "OIHW")


def test_dead_relus_of_the_canonical_init_on_real_images(images):
    fractions = dead_relus(lenet_weights(0), images)
    assert list(fractions) == list(RELU_LAYERS)
    assert all(0 <= f < 1 for f in fractions.values()), fractions
    # the fraction is a count of units: a multiple of 1/units
    units = {"conv1": 6, "conv2": 16, "dense1": 120, "dense2": 84}
    for name, f in fractions.items():
        assert f * units[name] == pytest.approx(round(f * units[name])), name


def test_a_large_negative_bias_kills_the_layer_and_what_follows(images):
    weights = lenet_weights(0)
    weights["conv1"] = (weights["conv1"][0], np.full(6, -100.0, np.float32))
    assert dead_relus(weights, images) == {name: 1.0 for name in RELU_LAYERS}
    base = dead_relus(lenet_weights(0), images)
    weights = lenet_weights(0)
    bias = np.zeros(120, np.float32)
    bias[:30] = -100.0  # a quarter of dense1's units off; the layers before unchanged
    weights["dense1"] = (weights["dense1"][0], bias)
    fractions = dead_relus(weights, images)
    assert 0.25 <= fractions["dense1"] <= 0.25 + base["dense1"]
    assert (fractions["conv1"], fractions["conv2"]) == (base["conv1"], base["conv2"])


def test_dead_relus_counts_a_unit_alive_if_one_example_wakes_it(images):
    """Dead means 0 for every example: a black image kills every unit (zero biases give
    relu(0) = 0), a batch with one real image among black ones does not."""
    black = np.zeros((4, 1, 28, 28), np.float32)
    assert dead_relus(lenet_weights(0), black) == {name: 1.0 for name in RELU_LAYERS}
    mixed = np.concatenate([black, images[:1]])
    assert dead_relus(lenet_weights(0), mixed) == dead_relus(lenet_weights(0), images[:1])


def test_dead_relus_refuses_bad_images():
    with pytest.raises(ValueError, match="x must be a batch of NCHW images"):
        dead_relus(lenet_weights(0), np.zeros((2, 28, 28, 1)))
    with pytest.raises(ValueError, match="at least one image"):
        dead_relus(lenet_weights(0), np.zeros((0, 1, 28, 28)))
