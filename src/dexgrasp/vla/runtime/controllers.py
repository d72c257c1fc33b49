"""Controllers the runtime can drive: the learned DexGraspVLA policy and, in simulation,
the scripted expert (which finds the object under the mask and plans a grasp of it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dexgrasp.constants import OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.vla.runtime.protocols import ControllerError


def runtime_expert_config() -> Any:
    """The expert as a runtime controller differs from the one recording demonstrations:

    - ``verify_steps=70``: the lookahead accepts a grasp only if the object is still held
      70 control steps after the lift (20 for demonstrations). The runtime holds it up to
      a second longer (until the planner's 1 Hz grasp check) and then swings it to the drop
      zone; grasps that creep out of the hand within that time are rejected up front.
    - ``any_branch_fallback=True``: when no grasp on the home wrist branch works, flip the
      wrist (demonstrations stay on one branch so a policy can learn them).
    - ``aim_rest=False``: IK from the current joints and the straight rest posture (the
      posture consistency demonstrations need does not matter here; this is the
      configuration ``bench/bench_runtime.py`` measured).
    """
    from dexgrasp.sim.expert import ExpertConfig

    return ExpertConfig(verify_steps=70, any_branch_fallback=True, aim_rest=False)


class ExpertController:
    """:class:`~dexgrasp.vla.runtime.protocols.Controller` for simulation: the object whose
    ground-truth head-camera mask overlaps ``observation.mask`` most becomes the expert's
    target, so a wrong box or mask from the planner sends the expert to the wrong object,
    as it would a learned controller. Needs no images after ``reset``."""

    needs_images = False

    def __init__(self, robot: Any, config: Any = None) -> None:
        from dexgrasp.sim.expert import ScriptedExpert

        self.robot = robot
        self.expert = ScriptedExpert(robot.model, config or runtime_expert_config())
        self.plan: np.ndarray | None = None
        self.target: str | None = None
        self._i = 0

    def reset(self, observation: dict[str, Any]) -> None:
        from dexgrasp.sim.expert import PlanningError

        mask = np.asarray(observation.get(OBS_MASK))
        if mask.ndim != 2 or not mask.any():
            raise ControllerError("the expert needs a non-empty observation.mask")
        seg = self.robot.segmentation()
        if seg.shape != mask.shape:
            raise ControllerError(f"mask shape {mask.shape} differs from the camera's {seg.shape}")
        ids, counts = np.unique(seg[mask > 0], return_counts=True)
        keep = ids >= 0
        if not keep.any():
            raise ControllerError("the mask covers no object")
        index = int(ids[keep][np.argmax(counts[keep])])
        obj = next(o for o in self.robot.env.scene.objects if o.index == index)
        self.target = obj.name
        try:
            self.plan = self.expert.plan(self.robot.data, obj.body_id)
        except PlanningError as err:
            self.plan = None
            raise ControllerError(f"expert: {err}") from err
        self._i = 0

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        if self.plan is None:
            raise ControllerError("ExpertController.act called before a successful reset")
        action = self.plan[min(self._i, len(self.plan) - 1)]
        self._i += 1
        return action


class LearnedController:
    """:class:`Controller` over a trained DexGraspVLA policy (``dexgrasp.vla.controller``):
    receding-horizon chunks through ``select_action``."""

    needs_images = True

    def __init__(self, policy: Any, seed: int = 0) -> None:
        self.policy = policy
        self.seed = seed
        self._generator = None

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, device: str = "cpu", **kw: Any
    ) -> LearnedController:
        from dexgrasp.vla.controller.modeling import DexGraspVLAController

        return cls(DexGraspVLAController.from_pretrained(directory, device=device), **kw)

    @property
    def image_size(self) -> int:
        return int(self.policy.config.image_size)

    def reset(self, observation: dict[str, Any]) -> None:
        import torch

        self.policy.reset()
        self._generator = torch.Generator().manual_seed(self.seed)

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        for key in (OBS_HEAD, OBS_WRIST, OBS_MASK, OBS_STATE):
            if key not in observation:
                raise ControllerError(f"the learned controller needs {key!r} in the observation")
        action = self.policy.select_action(observation, generator=self._generator)
        return np.asarray(
            action.detach().cpu() if hasattr(action, "detach") else action, np.float32
        )
