#!/usr/bin/env bash
# Install dexgrasp with every extra and run the default (non-slow) test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
pip install -q torch==2.13.0 -e ".[all,dev]"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
python -m pytest "$@"
