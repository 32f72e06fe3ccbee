#!/usr/bin/env bash
# Command 2 of the quick start: lint, format check, then the whole test suite. Extra args go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
source "$ROOT/scripts/env.sh"
echo "ruff check"; ruff check .
echo "ruff format --check"; ruff format --check .
exec python -m pytest "$@"
