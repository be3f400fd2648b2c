# Learning-rate scheduling in four frameworks. Two commands for a newcomer:
#   make setup   # .venv with Python 3.11 + the pinned CPU stack, Jupyter kernel, data
# GPU (Linux x86_64, NVIDIA): make setup EXTRAS=all-gpu,dev
#   make test    # unit tests + every notebook executed by nbval in smoke mode
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
KERNEL := d2l-compat
CHAPTER_NOTEBOOKS := $(sort $(wildcard chapters/*/*.ipynb))
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# The pyproject extras `make install` installs (all-gpu,dev for the CUDA builds).
EXTRAS ?= all,dev
# PyPI's Linux torch wheel is the CUDA build (it pulls GBs of nvidia-* wheels). For a CPU
# install on Linux, PyTorch's CPU index is added when it answers; its torch==2.13.0+cpu
# satisfies the pin. TORCH_CPU_INDEX= (empty) leaves the choice to pip's configuration.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
REACHABLE := import socket, sys, urllib.parse; \
  socket.create_connection((urllib.parse.urlsplit(sys.argv[1]).hostname, 443), timeout=5)

.PHONY: setup install kernel data test unit smoke reproduce results bench lab clean

setup: install kernel data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	index=; case "$(EXTRAS)" in *gpu*) ;; *) \
	  if [ "$$(uname -s)" = Linux ] && [ -n "$(TORCH_CPU_INDEX)" ] && \
	     $(BIN)/python -c "$(REACHABLE)" "$(TORCH_CPU_INDEX)" 2>/dev/null; then \
	    index="--extra-index-url $(TORCH_CPU_INDEX)"; fi;; esac; \
	$(BIN)/pip install --progress-bar off $$index -e '.[$(EXTRAS)]'

kernel: $(BIN)/python
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "Python 3.11 ($(KERNEL))"

data: $(BIN)/python
	$(BIN)/python -m d2l_compat.data

# Everything, in smoke mode (tests/conftest.py sets D2L_MODE=smoke), on 2 workers.
test: $(BIN)/python
	$(BIN)/pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env tests chapters

unit: $(BIN)/python
	$(BIN)/pytest -n 2 --dist loadfile tests

smoke: $(BIN)/python
	$(BIN)/pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env chapters

# Re-run every chapter in full mode (minutes per framework), in place, then the table.
# Each chapter rewrites its results file from scratch, so a renamed run does not linger.
reproduce: $(BIN)/python
	for nb in $(CHAPTER_NOTEBOOKS); do \
	  json=$${nb#chapters/}; rm -f results/$${json%.ipynb}.json; \
	  D2L_MODE=full $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=7200 --ExecutePreprocessor.kernel_name=$(KERNEL) $$nb || exit 1; \
	done
	$(MAKE) results

results: $(BIN)/python
	$(BIN)/python -m d2l_compat.results

bench: $(BIN)/python
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/schedules_speed.py
	$(BIN)/python benchmarks/lr_finder.py --seeds 0

lab: $(BIN)/python
	$(BIN)/jupyter lab chapters

clean:
	rm -rf results/smoke .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
