#!/usr/bin/env bash
# Fills app/.wheelhouse/ for app/Dockerfile (see tools/wheelhouse.py). Incremental: a no-op when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || python=python3
exec "$python" tools/wheelhouse.py "$@"
