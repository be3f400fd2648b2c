"""Framework arrays to numpy, without importing any framework (duck typing).

D2L's helpers (``plot``, ``show_images``, ``Accumulator``) take whatever array the
chapter's framework produces. Each framework offers its own way out to numpy; this module
picks it by the methods the object has, so the core stays framework-free:

============================  ==========================================
object                        conversion
============================  ==========================================
MXNet ``nd.NDArray`` / ``np``  ``x.asnumpy()``
PyTorch ``Tensor``             ``x.detach().cpu().numpy()``
TensorFlow ``EagerTensor``     ``x.numpy()``
JAX array, numpy, lists        ``numpy.asarray(x)``
============================  ==========================================
"""

from __future__ import annotations

import numpy as np


def as_numpy(x) -> np.ndarray:
    """``x`` (a framework array, a scalar, or a list of either) as a numpy array.

    >>> as_numpy([1, 2.5]).tolist()
    [1.0, 2.5]
    """
    if hasattr(x, "asnumpy"):  # MXNet: np.asarray(nd.NDArray) builds an object array
        return x.asnumpy()
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # PyTorch, also with requires_grad
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # TensorFlow eager
        return np.asarray(x.numpy())
    if isinstance(x, (list, tuple)):
        return np.asarray([as_numpy(v) for v in x], dtype=float)
    return np.asarray(x)


def as_float(x) -> float:
    """A one-element framework array (any shape) or a number as a Python float.

    >>> as_float(3)
    3.0
    """
    value = as_numpy(x)
    if value.size != 1:
        raise ValueError(f"expected one number, got an array of shape {value.shape}")
    return float(value.reshape(()))
