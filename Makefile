# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

NO_ZIPKIN := echo "toastsite: running without Zipkin; spans go nowhere (OTEL_TRACES_EXPORTER=console prints them)."

.PHONY: run split test lint bench soak screenshots zipkin zipkin-stop clean

## run: set up, migrate, start Zipkin if it can, and serve on http://127.0.0.1:$(PORT)
run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	@scripts/zipkin.sh start || $(NO_ZIPKIN)
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## split: the same code as two services, the api on :8001 and the frontend on :8000
split: $(VENV)/.dev
	$(BIN)/python manage.py migrate --noinput
	@scripts/zipkin.sh start || $(NO_ZIPKIN)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

## test: lint, check migrations, run the whole test suite
test: $(VENV)/.dev lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## bench: what tracing costs, variant by variant (needs wrk, valgrind and Java); see docs/benchmarks.md
bench: $(VENV)/.dev
	$(BIN)/python scripts/bench.py

## soak: the split under steady traffic for 3 minutes: statuses, span delivery, memory
soak: $(VENV)/.dev
	$(BIN)/python scripts/soak.py

## screenshots: run the tutorial's steps and copy their Zipkin UI screenshots into docs/img
screenshots: $(VENV)/.dev
	$(BIN)/pytest tests/e2e/test_tutorial.py
	mkdir -p docs/img && cp test-artifacts/tutorial/*.png docs/img/

zipkin:
	scripts/zipkin.sh start

zipkin-stop:
	scripts/zipkin.sh stop

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts

$(VENV)/.runtime: requirements.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@
