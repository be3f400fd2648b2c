"""Shared helpers for the learning-rate scheduling notebooks.

Import the room of your framework the way D2L imports ``d2l``::

    from d2l_compat import torch as d2l        # or tensorflow, mxnet, jax

Importing this package imports no deep-learning framework. To run a chapter in another
mode, call ``set_mode`` before its *Setup* cell::

    from d2l_compat import set_mode
    set_mode("class")                          # or "full" (the default), "smoke"
"""

from d2l_compat.runmode import set_mode

__version__ = "0.1.0"

FRAMEWORKS = ("pytorch", "tensorflow", "mxnet", "jax")
ROOMS = {"pytorch": "torch", "tensorflow": "tensorflow", "mxnet": "mxnet", "jax": "jax"}
"""Framework name -> its room, ``d2l_compat.<room>`` (and the package it imports)."""
