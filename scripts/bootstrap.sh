# Prerequisite checks and the virtualenv: sourced by run.sh, test.sh and ui.sh. Safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3.11}"
if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "Python 3.11 is required (looked for '$PY'): install Python 3.11 with its venv module, or set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if ! command -v java >/dev/null 2>&1 || ! java -version 2>&1 | grep -Eq 'version "(17|21)[."]'; then
  echo "Java 17 is required by Spark: install a Java 17 runtime (e.g. apt-get install openjdk-17-jre-headless) and put java on PATH." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtualenv in .venv"
  "$PY" -m venv .venv
fi
# Reinstall when the pins or the build config change, or when a top-level package appears (usecases/): the
# editable install maps each top-level package to its folder when it is installed.
PACKAGES="$(ls -d include/*/__init__.py plugins/*/__init__.py usecases/__init__.py 2>/dev/null || true)"
STAMP=".venv/.installed-$( (cat requirements.txt requirements-dev.txt requirements-nodeps.txt constraints.txt pyproject.toml; echo "$PACKAGES") | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  echo "Installing pinned dependencies (requirements-dev.txt with constraints.txt); first time takes a few minutes"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.8"
  .venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements-dev.txt -c constraints.txt
  # Data packages whose declared dependencies are not needed (ISLP declares torch): without them.
  .venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -r requirements-nodeps.txt -c constraints.txt
  # The project itself (mlops, mlops_airflow, usecases), editable; --no-deps keeps the pinned set as it is.
  .venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
  rm -f .venv/.installed-*
  touch "$STAMP"
fi
