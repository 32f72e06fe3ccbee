#!/usr/bin/env bash
# Command 2 of the quick start: lint, format check, then the whole test suite. Extra args go to pytest.
# PYTEST_WORKERS (default 2, one per core): pytest-xdist workers, each taking whole test files so module
# fixtures are built once, longest files first (tests/conftest.py): the native topology test, mostly waiting
# on its services, starts at once and overlaps the rest.
# PYTEST_WORKERS=0 runs everything in one process. The 15 slowest tests are listed at the end (the long poles
# to look at when the suite grows past its 30-minute budget).
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
source "$ROOT/scripts/env.sh"
echo "ruff check"; ruff check .
echo "ruff format --check"; ruff format --check .
exec python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder --durations 15 "$@"
