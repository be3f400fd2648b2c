"""JAX kernels of the JAX room: the flax LeNet, its layers, the matmul convolution.

XLA's CPU kernels for LeNet's small layers are slow; these compute the same values
faster (``tests/test_jax.py`` checks values and gradients against flax's and lax's own).
The room re-exports every name as ``d2l.<name>``.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from d2l_compat.lenet import match_layers, to_layout

__all__ = ["ReLU", "MaxPool2D", "Flatten", "conv_as_matmul", "lenet_module", "lenet_params"]


class ReLU(nn.Module):
    """ReLU as a layer, so the model's layers can be listed like D2L's nn.Sequential."""

    def __call__(self, x):
        return nn.relu(x)


class MaxPool2D(nn.Module):
    """Max-pooling; non-overlapping windows that tile the input are computed as a
    reshape + max, whose gradient XLA runs several times faster on CPU than the
    ``select_and_scatter`` of ``nn.max_pool`` (same values)."""

    window: int = 2
    stride: int = 2

    def __call__(self, x):
        n, h, w, c = x.shape
        k = self.window
        if self.stride == k and h % k == 0 and w % k == 0:
            return x.reshape(n, h // k, k, w // k, k, c).max(axis=(2, 4))
        return nn.max_pool(x, (k, k), (self.stride, self.stride))


class Flatten(nn.Module):
    def __call__(self, x):
        return x.reshape((x.shape[0], -1))


_NHWC = ("NHWC", "HWIO", "NHWC")


def conv_as_matmul(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                   dimension_numbers=None, feature_group_count=1, **kwargs):
    """``lax.conv_general_dilated`` for LeNet's ``nn.Conv`` layers, written as one matmul.

    XLA's CPU convolution is slow for LeNet's few channels (above all for the
    one-channel input). For a stride-1 NHWC convolution, every output row is the
    ``kh`` input rows it covers, flattened, times a banded (Toeplitz) matrix built from
    the kernel, so the whole convolution is one large matmul, which XLA runs fast; JAX
    differentiates it as usual. The values are those of the convolution up to float32
    rounding (``tests/test_jax.py`` checks values and gradients). Anything else (strides,
    dilation, groups, other layouts) goes to ``lax.conv_general_dilated``.
    """
    simple = (lhs.ndim == 4 and tuple(np.ravel(window_strides)) in ((1,), (1, 1))
              and all(d is None or set(np.ravel(d)) == {1} for d in (lhs_dilation, rhs_dilation))
              and feature_group_count == 1 and kwargs.get("precision") is None
              and kwargs.get("batch_group_count", 1) == 1
              and dimension_numbers == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC))
    if not simple:
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                        rhs_dilation, dimension_numbers, feature_group_count,
                                        **kwargs)
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], (1, 1), padding)
    (top, bottom), (left, right) = padding
    x = jnp.pad(lhs, ((0, 0), (top, bottom), (left, right), (0, 0)))
    n, h, w, c_in = x.shape
    kh, kw, _, c_out = rhs.shape
    h_out, w_out = h - kh + 1, w - kw + 1
    shift = np.zeros((kw, w, w_out), lhs.dtype)  # shift[b, j + b, j] = 1
    for b in range(kw):
        shift[b, np.arange(w_out) + b, np.arange(w_out)] = 1
    band = jnp.einsum("abio,bwj->awijo", rhs, shift).reshape(kh * w * c_in, w_out * c_out)
    x = x.reshape(n, h, w * c_in)
    rows = jnp.concatenate([x[:, a:a + h_out] for a in range(kh)], axis=-1)
    return (rows.reshape(n * h_out, -1) @ band).reshape(n, h_out, w_out, c_out)


@functools.lru_cache(maxsize=None)
def lenet_module() -> nn.Sequential:
    """The chapter's modernised LeNet as a linen module (NHWC input).

    Its parameters come from :func:`lenet_params` (``module.init`` would draw flax's
    default init instead). Modules are immutable, so every :func:`lenet` shares this one
    object (and the compiled functions cached for it)."""
    conv = dict(conv_general_dilated=conv_as_matmul)
    return nn.Sequential((
        nn.Conv(6, (5, 5), padding=2, **conv), ReLU(), MaxPool2D(2, 2),
        nn.Conv(16, (5, 5), padding="VALID", **conv), ReLU(), MaxPool2D(2, 2),
        Flatten(),
        nn.Dense(120), ReLU(),
        nn.Dense(84), ReLU(),
        nn.Dense(10)))


def lenet_params(module: nn.Module, weights) -> dict:
    """LeNet ``weights`` (canonical layout, from :func:`lenet_weights`) as ``module``'s params.

    ``module``'s ``Conv`` and ``Dense`` layers, in call order, receive the five
    (kernel, bias) pairs in flax's layout (``to_layout(weights, "HWIO")``: HWIO kernels,
    ``Dense`` kernels ``(in, out)``, and the rows of the first ``Dense`` permuted to the
    height-width-channel order in which NHWC features are flattened, so an image gives
    the same logits as in the NCHW frameworks). The parameter tree is traced with
    ``jax.eval_shape`` (nothing is drawn or computed); any module on 28x28x1 NHWC inputs
    with LeNet's layer shapes works, other shapes raise ``ValueError``.
    """
    call_order = []  # jax sorts the keys of a returned dict: record flax's order

    def init(X):
        params = module.init(jax.random.PRNGKey(0), X)["params"]
        call_order.extend(params)
        return params

    shapes = jax.eval_shape(init, jnp.zeros((1, 28, 28, 1), jnp.float32))
    matched = match_layers(call_order, to_layout(weights, "HWIO"),
                           lambda name: (shapes[name]["kernel"].shape,
                                         shapes[name]["bias"].shape))
    return {name: {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
            for name, kernel, bias in matched}
