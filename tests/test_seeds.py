"""Results per seed: one file per seed, load_seeds, seed_stats, and the tables over seeds."""

import json
import math

import pytest

from d2l_compat import records
from d2l_compat.context import ENV
from d2l_booktools import gridrecords, tables
from d2l_compat.training import EpochRecord, History


def history(losses, test_acc, seed=0, framework="jax"):
    return History(framework, seed=seed, mode="smoke", data_source="test",
                   epochs=[EpochRecord(e, 0.3, loss, 0.5, test_acc, 1.0, 1.0)
                           for e, loss in enumerate(losses)])


def test_each_seed_has_its_own_file_and_load_seeds_reads_them(results_tmp, monkeypatch):
    paths = {}
    for seed, acc in ((0, 0.89), (2, 0.10), (1, 0.88)):
        monkeypatch.setenv("D2L_SEED", str(seed))
        losses = [1.0, 0.5, 2.31] if seed == 2 else [1.0, 0.5, 0.3]
        paths[seed] = records.record_run("lenet", "baseline", history(losses, acc, seed))
    assert paths == {0: results_tmp / "jax/lenet.json", 1: results_tmp / "jax/lenet.seed1.json",
                     2: results_tmp / "jax/lenet.seed2.json"}
    assert json.loads(paths[1].read_text())["seed"] == 1
    (results_tmp / "jax" / "lenet_other.json").write_text("{}")  # another chapter: ignored
    seeds = records.load_seeds("jax", "lenet", "smoke")
    assert list(seeds) == [0, 1, 2]
    assert [seeds[s]["baseline"].final["test_acc"] for s in seeds] == [0.89, 0.88, 0.10]
    stats = records.seed_stats(by_run["baseline"] for by_run in seeds.values())
    assert (stats.n, stats.min, stats.max, stats.collapsed) == (3, 0.10, 0.89, 1)
    assert stats.mean == pytest.approx((0.89 + 0.88 + 0.10) / 3)
    assert stats.spread == pytest.approx(0.79)
    table = tables.chapter_table("lenet", "smoke")
    assert "| baseline lr 0.3 | — | — | — | 0.890 / 0.300 |" in table
    assert "Over seeds (seeds per framework: jax 3)" in table
    assert "| baseline lr 0.3 | — | — | — | 0.623 (0.100–0.890), 1 of 3 failed (seed 2: collapsed in epoch 2) |" in table


def test_collapse_is_shown_in_the_seed_zero_table(results_tmp):
    records.record_run("lenet", "baseline", history([1.0, 0.5, 2.31, 2.30], 0.1))
    table = tables.chapter_table("lenet", "smoke")
    assert "| 0.100 (collapsed in epoch 2) / 2.300 |" in table
    assert "Over seeds" not in table


def test_a_run_that_never_left_chance_level_is_named_not_counted_as_fine(results_tmp,
                                                                       monkeypatch):
    for seed, losses in ((0, [2.31, 2.305, 2.303]), (1, [1.0, 0.5, 0.3])):
        monkeypatch.setenv("D2L_SEED", str(seed))
        records.record_run("lenet", "baseline", history(losses, 0.1 if seed == 0 else 0.8,
                                                        seed))
    seeds = records.load_seeds("jax", "lenet", "smoke")
    assert [seeds[s]["baseline"].stuck for s in (0, 1)] == [True, False]
    stats = records.seed_stats(by_run["baseline"] for by_run in seeds.values())
    assert (stats.collapsed, stats.stuck) == (0, 1)
    assert str(stats).endswith("over 2 seeds, 1 of 2 at chance in every epoch")
    table = tables.chapter_table("lenet", "smoke")
    assert "| 0.100 (at chance in every epoch) / 2.303 |" in table
    assert "0.450 (0.100–0.800), 1 of 2 failed (seed 0: at chance in every epoch) |" in table


def test_the_timings_table_names_records_of_the_grid_before_the_worker_env_fix(tmp_path):
    path = tmp_path / "timings.json"
    cpu = "Some CPU; vector extensions: avx2"
    old = {"chapter": "lenet", "framework": "jax", "mode": "full", "seed": 0, "seconds": 600,
           "threads": 1, "at_once": 2, "cpu": cpu, "date": "2026-12-01"}
    path.write_text(json.dumps({"lenet/jax/full/seed0": old,
                                "lenet/jax/class/seed0": {**old, "mode": "class",
                                                          "seconds": 60, "threads": 2,
                                                          "at_once": 1,
                                                          "worker_env": False}}))
    lines = gridrecords.timings_table(path).splitlines()
    assert "| lenet | full | – | – | – | 10.0 min |" in lines
    assert f"* full: {cpu}, 1 thread per notebook, 2 notebooks at once " \
           f"({gridrecords.OLD_WORKER_ENV})" in lines
    assert f"* class: {cpu}, 2 threads per notebook, one notebook at a time" in lines


def test_the_timings_table_names_the_chapters_of_each_setup_when_a_mode_has_several(tmp_path):
    path = tmp_path / "timings.json"
    cpu = "Some CPU; vector extensions: avx2"
    record = {"framework": "mxnet", "mode": "class", "seed": 0, "seconds": 240, "at_once": 1,
              "cpu": cpu, "worker_env": False, "date": "2026-12-02"}
    path.write_text(json.dumps({
        "lenet/mxnet/class/seed0": {**record, "chapter": "lenet", "threads": 2},
        "lr_finder/mxnet/class/seed0": {**record, "chapter": "lr_finder", "threads": 2},
        "lr_scheduler/mxnet/class/seed0": {**record, "chapter": "lr_scheduler", "threads": 0}}))
    lines = gridrecords.timings_table(path).splitlines()
    assert "| lr_scheduler | class | – | – | 4.0 min | – |" in lines
    assert (f"* class: {cpu}, each framework's own default number of threads, one notebook "
            f"at a time [lr_scheduler]; {cpu}, 2 threads per notebook, one notebook at a "
            f"time [lenet, lr_finder]") in lines


def test_a_history_of_another_seed_is_refused_and_nothing_is_written(results_tmp,
                                                                     monkeypatch):
    monkeypatch.setenv("D2L_SEED", "1")
    with pytest.raises(ValueError, match="D2L_SEED=1 but run 'baseline' of 'lenet' was "
                                         "trained with seed 0"):
        records.record_run("lenet", "baseline", history([1.0], 0.5, seed=0))
    assert not results_tmp.exists() or not list(results_tmp.rglob("*.json"))
    # a seed study inside a seed-0 execution keeps every seed in the seed-0 file
    monkeypatch.delenv("D2L_SEED")
    path = records.record_run("warmup_cosine", "warmup_seed2", history([1.0], 0.5, seed=2))
    assert path.name == "warmup_cosine.json"


def test_seed_stats_names_bad_input():
    with pytest.raises(ValueError, match="at least one History"):
        records.seed_stats([])
    with pytest.raises(ValueError, match="metric must be"):
        records.seed_stats([history([1.0], 0.5)], "lr")
    diverged = records.seed_stats([history([1.0, math.nan], 0.1), history([1.0], 0.5)],
                                  "train_loss")
    assert diverged.mean == 1.0 and diverged.n == 2  # the diverged seed is left out...
    assert diverged.diverged == 1 and diverged.collapsed == 0  # ...and counted as such
    assert str(diverged) == "mean 1.000, 1.000–1.000 over 2 seeds, 1 of 2 diverged"
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        records.results_name("lenet", "1")
    with pytest.raises(ValueError, match="non-negative"):
        records.results_name("lenet", -1)


def test_a_grid_execution_reads_the_recorded_seeds_beside_its_own(results_tmp, tmp_path,
                                                                   monkeypatch):
    """The grid stages a notebook's results (D2L_RESULTS_DIR) and points it at the grid's
    results folder (D2L_RESULTS_RECORDED): its seed tables see both, its own seed first."""
    recorded = tmp_path / "recorded"
    for seed, acc in ((0, 0.50), (1, 0.88), (2, 0.87)):
        monkeypatch.setenv("D2L_RESULTS_DIR", str(recorded))
        monkeypatch.setenv("D2L_SEED", str(seed))
        records.record_run("lenet", "baseline", history([1.0, 0.4], acc, seed))
    monkeypatch.setenv("D2L_RESULTS_DIR", str(results_tmp))  # the staging folder
    monkeypatch.setenv("D2L_SEED", "0")
    records.record_run("lenet", "baseline", history([1.0, 0.3], 0.89, 0))
    assert list(records.load_seeds("jax", "lenet", "smoke")) == [0]  # no grid: staging only
    monkeypatch.setenv(ENV["recorded"], str(recorded))
    seeds = records.load_seeds("jax", "lenet", "smoke")
    assert {s: runs["baseline"].final["test_acc"] for s, runs in seeds.items()} == {
        0: 0.89, 1: 0.88, 2: 0.87}  # seed 0 is this execution's, not the recorded one
    assert list(records.load_seeds("jax", "lenet", "smoke", directory=recorded)) == [0, 1, 2]
