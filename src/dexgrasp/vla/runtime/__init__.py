"""The hierarchical DexGraspVLA runtime: planner -> perception -> controller -> robot.

    from dexgrasp.vla.runtime import run_in_sim
    result, out_dir, summary = run_in_sim("grasp all bottles", scene_seed=1, out="runs/bottles")

Protocols: :class:`Robot` (simulation: :class:`SimRobot`), :class:`Controller` (learned
policy or scripted expert). The loop: :class:`HierarchicalRunner`.
"""

from __future__ import annotations

from typing import Any

from dexgrasp.vla.runtime.loop import Attempt, HierarchicalRunner, RunResult, RuntimeConfig
from dexgrasp.vla.runtime.protocols import Controller, ControllerError, Robot, RobotError
from dexgrasp.vla.runtime.recorder import RunRecorder

__all__ = [
    "Attempt",
    "Controller",
    "ControllerError",
    "HierarchicalRunner",
    "Robot",
    "RobotError",
    "RunRecorder",
    "RunResult",
    "RuntimeConfig",
    "SimRobot",
    "run_in_sim",
]


def __getattr__(name: str) -> Any:
    if name == "run_in_sim":
        from dexgrasp.vla.runtime.session import run_in_sim

        return run_in_sim
    if name == "SimRobot":
        from dexgrasp.vla.runtime.sim_robot import SimRobot

        return SimRobot
    raise AttributeError(f"module 'dexgrasp.vla.runtime' has no attribute {name!r}")
