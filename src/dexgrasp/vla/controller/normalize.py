"""Torch normalisation of state and action around ``dexgrasp.data.normalize.NormalizationStats``.

``min_max`` maps each dimension's [min, max] to [-1, 1] (the diffusion scheduler clips
samples to that range); ``mean_std`` standardises. Both are the affine maps the statistics
class defines (``y = x * scale + offset``; constant dimensions are centred, never divided
by zero), held here as tensors so they run on the model's device.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dexgrasp.constants import ACTION, OBS_STATE
from dexgrasp.data.normalize import NormalizationError, NormalizationStats

NORM_KEYS = (OBS_STATE, ACTION)
MODE_NAMES = {"min_max": "minmax", "mean_std": "meanstd"}  # controller name -> data name
StatsError = NormalizationError  # raised for missing / malformed / mismatched statistics


class Normalizer(nn.Module):
    """Normalise / unnormalise ``observation.state`` and ``action`` tensors (..., D).

    The affine maps live in non-persistent buffers: they follow the model's device but are
    stored in their own file next to the weights, never inside ``model.safetensors``.
    """

    def __init__(self, stats: NormalizationStats, mode: str = "min_max") -> None:
        super().__init__()
        if mode not in MODE_NAMES:
            raise StatsError(f"mode={mode!r}: expected one of {tuple(MODE_NAMES)}")
        for key in NORM_KEYS:
            if key not in stats:
                raise StatsError(
                    f"normalisation statistics have no entry for {key!r} (have "
                    f"{list(stats.keys)}); refit them on the training store"
                )
            for name in ("min", "max", "mean", "std"):
                v = stats.get(key, name)
                if v.ndim != 1 or not np.all(np.isfinite(v)):
                    raise StatsError(f"statistics {key!r}.{name} must be finite and 1-D")
        self.stats = stats
        self.mode = mode
        for i, key in enumerate(NORM_KEYS):
            scale, offset = stats.affine(key, MODE_NAMES[mode])
            self.register_buffer(f"k{i}_scale", torch.from_numpy(scale.copy()), persistent=False)
            self.register_buffer(f"k{i}_offset", torch.from_numpy(offset.copy()), persistent=False)

    def _affine(self, key: str) -> tuple[torch.Tensor, torch.Tensor]:
        if key not in NORM_KEYS:
            raise KeyError(f"no normalisation for {key!r}; known: {NORM_KEYS}")
        i = NORM_KEYS.index(key)
        return getattr(self, f"k{i}_scale"), getattr(self, f"k{i}_offset")

    def dim(self, key: str) -> int:
        return int(self._affine(key)[0].shape[0])

    def span(self, key: str) -> torch.Tensor:
        """Width of the range that maps to [-1, 1] (min_max) or one std (mean_std): (D,)."""
        scale = self._affine(key)[0]
        return (2.0 if self.mode == "min_max" else 1.0) / scale

    def check_dims(self, state_dim: int, action_dim: int) -> None:
        for key, want in ((OBS_STATE, state_dim), (ACTION, action_dim)):
            if self.dim(key) != want:
                raise StatsError(
                    f"statistics for {key!r} have {self.dim(key)} dims, the model needs {want}"
                )

    def _check(self, key: str, x: torch.Tensor) -> None:
        if x.shape[-1] != self.dim(key):
            raise ValueError(f"{key}: last dim {x.shape[-1]} != statistics dim {self.dim(key)}")

    def normalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        self._check(key, x)
        scale, offset = self._affine(key)
        return x * scale + offset

    def unnormalize(self, key: str, y: torch.Tensor) -> torch.Tensor:
        self._check(key, y)
        scale, offset = self._affine(key)
        return (y - offset) / scale

    # ---- fitting, persistence -------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls, state: np.ndarray, action: np.ndarray, mode: str = "min_max"
    ) -> Normalizer:
        """Statistics of in-memory (N, D) arrays (tests, small data)."""
        stats = {}
        for key, x in ((OBS_STATE, state), (ACTION, action)):
            x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
            stats[key] = {
                "min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0),
                "q01": np.quantile(x, 0.01, axis=0), "q99": np.quantile(x, 0.99, axis=0),
            }  # fmt: skip
        return cls(NormalizationStats(stats, {k: len(state) for k in NORM_KEYS}), mode)

    @classmethod
    def fit(
        cls,
        store: Any,
        episodes: list[int] | None = None,
        mode: str = "min_max",
        relative_horizon: int | None = None,
        kinematics: Any = None,
        anchors: np.ndarray | None = None,
    ) -> Normalizer:
        """Fit on an episode store's state and action arrays (streaming).

        ``relative_horizon`` H (``action_mode="relative"``): the action statistics describe
        what the model predicts instead, ``action[t + k] - state[t]`` for k < H within each
        episode (padded with its last action, like the training windows). ``kinematics``
        (``action_space="palm"``): actions and the subtracted state are first mapped to palm
        space with ``kinematics.to_palm``. ``anchors`` (store frames, 3, ``action_anchor``):
        subtracted from the palm positions of every window.
        """
        if relative_horizon is None and kinematics is None and anchors is None:
            return cls(NormalizationStats.fit(store, keys=NORM_KEYS, episodes=episodes), mode)
        from dexgrasp.vla.controller.dataset import ControllerDataset

        windows = ControllerDataset(store, relative_horizon or 1, episodes=episodes)
        convert = kinematics.to_palm if kinematics is not None else None
        chunks = windows.stat_chunks(
            relative=relative_horizon is not None, convert=convert, anchors=anchors
        )
        width = windows.action.shape[1] if convert is None else convert(windows.action[:1]).shape[1]
        shapes = {OBS_STATE: windows.state.shape[1:], ACTION: (width,)}
        return cls(NormalizationStats.from_chunks(chunks, shapes), mode)

    def fingerprint(self) -> str:
        """sha256 of the statistics and mode: ties a checkpoint's weights to its statistics."""
        h = hashlib.sha256(self.mode.encode())
        for key in NORM_KEYS:
            for name in ("min", "max", "mean", "std"):
                h.update(f"{key}.{name}".encode())
                h.update(np.ascontiguousarray(self.stats.get(key, name), np.float32).tobytes())
        return h.hexdigest()

    def save(self, path: str | Path) -> None:
        self.stats.save(path)

    @classmethod
    def load(
        cls, path: str | Path, mode: str = "min_max", dims: dict[str, int] | None = None
    ) -> Normalizer:
        """Read statistics saved by :meth:`save`; ``dims`` ({key: size}) are checked too."""
        expected = {k: (d,) for k, d in (dims or {}).items()}
        return cls(NormalizationStats.load(path, expected=expected), mode)
