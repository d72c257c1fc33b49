#!/usr/bin/env bash
# Install dexgrasp and what it needs on a fresh Debian/Ubuntu machine.
#   scripts/install.sh         library + every extra (simulation, models, planners)
#   scripts/install.sh --dev   the same plus the test and lint tools
# Offscreen MuJoCo rendering needs Mesa's EGL (llvmpipe on CPU-only machines).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="all"
[ "${1:-}" = "--dev" ] && extras="all,dev"

need_apt=0
for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt=1
done
if [ "$need_apt" = 1 ] && command -v apt-get >/dev/null; then
  sudo=""
  [ "$(id -u)" != 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6
fi
# torch is pinned to the CPU build; any other requirement pulls CUDA packages.
python -m pip install -q --disable-pip-version-check torch==2.13.0 -e ".[${extras}]"
