"""Shared helpers for the learning-rate scheduling notebooks.

Import the room of your framework the way D2L imports ``d2l``::

    from d2l_compat import torch as d2l        # or tensorflow, mxnet, jax

Importing this package imports no deep-learning framework and none of the book's tooling
(``d2l_booktools``). The frameworks and chapters are listed once, in
:mod:`d2l_compat.registry`; the run's settings are read once, in :mod:`d2l_compat.context`.
To run a chapter in another mode, call ``set_mode`` before its *Setup* cell::

    from d2l_compat import set_mode
    set_mode("class")                          # or "full" (the default), "smoke"
"""

from d2l_compat.context import set_mode
from d2l_compat.registry import FRAMEWORKS, ROOMS

__version__ = "0.1.0"
__all__ = ["FRAMEWORKS", "ROOMS", "set_mode"]
