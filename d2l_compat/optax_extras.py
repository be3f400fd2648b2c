"""optax extras of the JAX room: d2l_compat schedules in optax, the lr in the optimizer state.

``optax.inject_hyperparams(optax.sgd)`` (:func:`sgd`) keeps the lr in the optimizer
state, so it can be read back (:func:`current_lr`) and set (:func:`set_lr`); a
d2l_compat schedule becomes an optax schedule, traced into the compiled step, with
:func:`optax_schedule`. The room re-exports every public name as ``d2l.<name>``.
"""

from __future__ import annotations

import functools

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from d2l_compat.checks import check_int, check_number
from d2l_compat.schedules import Schedule

__all__ = ["optax_schedule", "sgd", "current_lr", "set_lr", "lr_is_scheduled", "with_count",
           "store_lr", "resumed_state", "table_size", "cached_sgd"]


def optax_schedule(schedule, steps_per_epoch: int | None = None,
                   num_steps: int | None = None):
    """An optax schedule (a jit-safe function of the update count) for ``schedule``.

    ``steps_per_epoch=None``: update ``u`` uses ``schedule(u)``. Otherwise the schedule is
    per epoch: update ``u`` uses ``schedule(u // steps_per_epoch)``, so every update of
    epoch ``t`` uses ``schedule(t)``. The formula is the schedule's own
    (``schedule.evaluate(t, xp=jax.numpy)``), traced into the compiled step; the result is
    float32 like the parameters. Pass it to ``optax.inject_hyperparams(optax.sgd)`` as
    ``learning_rate`` to read the applied lr back from the optimizer state.

    JAX computes in float32 (64-bit mode is off by default), so the traced formula can
    differ from ``np.float32(schedule(t))`` -- numpy's float64 value, rounded -- in the
    last bits. ``num_steps=n`` makes the first ``n`` values exactly those: they are
    computed once with numpy and looked up in a constant table inside the compiled step
    (the formula still serves ``t >= n``), so a per-batch hook that sets
    ``float(schedule(t))`` and this schedule give bit-identical rates.
    """
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a d2l_compat schedule, got {schedule!r}")
    if steps_per_epoch is not None:
        check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    if num_steps is not None:
        check_int("num_steps", num_steps, minimum=1)
    table = None if num_steps is None else np.asarray(schedule(np.arange(num_steps)),
                                                      np.float32)

    def lr_fn(count):
        t = jnp.asarray(count)
        if steps_per_epoch is not None:
            t = t // steps_per_epoch
        lr = jnp.asarray(schedule.evaluate(t.astype(jnp.float32), xp=jnp), jnp.float32)
        if table is not None:
            lr = jnp.where(t < num_steps, jnp.asarray(table)[jnp.clip(t, 0, num_steps - 1)],
                           lr)
        return lr

    lr_fn.schedule, lr_fn.steps_per_epoch, lr_fn.num_steps = schedule, steps_per_epoch, num_steps
    return lr_fn


def sgd(learning_rate, momentum: float = 0.0):
    """``optax.inject_hyperparams(optax.sgd)``: SGD whose lr (a number or an optax
    schedule) can be read and set through ``opt_state.hyperparams['learning_rate']``.

    ``momentum > 0`` is optax's heavy ball (``optax.trace``): ``v <- momentum * v + g``,
    ``w <- w - lr * v`` (PyTorch's form: the lr multiplies the whole velocity); it is then
    a hyperparameter too. ``momentum=0`` is plain SGD, with no momentum buffer.
    """
    check_number("momentum", momentum, minimum=0.0, below=1.0)
    return optax.inject_hyperparams(optax.sgd)(learning_rate=learning_rate,
                                               momentum=float(momentum) or None)


def _hyperparams_state(opt_state):
    """The ``inject_hyperparams`` state holding the lr, searched through chains."""
    if hasattr(opt_state, "hyperparams") and "learning_rate" in opt_state.hyperparams:
        return opt_state
    if isinstance(opt_state, (tuple, list)):
        for sub in opt_state:
            found = _hyperparams_state(sub)
            if found is not None:
                return found
    return None


def current_lr(opt_state):
    """``opt_state.hyperparams['learning_rate']``: the lr of the last update (after
    ``init``: of the first), as a jax scalar."""
    state = _hyperparams_state(opt_state)
    if state is None:
        raise ValueError("the optimizer state has no hyperparams['learning_rate']: build "
                         "the optimizer with optax.inject_hyperparams (e.g. d2l.sgd(lr)) "
                         "so the lr can be read back")
    return state.hyperparams["learning_rate"]


def lr_is_scheduled(opt_state) -> bool:
    """Whether ``inject_hyperparams`` recomputes the lr from a schedule at every update."""
    state = _hyperparams_state(opt_state)
    return "learning_rate" in getattr(state, "hyperparams_states", {})


def set_lr(opt_state, lr):
    """Set ``opt_state.hyperparams['learning_rate']`` to ``lr`` (float32); returns the state.

    The state is changed in place, as in ``opt_state.hyperparams['learning_rate'] = lr``;
    the next ``update`` applies ``lr`` and keeps it. That needs a number-valued lr: when
    it is a schedule, ``inject_hyperparams`` recomputes it at every update and would
    overwrite the value, so this raises a ``ValueError`` instead.
    """
    state = _hyperparams_state(opt_state)
    if state is None:
        current_lr(opt_state)  # raises the explanation
    if lr_is_scheduled(opt_state):
        raise ValueError("the optimizer's learning_rate is a schedule: optax recomputes it "
                         "at every update and would overwrite a value set by hand; build "
                         "the optimizer with a number (e.g. d2l.sgd(0.1)) to set the lr")
    old, new = state.hyperparams["learning_rate"], jnp.asarray(lr, jnp.float32)
    if getattr(old, "committed", False):  # keep it where the state lives
        new = jax.device_put(new, old.sharding)
    state.hyperparams["learning_rate"] = new
    return opt_state


def with_count(opt_state, count: int):
    """``opt_state`` with every step counter set to ``count`` (to resume a run)."""
    def reset(tree):
        if isinstance(tree, dict):
            return {k: (np.asarray(count, np.asarray(v).dtype) if k == "count" else reset(v))
                    for k, v in tree.items()}
        return tree

    return flax.serialization.from_state_dict(
        opt_state, reset(flax.serialization.to_state_dict(opt_state)))


def table_size(num_updates: int) -> int:
    """Updates tabulated for a per-update schedule: a power of two >= 4096."""
    return max(4096, 1 << (max(num_updates, 1) - 1).bit_length())


def cached_sgd(kind: str, spec, per_epoch: int | None, momentum: float = 0.0,
             num_steps: int | None = None):
    """The SGD optimizer of a run; cached, so equal runs share one compiled step."""
    return _sgd_of(kind, spec, per_epoch, float(momentum), num_steps)


@functools.lru_cache(maxsize=32)
def _sgd_of(kind, spec, per_epoch, momentum, num_steps):
    if kind == "constant":  # the lr lives in the state: one optimizer serves every value
        return sgd(0.0, momentum)
    if kind == "schedule":
        return sgd(optax_schedule(spec, per_epoch, num_steps), momentum)
    return sgd(spec if per_epoch is None else lambda count: spec(count // per_epoch),
               momentum)


def store_lr(opt_state, lr) -> None:
    """Put ``lr`` (float32) into the state's ``hyperparams['learning_rate']``."""
    _hyperparams_state(opt_state).hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)


def resumed_state(opt_state, saved, start_epoch: int, steps_per_epoch: int, constant_lr):
    """``opt_state`` continuing at epoch ``start_epoch``: the ``saved`` state dict (a
    previous run's, or None), whose count must be that epoch's first update, else a
    fresh one with that count. A constant lr passed now wins, as in the other rooms."""
    first_update = start_epoch * steps_per_epoch
    if saved is None:
        return with_count(opt_state, first_update)
    try:
        opt_state = flax.serialization.from_state_dict(opt_state, saved)
    except (ValueError, KeyError) as err:
        raise ValueError(f"the saved optimizer state does not fit this optimizer "
                         f"({err})") from None
    count = int(flax.serialization.to_state_dict(opt_state).get("count", first_update))
    if count != first_update:
        raise ValueError(f"the saved optimizer state has made {count} updates, but "
                         f"start_epoch={start_epoch} needs "
                         f"{first_update}")
    if constant_lr is not None:
        store_lr(opt_state, constant_lr)
    return opt_state
