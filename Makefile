# The targets people reach for. Everything runs inside .venv, created on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEMO    ?= specs/denoising_conv.ae

.PHONY: demo test lint format bench docs clean dot data fuzz chromium nvim peers-venv peers

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: the CPU build; anything looser would pull CUDA wheels
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,tensorboard,ray]"
	touch $(STAMP)

# graphviz's `dot` renders the diagrams; Debian's package provides it
dot:
	@command -v dot >/dev/null || { \
	  echo "installing Debian's graphviz for the dot program"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq graphviz >/dev/null; }

# Debian's dataset-fashion-mnist puts the IDX files in /usr/share/datasets/fashion-mnist
# (the specs and bench/quality.py train on them; nothing is downloaded at run time)
data:
	@test -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || { \
	  echo "installing Debian's dataset-fashion-mnist"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null; }

# headless Chromium opens the HTML reports in the tests; Debian's package provides it
chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the HTML report tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Neovim drives the editor recipe's test (Debian 12 ships 0.7.2, the oldest it supports)
nvim:
	@command -v nvim >/dev/null || { \
	  echo "installing Debian's neovim for the editor test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq neovim >/dev/null; }

demo: $(STAMP) dot
	$(BIN)/aespec check $(DEMO)
	$(BIN)/aespec draw $(DEMO) -o runs/demo.svg
	$(BIN)/aespec run $(DEMO)

# two worker processes (pytest-xdist), one torch thread each: the 2-core CI machine's cores
# both busy, not oversubscribed; the HTML pages' screenshots are kept in test-artifacts/
TEST_WORKERS ?= 2
test: $(STAMP) dot data chromium nvim
	OMP_NUM_THREADS=1 AESPEC_ARTIFACTS=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --durations=15

lint: $(STAMP)
	$(BIN)/ruff check aespec tests bench
	$(BIN)/mypy aespec

format: $(STAMP)
	$(BIN)/ruff format aespec tests bench

bench: $(STAMP)
	$(BIN)/python bench/check_speed.py
	$(BIN)/python bench/fast_dev_run.py
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/gan_results.py --part aespec
	$(BIN)/python bench/gan_results.py --part hand
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/lsp_latency.py
	$(BIN)/python bench/whole_run.py
	$(BIN)/python bench/eager_floor.py
	$(BIN)/python bench/sweep_batched.py --all
	$(BIN)/python bench/rbm_vae.py
	$(BIN)/python bench/som_maps.py
	# measures only where CUDA is; elsewhere it writes bench/GPU.md saying so
	$(BIN)/python bench/gpu.py
	# against Keras, Lightning and pythae: only where `make peers-venv` made their venv
	if test -x $(PEERS_BIN)/python; then $(PEERS_BIN)/python bench/peers.py; \
	else echo "bench/peers.py skipped: make peers-venv first"; fi

# The peers bench/peers.py measures aespec against (Keras 3, Lightning, pythae) live in a
# venv of their own, never among aespec's dependencies; the constraints file keeps torch
# the CPU build that is installed first, whatever a peer asks for
PY311      ?= python3.11
PEERS_BIN  := bench/.venv-peers/bin
PEERS_STAMP := bench/.venv-peers/.installed

$(PEERS_STAMP): bench/peers-constraints.txt pyproject.toml
	test -x $(PEERS_BIN)/python || $(PY311) -m venv bench/.venv-peers
	$(PEERS_BIN)/python -m pip install -q --upgrade pip
	$(PEERS_BIN)/python -m pip install -q torch==2.13.0 -c bench/peers-constraints.txt
	$(PEERS_BIN)/python -m pip install -q keras lightning pythae -c bench/peers-constraints.txt
	$(PEERS_BIN)/python -m pip install -q -e . -c bench/peers-constraints.txt
	touch $(PEERS_STAMP)

peers-venv: $(PEERS_STAMP) data

peers: peers-venv
	$(PEERS_BIN)/python bench/peers.py

# hostile inputs at every door: 100,000 of them, findings in bench/FUZZ.md (make test runs
# a short campaign: tests/test_fuzz.py)
fuzz: $(STAMP)
	$(BIN)/python bench/fuzz.py --inputs 100000

docs: $(STAMP)
	$(BIN)/python docs/make_pages.py
	$(BIN)/python docs/make_diagrams.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
