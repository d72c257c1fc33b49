"""Grasp-mode conditioning (``ControllerConfig.grasp_modes``; not in the paper).

A demonstration ends holding the object in one way: a top or side grasp, the hand turned one
way or another. Where several ways suit a scene, a diffusion head that must pick one inside
every chunk can blend them, and a small one does: the shipped palm model's failed grasps close
a median 72 degrees from the nearest grasp the expert finds feasible (docs/controller.md,
Status). Here the choice is made once, explicitly:

- **Modes** are k-means clusters (k = ``grasp_modes``) of how the training episodes end: the
  final action in the model's action space, min-max scaled per dimension. For a palm-space
  model the palm position is left out (it says where the object is, not how it is held), so
  the modes are the palm rotation and the hand's joints; a joint-space model uses every joint.
- **Training**: each window is conditioned on its episode's mode (an embedding added to the
  state token), and a classifier learns to predict that mode from the observation tokens
  (attention pooling with one learned query, then an MLP; trained on detached tokens, so it
  does not pull the encoders away from what the diffusion head needs).
- **Inference**: the classifier's most likely mode is chosen on an episode's first chunk and
  kept until ``reset()`` (``select_action``); ``predict_action_chunk`` chooses it per call.
  Passing ``observation.grasp_mode`` (B,) chooses it yourself.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

GRASP_MODE = "observation.grasp_mode"  # (B,) int64: the mode a chunk is conditioned on
FINAL_ACTION = "episode.final_action"  # (B, A) the last action of a window's episode


def mode_features(actions: np.ndarray | torch.Tensor, action_space: str):
    """What the modes cluster: (..., A) model-space actions -> (..., F). Palm space drops the
    position (the first 3 numbers); joint space keeps every joint."""
    return actions[..., 3:] if action_space == "palm" else actions


def fit_modes(features: np.ndarray, k: int, seed: int = 0) -> dict[str, np.ndarray]:
    """k-means on per-episode features (E, F): ``centroids`` (k, F) in scaled units and the
    ``lo`` / ``hi`` (F,) of the min-max scaling to [-1, 1]."""
    from scipy.cluster.vq import kmeans2

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < k:
        raise ValueError(
            f"grasp_modes={k} needs at least {k} training episodes, got {features.shape[0]}"
        )
    lo, hi = features.min(0), features.max(0)
    scaled = 2 * (features - lo) / np.maximum(hi - lo, 1e-6) - 1
    centroids, _ = kmeans2(scaled, k, seed=seed, minit="++")
    return {"centroids": centroids, "lo": lo, "hi": hi}


class ModeClassifier(nn.Module):
    """Observation tokens (B, L, D) -> mode logits (B, K): one learned query attends over the
    tokens, then a 2-layer MLP."""

    def __init__(self, dim: int, num_modes: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(),
                                 nn.Linear(dim, num_modes))  # fmt: skip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.norm(tokens)
        pooled, _ = self.attn(self.query.expand(len(x), -1, -1).to(x.dtype), x, x)
        return self.out(pooled[:, 0])


__all__ = ["FINAL_ACTION", "GRASP_MODE", "ModeClassifier", "fit_modes", "mode_features"]
