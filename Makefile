# pdeforge — `make dataset name=condiff`, `make test`.
# Every target creates the virtual environment (.venv) on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.pdeforge-installed
# Card overrides are passed through by name: `make dataset name=condiff grid=128 n_train=100`.
ARGS   := $(filter-out name=%,$(MAKEOVERRIDES))

.PHONY: venv dataset test test-all bench plot verify list score leaderboard train clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch pinned to the CPU wheel; a bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test,ml]"
	touch $(STAMP)

dataset: $(STAMP)
	@test -n "$(name)" || { echo "usage: make dataset name=NAME [key=value ...]  (see: $(BIN)/pdeforge list)"; exit 2; }
	$(BIN)/pdeforge generate $(name) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks -q -s --benchmark-columns=min,mean,rounds

plot: $(STAMP)
	@test -n "$(name)" || { echo "usage: make plot name=NAME [config=CONFIG]"; exit 2; }
	$(BIN)/pdeforge plot $(name) $(ARGS)

verify: $(STAMP)
	@test -n "$(name)" || { echo "usage: make verify name=NAME"; exit 2; }
	$(BIN)/pdeforge verify $(name) $(ARGS)

list: $(STAMP)
	$(BIN)/pdeforge list

train: $(STAMP)
	@test -n "$(name)" -a -n "$(config)" -a -n "$(model)" || { echo "usage: make train name=DATASET config=CONFIG model=MODEL [key=value ...]"; exit 2; }
	$(BIN)/pdeforge train $(name) $(ARGS)

score: $(STAMP)
	@test -n "$(pred)" -a -n "$(name)" || { echo "usage: make score pred=PRED.nc name=DATASET"; exit 2; }
	$(BIN)/pdeforge score $(pred) --dataset $(name)

leaderboard: $(STAMP)
	$(BIN)/pdeforge leaderboard --board leaderboard

clean-venv:
	rm -rf $(VENV)

# DOLFINx cross-check environment (Debian only): Debian's python3-dolfinx 0.5.2 on /usr/bin/python3
# in a --system-site-packages venv, pdeforge installed without its dependencies (its pins, numpy
# >= 1.26 and PyPI's h5py, break Debian's dolfinx build). `make dolfinx`; tests: -m dolfinx.
DOLFINX_VENV  ?= .venv-dolfinx
DOLFINX_STAMP := $(DOLFINX_VENV)/.pdeforge-installed
.PHONY: dolfinx

dolfinx: $(DOLFINX_STAMP)

$(DOLFINX_STAMP): pyproject.toml
	dpkg -s python3-dolfinx >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dolfinx >/dev/null; }
	/usr/bin/python3 -m venv --system-site-packages $(DOLFINX_VENV)
	printf 'numpy==1.24.2\nh5py==3.7.0\n' > $(DOLFINX_VENV)/constraints.txt
	$(DOLFINX_VENV)/bin/pip install --quiet --no-deps -c $(DOLFINX_VENV)/constraints.txt -e .
	$(DOLFINX_VENV)/bin/python -c "import dolfinx, numpy; print('dolfinx', dolfinx.__version__, 'numpy', numpy.__version__)"
	touch $(DOLFINX_STAMP)
