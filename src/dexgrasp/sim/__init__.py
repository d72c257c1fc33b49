"""MuJoCo tabletop world: object library, scenes, rooms, robot, expert, Gymnasium env.

Importing this package registers ``dexgrasp/TabletopGrasp-v0`` with Gymnasium. Heavy
modules (mujoco scenes, the env) load only when used. Without a display, offscreen
rendering defaults to EGL (``MUJOCO_GL=egl``) unless ``MUJOCO_GL`` is already set.
"""

from __future__ import annotations

import os

ENV_ID = "dexgrasp/TabletopGrasp-v0"

if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def _register() -> None:
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium is part of the [sim] extra
        return
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="dexgrasp.sim.env:TabletopGraspEnv")


_register()
