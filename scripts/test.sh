#!/usr/bin/env bash
# All the tests: lint and types, unit tests, and the lab tests that deploy to a real
# systemd-nspawn host. Installs what it needs first. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== import layers (pyproject.toml [tool.importlinter])"
.venv/bin/lint-imports
echo "== pytest"
# The slowest tests are listed at the end: where CI's time goes.
.venv/bin/pytest --durations=40 "$@"
