"""The results tables (d2l_booktools.tables): seeds per framework, failed runs in the one
vocabulary, and D2L's published numbers placed in our ranges over seeds."""

from d2l_compat import records
from d2l_compat.report import D2L_REFERENCE
from d2l_compat.training import EpochRecord, History
from d2l_booktools import tables


def history(losses, test_acc, seed=0, framework="jax"):
    """A History as fit makes it: a non-finite loss ends the run as diverged."""
    return History(framework, seed=seed, mode="smoke", data_source="test",
                   diverged=any(loss != loss for loss in losses),
                   epochs=[EpochRecord(e, 0.3, loss, 0.5, test_acc, 1.0, 1.0)
                           for e, loss in enumerate(losses)])


def record(monkeypatch, chapter, framework, seed, run, losses, test_acc):
    monkeypatch.setenv("D2L_SEED", str(seed))
    records.record_run(chapter, run, history(losses, test_acc, seed, framework))


def rows(table, run_title):
    return [line for line in table.splitlines() if line.startswith(f"| {run_title} |")]


def test_every_framework_gets_a_seed_cell_and_fewer_seeds_say_how_many(results_tmp,
                                                                      monkeypatch):
    for seed, acc in enumerate([0.85, 0.88, 0.86]):
        record(monkeypatch, "lenet", "jax", seed, "baseline", [1.0, 0.5, 0.3], acc)
    for seed, acc in enumerate([0.87, 0.89]):
        record(monkeypatch, "lenet", "pytorch", seed, "baseline", [1.0, 0.5, 0.3], acc)
    record(monkeypatch, "lenet", "mxnet", 0, "baseline", [2.31, 2.305, 2.303], 0.1)
    table = tables.chapter_table("lenet", "smoke")
    seed0, over_seeds = rows(table, "baseline lr 0.3")
    assert seed0 == ("| baseline lr 0.3 | 0.870 / 0.300 | — | 0.100 (at chance in every "
                     "epoch) / 2.303 | 0.850 / 0.300 |")
    assert over_seeds == (
        "| baseline lr 0.3 | 0.880 (0.870–0.890; 2 of 3 seeds), 0 of 2 failed | — "
        "| 0.100 (seed 0 only), 1 of 1 failed (seed 0: at chance in every epoch) "
        "| 0.863 (0.850–0.880), 0 of 3 failed |")
    assert "collapsed" not in over_seeds  # a run at chance in every epoch did not collapse
    assert "D2L" not in table             # D2L's numbers belong to lr_scheduler only


def test_failures_are_named_by_seed_and_outcome(results_tmp, monkeypatch):
    runs = {0: [1.0, 0.5, 0.3], 1: [1.0, 0.5, 2.31], 2: [1.0, float("nan")]}
    for seed, losses in runs.items():
        record(monkeypatch, "lenet", "jax", seed, "baseline", losses, 0.8 if seed == 0 else 0.1)
    [_, over_seeds] = rows(tables.chapter_table("lenet", "smoke"), "baseline lr 0.3")
    # the diverged seed is left out of the mean and range, and counted
    assert over_seeds.endswith("| 0.450 (0.100–0.800), 2 of 3 failed (seed 1: collapsed in "
                               "epoch 2; seed 2: diverged in epoch 1) |")


def test_d2l_s_published_numbers_are_placed_in_our_seed_ranges(results_tmp, monkeypatch):
    published = {run: numbers["pytorch"][2] for run, numbers in D2L_REFERENCE.items()}
    for seed, acc in enumerate([0.860, 0.880, 0.870]):   # 0.877 within, 0.886 above
        record(monkeypatch, "lr_scheduler", "pytorch", seed, "baseline", [1.0, 0.3], acc)
        record(monkeypatch, "lr_scheduler", "pytorch", seed, "square_root", [1.0, 0.3], acc)
        record(monkeypatch, "lr_scheduler", "pytorch", seed, "multi_factor", [1.0, 0.3],
               acc + 0.02)                                 # 0.869 below 0.880-0.900
    record(monkeypatch, "lr_scheduler", "mxnet", 0, "multi_factor", [2.31, 2.303], 0.1)
    record(monkeypatch, "lr_scheduler", "jax", 0, "factor", [1.0, 0.3], 0.9)  # not published
    table = tables.chapter_table("lr_scheduler", "smoke")
    d2l = table[table.index("D2L's published test accuracy"):].splitlines()
    assert d2l[2] == "| run | D2L pytorch | pytorch | tensorflow | mxnet | jax |"
    assert d2l[4:7] == [
        f"| baseline lr 0.3 | {published['baseline']:.3f} | within 0.860–0.880 (3 seeds) "
        "| — | — | — |",
        f"| square root lr 0.1 | {published['square_root']:.3f} | above 0.860–0.880 "
        "(3 seeds) | — | — | — |",
        f"| multi-factor [15,30] x0.5 from 0.5 | {published['multi_factor']:.3f} [1] "
        "| below 0.880–0.900 (3 seeds) | — | above 0.100 (1 seed) | — |"]
    assert not any(line.startswith("| factor") for line in d2l)
    footnote = d2l[-1]
    assert footnote.startswith("[1] D2L's PyTorch code plots the multi-step schedule")
    assert "MultiStepLR(milestones=[15, 30], gamma=0.5)" in footnote and "0.125" in footnote


def test_results_readme_defines_failed_once(results_tmp, monkeypatch):
    record(monkeypatch, "lenet", "jax", 0, "baseline", [1.0, 0.5, 0.3], 0.85)
    text = tables.write_readme("smoke").read_text()
    assert ("A run *failed* when its epoch-mean training loss stayed at chance level (ln 10) "
            "in every epoch (*at chance in every epoch*") in text
    assert "*collapsed in epoch k*" in text and "*diverged in epoch k*" in text


def test_the_edge_study_table_names_the_cpu_counts_failures_and_shows_the_ulp_runs(tmp_path):
    from d2l_compat.files import write_json_atomic

    def run(fw, seed, lr, perturbation, losses, outcome):
        return dict(framework=fw, threads=0, seed=seed, lr=lr, perturbation=perturbation,
                    train_loss=losses, test_acc=[0.1] * len(losses), outcome=outcome,
                    update_losses=[2.3], update_steps=[0], applied_lr=lr)
    runs = [run("jax", 0, 0.5, "", [2.31, 2.30], "at chance in every epoch"),
            run("jax", 1, 0.5, "", [1.0, 0.5], ""),
            run("jax", 0, 0.49999997, "-1 ulp", [1.1, 0.6], "")]
    data = dict(study="edge", cpu="Test CPU; vector extensions: avx2", logical_cpus=2,
                date="2026-12-06", mode="full", batch_size=256, epochs=2,
                record_updates=300, versions={}, complete=True, runs=runs)
    path = write_json_atomic(tmp_path / "edge.json", data)
    text = tables.edge_table(path)
    assert "on Test CPU; vector extensions: avx2 (2026-12-06)" in text
    assert "| jax | default | 1 of 2 failed | 0 |" in text
    assert "| jax | 0.5 | 2.310, 2.300 | at chance in every epoch |" in text
    assert "| jax | 0.49999997 | 1.100, 0.600 | trained |" in text
    assert tables.edge_table(tmp_path / "absent.json") is None
