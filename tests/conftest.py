"""Test settings: smoke mode everywhere, and skip what needs a missing framework."""

import importlib.util
import os
from pathlib import Path

import pytest

# Set before any notebook kernel starts, so nbval's kernels inherit it.
os.environ["D2L_MODE"] = "smoke"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Two pytest workers share two cores: idle OpenMP threads must sleep, not spin (torch
# slowed down 10x otherwise). Results are unchanged.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from d2l_compat import ROOMS as FRAMEWORK_MODULES  # noqa: E402  (framework -> its package)

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"


def framework_missing(framework: str) -> str | None:
    """The reason to skip ``framework``'s notebooks, or None when it is installed."""
    module = FRAMEWORK_MODULES[framework]
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install -e '.[{module}]')"
    return None


# Fixtures whose tests belong to the slow lane whatever their module says (make unit runs
# -m "not slow"): grid_client starts a Dask cluster.
SLOW_FIXTURES = ("grid_client",)


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects
def pytest_collection_modifyitems(config, items):
    from d2l_booktools.sources import PENDING_REEXECUTION

    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in SLOW_FIXTURES):
            item.add_marker(pytest.mark.slow)
        path = Path(str(item.fspath)).resolve()
        if CHAPTERS in path.parents and path.stem in PENDING_REEXECUTION:
            item.add_marker(pytest.mark.skip(
                reason=f"{path.stem} awaits re-execution from its source; make test runs the "
                       "notebook generated from chapters/{path.stem}.md (build/pending) instead"))
        elif path.suffix == ".ipynb" and "pending" in path.parts:
            framework = path.parent.name
            reason = framework in FRAMEWORK_MODULES and framework_missing(framework)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
        elif CHAPTERS in path.parents:
            framework = path.relative_to(CHAPTERS).parts[0]
            reason = framework in FRAMEWORK_MODULES and framework_missing(framework)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def results_tmp(tmp_path, monkeypatch):
    """Send results files of a test to a temporary directory."""
    monkeypatch.setenv("D2L_RESULTS_DIR", str(tmp_path / "results"))
    return tmp_path / "results"


PROBE = Path(__file__).resolve().parent / "grid_probe.ipynb"


@pytest.fixture(scope="session")
def grid_client():
    """A two-worker Dask LocalCluster for the grid tests (one per pytest worker); a test
    that uses it is marked slow (:data:`SLOW_FIXTURES`)."""
    pytest.importorskip("distributed", reason="distributed is not installed (extra 'grid')")
    from d2l_booktools.reproduce import make_client
    os.environ.pop("DASK_SCHEDULER_ADDRESS", None)
    client = make_client(2)
    yield client
    client.close()
    client.cluster.close()


@pytest.fixture
def probe_chapters(tmp_path):
    """A chapters folder in tmp_path with the probe notebook as chapter 'probe' of
    pytorch and jax (tests/grid_probe.ipynb: seconds per execution, no framework)."""
    chapters = tmp_path / "chapters"
    for framework in ("pytorch", "jax"):
        (chapters / framework).mkdir(parents=True)
        (chapters / framework / "probe.ipynb").write_text(PROBE.read_text())
    return chapters
