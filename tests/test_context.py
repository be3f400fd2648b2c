"""The run context (one reader of the environment) and the run records' schema."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from d2l_compat import records
from d2l_compat.context import ENV, RunContext, current, default_data_dir, set_mode
from d2l_compat.training import EpochRecord, History

ROOT = Path(__file__).resolve().parents[1]


def test_the_context_reads_every_variable_of_its_table():
    environ = {"D2L_MODE": "smoke", "D2L_SEED": " 3 ", "D2L_DEVICE": "CPU",
               "D2L_DATA_DIR": "/data/fm", "D2L_OFFLINE": "1", "D2L_RESULTS_DIR": "/r",
               "D2L_CHAPTER": "lenet", "D2L_FRAMEWORK": "jax", "D2L_RESULTS_RECORDED": "/g"}
    ctx = RunContext.from_environ(environ)
    assert (ctx.mode, ctx.seed, ctx.device, ctx.offline) == ("smoke", 3, "cpu", True)
    assert (ctx.data_dir, ctx.results_dir, ctx.recorded) == (Path("/data/fm"), Path("/r"),
                                                            Path("/g"))
    assert (ctx.chapter, ctx.framework, ctx.on_grid) == ("lenet", "jax", True)
    assert set(ENV.values()) == set(environ)  # the table names exactly these variables
    # to_environ is what a child process needs to rebuild the same context
    assert RunContext.from_environ(ctx.to_environ()) == ctx


def test_the_defaults_and_immutability():
    ctx = RunContext.from_environ({"XDG_CACHE_HOME": "/cache"})
    assert (ctx.mode, ctx.seed, ctx.device, ctx.offline, ctx.on_grid) == (
        "full", 0, "auto", False, False)
    assert ctx.data_dir == default_data_dir({"XDG_CACHE_HOME": "/cache"}) == Path(
        "/cache/d2l_compat/fashion-mnist")
    with pytest.raises(AttributeError):
        ctx.mode = "smoke"
    assert ctx.replace(seed=2).seed == 2 and ctx.seed == 0


@pytest.mark.parametrize("variable, value, error", [
    ("D2L_MODE", "quick", "D2L_MODE must be one of"),
    ("D2L_SEED", "-1", "D2L_SEED must be a non-negative integer, got '-1'"),
    ("D2L_SEED", "1.5", "D2L_SEED must be a non-negative integer"),
    ("D2L_DEVICE", "tpu", "D2L_DEVICE must be one of"),
])
def test_a_bad_variable_is_named(variable, value, error):
    with pytest.raises(ValueError, match=error):
        RunContext.from_environ({variable: value})


def test_a_bad_field_is_named():
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        RunContext(seed=-1)
    with pytest.raises(TypeError, match="mode must be a str"):
        RunContext(mode=None)


def test_set_mode_reaches_the_context_of_this_process_and_its_children(monkeypatch):
    monkeypatch.setenv("D2L_MODE", "full")
    set_mode("class")
    assert current().mode == "class"
    child = subprocess.run([sys.executable, "-c", "from d2l_compat.context import run_mode;"
                            "print(run_mode())"], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "class"


def test_no_library_module_but_the_context_reads_the_environment():
    readers = [path.name for path in sorted((ROOT / "d2l_compat").glob("*.py"))
               if "os.environ" in path.read_text() or "getenv" in path.read_text()]
    assert readers == ["context.py"]


# ----------------------------------------------------------------- the records' schema

def _history(seed=0):
    return History("jax", seed=seed, mode="smoke", epochs=[
        EpochRecord(0, 0.1, 1.0, 0.6, 0.7, 100.0, 1.0)], step_lrs=[(0, 0.1)])


def test_a_damaged_results_file_is_named_with_its_field_and_left_alone(results_tmp,
                                                                      monkeypatch):
    monkeypatch.setenv("D2L_MODE", "smoke")
    path = records.record_run("lenet", "baseline", _history())
    data = json.loads(path.read_text())
    data["runs"]["baseline"]["epochs"] = "oops"
    path.write_text(json.dumps(data))
    before = path.read_text()
    with pytest.raises(records.RecordError,
                       match=rf"{path}: runs\.baseline\.epochs must be a list, got 'oops'"):
        records.load_results("jax", "lenet")
    with pytest.raises(records.RecordError, match="runs.baseline.epochs"):
        records.record_run("lenet", "cosine", _history())  # would have merged into it
    assert path.read_text() == before  # nothing was overwritten
    data["runs"]["baseline"]["epochs"] = [{"epoch": 0, "lr": "0.1"}]
    path.write_text(json.dumps(data))
    with pytest.raises(records.RecordError, match=r"runs\.baseline\.epochs\[0\]\.lr must be "
                                                  r"a number or null, got '0\.1'"):
        records.load_seeds("jax", "lenet")
    path.write_text("{not json")
    with pytest.raises(ValueError, match=rf"{path}: not valid JSON"):
        records.load_results("jax", "lenet")


def test_the_tables_command_names_a_damaged_file_and_its_field(tmp_path):
    """``python -m d2l_booktools.tables`` on a hand-edited file: one line naming the file
    and the field, not a traceback from deep inside."""
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "results", root / "results")
    damaged = root / "results" / "jax" / "lenet.json"
    data = json.loads(damaged.read_text())
    data["runs"]["baseline"]["epochs"] = "oops"
    damaged.write_text(json.dumps(data))
    env = {**RunContext().replace(results_dir=root / "results").to_environ(),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "d2l_booktools.tables"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"{damaged}: runs.baseline.epochs must be a list, got 'oops'")


def test_every_committed_results_file_follows_the_schema():
    files = sorted((ROOT / "results").glob("*/*.json"))
    assert len(files) >= 16
    for path in files:
        assert records.read_results(path)["framework"] == path.parent.name


def test_framework_defaults_fill_only_what_is_unset(monkeypatch):
    from d2l_compat.context import apply_framework_defaults, framework_defaults
    from d2l_compat.machine import physical_cores
    assert framework_defaults("mxnet") == {"OMP_NUM_THREADS": str(physical_cores())}
    assert framework_defaults("jax") == {}
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert apply_framework_defaults("tensorflow") == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert apply_framework_defaults("tensorflow") == {}
    import os
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"  # the user's value wins
