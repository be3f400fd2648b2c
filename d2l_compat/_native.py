"""Process-level helpers for native (C/C++) libraries, framework-free."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Send what native code writes to file descriptor 2 to ``os.devnull`` for a while.

    Python's own ``sys.stderr`` object is flushed first and works as before afterwards;
    exceptions raised inside the block propagate unchanged. Used around importing a
    framework whose shared libraries log at load time, before their log level can be set.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
