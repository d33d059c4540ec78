#!/usr/bin/env bash
# One command from a fresh clone to a finished test run: makes .venv, installs the test
# requirements, installs Debian's chromium for the browser tests where apt-get can, then runs
# ruff and the whole pytest suite. Extra arguments go to pytest (e.g. -k sample).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python scripts/install_torch.py  # the CPU build unless an NVIDIA GPU is visible
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
[ -x .venv/bin/charrnn ] || bash scripts/install_package.sh  # charrnn itself, editable
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  # Browser tests skip (with the reason) if this fails, e.g. without root.
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null; } \
    || echo "note: could not install chromium; browser tests will be skipped" >&2
fi
.venv/bin/python -m ruff check .
.venv/bin/python -m pytest "$@"
