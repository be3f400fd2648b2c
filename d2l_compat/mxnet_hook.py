"""Let ``from mxnet import np`` work in a fresh interpreter beside numpy >= 1.24.

MXNet 1.9.1 reads ``numpy.bool`` while it is imported, an alias numpy 1.24 removed, so
``import mxnet`` fails on the pinned numpy 1.26 unless the alias is restored first.
D2L's MXNet code imports mxnet before ``d2l`` (``from mxnet import np, npx``), so the
restoring cannot wait for ``d2l_compat.mxnet``: it has to run when mxnet is imported.

``make setup`` runs ``python -m d2l_booktools.mxnet_hook install``, which writes
``d2l_compat_mxnet_hook.pth`` into the environment's site-packages. Python runs the
``.pth`` at start-up; it loads this file (by its path, without importing the
``d2l_compat`` package or numpy) and puts :class:`NumpyAliasesForMXNet` first on
``sys.meta_path``. That finder does nothing until something imports ``mxnet``; then it
restores ``numpy.bool = bool`` (exactly what numpy < 1.24 defined) and removes itself.
A program that never imports mxnet finds numpy untouched. ``python -m
d2l_booktools.mxnet_hook uninstall`` removes the file; ``status`` prints where it is.

This module imports only the standard library.
"""

from __future__ import annotations

import importlib.abc
import sys

HOOK_MODULE = "_d2l_compat_mxnet_hook"  # the name the .pth loads this file under


def restore_numpy_aliases() -> None:
    """Define ``numpy.bool = bool`` if numpy lacks it (numpy >= 1.24); MXNet 1.9.1 needs it."""
    import numpy as np

    if "bool" not in np.__dict__:
        np.bool = bool  # the alias numpy < 1.24 had


class NumpyAliasesForMXNet(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` entry that restores numpy's aliases when mxnet is imported.

    It finds no module itself (``find_spec`` returns None), so the import goes on as
    usual; at the first ``mxnet`` import it restores the aliases and leaves
    ``sys.meta_path``.
    """

    def find_spec(self, name, path=None, target=None):
        if name == "mxnet" or name.startswith("mxnet."):
            uninstall_finder()
            restore_numpy_aliases()
        return None


def _is_ours(finder) -> bool:  # by name: the .pth loads this file under another name
    return type(finder).__name__ == NumpyAliasesForMXNet.__name__


def install_finder() -> None:
    """Put the finder first on ``sys.meta_path`` (once) unless mxnet is already imported."""
    if "mxnet" not in sys.modules and not any(_is_ours(f) for f in sys.meta_path):
        sys.meta_path.insert(0, NumpyAliasesForMXNet())


def uninstall_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not _is_ours(f)]
