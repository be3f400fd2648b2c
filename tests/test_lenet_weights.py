"""Identical initial weights in every framework.

The core (d2l_compat.lenet) draws LeNet's Xavier-uniform weights once with numpy and
computes a numpy reference; every room's ``lenet(seed)`` loads those arrays, so the same
real Fashion-MNIST batch gives the reference's logits, and one plain-SGD update through
the room's own ``train`` gives the reference's loss, in all four frameworks.
"""

import importlib
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from conftest import framework_missing
from d2l_compat import ROOMS
from d2l_compat.loader import ArrayBatches
from d2l_compat.lenet import (LENET_FEATURES, LENET_SHAPES, cross_entropy, dead_relus,
                               lenet_forward, lenet_loss_and_grads, lenet_sgd_step, lenet_weights,
                               match_layers, to_layout, xavier_bound)

pytestmark = pytest.mark.slow  # an SGD update in every room: left out of make unit

BATCH, LR = 16, 0.1
RTOL, ATOL = 1e-4, 1e-5  # float32 frameworks against the float64 reference


# ------------------------------------------------------------------------- the core
def test_weights_have_the_canonical_shapes_dtype_and_zero_biases():
    weights = lenet_weights()
    assert list(weights) == ["conv1", "conv2", "dense1", "dense2", "dense3"]
    for name, (w, b) in weights.items():
        assert w.shape == LENET_SHAPES[name] and w.dtype == b.dtype == np.float32, name
        assert b.shape == (w.shape[0] if w.ndim == 4 else w.shape[1],) and not b.any(), name
    assert sum(w.size + b.size for w, b in weights.values()) == 61_706


def test_weights_follow_the_documented_draw():
    """One default_rng(seed), layers in order, uniform(-a, a) in the canonical shape."""
    rng = np.random.default_rng(7)
    for name, (w, _) in lenet_weights(7).items():
        a = xavier_bound(LENET_SHAPES[name])
        np.testing.assert_array_equal(
            w, rng.uniform(-a, a, LENET_SHAPES[name]).astype(np.float32), err_msg=name)


def test_same_seed_same_arrays_other_seed_other_arrays():
    first, again, other = lenet_weights(3), lenet_weights(np.int64(3)), lenet_weights(4)
    for name in LENET_SHAPES:
        np.testing.assert_array_equal(first[name][0], again[name][0])
        assert not np.array_equal(first[name][0], other[name][0]), name
    assert not np.array_equal(lenet_weights(0)["conv1"][0], first["conv1"][0])


def test_xavier_bound_uses_the_torch_and_keras_fans():
    assert xavier_bound((16, 6, 5, 5)) == pytest.approx(math.sqrt(6 / (6 * 25 + 16 * 25)))
    assert xavier_bound((400, 120)) == pytest.approx(math.sqrt(6 / 520))
    with pytest.raises(ValueError, match="shape"):
        xavier_bound((3, 4, 5))


@pytest.mark.parametrize("name", list(LENET_SHAPES))
def test_weights_are_uniform_within_the_xavier_bound(name):
    w = lenet_weights(0)[name][0].astype(np.float64)
    a = xavier_bound(LENET_SHAPES[name])
    assert np.abs(w).max() <= np.float32(a)
    assert np.abs(w).max() > 0.95 * a                      # the whole range is used
    assert w.std() == pytest.approx(a / math.sqrt(3), rel=0.1)  # std of U(-a, a)
    assert abs(w.mean()) < 0.1 * a


@pytest.mark.parametrize("seed, error", [(1.5, TypeError), ("0", TypeError), (True, TypeError),
                                         (None, TypeError), (-1, ValueError)])
def test_a_bad_seed_is_refused_by_name(seed, error):
    with pytest.raises(error, match="seed must be a non-negative int"):
        lenet_weights(seed)


def test_to_layout_transposes_and_permutes_the_first_dense_rows():
    weights = lenet_weights(1)
    torch_like, keras_like = to_layout(weights, "OIHW"), to_layout(weights, "HWIO")
    np.testing.assert_array_equal(torch_like["conv2"][0], weights["conv2"][0])
    np.testing.assert_array_equal(torch_like["dense2"][0], weights["dense2"][0].T)
    np.testing.assert_array_equal(keras_like["conv2"][0],
                                  weights["conv2"][0].transpose(2, 3, 1, 0))
    # the same features flattened NCHW (canonical) or NHWC give the same dense1 output
    features = np.random.default_rng(0).normal(size=(3, *LENET_FEATURES))
    np.testing.assert_allclose(
        features.reshape(3, -1) @ weights["dense1"][0],
        features.transpose(0, 2, 3, 1).reshape(3, -1) @ keras_like["dense1"][0], rtol=1e-12)
    np.testing.assert_array_equal(to_layout(weights, "canonical")["dense1"][0],
                                  weights["dense1"][0])
    with pytest.raises(ValueError, match="layout must be one of"):
        to_layout(weights, "NHWC")


def test_weights_in_another_form_are_refused():
    weights = lenet_weights()
    with pytest.raises(ValueError, match="weights must be a dict with the layers"):
        lenet_forward(list(weights.values()), np.zeros((1, 1, 28, 28)))
    with pytest.raises(ValueError, match=r"weights\['conv1'\].*canonical layout"):
        to_layout(to_layout(weights, "HWIO"), "OIHW")  # already converted
    with pytest.raises(ValueError, match="x must be a batch of NCHW images"):
        lenet_forward(weights, np.zeros((1, 28, 28, 1)))
    with pytest.raises(ValueError, match="y must be 2 integer labels"):
        lenet_loss_and_grads(weights, np.zeros((2, 1, 28, 28)), [0, 10])
    with pytest.raises(ValueError, match="lr must be a number"):
        lenet_sgd_step(weights, np.zeros((2, 1, 28, 28)), [0, 1], lr=-0.1)


def test_match_layers_refuses_a_net_of_another_shape():
    weights = to_layout(lenet_weights(), "OIHW")
    shapes = [(w.shape, b.shape) for w, b in weights.values()]
    assert [w.shape for _, w, _ in match_layers(shapes, weights, lambda s: s)] == \
        [w.shape for w, _ in weights.values()]
    with pytest.raises(ValueError, match="the net has 4 conv/dense layers"):
        match_layers(shapes[:4], weights, lambda s: s)
    wrong = shapes[:2] + [((120, 256), (120,))] + shapes[3:]
    with pytest.raises(ValueError, match=r"weights\['dense1'\].*layer 2 expects"):
        match_layers(wrong, weights, lambda s: s)


def spread(y):
    """BATCH indices evenly spread over a test split (which is sorted by class)."""
    return np.arange(BATCH) * (len(y) // BATCH)


@pytest.fixture(scope="module")
def batch():
    """BATCH real Fashion-MNIST test images of the run's split, NCHW float32, all classes."""
    from d2l_compat.loader import fashion_mnist_arrays
    splits, _ = fashion_mnist_arrays(layout="NCHW")
    X, y = splits["test"]
    X, y = X[spread(y)], y[spread(y)]
    assert set(y) == set(range(10))
    return X, y


def test_reference_gradients_match_finite_differences(batch):
    X, y = batch[0][:4], batch[1][:4]
    rng, eps = np.random.default_rng(0), 1e-6
    # non-zero biases: with zero ones the black background sits exactly on ReLU's kink
    weights = {k: (w.astype(np.float64), rng.uniform(-0.1, 0.1, b.shape))
               for k, (w, b) in lenet_weights(2).items()}
    _, grads = lenet_loss_and_grads(weights, X, y)
    for name in LENET_SHAPES:
        for which in (0, 1):
            target = weights[name][which]
            for index in [tuple(rng.integers(target.shape))
                          for _ in range(3)] + [np.unravel_index(
                              np.abs(grads[name][which]).argmax(), target.shape)]:
                saved = target[index]
                target[index] = saved + eps
                up = cross_entropy(lenet_forward(weights, X), y)
                target[index] = saved - eps
                down = cross_entropy(lenet_forward(weights, X), y)
                target[index] = saved
                assert grads[name][which][index] == pytest.approx(
                    (up - down) / (2 * eps), rel=1e-4, abs=1e-8), (name, which, index)


def test_reference_sgd_step_lowers_the_loss_and_leaves_its_input(batch):
    X, y = batch
    weights = lenet_weights(0)
    copy = {k: (w.copy(), b.copy()) for k, (w, b) in weights.items()}
    loss, updated = lenet_sgd_step(weights, X, y, LR)
    assert loss == pytest.approx(cross_entropy(lenet_forward(weights, X), y), rel=1e-12)
    assert cross_entropy(lenet_forward(updated, X), y) < loss
    for name in LENET_SHAPES:
        np.testing.assert_array_equal(weights[name][0], copy[name][0])
        assert not np.array_equal(updated[name][0], copy[name][0])
        assert updated[name][1].any(), name  # the biases moved off zero


# ------------------------------------------------------------------- every room
@dataclass(frozen=True)
class Room:
    framework: str
    layout: str                                # to_layout's name of the room's layout
    logits: Callable                           # (net, converted batch X) -> numpy
    params: Callable                           # net -> numpy arrays, weight then bias

    @property
    def d2l(self):
        reason = framework_missing(self.framework)
        if reason:
            pytest.skip(reason)
        return importlib.import_module(f"d2l_compat.{ROOMS[self.framework]}")


def _flax_params(net):  # layer by layer (a trained tree comes back with sorted keys)
    return [np.asarray(net.params[name][leaf])
            for name in sorted(net.params, key=lambda n: int(n.rsplit("_", 1)[1]))
            for leaf in ("kernel", "bias")]


ROOM_ADAPTERS = [
    Room("pytorch", "OIHW", lambda net, X: net(X).detach().cpu().numpy(),
         lambda net: [p.detach().cpu().numpy() for p in net.parameters()]),
    Room("tensorflow", "HWIO", lambda net, X: net(X, training=False).numpy(),
         lambda net: [v.numpy() for v in net.trainable_variables]),
    Room("mxnet", "OIHW", lambda net, X: net(X).asnumpy(),
         lambda net: [p.data().asnumpy() for p in net.collect_params().values()]),
    Room("jax", "HWIO", lambda net, X: np.asarray(net(X)), _flax_params),
]


@pytest.fixture(scope="module", params=ROOM_ADAPTERS, ids=lambda room: room.framework)
def room(request):
    return request.param


@pytest.fixture(scope="module")
def room_batch(room):
    """The same BATCH test images from the room's own loader: (one-batch loader,
    converted X, NCHW numpy X, labels)."""
    _, test_iter = room.d2l.load_data_fashion_mnist(BATCH)
    X, y = test_iter.X[spread(test_iter.y)], test_iter.y[spread(test_iter.y)]
    loader = ArrayBatches(X, y, BATCH, shuffle=False, convert=test_iter.convert)
    X_nchw = X if X.shape[1] == 1 else X.transpose(0, 3, 1, 2)
    return loader, next(loader.batches(0))[0], X_nchw, y


def test_room_lenet_holds_the_core_weights_in_its_layout(room):
    d2l = room.d2l
    for seed, net in [(0, d2l.lenet()), (3, d2l.lenet(3)),
                      (5, d2l.load_lenet_weights(d2l.lenet(3), lenet_weights(5)))]:
        expected = [a for pair in to_layout(lenet_weights(seed), room.layout).values()
                    for a in pair]
        got = room.params(net)
        assert [a.shape for a in got] == [a.shape for a in expected]
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b, err_msg=f"seed {seed}")


def test_room_refuses_a_bad_seed_and_converted_weights(room):
    d2l = room.d2l
    with pytest.raises(TypeError, match="seed"):
        d2l.lenet(seed=0.5)
    with pytest.raises(ValueError, match="seed"):
        d2l.lenet(seed=-3)
    net = d2l.lenet(1)
    with pytest.raises(ValueError, match=r"weights\['\w+'\].*canonical layout"):
        d2l.load_lenet_weights(net, to_layout(lenet_weights(), room.layout))
    for a, b in zip(room.params(net), room.params(d2l.lenet(1))):  # nothing was loaded
        np.testing.assert_array_equal(a, b)


def test_room_gives_the_reference_logits(room, room_batch, batch):
    _, X, X_nchw, y = room_batch
    np.testing.assert_array_equal(X_nchw, batch[0])  # the same real images everywhere
    np.testing.assert_array_equal(y, batch[1])
    got = room.logits(room.d2l.lenet(), X)
    np.testing.assert_allclose(got, lenet_forward(lenet_weights(), X_nchw),
                               rtol=RTOL, atol=ATOL)


def test_one_sgd_update_in_the_room_gives_the_reference_loss(room, room_batch):
    loader, X, X_nchw, y = room_batch
    d2l = room.d2l
    net = d2l.lenet()
    history = d2l.train(net, loader, loader, 1, LR, animator=False, verbose=False)
    loss_before, updated = lenet_sgd_step(lenet_weights(), X_nchw, y, LR)
    assert history.train_loss[0] == pytest.approx(loss_before, rel=RTOL)
    logits = room.logits(net, X)
    expected = lenet_forward(updated, X_nchw)
    np.testing.assert_allclose(logits, expected, rtol=RTOL, atol=ATOL)
    assert cross_entropy(logits, y) == pytest.approx(cross_entropy(expected, y), rel=RTOL)
    assert cross_entropy(expected, y) < loss_before  # the update did something
    # the reference's updated (float64) weights load into the room and agree as well
    reloaded = room.logits(d2l.load_lenet_weights(d2l.lenet(), updated), X)
    np.testing.assert_allclose(reloaded, expected, rtol=RTOL, atol=ATOL)


def test_dead_relus_match_the_activations_torch_computes(batch):
    """The numpy count of dead ReLU units against a direct look at torch's ReLU outputs
    (forward hooks), on weights whose negative biases kill some units, not all."""
    d2l = ROOM_ADAPTERS[0].d2l
    import torch
    X, _ = batch
    weights = lenet_weights(0)
    rng = np.random.default_rng(7)
    weights = {name: (w, -rng.uniform(0.0, 0.15, b.shape).astype(np.float32))
               for name, (w, b) in weights.items()}
    net = d2l.load_lenet_weights(d2l.lenet(), weights)
    outputs = []
    for module in net:
        if isinstance(module, torch.nn.ReLU):
            module.register_forward_hook(lambda m, i, out: outputs.append(out.detach().numpy()))
    with torch.no_grad():
        net(torch.from_numpy(X))
    direct = [float(1 - (a > 0).any(axis=(0, 2, 3) if a.ndim == 4 else 0).mean())
              for a in outputs]
    assert len(direct) == 4 and any(0 < f < 1 for f in direct), direct
    expected = dead_relus(weights, X)
    assert list(expected.values()) == direct
    assert d2l.dead_relu_fraction(net, torch.from_numpy(X)) == expected
