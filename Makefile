PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test test-v13 test-slow run attacks bench bench-slow lint clean

setup: $(BIN)/rig

$(BIN)/rig: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

test:
	$(BIN)/pytest -q -n auto

# The whole suite again with EmberZNet 7.4 (EZSP v13) firmware in every emulated dongle (rig.sim's switch).
test-v13:
	$(BIN)/pytest -q -n auto --rig-ezsp-version 13

# The long form of the property, fuzz and fault tests: RIG_SLOW=1 scales them (tests/scale.py's `scaled`;
# every `fuzz`-marked test is also `slow`, tests/conftest.py),
# e.g. >= 10 000 fuzz cases per surface.
test-slow:
	RIG_SLOW=1 $(BIN)/pytest -q -n auto -m slow

run:
	$(BIN)/rig scenario matrix

attacks:
	@mkdir -p artifacts
	$(BIN)/rig attack run --all --report artifacts/attacks.html

bench:
	$(BIN)/python -m bench

bench-slow:
	$(BIN)/python -m bench.premises 1 10 100 1000

lint:
	$(BIN)/ruff check rig firmware_shims tests bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
