"""Closed-loop evaluation of the controller in the simulator with the ground-truth target mask.

Each episode: a fresh cluttered scene (``dexgrasp/TabletopGrasp-v0``, seed ``seed + i``),
the env's ground-truth mask of the target as ``observation.mask`` (no planner, no tracker,
so this measures the controller alone), receding-horizon control at 20 Hz until the env
reports success (target lifted and held) or a failure / the step limit.

Evaluation scene seeds start at ``EVAL_SEED_BASE`` so they do not coincide with the seeds
``dexgrasp collect`` uses for demonstrations (which start at 0).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dexgrasp.constants import EPISODE_STEPS
from dexgrasp.sim.layout import SUCCESS_LIFT_M
from dexgrasp.vla.controller.configuration import camera_size

EVAL_SEED_BASE = 1_000_000
DEFAULT_MAX_STEPS = EPISODE_STEPS + 85  # demo length + hold time (2 s = 40 steps) + slack
# How an attempt may end and still be retried (Ours@k): out of steps (the env's limit, or
# None when the caller's own step limit ended it). A target off the table ends the episode.
RETRY_REASONS = ("time_limit", None)


@dataclass
class EvalResult:
    """Success rate with its episode count, failure reasons and speed."""

    split: str
    episodes: int
    successes: int
    success_rate: float
    reasons: dict[str, int]
    mean_steps: float
    controller_steps_per_s: float  # policy.select_action calls per second (incl. chunk inference)
    env_steps_per_s: float  # simulator step + rendering
    closed_loop_steps_per_s: float  # both together, the rate the loop actually ran at
    seeds: list[int] = field(default_factory=list)
    outcomes: list[bool] = field(default_factory=list)
    # Per episode: did the robot ever touch the target, and the target's highest lift (m: its
    # lowest point above the table). ``failures`` sorts the failed episodes by how far they got.
    touched: list[bool] = field(default_factory=list)
    max_lift_m: list[float] = field(default_factory=list)
    # Per episode: control steps it ran (a success ends when the hold completes, so with a
    # longer step limit the successes within ``n`` steps are those with length <= n).
    lengths: list[int] = field(default_factory=list)
    inference: dict[str, int] = field(default_factory=dict)  # the policy's inference settings
    # Ours@k (paper Sec. 5.2): up to ``attempts`` tries per scene, the robot reset to home
    # between them; per episode, the attempt that succeeded (0: none did).
    attempts: int = 1
    success_attempt: list[int] = field(default_factory=list)

    @property
    def failures(self) -> dict[str, int]:
        """Failed episodes by stage: never touched / touched, not lifted / lifted, lost."""
        kinds: Counter[str] = Counter()
        for ok, touched, lift in zip(self.outcomes, self.touched, self.max_lift_m, strict=True):
            if not ok:
                kinds[failure_kind(touched, lift)] += 1
        return dict(kinds)

    def successes_within(self, steps: int) -> int:
        """Successes that finished within ``steps`` control steps (the result a step limit of
        ``steps`` would have given: each episode's noise is seeded by its scene)."""
        return sum(ok and n <= steps for ok, n in zip(self.outcomes, self.lengths, strict=True))

    def successes_at(self, k: int) -> int:
        """Successes within the first ``k`` attempts (the paper's Ours@k)."""
        if not self.success_attempt:  # single-attempt results
            return self.successes
        return sum(0 < a <= k for a in self.success_attempt)

    def summary(self) -> str:
        # (with retries ``lengths`` add up over attempts, and @1 says the same)
        longer = self.attempts == 1 and self.lengths and max(self.lengths) > DEFAULT_MAX_STEPS
        within = (
            f" ({self.successes_within(DEFAULT_MAX_STEPS)} within {DEFAULT_MAX_STEPS} steps)"
            if longer
            else ""
        )
        at_k = ""
        if self.attempts > 1:
            at_k = (
                " ("
                + ", ".join(f"@{k}: {self.successes_at(k)}" for k in range(1, self.attempts + 1))
                + f" of {self.episodes})"
            )
        return (
            f"{self.split}: {self.successes}/{self.episodes} = {100 * self.success_rate:.1f}% "
            f"success{within}{at_k}; controller {self.controller_steps_per_s:.1f} steps/s, closed loop "
            f"{self.closed_loop_steps_per_s:.1f} steps/s; reasons {self.reasons}; "
            f"failures {self.failures}"
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(
            json.dumps({**asdict(self), "failures": self.failures}, indent=2) + "\n"
        )


def failure_kind(touched: bool, max_lift_m: float) -> str:
    """How far a failed episode got: ``never_touched``, ``touched_not_lifted`` (the target
    never rose to the success height) or ``lifted_not_held`` (it did, then was lost)."""
    if max_lift_m >= SUCCESS_LIFT_M:
        return "lifted_not_held"
    return "touched_not_lifted" if touched else "never_touched"


def evaluate_controller(
    policy: Any,
    split: str = "train",
    episodes: int = 100,
    seed: int = EVAL_SEED_BASE,
    max_steps: int = DEFAULT_MAX_STEPS,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    attempts: int = 1,
) -> EvalResult:
    """Run ``episodes`` closed-loop episodes of ``policy`` on ``split`` objects.

    ``attempts`` > 1 is the paper's Ours@k: after an attempt that ran out of steps without
    success the robot is reset to home (``env.reset_robot``) and tries again, up to
    ``attempts`` times, each with ``max_steps``; ``EvalResult.successes_at(k)`` gives @1..@k
    from one run."""
    import gymnasium as gym
    from tqdm.auto import tqdm

    import dexgrasp.sim  # noqa: F401  (registers the env)

    if episodes <= 0:
        raise ValueError(f"episodes={episodes} must be positive")
    if attempts < 1:
        raise ValueError(f"attempts={attempts} must be at least 1")
    kwargs = {"split": split, "max_steps": max_steps, **(env_kwargs or {})}
    kwargs.setdefault("image_size", camera_size(policy.config.image_size))
    env = gym.make("dexgrasp/TabletopGrasp-v0", **kwargs)
    policy.eval()
    reasons: Counter[str] = Counter()
    outcomes, seeds, lengths, touched, lifts, won_at = [], [], [], [], [], []
    t_policy = t_env = 0.0
    n_steps = 0
    bar = tqdm(range(episodes), desc=f"eval controller ({split})", disable=not progress)
    try:
        for i in bar:
            scene_seed = seed + i
            steps, touch, lift, won = 0, False, 0.0, 0
            for step in closed_loop(env, policy, scene_seed, attempts=attempts):
                if step.t == 0:
                    continue  # the state after a reset: no action taken yet
                t_policy, t_env = t_policy + step.policy_s, t_env + step.env_s
                steps, info = steps + 1, step.info
                won = step.attempt if info.get("success", False) else won
                touch = touch or bool(info.get("target_touching", False))
                lift = max(lift, float(info["objects"][info["target"]]["height"]))
            n_steps += steps
            ok = bool(info.get("success", False))
            outcomes.append(ok)
            seeds.append(scene_seed)
            lengths.append(steps)
            touched.append(touch)
            lifts.append(lift)
            won_at.append(won)
            reasons[str(info.get("termination_reason"))] += 1
            bar.set_postfix(success=f"{np.mean(outcomes):.2f}")
    finally:
        env.close()
    successes = int(sum(outcomes))
    return EvalResult(
        split=split,
        episodes=len(outcomes),
        successes=successes,
        success_rate=successes / len(outcomes),
        reasons=dict(reasons),
        mean_steps=float(np.mean(lengths)),
        controller_steps_per_s=n_steps / max(t_policy, 1e-9),
        env_steps_per_s=n_steps / max(t_env, 1e-9),
        closed_loop_steps_per_s=n_steps / max(t_policy + t_env, 1e-9),
        seeds=seeds,
        outcomes=outcomes,
        touched=touched,
        max_lift_m=lifts,
        lengths=lengths,
        inference={k: getattr(policy.config, k) for k in policy.INFERENCE_FIELDS},
        attempts=attempts,
        success_attempt=won_at,
    )


@dataclass
class LoopStep:
    """One point of a closed-loop episode: ``t`` actions taken so far, the env's ``info`` now,
    whether the episode ends here (``done``: the env ended it or the step limit is reached),
    and the seconds the last action took in the policy and in the env (0 at ``t = 0``)."""

    t: int
    info: dict[str, Any]
    done: bool = False
    policy_s: float = 0.0
    env_s: float = 0.0
    attempt: int = 1


def closed_loop(
    env: Any, policy: Any, scene_seed: int, max_steps: int | None = None, attempts: int = 1
) -> Iterator[LoopStep]:
    """The evaluation's episode: reset ``env`` to scene ``scene_seed``, then run ``policy``
    (eval mode, diffusion noise seeded with the scene seed, so an episode does not depend on
    which process runs it) until the env ends the episode or ``max_steps`` actions. Yields
    after the reset and after every step, before the next action is chosen (so a consumer
    can snapshot the env there: ``dexgrasp.vla.controller.takeover``).

    With ``attempts`` > 1, an attempt that ends without success by running out of steps
    (not by the target falling off the table or unstable physics) is followed by another
    from ``env.reset_robot()``, the policy reset, up to ``attempts``; ``t`` restarts at 0
    and ``LoopStep.attempt`` counts them."""
    obs, info = env.reset(seed=int(scene_seed), options={"scene_seed": int(scene_seed)})
    policy.eval()
    gen = torch.Generator().manual_seed(int(scene_seed))
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            obs, info = env.unwrapped.reset_robot()
        policy.reset()
        t, done = 0, max_steps == 0
        yield LoopStep(0, info, done, attempt=attempt)
        while not done:
            t0 = time.perf_counter()
            action = policy.select_action(obs, generator=gen).detach().cpu().numpy()
            t1 = time.perf_counter()
            obs, _, terminated, truncated, info = env.step(action.astype(np.float32))
            t += 1
            done = terminated or truncated or (max_steps is not None and t >= max_steps)
            yield LoopStep(t, info, done, t1 - t0, time.perf_counter() - t1, attempt)
        if info.get("success", False) or info.get("termination_reason") not in RETRY_REASONS:
            return


def _eval_shard(job: dict[str, Any]) -> EvalResult:
    """Load the checkpoint and evaluate a contiguous range of scene seeds (one process)."""
    from dexgrasp.vla.controller.modeling import DexGraspVLAController

    job = dict(job)
    threads = job.pop("threads")
    if threads:
        torch.set_num_threads(threads)
    policy = DexGraspVLAController.from_pretrained(job.pop("ckpt"), device=job.pop("device"))
    policy.set_inference(**(job.pop("inference") or {}))
    return evaluate_controller(policy, **job)


def merge_results(parts: list[EvalResult]) -> EvalResult:
    """One result from shards evaluated on disjoint seed ranges (in seed order)."""
    parts = sorted(parts, key=lambda r: r.seeds[0] if r.seeds else 0)
    n = sum(r.episodes for r in parts)
    successes = sum(r.successes for r in parts)
    steps = [r.mean_steps * r.episodes for r in parts]
    reasons: Counter[str] = Counter()
    for r in parts:
        reasons.update(r.reasons)

    def rate(attr: str) -> float:  # steps / total time, summed over shards
        return sum(steps) / max(sum(s / getattr(r, attr) for s, r in zip(steps, parts)), 1e-9)

    return EvalResult(
        split=parts[0].split,
        episodes=n,
        successes=successes,
        success_rate=successes / n,
        reasons=dict(reasons),
        mean_steps=sum(steps) / n,
        controller_steps_per_s=rate("controller_steps_per_s"),
        env_steps_per_s=rate("env_steps_per_s"),
        closed_loop_steps_per_s=rate("closed_loop_steps_per_s"),
        seeds=[s for r in parts for s in r.seeds],
        outcomes=[o for r in parts for o in r.outcomes],
        touched=[t for r in parts for t in r.touched],
        max_lift_m=[h for r in parts for h in r.max_lift_m],
        lengths=[n for r in parts for n in r.lengths],
        inference=parts[0].inference,
        attempts=parts[0].attempts,
        success_attempt=[a for r in parts for a in r.success_attempt],
    )


def evaluate_checkpoint(
    ckpt: str | Path,
    workers: int = 1,
    device: str = "cpu",
    threads: int | None = None,
    split: str = "train",
    episodes: int = 100,
    seed: int = EVAL_SEED_BASE,
    progress: bool = True,
    inference: dict[str, int] | None = None,
    **kwargs: Any,
) -> EvalResult:
    """``evaluate_controller`` on ``workers`` processes, each on a contiguous seed range.

    Every episode seeds its own diffusion noise with its scene seed, so the result does not
    depend on the number of workers. ``threads``: torch threads per process (None: torch's
    default, which oversubscribes the cores when ``workers > 1``). ``inference``: settings
    changed after loading (``DexGraspVLAController.set_inference``), e.g. ``num_samples``.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if episodes <= 0:
        raise ValueError(f"episodes={episodes} must be positive")
    workers = max(1, min(workers, episodes))
    bounds = np.linspace(0, episodes, workers + 1).round().astype(int)
    jobs = [
        {"ckpt": str(ckpt), "device": device, "threads": threads, "split": split,
         "inference": inference,
         "episodes": int(b - a), "seed": seed + int(a), "progress": False, **kwargs}
        for a, b in zip(bounds[:-1], bounds[1:])
    ]  # fmt: skip
    if workers == 1:
        return _eval_shard({**jobs[0], "progress": progress})
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        parts = list(pool.map(_eval_shard, jobs))
    return merge_results(parts)
