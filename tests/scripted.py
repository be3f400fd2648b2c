"""Training runs for the core's tests: ``fit`` driven by callables that replay given numbers.

``fit``'s contract is two callables, ``train_epoch(epoch) -> EpochStats`` and
``evaluate() -> float``; these replay scripted losses, lrs and accuracies through the
real ``fit``, so the tests exercise the real loop, history and live output.
"""

from d2l_compat.training import EpochStats, History, fit

EXAMPLES_PER_EPOCH = 100


def scripted_epochs(lrs, losses):
    """A train_epoch replaying ``lrs[epoch]``, ``losses[epoch]``; train acc 0.50 + epoch/100."""
    def train_epoch(epoch):
        return EpochStats(loss_sum=losses[epoch] * EXAMPLES_PER_EPOCH, correct=50 + epoch,
                          count=EXAMPLES_PER_EPOCH, lr=lrs[epoch],
                          step_lrs=[(epoch * 10, lrs[epoch])])
    return train_epoch


def scripted_run(losses, test_accs=None, lrs=None, *, framework="pytorch",
                 verbose=False, **history_fields) -> History:
    """A History made by ``fit`` from per-epoch losses, test accuracies and lrs."""
    n = len(losses)
    lrs = [0.1] * n if lrs is None else lrs
    accs = iter([0.5] * n if test_accs is None else test_accs)
    history = History(framework=framework, mode="smoke", **history_fields)
    return fit(scripted_epochs(lrs, losses), lambda: next(accs), n, history,
               animator=False, verbose=verbose)
