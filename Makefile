# Two commands for a newcomer: `make dev` and `make test`. Everything else is built on them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: dev test soak bench install proto clean

dev: $(STAMP)
	$(BIN)/chinook-pipeline dev

test: $(STAMP)
	$(BIN)/python -m pytest -q

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[embedded,dev]'
	touch $(STAMP)

# Regenerate the committed Protobuf code after editing proto/ (a test fails when it is stale).
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=shared/gen --pyi_out=shared/gen \
		proto/chinook/v1/customer.proto

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
