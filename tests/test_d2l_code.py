"""D2L's own chapter code runs on d2l_compat with only its import line changed.

Each file in ``tests/d2l_code/`` holds D2L's code cells verbatim (the file names its
source) and runs in a fresh interpreter (``run_chapter.py``, an IPython shell, smoke
mode, D2L's global RNGs seeded with ``D2L_SEED``). The test changes the code only by
textual substitutions, each of which must occur exactly once:

* ``num_epochs`` -> 2 (the chapters train for 10 or 30 epochs);
* lr-scheduler chapter: ``batch_size = 256`` -> 64. Smoke mode holds 2,000 training
  images, so a batch of 256 gives 8 updates per epoch, too few for the chapter's nets
  to leave chance in two epochs (measured: PyTorch's stays at a test accuracy of 0.10);
  64 gives 32 updates per epoch at the same cost in examples.

"It trains" is read from what the code prints (D2L's closing ``loss ..., train acc ...,
test acc ...`` line of every training) and from what its ``d2l.Animator`` recorded:

* the Animator's last test accuracy is the one printed (the helpers agree);
* where the code records the train loss per epoch, it decreases from epoch 1 to 2;
* lr-scheduler chapter and ``d2l.train_ch6``: every training ends with a train loss
  below chance (ln 10, what a net predicting uniformly scores) and the best test
  accuracy is above chance (> 0.2).

The LeNet chapter's net is D2L's sigmoid LeNet: it sits at the loss plateau near ln 10
for the first few hundred updates (measured: test accuracy 0.10 after two smoke epochs
with batches of 256, 32 or 16), so for it "trains" is the per-epoch loss decrease only.
"""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from d2l_compat.training import CHANCE_LOSS

pytestmark = pytest.mark.slow  # runs D2L's chapter code, which trains: left out of make unit

CODE = Path(__file__).resolve().parent / "d2l_code"
ROOT = CODE.parents[1]
FINAL = re.compile(r"^(?:train )?loss ([\d.]+), train acc ([\d.]+), test acc ([\d.]+)$", re.M)
LENET = [("lr, num_epochs = 0.9, 10", "lr, num_epochs = 0.9, 2")]
LR_SCHEDULER = [("lr, num_epochs = 0.3, 30", "lr, num_epochs = 0.3, 2"),
                ("batch_size = 256", "batch_size = 64")]


def run_code(name: str, substitutions) -> tuple[list[tuple[float, ...]], list[dict]]:
    """Run ``d2l_code/<name>``; returns the printed (loss, train acc, test acc) of every
    training and the Animators' records."""
    env = dict(os.environ, D2L_MODE="smoke", PYTHONPATH=str(ROOT),
               TF_CPP_MIN_LOG_LEVEL="2", OMP_WAIT_POLICY="passive")
    args = [a for pair in substitutions for a in pair]
    proc = subprocess.run([sys.executable, str(CODE / "run_chapter.py"), str(CODE / name),
                           *args], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    animators = json.loads(proc.stdout.rsplit("ANIMATORS ", 1)[1])
    finals = [tuple(map(float, m)) for m in FINAL.findall(proc.stdout)]
    return finals, animators


def check_trains(finals, animators, runs: int, past_chance: bool) -> None:
    assert len(finals) == len(animators) == runs, (finals, animators)
    for (loss, _, test_acc), animator in zip(finals, animators):
        assert animator["legend"] == ["train loss", "train acc", "test acc"]
        (loss_x, loss_y), (acc_x, acc_y) = ((animator["X"][i], animator["Y"][i])
                                            for i in (0, 2))
        assert acc_x == [1.0, 2.0] and abs(acc_y[-1] - test_acc) <= 5e-4
        per_epoch = [y for x, y in zip(loss_x, loss_y) if x in (1.0, 2.0)]
        if len(per_epoch) == 2:
            assert per_epoch[1] < per_epoch[0], per_epoch
        assert math.isfinite(loss)
        if past_chance:
            assert loss < CHANCE_LOSS, finals
    if past_chance:
        assert max(f[2] for f in finals) > 0.2, finals


FRAMEWORKS = ["pytorch", "mxnet", "tensorflow"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_lenet_chapter_code_runs_unchanged(framework):
    check_trains(*run_code(f"lenet_{framework}.py", LENET), runs=1, past_chance=False)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_lr_scheduler_chapter_code_runs_unchanged(framework):
    """The chapter's toy problem, then its SquareRootScheduler through its ``train``."""
    check_trains(*run_code(f"lr_scheduler_{framework}.py", LR_SCHEDULER), runs=2,
                 past_chance=True)


@pytest.mark.parametrize("room", ["torch", "mxnet", "tensorflow"])
def test_room_train_ch6_trains_with_d2l_signature(room):
    check_trains(*run_code(f"room_train_ch6_{room}.py", []), runs=1, past_chance=True)


def test_mxnet_np_imports_in_a_fresh_interpreter():
    """``make setup`` installs the mxnet_hook .pth: ``from mxnet import np`` works first
    thing, and a program that never imports mxnet finds numpy without ``numpy.bool``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = "from mxnet import np; print(np.arange(3).asnumpy().tolist())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout.split()[-3:] == ["[0.0,", "1.0,", "2.0]"], \
        proc.stderr[-2000:]
    code = ("import sys, numpy; print('bool' in numpy.__dict__, "
            "'d2l_compat' in sys.modules, 'mxnet' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.stdout.split() == ["False", "False", "False"], proc.stderr[-2000:]
