"""The framework-free names every framework room re-exports.

``from d2l_compat import torch as d2l`` (or any other room) then offers D2L's helpers,
the schedules and the LR-finder core under one name, the way D2L's ``d2l`` module does.
"""

from d2l_compat.fetch import load_fashion_mnist
from d2l_compat.loader import get_fashion_mnist_labels
from d2l_compat.lr_finder import (LRFinderResult, LRRangeTest, find_wall,
                                  longest_decreasing_chain, lr_sweep,
                                  run_range_test, smooth_losses, suggest_minimum_div_10,
                                  suggest_steepest, suggest_valley,
                                  warmup_cosine_from)
from d2l_compat.lenet import (dead_relus, lenet_forward, lenet_loss_and_grads,
                               lenet_sgd_step, lenet_weights)
from d2l_compat.plotting import Animator, plot, set_figsize, show_images
from d2l_compat.report import (collapse_summary, compare, compare_with_d2l, conclusions,
                               count_beats, lr_table,
                                md, plot_runs, runs_table, seed_table, verdict, verdict_line)
from d2l_compat.records import edge_study_table, read_edge_study, record_run
from d2l_compat.d2l_api import Accumulator, Timer
from d2l_compat.context import DEFAULT_SEED, run_mode, run_seed, set_mode
from d2l_compat.schedules import (Constant, CosineScheduler, FactorScheduler,
                                  MultiFactorScheduler, PolyScheduler, Schedule,
                                  SquareRootScheduler, WarmupCosineDecay, join_schedules,
                                  plot_schedules, schedule_from_config, schedule_to_config)
from d2l_compat.training import (FAILED, LR_LOG_EVERY, SCHEDULE_UNITS, EpochStats, History,
                                 check_schedule_unit, failed_runs, fit, outcome,
                                 slow_start)

__all__ = [
    "get_fashion_mnist_labels", "load_fashion_mnist",
    "LRFinderResult", "LRRangeTest", "find_wall", "longest_decreasing_chain", "lr_sweep",
    "run_range_test", "smooth_losses",
    "suggest_minimum_div_10", "suggest_steepest", "suggest_valley", "warmup_cosine_from",
    "dead_relus", "lenet_forward", "lenet_loss_and_grads", "lenet_sgd_step", "lenet_weights",
    "Animator", "plot", "set_figsize", "show_images",
    "collapse_summary", "compare", "conclusions", "count_beats", "lr_table", "md", "plot_runs",
    "runs_table",
    "seed_table", "verdict", "verdict_line",
    "compare_with_d2l", "record_run", "read_edge_study", "edge_study_table",
    "DEFAULT_SEED", "Accumulator", "Timer", "run_mode", "run_seed", "set_mode",
    "Constant", "CosineScheduler", "FactorScheduler", "MultiFactorScheduler",
    "PolyScheduler", "Schedule", "SquareRootScheduler", "WarmupCosineDecay",
    "join_schedules", "plot_schedules", "schedule_from_config", "schedule_to_config",
    "LR_LOG_EVERY", "SCHEDULE_UNITS", "EpochStats", "History", "check_schedule_unit", "fit",
    "FAILED", "failed_runs", "outcome", "slow_start",
]
