# Two commands for a newcomer: `make dev` and `make test`. Everything else is built on them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: dev test lint schema soak bench install tools java kafka spark-jars proto docs clean

dev: $(STAMP) kafka
	$(BIN)/chinook-pipeline dev

# Four workers, one test file each at a time: much of the suite waits on brokers, group joins,
# JVMs and child processes (three workers left 15 % of 2 cores idle), so four files in parallel
# beat three on 2 cores. Kafka's jars are
# fetched once first, so that the workers never fetch them at the same time; so are Spark's. The
# slowest tests are listed at the end, so that a CI log shows where the suite's time goes.
test: $(STAMP) tools kafka spark-jars lint schema
	$(BIN)/python -m pytest -q -n 4 --dist loadfile --durations=25

# ruff (lint and format, configured in pyproject.toml) over the whole tree.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The Protobuf schema is a contract (proto/buf.yaml): buf lints it and fails on a breaking change
# against main's proto/, read from this clone's own git (offline): the local branch main, else
# origin/main (a clone of another branch). Override with SCHEMA_BASE=<git ref>.
SCHEMA_BASE ?= $(shell git rev-parse --verify -q refs/heads/main >/dev/null && echo main || echo origin/main)
schema: $(STAMP)
	$(BIN)/buf lint proto
	$(BIN)/buf breaking proto --against '.git#subdir=proto,ref=$(SCHEMA_BASE)'

install: $(STAMP)

# The embedded broker: Apache Kafka's jars, fetched by Maven from the pinned pom in
# chinook_pipeline/local/kafka/ into ~/.cache/chinook-pipeline (outside the work tree), once.
kafka: $(STAMP) java
	$(BIN)/python -m chinook_pipeline.local.kafka.jars >/dev/null

# The test that reads the tables from Spark: Iceberg's Spark runtime, its AWS bundle and the catalog
# databases' JDBC drivers, fetched by Maven from the pinned pom tests/spark/pom.xml into the same
# cache, once (~130 MB).
spark-jars: $(STAMP) java
	$(BIN)/python -m tests.spark.jars >/dev/null

# Java 17+ and Maven run the embedded broker; Debian's packages where either is missing.
java:
	@{ command -v java && command -v mvn; } >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		openjdk-17-jre-headless maven >/dev/null; }

# Debian packages the tests run, each installed only where missing: `prometheus` (promtool checks
# ops/prometheus/*.yml and runs the alerts' unit tests, alerts.test.yml; a real Prometheus server
# scrapes the services and evaluates the alerts) and `postgresql` (a real
# PostgreSQL as the Iceberg catalog, tests/postgres.py; its server binaries are off PATH, in
# /usr/lib/postgresql/VERSION/bin).
tools:
	@missing=; \
	{ command -v promtool && command -v prometheus; } >/dev/null || missing="$$missing prometheus"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -z "$$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[embedded,dev]'
	touch $(STAMP)

# The fault-injection suite with its full counts (50,000 changes, 20 kills, a 20 s S3 outage).
soak: $(STAMP)
	CHINOOK_SOAK=1 $(BIN)/python -m pytest -q -s tests/faults/test_faults.py tests/faults/test_outages.py --timeout=3600

# The benchmark on the embedded stack; figures and ratios to the raw limits and to the peer (Kafka
# Connect with the Apache Iceberg sink, its jars fetched once by Maven) in bench-results/.
bench: $(STAMP) kafka
	$(BIN)/chinook-pipeline bench --peers --out bench-results/bench.json

# Regenerate the committed Protobuf code after editing proto/ (a test fails when it is stale).
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=shared/gen --pyi_out=shared/gen \
		proto/chinook/v1/customer.proto

# Regenerate docs/configuration.md's reference from the code (a test fails when it is stale).
docs: $(STAMP)
	$(BIN)/python -m chinook_pipeline.cli.reference

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
