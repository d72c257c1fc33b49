"""Where a controller checkpoint misses its own training demonstrations, and how consistent
the demonstrations are. Prints one JSON object.

    python scripts/diagnose_controller.py --data data/demos_train.zarr [--ckpt DIR]

- ``demos``: for each grasp kind, the arm posture 40 steps into an episode compared between
  each demonstration and the one whose target mask centroid (first frame) is nearest in the
  image; next to random pairs. When nearest neighbours differ about as much as random pairs,
  the target's place in the image does not determine the expert's posture.
- ``open_loop`` (with ``--ckpt``): on the first frames of training episodes, the policy's
  first ``n_action_steps`` actions against the demonstration's (mean absolute error per arm
  joint, radians), split into the spread between samples and the bias of their mean.
- ``first_chunk``: the whole first chunk of each episode (robot at rest, so only the images
  and the mask say where to go) against the demonstration, next to predicting the mean
  demonstration chunk.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from dexgrasp.constants import ACTION, ARM_DIM, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.data.episodes import EpisodeStore

OBS_KEYS = (OBS_STATE, OBS_HEAD, OBS_WRIST, OBS_MASK)


def demo_consistency(store: EpisodeStore, step: int = 40) -> dict:
    starts = np.concatenate([[0], store.episode_ends[:-1]]).astype(int)
    actions = store.slice(ACTION, 0, store.num_frames)
    centroids, kinds = [], []
    for e, start in enumerate(starts):
        ys, xs = np.nonzero(store.frame(OBS_MASK, int(start)))
        centroids.append((xs.mean(), ys.mean()) if len(xs) else (np.nan, np.nan))
        kinds.append(store.meta(e).get("grasp", "?"))
    centroids, kinds = np.array(centroids), np.array(kinds)
    arm = actions[np.minimum(starts + step, store.episode_ends - 1)][:, :ARM_DIM]
    rng = np.random.default_rng(0)
    out = {}
    for kind in sorted(set(kinds)):
        idx = np.flatnonzero(kinds == kind)
        if len(idx) < 2:
            continue
        d = np.linalg.norm(centroids[idx, None] - centroids[None, idx], axis=-1)
        np.fill_diagonal(d, np.inf)
        nearest = idx[np.nanargmin(d, axis=1)]
        out[kind] = {
            "episodes": int(len(idx)),
            "nearest_px_median": float(np.nanmedian(np.nanmin(d, axis=1))),
            "nearest_arm_diff_median": float(np.median(np.abs(arm[idx] - arm[nearest]).mean(1))),
            "random_arm_diff_median": float(
                np.median(np.abs(arm[idx] - arm[rng.permutation(idx)]).mean(1))
            ),
        }
    return out


def open_loop(policy, store: EpisodeStore, episodes: int, times: list[int], samples: int) -> dict:
    n_act = policy.config.n_action_steps
    out = {}
    eps = [store.episode(e) for e in range(episodes)]
    for t in times:
        obs = {k: np.repeat(np.stack([ep[k][t] for ep in eps]), samples, 0) for k in OBS_KEYS}
        gt = np.stack([ep[ACTION][t : t + n_act, :ARM_DIM] for ep in eps])
        gen = torch.Generator().manual_seed(0)
        pred = policy.predict_action_chunk(obs, generator=gen).numpy()
        pred = pred[:, :n_act, :ARM_DIM].reshape(episodes, samples, n_act, ARM_DIM)
        out[f"t={t}"] = {
            "spread": float(pred.std(1).mean()),
            "bias": float(np.abs(pred.mean(1) - gt).mean()),
            "error": float(np.abs(pred - gt[:, None]).mean()),
        }
    return out


def first_chunk(policy, store: EpisodeStore, episodes: int) -> dict:
    h = policy.config.horizon
    eps = [store.episode(e) for e in range(episodes)]
    obs = {k: np.stack([ep[k][0] for ep in eps]) for k in OBS_KEYS}
    idx = [np.minimum(np.arange(h), len(ep[ACTION]) - 1) for ep in eps]
    gt = np.stack([ep[ACTION][i, :ARM_DIM] for ep, i in zip(eps, idx)])
    pred = policy.predict_action_chunk(obs, generator=torch.Generator().manual_seed(0)).numpy()
    return {
        "episodes": episodes,
        "policy_error": float(np.abs(pred[..., :ARM_DIM] - gt).mean()),
        "mean_demo_error": float(np.abs(gt.mean(0, keepdims=True) - gt).mean()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the episode store the checkpoint trained on")
    p.add_argument("--ckpt", help="controller checkpoint directory")
    p.add_argument("--episodes", type=int, default=8, help="training episodes to probe")
    p.add_argument("--samples", type=int, default=8, help="chunks sampled per frame")
    p.add_argument("--times", default="12,30,42", help="frames to probe (comma-separated)")
    args = p.parse_args()
    store = EpisodeStore(args.data)
    result = {"demos": demo_consistency(store)}
    if args.ckpt:
        from dexgrasp.vla.controller.modeling import DexGraspVLAController

        policy = DexGraspVLAController.from_pretrained(args.ckpt)
        times = [int(t) for t in args.times.split(",")]
        result["open_loop"] = open_loop(policy, store, args.episodes, times, args.samples)
        result["first_chunk"] = first_chunk(policy, store, 3 * args.episodes)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
