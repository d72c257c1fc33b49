"""What the hierarchical runtime drives: a :class:`Robot` and a :class:`Controller`.

The simulator implements :class:`Robot` (:class:`~dexgrasp.vla.runtime.sim_robot.SimRobot`);
hardware adapters implement the same few methods. Controllers are the learned DexGraspVLA
policy or, in simulation, the scripted expert.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

POSES = ("home", "place")


class RobotError(RuntimeError):
    """The robot cannot go on (hardware fault, simulation blow-up)."""


class ControllerError(RuntimeError):
    """The controller cannot produce actions for this attempt (e.g. no feasible grasp)."""


@runtime_checkable
class Robot(Protocol):
    """A 7-DoF arm with a 6-DoF hand and two cameras, driven at ``CONTROL_HZ``.

    ``observe`` returns ``observation.images.head`` / ``observation.images.wrist``
    ((H, W, 3) uint8, only when ``images`` is true) and ``observation.state`` ((13,) float32 rad).
    ``send_action`` applies 13 absolute joint targets (rad) for one control period (1/20 s).
    ``move_to`` runs a scripted motion to a named pose ("home", "place"), ``release`` opens
    the hand, ``reset`` returns the robot to its initial state after an attempt.
    """

    def observe(self, images: bool = True) -> dict[str, Any]: ...

    def send_action(self, action: np.ndarray) -> None: ...

    def move_to(self, pose: str) -> None: ...

    def release(self) -> None: ...

    def reset(self) -> None: ...


@runtime_checkable
class Controller(Protocol):
    """Low-level policy: given the target mask, produce joint targets at ``CONTROL_HZ``.

    ``needs_images``: whether ``act`` reads camera images and the mask (the scripted expert
    does not, which lets the runtime render only what the planner and the video need).
    """

    needs_images: bool

    def reset(self, observation: dict[str, Any]) -> None:
        """Start an attempt; ``observation`` holds the first frame and ``observation.mask``."""
        ...

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        """(13,) float32 absolute joint targets for the next control period."""
        ...
