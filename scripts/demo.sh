#!/usr/bin/env bash
# The demo: installs what it needs, then builds the article's cluster magi on this machine (root) and walks
# through it. Remove it afterwards with: .venv/bin/quorate demo down
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/quorate demo "$@"
