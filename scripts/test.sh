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
# The slowest tests are listed at the end: where CI's time goes.
if [ $# -gt 0 ] || [ "${SOVEREIGN_TEST_SERIAL:-}" = 1 ]; then
    echo "== pytest"
    exec .venv/bin/pytest --durations=40 "$@"
fi

# A full run: the lab modules that boot labs of their own (the rebuild drill, ~15 min;
# replication, ~5 min) run in a second pytest beside the rest, which shares the `test` lab.
# Most of a lab test's time is waiting on hosts, so the two overlap well on two cores.
# Their output follows the main run's; the run fails if either fails.
OWN_LABS=(tests/lab/test_rebuild.py tests/lab/test_replication.py)
.venv/bin/sovereign artifacts fetch >/dev/null  # once, before both groups look for it
beside_log=$(mktemp -t sovereign-tests-beside.XXXXXX.log)
echo "== pytest: ${OWN_LABS[*]} beside the rest (output after the main run)"
.venv/bin/pytest -p no:cacheprovider --durations=15 "${OWN_LABS[@]}" >"$beside_log" 2>&1 &
beside=$!
# Interrupted: let the second pytest tear its labs down (SIGINT runs fixture teardown).
trap 'kill -INT "$beside" 2>/dev/null; wait "$beside"; exit 130' INT TERM
echo "== pytest"
main_rc=0
.venv/bin/pytest --durations=40 "${OWN_LABS[@]/#/--ignore=}" || main_rc=$?
beside_rc=0
wait "$beside" || beside_rc=$?
trap - INT TERM
echo "== pytest beside: ${OWN_LABS[*]}"
cat "$beside_log"
rm -f "$beside_log"
echo "== pytest: main run exit $main_rc, beside exit $beside_rc"
[ "$main_rc" = 0 ] && [ "$beside_rc" = 0 ]
