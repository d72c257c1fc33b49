"""Expert takeover: demonstrations that start in the states where the learned policy fails.

A policy cloned from expert demonstrations drifts off them in closed loop. In the simulator
the small controller's palm stops a few centimetres from the target, the hand closes on
nothing, and it never tries again, because no demonstration shows a miss (docs/controller.md).
Takeover collection runs the policy on a scene; when the episode fails it goes back to
states the policy visited (``env.get_state`` snapshots) and lets the scripted expert plan
from there (it always plans from the current state). The recorded expert episode shows the
correction, from a state the policy really reaches: open the hand, back off, approach
again. It is DAgger (Ross et al., 2011) in the form an episode store of chunked actions
needs: whole expert episodes from a few visited states rather than one label per state.

    env = gym.make("dexgrasp/TabletopGrasp-v0", max_steps=10_000)
    policy = DexGraspVLAController.from_pretrained("runs/controller_small_palm")
    ok, episodes = policy_takeovers(env, policy, scene_seed=7, rng=np.random.default_rng(0))

With ``TakeoverConfig(continue_grasp=True)`` (``--continue-grasp``) the expert corrects the
policy's own grasp instead of planning the best one afresh: the takeover states come from the
last ``window`` steps before the policy closed its hand, and the expert continues to the
feasible grasp nearest the pose the policy closed at, straight from where the palm is when it
is close (``ScriptedExpert.plan(prefer=...)``). Fresh plans from early states taught the
policy to open and go elsewhere (docs/controller.md, session 9); these labels were meant to
keep a grasp under way. They did not help either: fine-tuning the shipped controller on 300 of
them lowered it from 50/100 to 33/100 (docs/controller.md, session 15).

With ``TakeoverConfig(after_miss=True)`` (``--after-miss``) the takeover states come from after
the policy's hand closed on nothing: at least ``window`` steps after the closure, target not
lifted. This is where the closed-loop policy stalls: it holds its closed, empty hand above the
table until the time limit (docs/controller.md, session 18). The expert's plan from there opens
the hand on the way back to a pre-grasp and grasps again, which is the in-episode re-grasp the
paper counts within one attempt. Failed episodes in which the hand never closed give none.

``dexgrasp takeover --ckpt CKPT --out STORE ...`` runs this in worker processes and stores
the episodes (``meta["takeover_step"]``: the policy step the expert took over at); from
Python, ``dexgrasp.sim.cli.collect(out, n, source=TakeoverSource(ckpt))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dexgrasp.sim import robot
from dexgrasp.sim.layout import SUCCESS_LIFT_M
from dexgrasp.sim.rollout import Rollout, expert_episode, scene_meta
from dexgrasp.vla.controller.evaluate import DEFAULT_MAX_STEPS, closed_loop


@dataclass
class TakeoverConfig:
    """takeovers: expert episodes per failed policy episode, from distinct policy steps drawn
    uniformly among those at or after ``min_step`` where the target is not lifted (the expert
    re-grasps, so states holding the target up are not corrections). max_steps: length of the
    policy episode (the evaluation's). continue_grasp: correct the policy's own grasp (see the
    module docstring), from states in the ``window`` steps before its hand closed (all states
    from ``min_step`` on when it never closed). after_miss: take over only from states at
    least ``window`` steps after the policy's hand closed (the stalled, empty hand); none
    when it never closed. The two modes exclude each other."""

    takeovers: int = 2
    min_step: int = 10
    max_steps: int = DEFAULT_MAX_STEPS
    continue_grasp: bool = False
    window: int = 20
    after_miss: bool = False

    def __post_init__(self) -> None:
        if self.takeovers < 1:
            raise ValueError(f"takeovers={self.takeovers} must be >= 1")
        if self.continue_grasp and self.after_miss:
            raise ValueError("continue_grasp and after_miss exclude each other")
        if self.window < 1:
            raise ValueError(f"window={self.window} must be >= 1")
        if not 0 <= self.min_step < self.max_steps:
            raise ValueError(
                f"need 0 <= min_step < max_steps, got min_step={self.min_step}, "
                f"max_steps={self.max_steps}"
            )


def policy_takeovers(
    env,
    policy: Any,
    scene_seed: int,
    rng: np.random.Generator,
    config: TakeoverConfig | None = None,
) -> tuple[bool, list[Rollout]]:
    """Run ``policy`` on scene ``scene_seed`` (the evaluation's loop: ground-truth mask, the
    diffusion noise seeded with the scene seed); if it fails, return the expert's episodes
    from ``config.takeovers`` of its states. Returns (policy succeeded, expert rollouts);
    a rollout's ``success`` says whether the expert's correction lifted and held the target.
    ``env``'s step limit must leave room for the expert after the policy's steps."""
    cfg = config or TakeoverConfig()
    u = env.unwrapped
    snapshots: list[tuple[int, dict]] = []
    closed: tuple[int, np.ndarray, np.ndarray] | None = None  # step, palm position, rotation
    for step in closed_loop(env, policy, scene_seed, max_steps=cfg.max_steps):
        info = step.info
        if step.t == 0:
            site = u.model.site(robot.PALM_SITE).id  # the scene's model exists after the reset
        elif closed is None and robot.hand_is_closed(u.data.ctrl):
            closed = (step.t, *_palm_pose(u, site))
        lifted = info["objects"][info["target"]]["height"] >= SUCCESS_LIFT_M
        if not step.done and step.t >= cfg.min_step and not lifted:
            snapshots.append((step.t, u.get_state()))  # a state the policy chose an action in
    if info["success"]:
        return True, []
    prefer = None
    if cfg.after_miss:
        snapshots = [s for s in snapshots if closed and s[0] >= closed[0] + cfg.window]
        if not snapshots:
            return False, []
    if cfg.continue_grasp and closed is not None:
        t_close, prefer = closed[0], closed[1:]
        near = [s for s in snapshots if t_close - cfg.window <= s[0] <= t_close]
        snapshots = near or snapshots
    picks = rng.choice(len(snapshots), size=min(cfg.takeovers, len(snapshots)), replace=False)
    out = []
    for i in sorted(picks):
        t, state = snapshots[i]
        obs, _ = u.set_state(state)
        meta = {**scene_meta(env, scene_seed), "takeover_step": int(t)}
        if cfg.continue_grasp or cfg.after_miss:
            meta["takeover_closed_step"] = None if closed is None else int(closed[0])
        if cfg.continue_grasp:
            # Without a closure, continue towards wherever the palm is now.
            out.append(expert_episode(env, obs, meta, prefer=prefer or _palm_pose(u, site)))
        else:
            out.append(expert_episode(env, obs, meta))
    return False, out


def _palm_pose(u, site: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the palm site's position (3,) and rotation (3, 3) in the env ``u`` now."""
    return u.data.site_xpos[site].copy(), u.data.site_xmat[site].reshape(3, 3).copy()


class TakeoverSource:
    """``collect``'s per-attempt episodes for expert takeover of the controller at ``ckpt``
    (picklable; each worker process loads the policy on its first attempt, one torch thread)."""

    def __init__(
        self,
        ckpt: str | Path,
        takeovers: int = 2,
        continue_grasp: bool = False,
        after_miss: bool = False,
    ) -> None:
        if not (Path(ckpt) / "config.json").is_file():
            raise ValueError(f"--ckpt {ckpt}: not a controller checkpoint (no config.json)")
        self.ckpt = str(ckpt)
        self.config = TakeoverConfig(
            takeovers=takeovers, continue_grasp=continue_grasp, after_miss=after_miss
        )
        # stored with each episode; keys resuming
        self.meta = {"takeover_policy": self.ckpt, "takeover_continue_grasp": continue_grasp}
        if after_miss:
            self.meta["takeover_after_miss"] = True
        self._policy = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_policy": None}

    def __call__(self, env, scene_seed: int, attempt: int) -> list[Rollout]:
        if self._policy is None:
            from dexgrasp.vla.controller.modeling import DexGraspVLAController

            torch.set_num_threads(1)  # one core per worker process
            self._policy = DexGraspVLAController.from_pretrained(self.ckpt)
        rng = np.random.default_rng([int(scene_seed), int(attempt)])
        ok, runs = policy_takeovers(env, self._policy, scene_seed, rng, self.config)
        return [Rollout(False, {}, {}, "policy succeeded (nothing to correct)")] if ok else runs
