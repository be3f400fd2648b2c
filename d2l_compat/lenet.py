"""The chapter's LeNet, framework-free: its initial weights and a numpy reference.

Every room builds the same modernised LeNet (D2L's LeNet with ReLU and max-pooling) on
28x28 grey images and fills it with the weights :func:`lenet_weights` draws **once, with
numpy, from the seed**. So ``d2l.lenet(seed)`` starts from the same numbers in PyTorch,
TensorFlow, MXNet and JAX, and the same image gives the same logits in all four.

====== ================================== ======================= ====================
layer  operation                          weight (canonical)      output per example
====== ================================== ======================= ====================
conv1  5x5 conv, 1 -> 6 ch, pad 2, ReLU   ``(6, 1, 5, 5)`` OIHW   6x28x28, pool -> 6x14x14
conv2  5x5 conv, 6 -> 16 ch, ReLU         ``(16, 6, 5, 5)`` OIHW  16x10x10, pool -> 16x5x5
dense1 flatten, 400 -> 120, ReLU          ``(400, 120)`` (in,out) 120
dense2 120 -> 84, ReLU                    ``(120, 84)``           84
dense3 84 -> 10 (logits)                  ``(84, 10)``            10
====== ================================== ======================= ====================

Pooling is 2x2 max-pooling with stride 2. **Canonical layout**: conv kernels OIHW (out
channels, in channels, height, width), dense weights ``(in, out)`` so a layer is
``x @ W + b``, and the flatten before ``dense1`` is channel-major (NCHW): feature
``c * 25 + h * 5 + w`` is channel ``c`` at row ``h``, column ``w``.
:func:`to_layout` converts to the layouts of the frameworks.

**Initialisation** (Xavier/Glorot uniform, as ``torch.nn.init.xavier_uniform_``,
``keras.initializers.GlorotUniform``, ``flax.linen.initializers.glorot_uniform`` and
``mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3)``): every weight is
drawn from ``U(-a, a)`` with

.. math:: a = \\sqrt{6 / (\\text{fan\\_in} + \\text{fan\\_out})},

where a conv kernel has ``fan_in = in_ch * kh * kw`` and ``fan_out = out_ch * kh * kw``
and a dense weight ``fan_in = in``, ``fan_out = out``. Biases are zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from d2l_compat.checks import check_int, check_number
from d2l_compat.context import DEFAULT_SEED

__all__ = ["LENET_SHAPES", "LENET_FEATURES", "LAYOUTS", "xavier_bound", "lenet_weights",
           "train_flops_per_example",
           "to_layout", "from_layout", "match_layers", "RELU_LAYERS", "dead_relus", "lenet_forward", "cross_entropy", "lenet_loss_and_grads",
           "lenet_sgd_step"]

LENET_SHAPES = {"conv1": (6, 1, 5, 5), "conv2": (16, 6, 5, 5), "dense1": (400, 120),
                "dense2": (120, 84), "dense3": (84, 10)}
"""Layer name -> canonical weight shape (conv OIHW, dense ``(in, out)``), input to output."""

LENET_FEATURES = (16, 5, 5)
"""(channels, height, width) of the features ``dense1`` flattens."""

LAYOUTS = ("canonical", "OIHW", "HWIO")
"""The layouts :func:`to_layout` produces (see there)."""

IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10
CONV_OUTPUT = {"conv1": (28, 28), "conv2": (10, 10)}
"""Output height and width of each convolution (conv1 is padded by 2, conv2 is not)."""


def train_flops_per_example() -> int:
    """Floating-point operations of one LeNet training example: 3 x the forward pass.

    The forward pass is dominated by the multiply-adds of the convolutions and dense
    layers (2 FLOPs each: ``sum over layers of 2 x outputs x fan-in``); the backward pass
    costs about twice the forward (the gradients of the inputs and of the weights), the
    usual estimate for dense and convolutional layers. Activations, pooling and the loss
    are left out (under 1%).

    >>> train_flops_per_example()
    2499120
    """
    macs = 0
    for name, shape in LENET_SHAPES.items():
        if name in CONV_OUTPUT:
            out_channels, in_channels, kh, kw = shape
            h, w = CONV_OUTPUT[name]
            macs += h * w * out_channels * in_channels * kh * kw
        else:
            fan_in, fan_out = shape
            macs += fan_in * fan_out
    return 3 * 2 * macs


def xavier_bound(shape: tuple[int, ...]) -> float:
    """The Glorot-uniform bound ``a = sqrt(6 / (fan_in + fan_out))`` of a canonical weight.

    A conv kernel ``(out, in, kh, kw)`` (OIHW) has ``fan_in = in * kh * kw`` and
    ``fan_out = out * kh * kw``; a dense weight ``(in, out)`` has ``fan_in = in``,
    ``fan_out = out``.

    >>> round(xavier_bound((6, 1, 5, 5)), 4), round(xavier_bound((84, 10)), 4)
    (0.1852, 0.2526)
    """
    if len(shape) == 4:
        receptive = shape[2] * shape[3]
        fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    elif len(shape) == 2:
        fan_in, fan_out = shape
    else:
        raise ValueError(f"shape must be a conv (OIHW) or dense (in, out) shape, got {shape!r}")
    return math.sqrt(6.0 / (fan_in + fan_out))


def lenet_weights(seed: int = DEFAULT_SEED) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """LeNet's initial weights, drawn once with numpy from ``seed``, in canonical layout.

    Returns ``{name: (weight, bias)}`` for ``conv1, conv2, dense1, dense2, dense3`` (in
    this order, the order of :data:`LENET_SHAPES`), float32 arrays. One
    ``np.random.default_rng(seed)`` draws the weights layer by layer, each as
    ``rng.uniform(-a, a, shape)`` in its canonical shape (C order) with
    ``a = xavier_bound(shape)``, rounded to float32; biases are zero. The same seed gives
    the same arrays on every machine and every call (numpy's ``Generator`` stream is
    stable), and no global random state is touched.

    Args:
        seed (int): a non-negative integer (default ``DEFAULT_SEED`` = 0); a non-integer
            raises ``TypeError``, a negative one ``ValueError``.

    >>> w = lenet_weights(0)
    >>> list(w), w["conv1"][0].shape, w["conv1"][0].dtype, float(abs(w["dense3"][1]).max())
    (['conv1', 'conv2', 'dense1', 'dense2', 'dense3'], (6, 1, 5, 5), dtype('float32'), 0.0)
    >>> bool((w["conv1"][0] == lenet_weights(0)["conv1"][0]).all())
    True
    """
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    weights = {}
    for name, shape in LENET_SHAPES.items():
        bound = xavier_bound(shape)
        weights[name] = (rng.uniform(-bound, bound, size=shape).astype(np.float32),
                         np.zeros(shape[0] if len(shape) == 4 else shape[1], np.float32))
    return weights


def _check_weights(weights) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (weight, bias) pairs of canonical ``weights``, or a ValueError naming them."""
    if not isinstance(weights, Mapping) or list(weights) != list(LENET_SHAPES):
        raise ValueError(f"weights must be a dict with the layers {list(LENET_SHAPES)} "
                         f"(from lenet_weights), got {weights!r:.80}")
    pairs = []
    for name, shape in LENET_SHAPES.items():
        w, b = (np.asarray(a) for a in weights[name])
        bias_shape = (shape[0] if len(shape) == 4 else shape[1],)
        if w.shape != shape or b.shape != bias_shape:
            raise ValueError(f"weights[{name!r}] must be (weight {shape}, bias {bias_shape}) "
                             f"in the canonical layout, got {w.shape} and {b.shape}")
        pairs.append((w, b))
    return pairs


def to_layout(weights, layout: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Canonical LeNet ``weights`` rearranged for a framework (new contiguous arrays,
    float32 for the frameworks' layouts, so trained float64 weights load as well).

    * ``"canonical"``: unchanged (conv OIHW, dense ``(in, out)``, NCHW flatten order).
    * ``"OIHW"``: conv OIHW, dense ``(out, in)`` -- PyTorch and MXNet Gluon (NCHW).
    * ``"HWIO"``: conv ``(kh, kw, in, out)``, dense ``(in, out)`` -- Keras and Flax
      (NHWC). Their flatten walks the features height, width, channel, so the rows of
      ``dense1`` are permuted to that order: row ``(h * 5 + w) * 16 + c`` of the result
      is canonical row ``c * 25 + h * 5 + w``, and an image gives the same logits.

    >>> w = to_layout(lenet_weights(0), "HWIO")
    >>> w["conv1"][0].shape, w["dense1"][0].shape
    ((5, 5, 1, 6), (400, 120))
    """
    pairs = dict(zip(LENET_SHAPES, _check_weights(weights)))
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    out = {}
    for name, (w, b) in pairs.items():
        if layout == "OIHW" and w.ndim == 2:
            w = w.T
        elif layout == "HWIO" and w.ndim == 4:
            w = w.transpose(2, 3, 1, 0)
        elif layout == "HWIO" and name == "dense1":
            w = w.reshape(*LENET_FEATURES, -1).transpose(1, 2, 0, 3).reshape(w.shape)
        dtype = None if layout == "canonical" else np.float32  # what the frameworks hold
        out[name] = (np.ascontiguousarray(w, dtype=dtype), np.array(b, dtype=dtype))
    return out


def from_layout(weights, layout: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The inverse of :func:`to_layout`: LeNet weights in a framework's ``layout`` back to
    the canonical layout, as float32 numpy arrays (new contiguous arrays).

    ``weights`` is a ``{name: (weight, bias)}`` dict with the layers of
    :data:`LENET_SHAPES`, or the five ``(weight, bias)`` pairs of a net's conv and dense
    layers, input to output (what a room's ``lenet_weights_of`` reads). Every conversion
    is a transpose or a permutation, so ``from_layout(to_layout(w, L), L)`` equals ``w``
    exactly; a wrong number of layers or a wrong shape raises ``ValueError``.

    >>> w = lenet_weights(0)
    >>> back = from_layout(to_layout(w, "HWIO"), "HWIO")
    >>> all((back[n][0] == w[n][0]).all() for n in w)
    True
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if isinstance(weights, Mapping):
        if list(weights) != list(LENET_SHAPES):
            raise ValueError(f"weights must be a dict with the layers {list(LENET_SHAPES)}, "
                             f"got {list(weights)!r:.80}")
        weights = list(weights.values())
    pairs = list(weights)
    if len(pairs) != len(LENET_SHAPES):
        raise ValueError(f"weights must hold {len(LENET_SHAPES)} (weight, bias) pairs, one "
                         f"per conv/dense layer of LeNet, got {len(pairs)}")
    out = {}
    for name, (w, b) in zip(LENET_SHAPES, pairs):
        w, b = np.asarray(w), np.asarray(b)
        if layout == "OIHW" and w.ndim == 2:
            w = w.T
        elif layout == "HWIO" and w.ndim == 4:
            w = w.transpose(3, 2, 0, 1)
        elif layout == "HWIO" and name == "dense1" and w.shape == LENET_SHAPES[name]:
            w = w.reshape(*LENET_FEATURES[1:], LENET_FEATURES[0], -1).transpose(
                2, 0, 1, 3).reshape(w.shape)
        out[name] = (np.ascontiguousarray(w, dtype=np.float32), np.array(b, dtype=np.float32))
    _check_weights(out)
    return out


def match_layers(layers, weights, shape_of) -> list[tuple[object, np.ndarray, np.ndarray]]:
    """Pair a net's conv/dense ``layers`` (input to output) with ``weights`` by position.

    ``weights`` is a ``{name: (weight, bias)}`` dict already in the net's layout (see
    :func:`to_layout`); ``shape_of(layer)`` returns the layer's ``(weight shape, bias
    shape)``. Returns ``[(layer, weight, bias), ...]``; a net with another number of
    layers or another shape raises ``ValueError`` naming the layer, before anything is
    loaded. The rooms' ``load_lenet_weights`` use it.
    """
    layers = list(layers)
    if len(layers) != len(weights):
        raise ValueError(f"the net has {len(layers)} conv/dense layers, the weights "
                         f"{len(weights)} ({list(weights)})")
    matched = []
    for layer, (name, (w, b)) in zip(layers, weights.items()):
        expected = tuple(tuple(int(n) for n in s) for s in shape_of(layer))
        if expected != (w.shape, b.shape):
            raise ValueError(f"weights[{name!r}] have shapes {(w.shape, b.shape)}, the "
                             f"net's layer {len(matched)} expects {expected}")
        matched.append((layer, w, b))
    return matched


# ------------------------------------------------------------- numpy reference

def _conv(x, w, pad):
    """Stride-1 cross-correlation of NCHW ``x`` with OIHW ``w``; also the input patches."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    patches = sliding_window_view(x, w.shape[2:], axis=(2, 3))  # (n, c, h, w, kh, kw)
    return np.einsum("nchwij,ocij->nohw", patches, w, optimize=True), patches


def _conv_input_grad(dy, w, pad):
    """Gradient of :func:`_conv`'s output ``dy`` with respect to its (unpadded) input."""
    n, _, h_out, w_out = dy.shape
    kh, kw = w.shape[2:]
    dx = np.zeros((n, w.shape[1], h_out + kh - 1, w_out + kw - 1))
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + h_out, j:j + w_out] += np.einsum("nohw,oc->nchw", dy, w[:, :, i, j])
    return dx[:, :, pad:dx.shape[2] - pad, pad:dx.shape[3] - pad]


def _windows(x):
    """The 2x2 stride-2 pooling windows of NCHW ``x`` as a last axis of 4."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(
        n, c, h // 2, w // 2, 4)


def _unpool(dy, arg, shape):
    """Route the pooled gradient ``dy`` to the maximum (first one on ties) of each window."""
    n, c, h, w = shape
    d = np.zeros((n, c, h // 2, w // 2, 4))
    np.put_along_axis(d, arg[..., None], dy[..., None], axis=-1)
    return d.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(shape)


def _check_images(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"x must be a batch of NCHW images of shape (n, 1, 28, 28), "
                         f"got shape {x.shape}")
    return x


def _forward(weights, x):
    """Logits and what the backward pass needs (float64 throughout)."""
    (w1, b1), (w2, b2), (w3, b3), (w4, b4), (w5, b5) = (
        (w.astype(np.float64), b.astype(np.float64)) for w, b in _check_weights(weights))
    x = _check_images(x)
    z1, p1 = _conv(x, w1, pad=2)
    z1 += b1[:, None, None]
    a1 = np.maximum(z1, 0)
    arg1 = _windows(a1).argmax(-1)
    h1 = np.take_along_axis(_windows(a1), arg1[..., None], -1)[..., 0]
    z2, p2 = _conv(h1, w2, pad=0)
    z2 += b2[:, None, None]
    a2 = np.maximum(z2, 0)
    arg2 = _windows(a2).argmax(-1)
    h2 = np.take_along_axis(_windows(a2), arg2[..., None], -1)[..., 0]
    f = h2.reshape(len(x), -1)                       # channel-major flatten
    z3 = f @ w3 + b3
    a3 = np.maximum(z3, 0)
    z4 = a3 @ w4 + b4
    a4 = np.maximum(z4, 0)
    logits = a4 @ w5 + b5
    cache = dict(w2=w2, w3=w3, w4=w4, w5=w5, z1=z1, p1=p1, a1=a1, arg1=arg1, z2=z2, p2=p2,
                 a2=a2, arg2=arg2, h2=h2, f=f, z3=z3, a3=a3, z4=z4, a4=a4)
    return logits, cache


def lenet_forward(weights, x) -> np.ndarray:
    """LeNet's logits for the images ``x``, in numpy: the reference every room matches.

    Args:
        weights: ``{name: (weight, bias)}`` in the canonical layout (from
            :func:`lenet_weights`, or trained weights brought back to it).
        x: images ``(n, 1, 28, 28)`` (NCHW), e.g. float32 in ``[0, 1]``.

    Returns the ``(n, 10)`` float64 logits (computed in float64 from the given values).

    >>> lenet_forward(lenet_weights(0), np.zeros((2, 1, 28, 28), np.float32))
    array([[0., 0., 0., 0., 0., 0., 0., 0., 0., 0.],
           [0., 0., 0., 0., 0., 0., 0., 0., 0., 0.]])
    """
    return _forward(weights, x)[0]


RELU_LAYERS = ("conv1", "conv2", "dense1", "dense2")
"""The layers of LeNet followed by a ReLU (the names of :data:`LENET_SHAPES`), in order."""


def dead_relus(weights, x) -> dict[str, float]:
    """The fraction of *dead* ReLU units of each ReLU layer of LeNet on the images ``x``.

    A unit is dead on ``x`` when its ReLU outputs 0 for every example: for a conv layer
    the unit is a channel, dead when its output is 0 at every position of every example;
    for a dense layer it is a neuron. The fraction of a layer is ``dead units / units``
    (of 6, 16, 120 and 84). Such a unit passes no gradient back for these images
    (``relu'(z) = 0`` for ``z <= 0``), so an update can no longer revive it through them:
    a large step that drives many units there leaves a net that cannot learn.

    Computed with the numpy reference forward (:func:`lenet_forward`, float64), so it is
    the same in every framework for the same weights.

    Args:
        weights: ``{name: (weight, bias)}`` in the canonical layout (:func:`lenet_weights`,
            or a room's ``lenet_weights_of(net)``).
        x: images ``(n, 1, 28, 28)`` (NCHW), ``n >= 1``.

    Returns ``{layer: fraction}`` for the layers of :data:`RELU_LAYERS`, in that order.

    >>> w = lenet_weights(0)
    >>> w["conv1"] = (w["conv1"][0], np.full(6, -100.0, np.float32))   # every unit off
    >>> dead_relus(w, np.ones((2, 1, 28, 28), np.float32))["conv1"]
    1.0
    """
    x = _check_images(x)
    if len(x) == 0:
        raise ValueError("x must hold at least one image, got 0")
    cache = _forward(weights, x)[1]
    outputs = {"conv1": cache["a1"], "conv2": cache["a2"], "dense1": cache["a3"],
               "dense2": cache["a4"]}
    fractions = {}
    for name in RELU_LAYERS:
        a = outputs[name]
        alive = (a > 0).any(axis=(0, 2, 3) if a.ndim == 4 else 0)
        fractions[name] = float(1.0 - alive.mean())
    return fractions


def _check_labels(y, n) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) \
            or ((y < 0) | (y >= NUM_CLASSES)).any():
        raise ValueError(f"y must be {n} integer labels in 0..{NUM_CLASSES - 1}, got {y!r:.80}")
    return y.astype(np.int64)


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(logits, y) -> float:
    """Mean softmax cross-entropy ``mean_i [logsumexp(logits_i) - logits_i[y_i]]`` (float64).

    >>> round(cross_entropy(np.zeros((2, 10)), [3, 7]), 6)   # uniform: ln 10
    2.302585
    """
    logits = np.asarray(logits, np.float64)
    if logits.ndim != 2 or logits.shape[1] != NUM_CLASSES:
        raise ValueError(f"logits must have shape (n, {NUM_CLASSES}), got {logits.shape}")
    y = _check_labels(y, len(logits))
    return float(-_log_softmax(logits)[np.arange(len(y)), y].mean())


def lenet_loss_and_grads(weights, x, y) -> tuple[float, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Mean softmax cross-entropy of LeNet on ``(x, y)`` and its gradients, in numpy.

    ``loss = mean_i [logsumexp(logits_i) - logits_i[y_i]]``; the gradients are computed
    by hand (backpropagation through dense, ReLU, max-pooling -- to the first maximum of
    a window -- and convolution layers) in float64 and returned as ``{name: (dW, db)}``
    in the canonical layout of ``weights``.
    """
    logits, c = _forward(weights, x)
    n = len(logits)
    y = _check_labels(y, n)
    log_probs = _log_softmax(logits)
    loss = float(-log_probs[np.arange(n), y].mean())
    g = np.exp(log_probs)
    g[np.arange(n), y] -= 1
    g /= n                                            # d loss / d logits
    grads = {"dense3": (c["a4"].T @ g, g.sum(0))}
    g = (g @ c["w5"].T) * (c["z4"] > 0)
    grads["dense2"] = (c["a3"].T @ g, g.sum(0))
    g = (g @ c["w4"].T) * (c["z3"] > 0)
    grads["dense1"] = (c["f"].T @ g, g.sum(0))
    g = (g @ c["w3"].T).reshape(c["h2"].shape)
    g = _unpool(g, c["arg2"], c["a2"].shape) * (c["z2"] > 0)
    grads["conv2"] = (np.einsum("nchwij,nohw->ocij", c["p2"], g, optimize=True),
                      g.sum((0, 2, 3)))
    g = _conv_input_grad(g, c["w2"], pad=0)
    g = _unpool(g, c["arg1"], c["a1"].shape) * (c["z1"] > 0)
    grads["conv1"] = (np.einsum("nchwij,nohw->ocij", c["p1"], g, optimize=True),
                      g.sum((0, 2, 3)))
    return loss, {name: grads[name] for name in LENET_SHAPES}


def lenet_sgd_step(weights, x, y, lr: float):
    """One plain-SGD update ``w <- w - lr * dloss/dw`` on the batch ``(x, y)``, in numpy.

    Returns ``(loss before the update, updated weights)``; the weights are float64, in
    the canonical layout, and ``weights`` itself is not changed.
    """
    check_number("lr", lr, minimum=0.0)
    loss, grads = lenet_loss_and_grads(weights, x, y)
    updated = {name: (np.asarray(w, np.float64) - lr * dw, np.asarray(b, np.float64) - lr * db)
               for (name, (w, b)), (dw, db) in zip(weights.items(), grads.values())}
    return loss, updated
