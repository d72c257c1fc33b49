"""MuJoCo tabletop world: object library, scenes, rooms, robot, expert, Gymnasium env.

Importing this package registers ``dexgrasp/TabletopGrasp-v0`` with Gymnasium. Heavy
modules (mujoco scenes, the env) load only when used.
"""

from __future__ import annotations

ENV_ID = "dexgrasp/TabletopGrasp-v0"


def _register() -> None:
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium is part of the [sim] extra
        return
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="dexgrasp.sim.env:TabletopGraspEnv")


_register()
