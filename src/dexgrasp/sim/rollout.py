"""Expert episodes in the Gymnasium env: plan with the scripted expert, execute, record.

``rollout(env, scene_seed)`` resets ``dexgrasp/TabletopGrasp-v0`` to a scene, plans the target's
grasp with :class:`dexgrasp.sim.expert.ScriptedExpert` and steps the env through the plan,
recording observations and actions (what ``dexgrasp collect`` stores).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from dexgrasp.constants import ARM_DIM
from dexgrasp.sim import layout, robot
from dexgrasp.sim import scene as scene_lib
from dexgrasp.sim.expert import ExpertConfig, PlanningError, ScriptedExpert, pose_distance


@dataclass
class Rollout:
    """One expert episode. frames: {key: (T, ...)} (empty unless recorded); meta: JSON-able."""

    success: bool
    frames: dict[str, np.ndarray]
    meta: dict
    reason: str = ""


@dataclass(frozen=True)
class ActionNoise:
    """Noise injected into the expert's executed arm targets while the clean targets are
    recorded (DART, Laskey et al. 2017): the arm drifts off the plan, and the stored labels
    lead it back, so a policy learns to correct its own drift instead of seeing only states
    on the expert's path.

    The noise is an Ornstein-Uhlenbeck process per arm joint (stationary std ``sigma`` rad,
    correlation time ``tau`` control steps). Its scale is 1 until step ``taper_from`` and
    falls linearly to 0 at ``taper_to`` (by default over the second half of the approach, so
    the hand closes on the plan's grasp and the labels show the correction that gets there);
    after that the expert's targets run unchanged. 0.04 rad moves the palm a median 2.6 cm
    and 5 degrees on this arm, about the policy's error at the grasp.
    """

    sigma: float = 0.04
    tau: float = 10.0
    taper_from: int = 29
    taper_to: int = 36

    def __post_init__(self) -> None:
        if not self.sigma >= 0:
            raise ValueError(f"ActionNoise.sigma must be >= 0 (radians), got {self.sigma}")
        if not self.tau >= 1:
            raise ValueError(f"ActionNoise.tau must be >= 1 control step, got {self.tau}")
        if not 0 <= self.taper_from <= self.taper_to:
            raise ValueError(
                f"ActionNoise: need 0 <= taper_from <= taper_to, got {self.taper_from}, "
                f"{self.taper_to}"
            )

    def sample(self, steps: int, dim: int, rng: np.random.Generator) -> np.ndarray:
        """(steps, dim) noise to add to the executed targets."""
        a = float(np.exp(-1.0 / self.tau))
        innovation = self.sigma * np.sqrt(1.0 - a * a)
        x = rng.normal(0.0, self.sigma, dim)  # start stationary
        out = np.empty((steps, dim))
        for t in range(steps):
            out[t] = x
            x = a * x + innovation * rng.normal(0.0, 1.0, dim)
        t = np.arange(steps)
        span = max(self.taper_to - self.taper_from, 1)
        scale = np.clip((self.taper_to - t) / span, 0.0, 1.0)
        return out * scale[:, None]


class NoisyExpertSource:
    """``collect``'s per-attempt episodes: the expert with :class:`ActionNoise` (picklable).
    The noise of a scene is seeded by its scene seed, so a collection is reproducible."""

    def __init__(self, noise: ActionNoise) -> None:
        self.noise = noise
        # stored with each episode; keys resuming
        self.meta = {"action_noise": noise.sigma, "action_noise_tau": noise.tau}

    def __call__(self, env, scene_seed: int, attempt: int) -> list[Rollout]:  # noqa: ARG002
        return [rollout(env, scene_seed, action_noise=self.noise)]


def instruction_for(target: str) -> str:
    """The grasping instruction stored with a demonstration, e.g. 'grasp the green bottle'."""
    return f"grasp the {target}"


def lifted_and_held(env_u, lift: float = layout.SUCCESS_LIFT_M) -> bool:
    """True if the env's target is at least ``lift`` above the table and touches the hand."""
    if env_u.object_heights()[env_u.target_name] < lift:
        return False
    return scene_lib.touching_robot(env_u.model, env_u.data, env_u.scene, env_u.target_body_id)


def rollout(
    env,
    scene_seed: int,
    *,
    record: bool = True,
    verify_steps: int = 20,
    config: ExpertConfig | None = None,
    reset_options: dict | None = None,
    keep_failures: bool = False,
    action_noise: ActionNoise | None = None,
) -> Rollout:
    """Run the scripted expert for one episode of ``env`` (``dexgrasp/TabletopGrasp-v0``).

    Records observations before each action and the action itself (T = episode_steps frames).
    Success: after the episode the target is lifted and held; then the hand keeps holding
    for ``verify_steps`` more control steps (physics only, not recorded) and must still
    hold it, so only stable grasps become demonstrations. Frames of failed episodes are
    dropped unless ``keep_failures`` (e.g. for videos). ``action_noise``: perturb the
    executed arm targets (seeded by ``scene_seed``), record the expert's own.
    """
    options = {"scene_seed": int(scene_seed), **(reset_options or {})}
    obs, _ = env.reset(seed=int(scene_seed), options=options)
    meta = scene_meta(env, scene_seed)
    return expert_episode(
        env, obs, meta, record=record, verify_steps=verify_steps, config=config,
        keep_failures=keep_failures, action_noise=action_noise,
        noise_rng=np.random.default_rng([int(scene_seed), 0xDA27]),
    )  # fmt: skip


def scene_meta(env, scene_seed: int | None = None) -> dict:
    """JSON-able description of the env's current scene and target (stored with an episode);
    ``scene_seed``: the seed it was reset with (default: the seed of the scene it built)."""
    desc = env.unwrapped.scene.description
    return {
        "scene_seed": int(desc.seed if scene_seed is None else scene_seed),
        "split": desc.split,
        "objects": list(desc.names),
        "target": desc.target,
        "instruction": instruction_for(desc.target),
        "room": desc.room,
        "background": desc.background,
        "lighting": desc.lighting,
    }


def expert_episode(
    env,
    obs: dict,
    meta: dict | None = None,
    *,
    record: bool = True,
    verify_steps: int = 20,
    config: ExpertConfig | None = None,
    keep_failures: bool = False,
    prefer: tuple[np.ndarray, np.ndarray] | None = None,
    action_noise: ActionNoise | None = None,
    noise_rng: np.random.Generator | None = None,
) -> Rollout:
    """Plan the expert's grasp from the env's *current* state (``obs`` is its observation),
    execute and record it: the body of ``rollout``, also used to take over from a policy.
    ``meta``: stored with the episode (default ``scene_meta(env)``). ``prefer``: a palm pose
    whose grasp to continue (``ScriptedExpert.plan``). ``action_noise``: added to the executed
    arm targets (drawn from ``noise_rng``); the recorded actions are the plan's."""
    from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST

    u = env.unwrapped
    meta = dict(scene_meta(env) if meta is None else meta)
    expert = ScriptedExpert(u.model, config)
    try:
        actions = expert.plan(u.data, u.target_body_id, prefer=prefer)
    except PlanningError as err:
        return Rollout(False, {}, meta, f"planning: {err}")
    meta["grasp"] = expert.last_grasp.kind
    if prefer is not None:  # how far the continued grasp is from the preferred pose
        meta["prefer_distance"] = pose_distance(*prefer, expert.last_grasp)
        meta["direct"] = expert.last_direct
    if expert.predicted_success is False and not keep_failures:
        # The lookahead ran these very actions from this very state (MuJoCo is
        # deterministic): the episode would fail, so skip rendering it.
        return Rollout(False, {}, meta, "not lifted (predicted)")
    executed = actions
    if action_noise is not None:
        rng = noise_rng if noise_rng is not None else np.random.default_rng()
        executed = actions.copy()
        executed[:, :ARM_DIM] += action_noise.sample(len(actions), ARM_DIM, rng)
        lim = robot.joint_limits()
        executed = np.clip(executed, lim[:, 0], lim[:, 1]).astype(np.float32)
        meta["action_noise"] = action_noise.sigma
    keys = (OBS_HEAD, OBS_WRIST, OBS_MASK, OBS_STATE)
    frames: dict[str, list] = {k: [] for k in (*keys, ACTION)}
    for a, a_exec in zip(actions, executed):
        if record:
            for k in keys:
                frames[k].append(obs[k])
            frames[ACTION].append(a)
        obs, _, terminated, truncated, info = env.step(a_exec)
        reason = info.get("termination_reason")
        if terminated and reason not in (None, "success"):
            break
    else:
        reason = None
    if reason not in (None, "success"):
        out = {k: np.stack(v) for k, v in frames.items() if v} if keep_failures else {}
        return Rollout(False, out, meta, str(reason))
    ok = lifted_and_held(u)
    if ok and verify_steps > 0:
        u.data.ctrl[: len(actions[-1])] = actions[-1]
        mujoco.mj_step(u.model, u.data, nstep=u.n_substeps * verify_steps)
        ok = lifted_and_held(u)
    meta["success"] = bool(ok)
    out = {k: np.stack(v) for k, v in frames.items()} if record and (ok or keep_failures) else {}
    return Rollout(bool(ok), out, meta, "" if ok else "not lifted")
