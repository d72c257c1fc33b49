"""A tiny fake world for runtime tests: coloured squares, a robot that lifts whatever the
controller aims at after a number of steps, and a matching scene truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from dexgrasp.constants import OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.vla.planner.oracle import ObjectTruth

H, W = 48, 64
COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


class FakeWorld:
    """Objects are squares; ``lift(name)`` puts one in the hand, ``place`` removes it."""

    def __init__(
        self,
        objects: list[tuple[str, str, str, int]],
        fail: set[str] | None = None,
        visible_when_held: bool = False,
    ):
        # (name, category, color, x) per object
        self.truth = {
            name: ObjectTruth(
                name, cat, cat, color, (x, 20, x + 10, 30), 0.0, True, frozenset(), False
            )
            for name, cat, color, x in objects
        }
        self.fail = fail or set()  # objects the controller can never lift
        self.visible_when_held = visible_when_held

    # SceneTruth
    image_size = (W, H)

    def objects(self):
        return list(self.truth.values())

    def masks(self):
        out = {}
        for o in self.truth.values():
            m = np.zeros((H, W), np.uint8)
            if o.box is not None and (o.on_table or (self.visible_when_held and o.held)):
                x1, y1, x2, y2 = o.box
                m[y1:y2, x1:x2] = 1
            out[o.name] = m
        return out

    def image(self) -> np.ndarray:
        img = np.full((H, W, 3), 240, np.uint8)
        for o in self.truth.values():
            if o.box is not None and o.on_table:
                x1, y1, x2, y2 = o.box
                img[y1:y2, x1:x2] = COLORS[o.color]
        return img


class FakeRobot:
    def __init__(self, world: FakeWorld):
        self.world = world
        self.holding: str | None = None
        self.steps = 0
        self.poses: list[str] = []
        self.resets = 0

    def observe(self, images: bool = True):
        obs = {OBS_STATE: np.zeros(13, np.float32)}
        if images:
            obs[OBS_HEAD] = self.world.image()
            obs[OBS_WRIST] = np.zeros((H, W, 3), np.uint8)
        return obs

    def send_action(self, action):
        assert np.asarray(action).shape == (13,)
        self.steps += 1
        target = getattr(self, "aim", None)
        if (
            target
            and target not in self.world.fail
            and int(action[0]) >= 30
            and self.holding is None
        ):
            self.holding = target
            self.world.truth[target] = replace(
                self.world.truth[target], lift_m=0.2, on_table=False, held=True
            )

    def move_to(self, pose):
        self.poses.append(pose)

    def release(self):
        if self.holding:
            self.world.truth[self.holding] = replace(
                self.world.truth[self.holding], box=None, lift_m=-1.0, held=False
            )
            self.holding = None

    def reset(self):
        self.resets += 1
        if self.holding:  # dropped back onto the table
            self.world.truth[self.holding] = replace(
                self.world.truth[self.holding], lift_m=0.0, on_table=True, held=False
            )
        self.holding = None


class FakeController:
    """Aims at the object under the mask; action[0] counts steps (lift after 30)."""

    needs_images = True

    def __init__(self, robot: FakeRobot):
        self.robot = robot
        self.i = 0

    def reset(self, observation):
        mask = observation[OBS_MASK]
        hits = {n: int((m & mask).sum()) for n, m in self.robot.world.masks().items()}
        self.robot.aim = max(hits, key=hits.get)
        self.i = 0

    def act(self, observation):
        assert observation[OBS_MASK].shape == (H, W)
        self.i += 1
        return np.full(13, self.i, np.float32)
