#!/usr/bin/env bash
# One command from a fresh clone to a running app: makes .venv, installs the requirements and
# serves the UI on http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python scripts/install_torch.py  # the CPU build unless an NVIDIA GPU is visible
# pip re-checks every requirement on each start (1-4 s of a 5 s start-up): only when requirements.txt has
# changed since the last install here. (A venv changed by hand: delete .venv and run this again.)
if ! cmp -s requirements.txt .venv/.installed-requirements.txt; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt .venv/.installed-requirements.txt
fi
# `charrnn` itself, editable: `python -m charrnn` and `from charrnn import …` work from any folder.
[ -x .venv/bin/charrnn ] || bash scripts/install_package.sh
exec .venv/bin/python app.py "$@"
