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

from typing import Any

import numpy as np
import torch
from torch import nn

from dexgrasp.vla.controller.configuration import ConfigError

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


class GraspModeMixin:
    """The controller's grasp-mode methods (``DexGraspVLAController`` mixes them in; they use
    its ``mode_*`` buffers, ``mode_classifier``, ``_to_model_space``, ``_to_batch`` and
    ``_observation_tokens``)."""

    def fit_grasp_modes(self, final_actions: np.ndarray, seed: int = 0) -> None:
        """Cluster the training episodes' final joint actions (E, 13) into the modes."""
        if self.mode_embed is None:
            raise ConfigError("this controller has grasp_modes=0")
        model_space = self._to_model_space(torch.as_tensor(final_actions).float()).cpu()
        fit = fit_modes(mode_features(model_space, self.config.action_space).numpy(),
                        self.config.grasp_modes, seed)  # fmt: skip
        for name, value in fit.items():
            getattr(self, f"mode_{name}").copy_(torch.as_tensor(value, dtype=torch.float32))

    def grasp_mode_of(self, final_actions: torch.Tensor) -> torch.Tensor:
        """(B, 13) final joint actions of the episodes -> (B,) index of the nearest mode."""
        feats = mode_features(self._to_model_space(final_actions), self.config.action_space)
        span = (self.mode_hi - self.mode_lo).clamp_min(1e-6)
        scaled = 2 * (feats.float() - self.mode_lo) / span - 1
        return torch.cdist(scaled, self.mode_centroids).argmin(-1)

    @property
    def episode_grasp_mode(self) -> torch.Tensor | None:
        """The grasp mode ``select_action`` keeps for this episode, (B,) int64 (None until the
        first chunk chooses it; ``reset()`` clears it). Setting it before the first chunk
        chooses the mode instead of the classifier (e.g. a planner's, or for diagnosis)."""
        return self._mode

    @episode_grasp_mode.setter
    def episode_grasp_mode(self, mode: int | torch.Tensor | None) -> None:
        if mode is not None:
            mode = torch.as_tensor(mode).reshape(-1).long()
            k = self.config.grasp_modes
            if not k or mode.min() < 0 or mode.max() >= k:
                raise ConfigError(f"grasp mode {mode.tolist()} is not one of {k} modes")
        self._mode = mode

    @torch.inference_mode()
    def predict_grasp_mode(self, obs: dict[str, Any]) -> torch.Tensor:
        """The classifier's most likely mode for an observation: (B,) int64."""
        if self.mode_classifier is None:
            raise ConfigError("this controller has grasp_modes=0")
        batch, _ = self._to_batch(obs)
        dev, dtype = self.device, self.inference_dtype
        with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return self.mode_classifier(self._observation_tokens(batch)).argmax(-1)


__all__ = [
    "FINAL_ACTION", "GRASP_MODE", "GraspModeMixin", "ModeClassifier", "fit_modes",
    "mode_features",
]  # fmt: skip
