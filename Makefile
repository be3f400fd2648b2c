# Learning-rate scheduling in four frameworks. Two commands for a newcomer:
#   make setup   # .venv with Python 3.11 + the pinned CPU stack, Jupyter kernel, data
#   make test    # unit tests + every notebook executed by nbval in smoke mode (what CI runs)
# or straight away `make lab` / `make book`: each runs `make setup` first when it has not
# been done in this checkout ($(VENV)/.setup-done), so a second call starts at once.
# Contributors: `make unit` is the fast lane (the tests not marked slow, no notebook).
# GPU (Linux x86_64, NVIDIA): make setup EXTRAS=all-gpu,dev,book,grading
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
KERNEL := d2l-compat
# Written by the last step of `make setup`; `make lab` and `make book` run the set-up
# when it is missing (delete it, or run `make setup`, to set up again).
SETUP_DONE := $(VENV)/.setup-done
CHAPTER_NOTEBOOKS := $(sort $(wildcard chapters/*/*.ipynb))
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The pyproject extras `make install` installs (all-gpu,dev,book,grading for the CUDA builds).
EXTRAS ?= all,dev,book,grading
# PyPI's Linux torch wheel is the CUDA build (it pulls GBs of nvidia-* wheels). For a CPU
# install on Linux, PyTorch's CPU index is added when it answers; its torch==2.13.0+cpu
# satisfies the pin. TORCH_CPU_INDEX= (empty) leaves the choice to pip's configuration.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
REACHABLE := import socket, sys, urllib.parse; \
  socket.create_connection((urllib.parse.urlsplit(sys.argv[1]).hostname, 443), timeout=5)

.PHONY: setup install kernel data test unit smoke notebooks student book reproduce grid regress results bench lab clean

setup: install kernel data
	touch $(SETUP_DONE)

$(SETUP_DONE):
	$(MAKE) setup

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The second line lets `from mxnet import np` work in a fresh interpreter: a .pth in
# site-packages restores numpy.bool when (and only when) mxnet is imported
# (see d2l_compat/mxnet_hook.py; `python -m d2l_booktools.mxnet_hook uninstall` removes it).
install: $(BIN)/python
	index=; case "$(EXTRAS)" in *gpu*) ;; *) \
	  if [ "$$(uname -s)" = Linux ] && [ -n "$(TORCH_CPU_INDEX)" ] && \
	     $(BIN)/python -c "$(REACHABLE)" "$(TORCH_CPU_INDEX)" 2>/dev/null; then \
	    index="--extra-index-url $(TORCH_CPU_INDEX)"; fi;; esac; \
	$(BIN)/pip install --progress-bar off $$index -e '.[$(EXTRAS)]'
	$(BIN)/python -m d2l_booktools.mxnet_hook install

kernel: $(BIN)/python
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "Python 3.11 ($(KERNEL))"

data: $(BIN)/python
	$(BIN)/python -m d2l_compat.fetch

# Everything, in smoke mode, on 2 workers. D2L_MODE is set here for the notebook kernels
# (tests/conftest.py sets it too, but pytest reads that file only when tests/ is collected). Chapters
# whose source is ahead of their executed notebooks run as generated into build/pending.
test: $(BIN)/python
	$(BIN)/python -m d2l_booktools.sources --pending-to build/pending
	D2L_MODE=smoke $(BIN)/pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env tests chapters build/pending

# The fast lane: the tests not marked slow (no training, Dask cluster, Sphinx or Chromium;
# pyproject.toml registers the marker), in under 2 minutes on 2 cores. `make test` runs all.
unit: $(BIN)/python
	$(BIN)/pytest -n 2 --dist loadfile -m "not slow" tests

smoke: $(BIN)/python
	$(BIN)/python -m d2l_booktools.sources --pending-to build/pending
	D2L_MODE=smoke $(BIN)/pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env chapters build/pending

# chapters/<chapter>.md -> chapters/<framework>/<chapter>.ipynb (unchanged cells keep outputs).
notebooks: $(BIN)/python
	$(BIN)/python -m d2l_booktools.sources

# Classroom versions (otter-grader): dist/<framework>/<chapter>/student/ (solutions removed,
# public checks kept) and autograder/ (solutions, hidden tests, the Gradescope zip).
student: $(BIN)/python
	$(BIN)/python -m d2l_booktools.classroom

# The HTML book from the sources and the committed notebooks (nothing is executed): build/book.
book: $(SETUP_DONE)
	$(BIN)/python -m d2l_booktools.book

# Regenerate the notebooks from their sources, then re-run every chapter in full mode on a
# Dask grid (one single-threaded worker per core, or $DASK_SCHEDULER_ADDRESS): each chapter
# with the seeds of the chapter registry (seed 0 in place, the others under build/runs),
# then the tables. Up-to-date runs are skipped;
# ARGS=--force re-runs them.
reproduce: notebooks
	$(BIN)/python -m d2l_booktools.reproduce --mode full --book $(ARGS)

# Any grid: make grid ARGS="--chapters lenet --frameworks pytorch jax --seeds 0 1 2 --mode smoke"
grid: $(BIN)/python
	$(BIN)/python -m d2l_booktools.reproduce $(ARGS)

# Re-execute the notebooks on the grid and compare every output (smoke: with the local
# baseline in build/regress/baseline, recorded on the first run or with
# ARGS=--update-baseline; ARGS="--mode full --chapters lenet" compares with the book).
regress: $(BIN)/python
	$(BIN)/python -m d2l_booktools.regress --mode smoke $(ARGS)

# The results tables (results/README.md, the README's results section), then the running
# times in every notebook; a notebook whose code is ahead of its execution keeps its outputs.
results: $(BIN)/python
	$(BIN)/python -m d2l_booktools.tables
	$(BIN)/python -m d2l_booktools.sources --keep-outputs

bench: $(BIN)/python
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/schedules_speed.py
	$(BIN)/python benchmarks/lr_finder.py --seeds 0

lab: $(SETUP_DONE)
	$(BIN)/jupyter lab chapters

clean:
	rm -rf results/smoke results/class .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
