"""The hierarchical DexGraspVLA loop (paper Sec. 4.1).

record the initial head image
repeat:
    completion check (initial vs current head image) -> stop when done
    instruction proposal -> box -> mask (segmenter) -> tracker
    controller at 20 Hz; every ``check_every`` steps (1 Hz) the planner checks the grasp;
    a lost track makes the planner mark the target again
    grasped -> scripted place motion; always: reset the robot
until done or a budget (attempts per object, attempts in total, wall time) runs out
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dexgrasp.constants import CONTROL_HZ, OBS_HEAD, OBS_MASK, OBS_WRIST
from dexgrasp.vla.perception.types import Segmenter, Tracker, check_mask
from dexgrasp.vla.planner.types import BoundingBox, Planner, PlannerError
from dexgrasp.vla.runtime.protocols import Controller, ControllerError, Robot, RobotError
from dexgrasp.vla.runtime.recorder import RunRecorder
from dexgrasp.vlm.errors import VLMError


@dataclass
class RuntimeConfig:
    """Budgets and rates. Steps are control periods (1/20 s)."""

    max_attempts_per_object: int = 3
    max_attempts: int = 12
    max_time_s: float = 900.0
    attempt_steps: int = 200
    check_every: int = CONTROL_HZ  # planner grasp check at 1 Hz
    max_rebox: int = 2
    max_planner_failures: int = 3
    place: bool = True

    def __post_init__(self) -> None:
        for name in (
            "max_attempts_per_object",
            "max_attempts",
            "attempt_steps",
            "check_every",
            "max_planner_failures",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_rebox < 0:
            raise ValueError(f"max_rebox must be >= 0, got {self.max_rebox}")
        if self.max_time_s <= 0:
            raise ValueError(f"max_time_s must be > 0, got {self.max_time_s}")


@dataclass
class Attempt:
    index: int
    instruction: str = ""
    box: list[int] | None = None
    label: str = ""
    outcome: str = ""  # grasped | not_grasped | controller_error | planner_error | empty_mask
    steps: int = 0
    reboxes: int = 0
    checks: int = 0


@dataclass
class RunResult:
    prompt: str
    completed: bool
    reason: str
    attempts: list[Attempt] = field(default_factory=list)
    duration_s: float = 0.0
    control_steps: int = 0
    accuracy: dict[str, Any] = field(default_factory=dict)
    picked: list[str] = field(default_factory=list)

    @property
    def n_grasped(self) -> int:
        return sum(a.outcome == "grasped" for a in self.attempts)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["n_grasped"] = self.n_grasped
        return d


class HierarchicalRunner:
    """Runs prompts with a planner, perception, a controller and a robot.

    ``judge`` (optional, simulation) scores each planner answer against ground truth.
    """

    def __init__(
        self,
        robot: Robot,
        planner: Planner,
        segmenter: Segmenter,
        tracker: Tracker,
        controller: Controller,
        config: RuntimeConfig | None = None,
        recorder: RunRecorder | None = None,
        judge: Any = None,
    ) -> None:
        self.robot, self.planner, self.segmenter = robot, planner, segmenter
        self.tracker, self.controller = tracker, controller
        self.config = config or RuntimeConfig()
        self.rec = recorder or RunRecorder(None, video=False)
        self.judge = judge
        self._overlay: dict[str, Any] = {"mask": None, "box": None, "text": ""}
        self._steps = 0
        if self.rec.video and hasattr(robot, "frame_hook"):
            robot.frame_hook = self._frame_from_robot  # type: ignore[attr-defined]

    # --- video ---------------------------------------------------------------------------
    def _compose(self, head: np.ndarray, wrist: np.ndarray) -> np.ndarray:
        from dexgrasp.viz.images import draw_box, overlay_mask, tile

        view = head
        if self._overlay["mask"] is not None and self._overlay["mask"].shape == head.shape[:2]:
            view = overlay_mask(view, self._overlay["mask"], color=(255, 0, 0), alpha=0.4)
        if self._overlay["box"] is not None:
            view = draw_box(view, list(self._overlay["box"].xyxy))
        return tile([view, wrist], ncols=2, labels=[self._overlay["text"][:60], "wrist"])

    def _frame_from_robot(self, robot: Any) -> None:
        obs = robot.observe(images=True)
        self.rec.frame(self._compose(obs[OBS_HEAD], obs[OBS_WRIST]))

    # --- helpers -------------------------------------------------------------------------
    def _judge(self, kind: str, *args: Any) -> dict[str, Any] | None:
        return None if self.judge is None else getattr(self.judge, kind)(*args)

    def _mark(self, instruction: str, head: np.ndarray) -> tuple[BoundingBox, np.ndarray]:
        box = self.planner.predict_box(instruction, head)
        gt = self._judge("box", instruction, box)
        mask = check_mask(self.segmenter.segment(head, box), head.shape[:2])
        self.rec.event("box", instruction=instruction, box=box, mask_pixels=int(mask.sum()), gt=gt)
        return box, mask

    # --- the loop ------------------------------------------------------------------------
    def run(self, prompt: str) -> RunResult:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("prompt must be a non-empty string")
        cfg = self.config
        t0 = time.perf_counter()
        result = RunResult(prompt=prompt, completed=False, reason="")
        per_object: Counter[str] = Counter()
        planner_failures = 0
        self.rec.event("start", prompt=prompt, config=asdict(cfg))
        try:
            initial = self.robot.observe(images=True)[OBS_HEAD]
            self.rec.mask("initial", initial, np.zeros(initial.shape[:2], np.uint8))
            while True:
                head = self.robot.observe(images=True)[OBS_HEAD]
                try:
                    done = self.planner.check_completion(prompt, initial, head)
                except (PlannerError, VLMError) as err:
                    planner_failures += 1
                    self.rec.event("planner_error", subtask="check_completion", error=str(err))
                    if planner_failures >= cfg.max_planner_failures:
                        result.reason = "planner_failed"
                        break
                    continue
                self.rec.event(
                    "completion_check", completed=done, gt=self._judge("completion", prompt, done)
                )
                if done:
                    result.completed, result.reason = True, "completed"
                    break
                if len(result.attempts) >= cfg.max_attempts:
                    result.reason = "attempt_budget"
                    break
                if time.perf_counter() - t0 > cfg.max_time_s:
                    result.reason = "time_budget"
                    break
                attempt = Attempt(index=len(result.attempts) + 1)
                result.attempts.append(attempt)
                self._attempt(prompt, initial, head, attempt)
                if attempt.outcome == "planner_error":
                    planner_failures += 1
                    if planner_failures >= cfg.max_planner_failures:
                        result.reason = "planner_failed"
                        break
                else:
                    planner_failures = 0
                key = attempt.label or attempt.instruction
                per_object[key] += attempt.outcome != "grasped"
                if per_object[key] >= cfg.max_attempts_per_object:
                    self.rec.event("object_budget", object=key, attempts=per_object[key])
                    result.reason = "object_attempt_budget"
                    break
        except RobotError as err:
            self.rec.event("robot_error", error=str(err))
            result.reason = "robot_error"
        result.duration_s = round(time.perf_counter() - t0, 3)
        result.control_steps = self._steps
        if self.judge is not None:
            result.accuracy = self.judge.accuracies()
            result.picked = list(self.judge.picked)
        self.rec.event("end", completed=result.completed, reason=result.reason)
        return result

    def _attempt(
        self, prompt: str, initial: np.ndarray, head: np.ndarray, attempt: Attempt
    ) -> None:
        cfg, rec = self.config, self.rec
        try:
            instruction = self.planner.propose_instruction(prompt, initial, head)
            attempt.instruction = instruction
            rec.event(
                "instruction",
                attempt=attempt.index,
                instruction=instruction,
                gt=self._judge("proposal", prompt, instruction),
            )
            box, mask = self._mark(instruction, head)
        except (PlannerError, VLMError) as err:
            rec.event("planner_error", attempt=attempt.index, error=f"{type(err).__name__}: {err}")
            attempt.outcome = "planner_error"
            return
        attempt.box, attempt.label = list(box.xyxy), box.label
        rec.mask(f"attempt{attempt.index:02d}", head, mask, box)
        self._overlay.update(mask=mask, box=box, text=instruction)
        if not mask.any():
            rec.event("empty_mask", attempt=attempt.index)
            attempt.outcome = "empty_mask"
            self.robot.reset()
            return
        self.tracker.start(head, mask)
        obs = self.robot.observe(images=True)
        obs[OBS_MASK] = mask
        try:
            self.controller.reset(obs)
        except ControllerError as err:
            rec.event("controller_error", attempt=attempt.index, error=str(err))
            attempt.outcome = "controller_error"
            self.robot.reset()
            return
        grasped, lost_since = False, None
        for step in range(1, cfg.attempt_steps + 1):
            check = step % cfg.check_every == 0  # the planner looks at 1 Hz
            need_images = self.controller.needs_images or check
            obs = self.robot.observe(images=need_images)
            if need_images:
                tr = self.tracker.update(obs[OBS_HEAD])
                if not tr.lost:
                    mask, lost_since = tr.mask, None
                    self._overlay["mask"] = mask
                elif lost_since is None:
                    lost_since = step
                    rec.event("track_lost", attempt=attempt.index, step=step)
            if check:
                attempt.checks += 1
                grasped = self._check(instruction, obs, attempt)
                if grasped:
                    break
                if lost_since is not None and attempt.reboxes < cfg.max_rebox:
                    # Lost track: the planner marks the target again; until a new mask comes
                    # the controller keeps the last good one (hand occlusion is normal).
                    attempt.reboxes += 1
                    new_mask = self._remark(instruction, obs[OBS_HEAD], attempt)
                    if new_mask is not None:
                        mask, lost_since = new_mask, None
            if need_images:
                obs[OBS_MASK] = mask
            try:
                action = self.controller.act(obs)
            except ControllerError as err:
                rec.event("controller_error", attempt=attempt.index, error=str(err))
                attempt.outcome = "controller_error"
                break
            self.robot.send_action(action)
            self._steps += 1
            attempt.steps = step
        if grasped:
            attempt.outcome = "grasped"
            if cfg.place:
                self.robot.move_to("place")
                self.robot.release()
                rec.event("placed", attempt=attempt.index)
        elif not attempt.outcome:
            attempt.outcome = "not_grasped"
        self._overlay.update(mask=None, box=None, text="reset")
        self.robot.reset()
        rec.event("attempt_end", **asdict(attempt))

    def _remark(self, instruction: str, head: np.ndarray, attempt: Attempt) -> np.ndarray | None:
        """New box and mask after a lost track; ``None`` when the planner cannot mark it."""
        try:
            box, mask = self._mark(instruction, head)
        except (PlannerError, VLMError) as err:
            self.rec.event(
                "planner_error", attempt=attempt.index, subtask="predict_box", error=str(err)
            )
            return None
        if not mask.any():
            return None
        self.tracker.start(head, mask)
        self._overlay.update(mask=mask, box=box)
        return mask

    def _check(self, instruction: str, obs: dict[str, Any], attempt: Attempt) -> bool:
        try:
            ok = self.planner.verify_grasp(instruction, obs[OBS_HEAD], obs[OBS_WRIST])
        except (PlannerError, VLMError) as err:
            self.rec.event(
                "planner_error", attempt=attempt.index, subtask="verify_grasp", error=str(err)
            )
            return False
        self.rec.event(
            "grasp_check", attempt=attempt.index, grasped=ok, gt=self._judge("grasp", ok)
        )
        return ok
