# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Hash-checked (the requirements files have hashes), with the venv's own pip.
PIP_INSTALL := $(BIN)/python -m pip --disable-pip-version-check install --quiet

NO_ZIPKIN := echo "toastsite: running without Zipkin; spans go nowhere (OTEL_TRACES_EXPORTER=console prints them)."
# Zipkin starts while the requirements install; the site is served once Zipkin
# answers (or could not start), so that the first page's trace reaches it.
WAIT_ZIPKIN := scripts/zipkin.sh wait || $(NO_ZIPKIN)

.PHONY: run split collector test lint bench soak screenshots zipkin zipkin-launch zipkin-stop broker-stop clean lock

## run: set up, migrate, start Zipkin and the job queue if it can, and serve on http://127.0.0.1:$(PORT)
run: zipkin-launch $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	@$(WAIT_ZIPKIN)
	scripts/broker.sh with $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## split: the same code as two services, the api on :8001 and the frontend on :8000, and the worker
split: zipkin-launch $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	@$(WAIT_ZIPKIN)
	if scripts/broker.sh start; then export CELERY_BROKER_URL="$$(scripts/broker.sh url)"; \
	else only="api frontend"; fi; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start $$only

## collector: like run, but the site sends OTLP to an OpenTelemetry Collector (built with Go 1.26+), which sends on to Zipkin
collector: zipkin-launch $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	@$(WAIT_ZIPKIN)
	scripts/collector.sh start
	OTEL_TRACES_EXPORTER=otlp $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## test: lint, check migrations, run the whole test suite
test: $(VENV)/.dev lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## bench: what tracing costs, variant by variant (needs wrk, valgrind and Java; FULL=1: the whole run); see docs/benchmarks.md
bench: $(VENV)/.bench
	$(BIN)/python -m scripts.bench $(if $(filter 1,$(FULL)),--full)

## soak: the split under steady traffic for 3 minutes: statuses, span delivery, memory
soak: $(VENV)/.bench
	$(BIN)/python -m scripts.soak

## screenshots: run the tutorial's steps and copy their Zipkin UI screenshots into docs/img
screenshots: $(VENV)/.dev
	$(BIN)/pytest tests/e2e/test_tutorial.py
	mkdir -p docs/img && cp test-artifacts/tutorial/*.png docs/img/

zipkin:
	scripts/zipkin.sh start

zipkin-launch:
	@scripts/zipkin.sh launch

zipkin-stop:
	scripts/zipkin.sh stop

broker-stop:
	scripts/broker.sh stop

## lock: pin requirements*.in, with what they pull in and hashes, into requirements*.txt (UPGRADE=1: newest versions)
lock: $(VENV)/.dev
	for set in requirements requirements-dev requirements-bench; do \
	  $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	    --python-platform x86_64-manylinux_2_28 $(if $(filter 1,$(UPGRADE)),--upgrade) $$set.in -o $$set.txt || exit; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts

# Each set on top of the ones before, installed together: the same versions.
$(VENV)/.runtime: requirements.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP_INSTALL) -r requirements.txt -r requirements-dev.txt
	touch $@

$(VENV)/.bench: $(VENV)/.dev requirements-bench.txt
	$(PIP_INSTALL) -r requirements.txt -r requirements-dev.txt -r requirements-bench.txt
	touch $@
