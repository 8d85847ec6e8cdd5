# make demo / make test are the only commands a new user types; each sets up .venv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check bench fmt clean browser lock pgbouncer

# constraints.txt pins every dependency to the versions troth is tested with (the fast
# paths use SQLAlchemy, Starlette and FastAPI internals; tests/project/test_internals.py checks them).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@echo "installing troth and its dev tools into $(VENV), at the versions in constraints.txt"
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Regenerate constraints.txt from what is installed (after changing pyproject.toml and
# installing); then run tests/project/test_internals.py and the benchmarks before committing it.
lock: $(STAMP)
	@head -n 4 constraints.txt > constraints.new
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^#' | LC_ALL=C sort -f >> constraints.new
	mv constraints.new constraints.txt

# Debian's chromium drives the browser tests; installed when missing (root or sudo needed).
# Without it the browser tests skip locally (and fail under CI=true, where they must run).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "chromium is missing: installing Debian's chromium package (apt-get, as root or"; \
		echo "with sudo) because the browser tests (tests/browser, Playwright) drive it"; \
		bash .ci/install-chromium \
		|| echo "chromium could not be installed: browser tests will skip (CI fails them)"; }

# Debian's pgbouncer fronts the multi-process test (tests/operations/test_fleet.py: two servers and
# two workers through PgBouncer in transaction mode); installed when missing, like chromium.
# Without it that test skips locally (and fails under CI=true, where it must run).
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || test -x /usr/sbin/pgbouncer || bash .ci/install-pgbouncer \
		|| echo "pgbouncer could not be installed: the multi-process test will skip (CI fails it)"

demo: $(STAMP)
	$(BIN)/troth demo --home demo-home

# Python's bytecode cache is written even where the environment turns it off
# (PYTHONDONTWRITEBYTECODE): without it every test process, and every troth process a test
# starts, compiles troth and re-rewrites every test module's asserts (about 30 s of CPU per
# test process). The 30 slowest tests are listed at the end, to keep the suite's time honest.
test: $(STAMP) browser pgbouncer
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n auto --dist worksteal -q --durations=30

check: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

# The bench extra (Presidio, for discover_speed's baseline) is installed for make bench only.
$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	@touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python -m benchmarks

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) demo-home .pytest_cache .mypy_cache .ruff_cache
