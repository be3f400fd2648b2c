"""Per-update records (``train(..., record_updates=n)``) in a results file: written only
when recorded, read back into the History, a hand-edited bad value refused by name.
What every room records is tested in tests/test_rooms.py."""

import json

import pytest

from d2l_compat import records
from d2l_compat.context import current
from d2l_compat.records import RecordError, read_results, record_run
from d2l_compat.training import EpochRecord, History


def history(updates=()):
    return History("jax", mode="smoke", updates=list(updates),
                   epochs=[EpochRecord(0, 0.5, 1.2, 0.6, 0.6, 1.0, 1.0)])


@pytest.fixture
def context(tmp_path):
    return current().replace(results_dir=tmp_path, seed=0)


def test_updates_are_recorded_only_when_there_are_some(context):
    path = record_run("lenet", "plain", history(), context=context)
    assert "updates" not in json.loads(path.read_text())["runs"]["plain"]
    path = record_run("lenet", "traced", history([(0, 0.5, 2.31), (1, 0.5, float("nan"))]),
                      context=context)
    saved = json.loads(path.read_text())["runs"]["traced"]["updates"]
    assert saved == [[0, 0.5, 2.31], [1, 0.5, None]]
    loaded = records.history_from_record(read_results(path)["runs"]["traced"])
    assert loaded.updates[0] == (0, 0.5, 2.31) and loaded.update_lrs == [0.5, 0.5]


@pytest.mark.parametrize("bad, message", [
    ("oops", r"runs.traced.updates must be a list"),
    ([[0, 0.5]], r"runs.traced.updates\[0\] must be an \[update, lr, loss\] triple"),
    ([[0.5, 0.5, 2.3]], r"runs.traced.updates\[0\] must be an \[update, lr, loss\] triple"),
    ([[0, 0.5, "2.3"]], r"runs.traced.updates\[0\] must be an \[update, lr, loss\] triple"),
])
def test_a_hand_edited_update_is_refused_naming_the_field(context, bad, message):
    path = record_run("lenet", "traced", history([(0, 0.5, 2.31)]), context=context)
    data = json.loads(path.read_text())
    data["runs"]["traced"]["updates"] = bad
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=f"^{path}: {message}"):
        read_results(path)
