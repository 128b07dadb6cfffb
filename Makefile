# Odys — the two commands: `make dev` (the whole API on http://127.0.0.1:3000) and `make test` (the full suite).
.PHONY: dev test invoke openapi bootstrap validate build deploy bench clean

SAM_VENV := .odys/sam-venv
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
# The Lambda runtime's interpreter (template.yaml Runtime: python3.13), found by devtools/bootstrap.sh (PATH, pyenv).
# `sam build` looks for `python3.13` on PATH: its directory goes first there (pyenv's shim may refuse to run it).
RUNTIME_PYTHON = $(shell bash devtools/bootstrap.sh --python)
WITH_RUNTIME_PYTHON = PATH="$(dir $(RUNTIME_PYTHON)):$$PATH"
STAGE ?= dev

bootstrap:
	@bash devtools/bootstrap.sh

dev: bootstrap
	.venv/bin/python -m devtools.server

test: bootstrap
	.venv/bin/python -m pytest -q $(PYTEST_ARGS)

# docs/openapi.json from template.yaml and each route's @doc(...) (devtools/openapi.py); tests/test_openapi.py fails
# when it is not what the code says.
openapi: bootstrap
	ODYS_STAGE=dev .venv/bin/python -m devtools.openapi $(OPENAPI_ARGS)

# Runs one non-HTTP function (cron_reminders, cron_watchdog, cron_housekeeping, whatsapp_sender, whatsapp_sweep,
# migrate) once against the running `make dev`, with its real event for now (or EVENT=path.json); prints the result.
invoke:
	.venv/bin/python -m devtools.invoke "$(FN)" "$(EVENT)"

$(SAM_VENV)/bin/sam:
	$(RUNTIME_PYTHON) -m venv $(SAM_VENV) && $(SAM_VENV)/bin/pip install -q aws-sam-cli

validate: $(SAM_VENV)/bin/sam
	$(SAM) validate --lint

# sam build, then ship bytecode: Lambda's code directories are read-only, so without .pyc files every cold start
# compiles every module again (benchmarks/README.md). unchecked-hash: valid whatever the zip's file times.
build: $(SAM_VENV)/bin/sam
	$(WITH_RUNTIME_PYTHON) $(SAM) build
	$(RUNTIME_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

deploy: build
	$(SAM) deploy --config-env $(STAGE)

bench: bootstrap
	.venv/bin/python -m benchmarks.coldstart

clean:
	rm -rf .aws-sam .odys/pg
