"""Where a controller checkpoint misses its own training demonstrations, and how consistent
the demonstrations are. Prints one JSON object.

    python scripts/diagnose_controller.py --data data/demos_train.zarr [--ckpt DIR]
    python scripts/diagnose_controller.py --ckpt shipped --rollouts 30 [--split train]

- ``demos``: for each grasp kind (and ``all``), the arm posture ``--step`` steps into an
  episode compared between each demonstration and the one whose target mask centroid (first
  frame) is nearest in the image; next to random pairs. When nearest neighbours differ about
  as much as random pairs, the target's place in the image does not determine the expert's
  posture. The same for the palm pose (forward kinematics): position (cm), rotation (deg).
- ``open_loop`` (with ``--ckpt``): on the first frames of training episodes, the policy's
  first ``n_action_steps`` actions against the demonstration's (mean absolute error per arm
  joint, radians), split into the spread between samples and the bias of their mean, and the
  palm position error (cm, forward kinematics of the joint targets).
- ``first_chunk``: the whole first chunk of each episode (robot at rest, so only the images
  and the mask say where to go) against the demonstration, next to predicting the mean
  demonstration chunk; in joints (radians) and palm position (cm).
- ``closure`` (with ``--ckpt`` and ``--rollouts N``): N closed-loop episodes on the
  evaluation's scenes (``--split``). For each, the scripted expert's feasible grasps of the
  target from the first frame, and which of them lift it (its lookahead); then, where the
  policy first commands the fingers closed, the palm pose (measured joints) against the
  nearest of those grasps (moved with the target if it was pushed): position (cm), rotation
  (deg), that grasp's kind and whether it lifts. Split by outcome, this says whether failed
  grasps close far from any working grasp (approach precision) or near one (timing, force).
  For a checkpoint with grasp modes (``grasp_modes``), each episode also records the mode the
  policy's classifier picks on the first frame and the mode of the grasp the expert would
  execute there (``ScriptedExpert.plan``); ``--expert-mode`` makes the policy use the
  expert's mode (an oracle: how well the policy does when the mode is right).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from dexgrasp.constants import ACTION, ARM_DIM, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.data.episodes import EpisodeStore
from dexgrasp.vla.controller.kinematics import PalmKinematics, rotation_from_6d

KINEMATICS = PalmKinematics()

OBS_KEYS = (OBS_STATE, OBS_HEAD, OBS_WRIST, OBS_MASK)


def _palm(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Palm positions (..., 3) and rotations (..., 3, 3) of joint targets (..., 13)."""
    palm = KINEMATICS.to_palm(joints)
    return palm[..., :3], rotation_from_6d(palm[..., 3:9])


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = (np.einsum("nij,nij->n", a, b) - 1) / 2  # trace(a^T b)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def demo_consistency(store: EpisodeStore, step: int = 40) -> dict:
    starts = np.concatenate([[0], store.episode_ends[:-1]]).astype(int)
    actions = store.slice(ACTION, 0, store.num_frames)
    centroids, kinds = [], []
    for e, start in enumerate(starts):
        ys, xs = np.nonzero(store.frame(OBS_MASK, int(start)))
        centroids.append((xs.mean(), ys.mean()) if len(xs) else (np.nan, np.nan))
        kinds.append(store.meta(e).get("grasp", "?"))
    centroids, kinds = np.array(centroids), np.array(kinds)
    joints = actions[np.minimum(starts + step, store.episode_ends - 1)]
    arm = joints[:, :ARM_DIM]
    pos, rot = _palm(joints)
    rng = np.random.default_rng(0)
    out = {}
    for kind in ["all", *sorted(set(kinds))]:
        idx = np.arange(len(kinds)) if kind == "all" else np.flatnonzero(kinds == kind)
        if len(idx) < 2:
            continue
        d = np.linalg.norm(centroids[idx, None] - centroids[None, idx], axis=-1)
        np.fill_diagonal(d, np.inf)
        pairs = {"nearest": idx[np.nanargmin(d, axis=1)], "random": rng.permutation(idx)}
        row = {"episodes": int(len(idx)), "nearest_px_median": float(np.nanmedian(d.min(1)))}
        for name, other in pairs.items():
            row[f"{name}_arm_diff_median"] = float(np.median(np.abs(arm[idx] - arm[other]).mean(1)))
            row[f"{name}_palm_cm_median"] = float(
                100 * np.median(np.linalg.norm(pos[idx] - pos[other], axis=1))
            )
            row[f"{name}_palm_deg_median"] = float(np.median(_angle_deg(rot[idx], rot[other])))
        out[kind] = row
    return out


def open_loop(policy, store: EpisodeStore, episodes: int, times: list[int], samples: int) -> dict:
    n_act = policy.config.n_action_steps
    out = {}
    eps = [store.episode(e) for e in range(episodes)]
    for t in times:
        obs = {k: np.repeat(np.stack([ep[k][t] for ep in eps]), samples, 0) for k in OBS_KEYS}
        gt_full = np.stack([ep[ACTION][t : t + n_act] for ep in eps])
        gt = gt_full[..., :ARM_DIM]
        gen = torch.Generator().manual_seed(0)
        pred_full = policy.predict_action_chunk(obs, generator=gen).numpy()[:, :n_act]
        pred_full = pred_full.reshape(episodes, samples, n_act, -1)
        pred = pred_full[..., :ARM_DIM]
        out[f"t={t}"] = {
            "spread": float(pred.std(1).mean()),
            "bias": float(np.abs(pred.mean(1) - gt).mean()),
            "error": float(np.abs(pred - gt[:, None]).mean()),
            "palm_cm": float(
                100
                * np.linalg.norm(_palm(pred_full)[0] - _palm(gt_full)[0][:, None], axis=-1).mean()
            ),
        }
    return out


def first_chunk(policy, store: EpisodeStore, episodes: int) -> dict:
    h = policy.config.horizon
    eps = [store.episode(e) for e in range(episodes)]
    obs = {k: np.stack([ep[k][0] for ep in eps]) for k in OBS_KEYS}
    idx = [np.minimum(np.arange(h), len(ep[ACTION]) - 1) for ep in eps]
    gt = np.stack([ep[ACTION][i] for ep, i in zip(eps, idx)])
    pred = policy.predict_action_chunk(obs, generator=torch.Generator().manual_seed(0)).numpy()
    gt_pos, pred_pos = _palm(gt)[0], _palm(pred)[0]
    mean_pos = gt_pos.mean(0, keepdims=True)
    return {
        "episodes": episodes,
        "policy_error": float(np.abs(pred[..., :ARM_DIM] - gt[..., :ARM_DIM]).mean()),
        "mean_demo_error": float(np.abs(gt[..., :ARM_DIM].mean(0) - gt[..., :ARM_DIM]).mean()),
        "policy_palm_cm": float(100 * np.linalg.norm(pred_pos - gt_pos, axis=-1).mean()),
        "mean_demo_palm_cm": float(100 * np.linalg.norm(mean_pos - gt_pos, axis=-1).mean()),
    }


def closure(policy, split: str, rollouts: int, expert_mode: bool = False) -> dict:
    import gymnasium as gym

    import dexgrasp.sim  # noqa: F401  (registers the env)
    from dexgrasp.sim import robot
    from dexgrasp.sim.expert import PlanningError, ScriptedExpert, pose_distance
    from dexgrasp.vla.controller.configuration import camera_size
    from dexgrasp.vla.controller.evaluate import EVAL_SEED_BASE, closed_loop

    size = camera_size(policy.config.image_size)
    env = gym.make("dexgrasp/TabletopGrasp-v0", split=split, image_size=size)
    u = env.unwrapped
    rows = []
    try:
        for i in range(rollouts):
            seed = EVAL_SEED_BASE + i
            row: dict = {"seed": seed}
            for step in closed_loop(env, policy, seed):
                body = u.target_body_id
                if step.t == 0:
                    expert = ScriptedExpert(u.model)
                    adr = robot.joint_qpos_adr(u.model)
                    start = u.data.xpos[body].copy()
                    try:
                        grasps = expert.ranked(u.data, body)[: expert.config.lookahead]
                    except PlanningError:
                        grasps = []
                    works = [
                        expert.simulate(u.data, body, expert.trajectory(u.data, g)) for g in grasps
                    ]
                    row["expert_grasps"], row["expert_working"] = len(grasps), int(sum(works))
                    if policy.config.grasp_modes:
                        _grasp_modes(policy, u, expert, row, expert_mode)
                    continue
                if "close_step" not in row and robot.hand_is_closed(u.data.ctrl):
                    pos, rot = KINEMATICS.ik.forward(u.data.qpos[adr][:ARM_DIM])
                    shift = u.data.xpos[body] - start
                    row["close_step"], row["target_moved_cm"] = (
                        step.t,
                        100 * float(np.linalg.norm(shift)),
                    )
                    if grasps:
                        cm = np.array([100 * np.linalg.norm(pos - (g.pos + shift)) for g in grasps])
                        deg = _angle_deg(
                            np.repeat(rot[None], len(grasps), 0), np.stack([g.rot for g in grasps])
                        )
                        # 5 degrees weigh like 1 cm
                        score = np.array([100 * pose_distance(pos - shift, rot, g) for g in grasps])
                        k = int(np.argmin(score))
                        row.update(
                            nearest_cm=float(cm[k]),
                            nearest_deg=float(deg[k]),
                            nearest_kind=grasps[k].kind,
                            nearest_works=bool(works[k]),
                        )
                        if any(works):
                            w = np.flatnonzero(works)
                            j = int(w[np.argmin(score[w])])
                            row.update(working_cm=float(cm[j]), working_deg=float(deg[j]))
            row["success"] = bool(step.info.get("success", False))
            row["reason"] = str(step.info.get("termination_reason"))
            rows.append(row)
    finally:
        env.close()

    def summary(sel: list[dict]) -> dict:
        out: dict = {"episodes": len(sel), "closed": sum("close_step" in r for r in sel)}
        moded = [r for r in sel if "mode_expert" in r]
        if moded:
            out["mode_matches_expert"] = float(
                np.mean([r["mode_predicted"] == r["mode_expert"] for r in moded])
            )
        for key in (
            "close_step",
            "nearest_cm",
            "nearest_deg",
            "working_cm",
            "working_deg",
            "target_moved_cm",
        ):
            vals = [r[key] for r in sel if key in r]
            if vals:
                out[f"{key}_median"] = float(np.median(vals))
        near = [r for r in sel if "nearest_works" in r]
        if near:
            out["nearest_works"] = float(np.mean([r["nearest_works"] for r in near]))
        return out

    return {
        "split": split,
        "modes": "expert" if expert_mode else "policy",
        "success": summary([r for r in rows if r["success"]]),
        "failure": summary([r for r in rows if not r["success"]]),
        "episodes": rows,
    }


def _grasp_modes(policy, u, expert, row: dict, use_expert: bool) -> None:
    """The policy's and the expert's grasp mode for the first frame (grasp-mode checkpoints);
    ``use_expert``: the policy keeps the expert's for the episode."""
    from dexgrasp.sim.expert import PlanningError

    row["mode_predicted"] = int(policy.predict_grasp_mode(u._observation())[0])
    try:
        final = expert.plan(u.data, u.target_body_id)[-1]
    except PlanningError:
        return
    mode = policy.grasp_mode_of(torch.as_tensor(final[None]).float())
    row["mode_expert"] = int(mode[0])
    if use_expert:
        policy.episode_grasp_mode = mode


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="the episode store the checkpoint trained on (demos, open loop)")
    p.add_argument("--ckpt", help="controller checkpoint directory ('shipped': the packaged one)")
    p.add_argument("--episodes", type=int, default=8, help="training episodes to probe")
    p.add_argument("--samples", type=int, default=8, help="chunks sampled per frame")
    p.add_argument("--times", default="12,30,42", help="frames to probe (comma-separated)")
    p.add_argument("--step", type=int, default=40, help="demos: frame compared between pairs")
    p.add_argument("--rollouts", type=int, default=0, help="closure: closed-loop episodes")
    p.add_argument("--split", default="train", help="closure: object split of the scenes")
    p.add_argument(
        "--expert-mode",
        action="store_true",
        help="closure, grasp-mode checkpoints: the policy uses the expert's mode",
    )
    args = p.parse_args()
    if not args.data and not (args.ckpt and args.rollouts):
        p.error("give --data, or --ckpt with --rollouts")
    result: dict = {}
    store = EpisodeStore(args.data) if args.data else None
    if store is not None:
        result["demos"] = demo_consistency(store, args.step)
    if args.ckpt:
        from dexgrasp.vla.controller.modeling import DexGraspVLAController
        from dexgrasp.vla.runtime.factory import resolve_controller

        policy = DexGraspVLAController.from_pretrained(resolve_controller(args.ckpt))
        if store is not None:
            times = [int(t) for t in args.times.split(",")]
            result["open_loop"] = open_loop(policy, store, args.episodes, times, args.samples)
            result["first_chunk"] = first_chunk(policy, store, 3 * args.episodes)
        if args.rollouts:
            result["closure"] = closure(
                policy, args.split, args.rollouts, expert_mode=args.expert_mode
            )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
