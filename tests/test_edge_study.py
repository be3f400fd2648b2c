"""The edge-of-stability study (benchmarks/edge_of_stability.py): its pure parts and the
reader of its file (d2l_compat.records.read_edge_study), without training."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from d2l_compat.files import write_json_atomic
from d2l_compat.records import (EDGE_RUN_FIELDS, RecordError, edge_study_failures,
                                edge_study_table, read_edge_study, validate_edge_study)
from d2l_compat.training import EpochRecord, History

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import edge_of_stability as study  # noqa: E402


def history(losses, seed=0, framework="mxnet", updates=()):
    return History(framework, seed=seed, mode="full", updates=list(updates),
                   epochs=[EpochRecord(e, 0.5, loss, 0.5, 0.4, 1.0, 1.0)
                           for e, loss in enumerate(losses)])


def test_the_perturbed_lrs_are_one_float32_ulp_away():
    up, down = study.perturbed_lr(0.5, "+1 ulp"), study.perturbed_lr(0.5, "-1 ulp")
    assert np.float32(up) == np.nextafter(np.float32(0.5), np.float32(1))
    assert np.float32(down) == np.nextafter(np.float32(0.5), np.float32(0))
    assert down < 0.5 < up and float(np.float32(up)) == up  # exact in float32 and float64
    with pytest.raises(ValueError, match="perturbation"):
        study.perturbed_lr(0.5, "+2 ulp")


def test_the_plan_of_a_process():
    assert study.plan(1, 3) == [(0, 0.5, ""), (1, 0.5, ""), (2, 0.5, "")]
    runs = study.plan(0, 1, perturb=True)
    assert [(s, p) for s, _, p in runs] == [(0, ""), (0, "+1 ulp"), (0, "-1 ulp")]
    with pytest.raises(ValueError, match="seeds"):
        study.plan(0, -1)


def test_a_run_record_holds_what_the_study_shows_and_validates():
    updates = [(0, 0.5, 2.31), (1, 0.5, 2.28), (2, 0.5, math.nan)]
    record = study.run_record(history([2.31, 2.30], seed=2, updates=updates), threads=1,
                              lr=0.5, perturbation="")
    assert {key for key, _, _ in EDGE_RUN_FIELDS} <= set(record)
    assert record["framework"] == "mxnet" and record["seed"] == 2 and record["threads"] == 1
    assert record["train_loss"] == [2.31, 2.30] and record["test_acc"] == [0.4, 0.4]
    assert record["outcome"] == "at chance in every epoch"
    assert record["update_losses"][:2] == [2.31, 2.28] and math.isnan(record["update_losses"][2])
    assert record["update_steps"] == [0, 1, 2] and record["applied_lr"] == 0.5
    trained = study.run_record(history([1.2, 0.6]), threads=0, lr=0.5, perturbation="+1 ulp")
    assert trained["outcome"] == ""
    data = study.study([record, trained], {"mxnet": {"mxnet": "1.9.1"}}, epochs=2,
                       record_updates=300, complete=True, cpu="test CPU")
    assert validate_edge_study(data, "x.json") is data


def test_the_failures_table_counts_unperturbed_runs_per_framework_and_threads():
    runs = [study.run_record(history(losses, seed=seed, framework=fw), threads=threads,
                             lr=study.perturbed_lr(0.5, p), perturbation=p)
            for fw, threads, seed, losses, p in [
                ("jax", 0, 0, [2.31, 2.30], ""), ("jax", 0, 1, [1.0, 0.5], ""),
                ("jax", 0, 2, [1.0, 2.3], ""), ("jax", 0, 0, [1.0, 0.5], "+1 ulp"),
                ("jax", 1, 0, [1.0, 0.5], ""), ("pytorch", 0, 0, [1.0, 0.5], "")]]
    data = {"runs": runs, "epochs": 2, "cpu": "test CPU"}
    assert edge_study_failures(data) == [  # the registry's order of frameworks
        {"framework": "pytorch", "threads": 0, "runs": 1, "failed": 0, "seeds_failed": []},
        {"framework": "jax", "threads": 0, "runs": 3, "failed": 2, "seeds_failed": [0, 2]},
        {"framework": "jax", "threads": 1, "runs": 1, "failed": 0, "seeds_failed": []}]
    assert edge_study_table(data)[1] == ["jax", "default", "2 of 3 failed", "0, 2"]
    text = study.report(data)
    assert "| jax | default | 2 of 3 failed | 0, 2 |" in text
    assert "| jax | 0.5 | 2.310, 2.300 | at chance in every epoch |" in text  # its base run
    assert "| jax | 0.50000006 | 1.000, 0.500 | trained |" in text


def good_file(tmp_path):
    record = study.run_record(history([2.31, 2.30], updates=[(0, 0.5, 2.3)]), threads=0,
                              lr=0.5, perturbation="")
    data = study.study([record], {}, epochs=2, record_updates=300, complete=True, cpu="c")
    return write_json_atomic(tmp_path / "edge.json", data)


def test_read_edge_study_reads_a_written_file_back(tmp_path):
    data = read_edge_study(good_file(tmp_path))
    assert data["runs"][0]["outcome"] == "at chance in every epoch"
    assert data["runs"][0]["update_losses"] == [2.3]


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs must be an int >= 1"),
    ("runs", {}, "runs must be a list"),
    ("runs.threads", "one", "runs\\[0\\].threads must be an int >= 0"),
    ("runs.framework", "theano", "runs\\[0\\].framework must be one of"),
    ("runs.update_losses", ["x"], "runs\\[0\\].update_losses must be a list of numbers"),
    ("runs.lr", None, "runs\\[0\\].lr must be a finite number"),
    ("runs.outcome", None, "runs\\[0\\].outcome must be a str"),
])
def test_a_hand_edited_study_is_refused_naming_file_and_field(tmp_path, field, value,
                                                              message):
    path = good_file(tmp_path)
    data = json.loads(path.read_text())
    if field.startswith("runs."):
        data["runs"][0][field.split(".")[1]] = value
    else:
        data[field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=f"^{path}: {message}"):
        read_edge_study(path)


def test_a_missing_study_names_the_file_and_the_script(tmp_path):
    with pytest.raises(FileNotFoundError, match="edge_of_stability.py"):
        read_edge_study(tmp_path / "none.json")
