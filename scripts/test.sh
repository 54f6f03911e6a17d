#!/usr/bin/env bash
# The test command: installs what it needs, then runs the linters and every test (unit, simulation, end to end).
# End-to-end tests need root (network namespaces); without it they fail, they are never skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check src tests bench
echo "== mypy (strict on quorate.core and quorate.config)"; mypy
echo "== import contracts"; lint-imports
echo "== pytest"; exec pytest "$@"
