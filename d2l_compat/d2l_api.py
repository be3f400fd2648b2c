"""D2L's framework-free utilities: :class:`Timer`, :class:`Accumulator` and the
framework-free half of D2L's ``train_ch6`` (chapter "Convolutional Neural Networks
(LeNet)"), shared by the rooms' ``train_ch6`` and TensorFlow's ``TrainCallback``.

A room supplies what is native to its framework -- one SGD update on a minibatch and the
test accuracy -- and :func:`train_ch6_loop` does D2L's bookkeeping around it: an
:class:`~d2l_compat.plotting.Animator` with D2L's legend, the sums of an
:class:`Accumulator`, the :class:`Timer`, the
five points per epoch, and the two lines D2L prints at the end::

    loss 0.469, train acc 0.823, test acc 0.779
    55275.4 examples/sec on cuda:0
"""

from __future__ import annotations

import time

import numpy as np

from d2l_compat.arrays import as_float
from d2l_compat.checks import check_int
from d2l_compat.plotting import Animator


class Timer:
    """Record multiple running times (D2L's Timer)."""

    def __init__(self):
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        self.tik = time.perf_counter()

    def stop(self) -> float:
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        return sum(self.times)

    def cumsum(self) -> list[float]:
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """Sums over ``n`` variables (D2L's Accumulator); ``acc[i]`` is the i-th sum.

    ``add`` takes numbers or one-element arrays of any framework (a torch loss, an
    MXNet ``l.sum()``), as D2L's training loops pass them.

    >>> acc = Accumulator(2)
    >>> acc.add(3, 1.5); acc.add(1, 0.5)
    >>> acc[0], acc[1]
    (4.0, 2.0)
    """

    def __init__(self, n: int):
        self.data = [0.0] * n

    def add(self, *args) -> None:
        if len(args) != len(self.data):
            raise ValueError(f"Accumulator holds {len(self.data)} sums, got {len(args)} values")
        self.data = [a + as_float(b) for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


LEGEND_CH6 = ["train loss", "train acc", "test acc"]


def animator_ch6(num_epochs: int) -> Animator:
    """D2L's Animator of ``train_ch6``: epochs 1..num_epochs, three series."""
    return Animator(xlabel="epoch", xlim=[1, num_epochs], legend=list(LEGEND_CH6))


def report_ch6(train_loss: float, train_acc: float, test_acc: float,
               examples_per_sec: float, device) -> None:
    """Print D2L's two closing lines of ``train_ch6``."""
    print(f"loss {train_loss:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")
    print(f"{examples_per_sec:.1f} examples/sec on {device}")


def train_ch6_loop(train_step, evaluate, train_iter, num_epochs: int, device) -> None:
    """D2L's ``train_ch6`` loop around a framework's ``train_step`` and ``evaluate``.

    Args:
      train_step: ``(X, y) -> (loss_sum, num_correct, num_examples)`` -- one update on a
        minibatch of ``train_iter``; the first two may be one-element framework arrays.
      evaluate: ``() -> test accuracy`` (a float), called after every epoch.
      train_iter: iterable of ``(X, y)`` minibatches with ``len()``.
      num_epochs (int): epochs to train (>= 1).
      device: what the closing line names (``str(device)``).

    Returns None, as D2L's ``train_ch6``. The Animator gets the running train loss and
    accuracy five times per epoch (D2L's cadence; every batch for epochs of fewer than
    five batches) and the test accuracy at the end of each epoch.
    """
    check_int("num_epochs", num_epochs, minimum=1)
    animator = animator_ch6(num_epochs)
    timer, num_batches = Timer(), len(train_iter)
    every = max(num_batches // 5, 1)
    for epoch in range(num_epochs):
        metric = Accumulator(3)  # sum of losses, no. correct, no. of examples
        for i, (X, y) in enumerate(train_iter):
            timer.start()
            metric.add(*train_step(X, y))
            timer.stop()
            train_l, train_acc = metric[0] / metric[2], metric[1] / metric[2]
            if (i + 1) % every == 0 or i == num_batches - 1:
                animator.add(epoch + (i + 1) / num_batches, (train_l, train_acc, None))
        test_acc = evaluate()
        animator.add(epoch + 1, (None, None, test_acc))
    report_ch6(train_l, train_acc, test_acc, metric[2] * num_epochs / timer.sum(), device)
