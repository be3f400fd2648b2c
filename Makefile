# Learning-rate scheduling in four frameworks. Two commands for a newcomer:
#   make setup   # .venv with Python 3.11 + the pinned CPU stack, Jupyter kernel, data
#   make test    # unit tests + every notebook executed by nbval in smoke mode
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
KERNEL := d2l-compat
CHAPTER_NOTEBOOKS := $(sort $(wildcard chapters/*/*.ipynb))
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup install kernel data test unit smoke notebooks book reproduce results bench lab clean

setup: install kernel data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --progress-bar off -e '.[all,dev,book]'

kernel: $(BIN)/python
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "Python 3.11 ($(KERNEL))"

data: $(BIN)/python
	$(BIN)/python -m d2l_compat.data

# Everything, in smoke mode (tests/conftest.py sets D2L_MODE=smoke), on 2 workers. Chapters
# whose source is ahead of their executed notebooks run as generated into build/pending.
test: $(BIN)/python
	$(BIN)/python -m d2l_compat.sources --pending-to build/pending
	$(BIN)/pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env tests chapters build/pending

unit: $(BIN)/python
	$(BIN)/pytest -n 2 --dist loadfile tests

smoke: $(BIN)/python
	$(BIN)/python -m d2l_compat.sources --pending-to build/pending
	$(BIN)/pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env chapters build/pending

# chapters/<chapter>.md -> chapters/<framework>/<chapter>.ipynb (unchanged cells keep outputs).
notebooks: $(BIN)/python
	$(BIN)/python -m d2l_compat.sources

# The HTML book from the sources and the committed notebooks (nothing is executed): build/book.
book: $(BIN)/python
	$(BIN)/python -m d2l_compat.book

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
	rm -rf results/smoke .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
