#!/usr/bin/env bash
# One command from a fresh clone to a running app: makes .venv, installs the requirements and
# serves the UI on http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python scripts/install_torch.py  # the CPU build unless an NVIDIA GPU is visible
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
exec .venv/bin/python app.py "$@"
