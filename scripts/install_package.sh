#!/usr/bin/env bash
# Installs this repository's `charrnn` into .venv, editable (the code stays here), so that
# `python -m charrnn`, the `charrnn` command and `from charrnn import …` work from any folder.
# Without downloading a build backend where the venv has one (Python ≤ 3.11 venvs bring setuptools);
# else pip fetches setuptools from PyPI for the build.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>/dev/null \
  || .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
