# The two commands a newcomer needs: `make run` and `make test`.
# The Python that makes the venv (scripts/venv.sh).
export PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# One line a stage, so that no wait is silent. Zipkin starts while the
# requirements install (zipkin-launch comes first); scripts/ready.sh migrates,
# waits for it, and says where the site is served.
#
# Ctrl-C ends each stage quietly. make reports a command that fails or dies of
# it as an error (honcho ends with status 130), and says "wait: No child
# processes" if the command ends before make has handled the same Ctrl-C (on a
# busy machine): so the stage's shell takes a moment, then ends well.
QUIETLY := trap 'sleep 0.2; exit 0' INT;

.PHONY: run asgi split collector test lint bench soak screenshots zipkin-launch zipkin-stop broker-stop clean lock

## run: set up, migrate, start Zipkin and the job queue if it can, and serve on http://127.0.0.1:$(PORT)
run: zipkin-launch $(VENV)/.runtime
	@$(QUIETLY) scripts/ready.sh http://127.0.0.1:$(PORT)/
	@$(QUIETLY) scripts/broker.sh with $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## asgi: like run, but the ASGI app (toastsite/asgi.py) under uvicorn; the same traces
asgi: zipkin-launch $(VENV)/.runtime
	@$(QUIETLY) scripts/ready.sh http://127.0.0.1:$(PORT)/
	@$(QUIETLY) $(BIN)/python -m uvicorn toastsite.asgi:application --host 127.0.0.1 --lifespan off --no-proxy-headers --port $(PORT)

## split: the same code as two services, the api on :8001 and the frontend on :8000, and the worker
split: zipkin-launch $(VENV)/.runtime
	@$(QUIETLY) scripts/ready.sh "the api on http://127.0.0.1:8001/ and the frontend on http://127.0.0.1:8000/"
	@$(QUIETLY) if scripts/broker.sh start; then export CELERY_BROKER_URL="$$(scripts/broker.sh url)"; \
	else only="api frontend"; fi; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start $$only

## collector: like run, but the site sends OTLP to an OpenTelemetry Collector (built with Go 1.26+), which sends on to Zipkin
collector: zipkin-launch $(VENV)/.runtime
	@$(QUIETLY) scripts/collector.sh start
	@$(QUIETLY) scripts/ready.sh http://127.0.0.1:$(PORT)/
	@$(QUIETLY) OTEL_TRACES_EXPORTER=otlp $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

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
	$(BIN)/pytest tests/e2e/test_tutorial.py tests/e2e/test_scale_out.py
	mkdir -p docs/img && cp test-artifacts/tutorial/*.png docs/img/

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
	@$(QUIETLY) scripts/venv.sh requirements.txt && touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	@$(QUIETLY) scripts/venv.sh requirements.txt requirements-dev.txt && touch $@

$(VENV)/.bench: $(VENV)/.dev requirements-bench.txt
	@$(QUIETLY) scripts/venv.sh requirements.txt requirements-dev.txt requirements-bench.txt && touch $@
