"""Run a benchmark snippet for one framework in a fresh process.

A fresh process per framework keeps threads clean and the frameworks from interfering.
"""

import importlib.util
import json
import os
import subprocess
import sys

from d2l_compat import ROOMS

ENV = dict(os.environ, D2L_MODE="full", TF_CPP_MIN_LOG_LEVEL="2")


def run_in_room(framework, child, **fields):
    """Run ``child``, a code template with ``{room}`` and ``fields``, for ``framework``.

    The child reports by printing one JSON object per line. Returns ``(records,
    problem)``: the decoded objects (other output is ignored), and ``problem``, which is
    ``None``, ``"not installed"`` or ``"failed: <last stderr line>"``.
    """
    if importlib.util.find_spec(ROOMS[framework]) is None:
        return [], "not installed"
    code = child.format(room=ROOMS[framework], **fields)
    done = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True)
    problem = None if done.returncode == 0 else f"failed: {done.stderr.strip().splitlines()[-1:]}"
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return records, problem
