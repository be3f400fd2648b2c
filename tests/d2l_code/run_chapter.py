"""Run one file of D2L chapter code in this interpreter, cell by cell, as Jupyter would.

Usage: ``python run_chapter.py FIXTURE [OLD NEW]...``

Each ``OLD`` -> ``NEW`` pair is a textual substitution the test makes (e.g. fewer
epochs); ``OLD`` must occur exactly once in the fixture. The cells (separated by
``# %%`` lines) run in an IPython shell, so magics such as ``%matplotlib inline`` work
as in the notebook. After the first cell (D2L's imports) the global random generators of
the frameworks it imported are seeded with ``D2L_SEED`` (default 0), since D2L's code
draws its initial weights from them. At the end one line ``ANIMATORS <json>`` lists, for every
``d2l.Animator`` the code made, its legend and the recorded points per series.
"""

import json
import sys
from pathlib import Path

from IPython.terminal.interactiveshell import TerminalInteractiveShell

from d2l_compat import plotting
from d2l_compat.context import run_seed


def seed_frameworks(seed: int) -> None:
    """Seed the global generators of the frameworks imported so far."""
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "mxnet" in sys.modules:
        sys.modules["mxnet"].random.seed(seed)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)
        sys.modules["keras"].utils.set_random_seed(seed)  # also Python's and numpy's


def main(fixture: str, *pairs: str) -> int:
    code = Path(fixture).read_text()
    if len(pairs) % 2:
        raise SystemExit("substitutions come in OLD NEW pairs")
    for old, new in zip(pairs[::2], pairs[1::2]):
        if code.count(old) != 1:
            raise SystemExit(f"{fixture}: {old!r} occurs {code.count(old)} times, not once")
        code = code.replace(old, new)
    animators = []
    init = plotting.Animator.__init__

    def recording_init(self, *args, **kwargs):  # records which Animators exist
        init(self, *args, **kwargs)
        animators.append(self)

    plotting.Animator.__init__ = recording_init
    shell = TerminalInteractiveShell.instance(colors="nocolor")
    for i, cell in enumerate(code.split("\n# %%\n")):
        result = shell.run_cell(cell)
        if not result.success:
            return 1
        if i == 0:
            seed_frameworks(run_seed())
    print("ANIMATORS", json.dumps([{"legend": a.legend, "X": a.X, "Y": a.Y}
                                   for a in animators]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
