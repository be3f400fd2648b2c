"""The reproduction grid on a real two-worker Dask cluster, with the probe notebook."""

import json
import sys

import pytest

from d2l_compat import records
from d2l_compat.context import ENV
from d2l_booktools import gridrecords, reproduce

pytest.importorskip("distributed", reason="distributed is not installed (extra 'grid')")


def probe_outputs(path) -> str:
    notebook = json.loads(path.read_text())
    return "".join("".join(o.get("text", "")) for cell in notebook["cells"]
                   if cell["cell_type"] == "code" for o in cell["outputs"])


@pytest.mark.slow  # starts a Dask cluster
def test_grid_runs_each_seed_then_resumes_and_forces(grid_client, probe_chapters,
                                                     results_tmp, tmp_path):
    build = tmp_path / "build"
    tasks = reproduce.plan(["probe"], ["pytorch"], [0, 1], "full", probe_chapters, build)
    assert [t.output for t in tasks] == [probe_chapters / "pytorch" / "probe.ipynb",
                                         build / "runs/full/pytorch/probe.seed1.ipynb"]
    lines = []
    outcomes = reproduce.run_grid(tasks, grid_client, progress=False, echo=lines.append)
    assert [o.status for o in outcomes] == ["done", "done"]
    seeds = records.load_seeds("pytorch", "probe", "full")
    assert sorted(seeds) == [0, 1]
    for task in tasks:
        assert f"seed: {task.seed}\n" in probe_outputs(task.output)
        meta = json.loads(task.output.read_text())["metadata"]["d2l_compat"]
        assert meta == {"mode": "full", "seed": task.seed, "fingerprint": task.fingerprint,
                        "machine": reproduce.machine_info("pytorch")}
        data = json.loads(task.results_file.read_text())
        assert data["seed"] == task.seed and data["runs"]["softmax"]["seed"] == task.seed
        assert data["grid"]["fingerprint"] == task.fingerprint
        final = seeds[task.seed]["softmax"].final["test_acc"]
        assert f"probe pytorch seed {task.seed} (full): " in "\n".join(lines)
        assert any(line.endswith(f"softmax {final:.3f}") for line in lines)
    # different seeds, different weights and data order: different runs
    assert seeds[0]["softmax"].train_loss != seeds[1]["softmax"].train_loss
    assert list(results_tmp.rglob("*.tmp")) == []
    # Every execution's wall-clock time is recorded with the CPU and threads it ran on.
    timings = json.loads((results_tmp / gridrecords.TIMINGS_FILE).read_text())
    assert sorted(timings) == ["probe/pytorch/full/seed0", "probe/pytorch/full/seed1"]
    for record in timings.values():
        assert record["seconds"] > 0 and record["threads"] == 1
        assert record["at_once"] == 2  # two notebooks on the two-worker grid
        assert record["worker_env"] is False  # the kernel did not inherit the worker's
        assert "vector extensions" in record["cpu"]
    table = gridrecords.timings_table().splitlines()
    assert table[0] == "| chapter | mode | pytorch | tensorflow | mxnet | jax |"
    assert table[2].startswith("| probe | full | ") and table[2].endswith(" min | – | – | – |")
    assert table[-1].startswith("* full: ") and table[-1].endswith(
        ", 1 thread per notebook, 2 notebooks at once")
    # The conclusions the probe checked, per execution, beside the running times.
    checked = json.loads((results_tmp / gridrecords.CONCLUSIONS_FILE).read_text())
    assert sorted(checked) == ["probe/pytorch/full/seed0", "probe/pytorch/full/seed1"]
    for key, record in checked.items():
        assert (record["chapter"], record["framework"], record["mode"]) == \
            ("probe", "pytorch", "full") and key.endswith(f"seed{record['seed']}")
        assert record["claims"] == {"the test accuracy ends above 0.5": True,
                                    "the training loss falls": True}
    assert not (results_tmp / "pytorch" / gridrecords.CONCLUSIONS_FILE).exists()
    assert "| probe | full | 2 of 2 | – | – | – |" in gridrecords.conclusions_table()

    # Executing in place changed outputs only: a new plan finds both runs current.
    again = reproduce.plan(["probe"], ["pytorch"], [0, 1], "full", probe_chapters, build)
    assert [t.fingerprint for t in again] == [t.fingerprint for t in tasks]
    stamps = [t.output.stat().st_mtime_ns for t in again]
    outcomes = reproduce.run_grid(again, grid_client, progress=False, echo=lines.append)
    assert [o.status for o in outcomes] == ["skipped", "skipped"]
    assert [t.output.stat().st_mtime_ns for t in again] == stamps

    outcomes = reproduce.run_grid(again[1:], grid_client, force=True, progress=False,
                                  echo=lines.append)
    assert [o.status for o in outcomes] == ["done"]
    assert again[1].output.stat().st_mtime_ns != stamps[1]
    assert records.load_seeds("pytorch", "probe", "full")[1]["softmax"].train_loss == \
        seeds[1]["softmax"].train_loss  # deterministic on one machine


@pytest.mark.slow  # starts a Dask cluster
def test_seed_0_runs_after_the_other_seeds_of_its_chapter_and_framework(
        grid_client, probe_chapters, results_tmp, tmp_path):
    # The book's seed-0 notebook shows the other seeds' results: each execution prints the
    # seeds recorded when it started. Two workers could start seed 0 beside seed 1.
    for framework in ("pytorch", "jax"):
        path = probe_chapters / framework / "probe.ipynb"
        notebook = json.loads(path.read_text())
        notebook["cells"].insert(1, {
            "cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": "from d2l_compat.records import load_seeds\n"
                      f"print('recorded before:', sorted(load_seeds({framework!r}, 'probe', "
                      "'smoke')))"})
        path.write_text(json.dumps(notebook))
    tasks = reproduce.plan(["probe"], ["pytorch", "jax"], [0, 1, 2], "smoke", probe_chapters,
                           tmp_path / "build", in_place=False)
    outcomes = reproduce.run_grid(tasks, grid_client, progress=False, echo=[].append)
    assert [o.status for o in outcomes] == ["done"] * 6
    for task in tasks:
        if task.seed == 0:
            assert "recorded before: [1, 2]\n" in probe_outputs(task.output)
    assert sorted(records.load_seeds("jax", "probe", "smoke")) == [0, 1, 2]


@pytest.mark.slow  # starts a Dask cluster
def test_failing_notebook_is_retried_then_reported_and_the_others_finish(
        grid_client, probe_chapters, results_tmp, tmp_path):
    attempts = tmp_path / "attempts.txt"
    broken = probe_chapters / "jax" / "probe.ipynb"
    notebook = json.loads(broken.read_text())
    notebook["cells"].insert(1, {
        "cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
        "source": f"open({str(attempts)!r}, 'a').write('attempt\\n')\n"
                  "raise RuntimeError('planted failure')"})
    broken.write_text(json.dumps(notebook))
    tasks = reproduce.plan(["probe"], ["pytorch", "jax"], [0], "smoke", probe_chapters,
                           tmp_path / "build")
    lines = []
    outcomes = reproduce.run_grid(tasks, grid_client, retries=1, progress=False,
                                  echo=lines.append)
    assert [o.status for o in outcomes] == ["done", "failed"]
    assert attempts.read_text() == "attempt\n" * 2  # the first try and one retry
    failed = outcomes[1]
    assert "probe/jax/seed0/smoke failed" in failed.error
    assert "RuntimeError: planted failure" in failed.error
    assert "FAILED after 2 attempt(s)" in failed.line and failed.line in lines
    assert records.results_path("pytorch", "probe", "smoke").exists()
    assert not records.results_path("jax", "probe", "smoke").exists()
    assert not tasks[1].output.exists()


def test_the_grid_refuses_notebooks_behind_their_chapter_source(tmp_path, monkeypatch,
                                                                capsys):
    from test_sources import cell, write_source
    from d2l_booktools import sources

    chapters = tmp_path / "chapters"
    chapters.mkdir()
    source = write_source(chapters, cell("print(1)"))
    sources.write_notebooks(sources.read_source(source))
    monkeypatch.setattr(reproduce, "CHAPTERS_DIR", chapters)
    argv = ["--chapters", "demo", "--frameworks", "pytorch", "jax", "--chapters-dir",
            str(chapters), "--build-dir", str(tmp_path / "build"), "--dry-run"]
    assert reproduce.main(argv) == 0
    source.write_text(source.read_text().replace("Shared prose.", "Edited prose."))
    assert reproduce.main(argv) == 0  # prose only: the end of the grid regenerates it
    source.write_text(source.read_text().replace("print(1)", "print(2)"))  # make notebooks
    with pytest.raises(SystemExit) as exit_:                                   # not run
        reproduce.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert ("these notebooks are behind their chapter sources: "
            f"{chapters / 'pytorch' / 'demo.ipynb'}, {chapters / 'jax' / 'demo.ipynb'}; "
            "`make notebooks` regenerates them") in err


def test_fingerprint_follows_code_mode_seed_not_outputs():
    notebook = json.loads((reproduce.project_root() / "tests" / "grid_probe.ipynb").read_text())
    base = reproduce.run_fingerprint(notebook, "smoke", 0, "pytorch")
    assert base == reproduce.run_fingerprint(notebook, "smoke", 0, "pytorch")
    assert base != reproduce.run_fingerprint(notebook, "full", 0, "pytorch")
    assert base != reproduce.run_fingerprint(notebook, "smoke", 1, "pytorch")
    outputs_only = json.loads(json.dumps(notebook))
    outputs_only["cells"][1]["outputs"] = []
    assert reproduce.run_fingerprint(outputs_only, "smoke", 0, "pytorch") == base
    edited = json.loads(json.dumps(notebook))
    edited["cells"][1]["source"] += "\n"
    assert reproduce.run_fingerprint(edited, "smoke", 0, "pytorch") != base


def test_plan_names_bad_input(probe_chapters, tmp_path):
    with pytest.raises(ValueError, match=r"no such notebook: .*mxnet/probe\.ipynb"):
        reproduce.plan(["probe"], ["mxnet"], [0], "smoke", probe_chapters, tmp_path)
    with pytest.raises(ValueError, match="mode must be .full. or .class. or .smoke."):
        reproduce.plan(["probe"], ["jax"], [0], "fast", probe_chapters, tmp_path)
    with pytest.raises(ValueError, match="seeds must be a non-negative int, got -1"):
        reproduce.plan(["probe"], ["jax"], [-1], "smoke", probe_chapters, tmp_path)
    with pytest.raises(ValueError, match="framework must be one of"):
        reproduce.framework_versions("caffe")


def test_kernel_env_carries_the_run_and_one_thread(tmp_path):
    task = reproduce.Task("probe", "jax", 2, "smoke", tmp_path, tmp_path, tmp_path, "f")
    env = reproduce.kernel_env(task, "/staging")
    assert (env["D2L_MODE"], env["D2L_SEED"], env["D2L_FRAMEWORK"], env["D2L_RESULTS_DIR"]) \
        == ("smoke", "2", "jax", "/staging")
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "1"
    assert "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"]
    assert reproduce.kernel_env(task, "/s", threads=4)["TF_NUM_INTEROP_THREADS"] == "4"
    with pytest.raises(ValueError, match="threads must be a non-negative int, got -1"):
        reproduce.thread_env(-1)


def test_threads_0_leaves_each_framework_its_own_default(tmp_path, monkeypatch):
    # What a reader's Jupyter gets: no thread variable, not even one this process inherited.
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    task = reproduce.Task("probe", "mxnet", 0, "class", tmp_path, tmp_path, tmp_path, "f")
    env = reproduce.kernel_env(task, "/staging", threads=reproduce.FRAMEWORK_THREADS)
    assert not set(reproduce.THREAD_ENV) & set(env)
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "2" and env["D2L_MODE"] == "class"
    assert reproduce.kernel_env(task, "/staging", threads=2)["OMP_NUM_THREADS"] == "2"


def test_cli_refuses_negative_threads_before_starting_anything(capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["--threads", "-2", "--dry-run"])
    assert "--threads: threads must be a non-negative int, got -2" in capsys.readouterr().err


def test_a_missing_kernel_or_its_missing_interpreter_is_named_before_the_grid_starts(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))  # searched first
    spec = tmp_path / "kernels" / "stale"
    spec.mkdir(parents=True)
    gone = tmp_path / "other-checkout" / ".venv" / "bin" / "python"
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": [str(gone), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "stale", "language": "python"}))
    with pytest.raises(ValueError, match=rf"--kernel: the kernel 'stale' .* starts '{gone}'"):
        reproduce.check_kernel("stale")
    with pytest.raises(SystemExit):
        reproduce.main(["--chapters", "lenet", "--frameworks", "pytorch", "--kernel",
                        "no-such-kernel"])
    assert "--kernel: no Jupyter kernel named 'no-such-kernel'" in capsys.readouterr().err
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": [sys.executable, "-m", "ipykernel_launcher"], "language": "python",
         "display_name": "here"}))
    assert reproduce.check_kernel("stale") == sys.executable


def test_kernel_env_drops_what_the_dask_nanny_set_for_its_worker(tmp_path, monkeypatch):
    # A Dask worker process runs with these (distributed.nanny.pre-spawn-environ); the
    # malloc setting slowed every kernel the grid started by about 80 %.
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("D2L_TEST_KEEP", "kept")
    assert "MALLOC_TRIM_THRESHOLD_" in reproduce.worker_only_env()
    task = reproduce.Task("probe", "jax", 0, "smoke", tmp_path, tmp_path, tmp_path, "f")
    env = reproduce.kernel_env(task, "/staging", threads=2)
    assert "MALLOC_TRIM_THRESHOLD_" not in env
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "2"
    assert env["D2L_TEST_KEEP"] == "kept"


@pytest.mark.slow  # starts a Dask cluster
def test_cli_dry_run_and_scheduler_address(grid_client, probe_chapters, results_tmp,
                                           tmp_path, monkeypatch, capsys):
    code = reproduce.main(["--chapters", "probe", "--frameworks", "jax", "--seeds", "0", "3",
                           "--mode", "smoke", "--chapters-dir", str(probe_chapters),
                           "--build-dir", str(tmp_path / "build"), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and "probe/jax/seed3/smoke: would run" in out
    assert str(tmp_path / "build/runs/smoke/jax/probe.seed3.ipynb") in out
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", grid_client.scheduler.address)
    client = reproduce.make_client()
    try:
        assert client.scheduler.address == grid_client.scheduler.address
        assert client.cluster is None  # connected, not started
    finally:
        client.close()


def test_kernel_env_stages_results_and_points_at_the_recorded_ones(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV["recorded"], raising=False)
    recorded = tmp_path / "results"
    recorded.mkdir()
    task = reproduce.Task("lenet", "jax", 2, "full", tmp_path / "in.ipynb",
                          tmp_path / "out.ipynb", recorded, "f" * 64)
    env = reproduce.kernel_env(task, str(tmp_path / "staging"))
    assert env["D2L_RESULTS_DIR"] == str(tmp_path / "staging")
    assert env[ENV["recorded"]] == str(recorded)
    assert (env["D2L_MODE"], env["D2L_SEED"], env["D2L_FRAMEWORK"]) == ("full", "2", "jax")
    elsewhere = reproduce.Task("lenet", "jax", 2, "full", tmp_path / "in.ipynb",
                               tmp_path / "out.ipynb", tmp_path / "not-here", "f" * 64)
    assert ENV["recorded"] not in reproduce.kernel_env(elsewhere, "staging")
    committed = tmp_path / "committed"
    committed.mkdir()
    named = reproduce.Task("lenet", "jax", 2, "full", tmp_path / "in.ipynb",
                           tmp_path / "out.ipynb", recorded, "f" * 64, recorded=committed)
    assert reproduce.kernel_env(named, "staging")[ENV["recorded"]] == str(committed)
    isolated = reproduce.Task("lenet", "jax", 2, "smoke", tmp_path / "in.ipynb",
                              tmp_path / "out.ipynb", recorded, "f" * 64, isolated=True)
    assert ENV["recorded"] not in reproduce.kernel_env(isolated, "staging")


def test_a_fingerprint_covers_the_library_modules_its_notebook_loads():
    deps = {p.name for p in reproduce.library_dependencies(
        ["from d2l_compat import torch as d2l\nfrom d2l_compat.records import load_seeds"])}
    assert {"torch.py", "rooms.py", "schedules.py", "training.py", "records.py",
            "__init__.py"} <= deps
    assert not deps & {"jax.py", "tensorflow.py", "mxnet.py"}  # another room: not an input
    assert all(p.parent.name == "d2l_compat" for p in reproduce.library_dependencies(
        ["import d2l_compat.jax"]))  # the tooling is never part of it
    assert reproduce.library_dependencies(["import numpy as np"]) == []


def test_the_book_s_seeds_come_from_the_chapter_registry(capsys):
    from d2l_compat.registry import CHAPTERS
    assert {c.name: reproduce.book_seeds(c.name) for c in CHAPTERS} == {
        c.name: list(c.seeds) for c in CHAPTERS}
    assert reproduce.main(["--book", "--dry-run", "--frameworks", "jax",
                           "--chapters", "lr_scheduler", "lenet"]) == 0
    planned = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    assert planned == ["lr_scheduler/jax/seed0/full", "lr_scheduler/jax/seed1/full",
                       "lr_scheduler/jax/seed2/full", "lenet/jax/seed0/full"]
