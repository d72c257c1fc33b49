"""Torch normalisation of state and action, backed by ``dexgrasp.data.normalize``.

``min_max`` maps each dimension's [min, max] to [-1, 1] (the diffusion scheduler clips samples
to that range); ``mean_std`` standardises. Zero ranges (a joint that never moved) are guarded
so they map to 0 and back without NaNs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dexgrasp.constants import ACTION, OBS_STATE

NORM_KEYS = (OBS_STATE, ACTION)
STAT_FIELDS = ("min", "max", "mean", "std")
EPS = 1e-6


class StatsError(ValueError):
    """Normalisation statistics are missing, malformed or do not fit the model."""


def _validate(arrays: dict[str, dict[str, np.ndarray]], dims: dict[str, int] | None) -> None:
    for key in NORM_KEYS:
        if key not in arrays:
            raise StatsError(
                f"normalisation statistics have no entry for {key!r}; refit them on the "
                "training store (Normalizer.fit(store))"
            )
        for field in STAT_FIELDS:
            if field not in arrays[key]:
                raise StatsError(f"statistics for {key!r} lack {field!r}")
            v = arrays[key][field]
            if v.ndim != 1:
                raise StatsError(f"statistics {key!r}.{field} must be 1-D, got shape {v.shape}")
            if dims is not None and v.shape[0] != dims[key]:
                raise StatsError(
                    f"statistics {key!r}.{field} have {v.shape[0]} dims, the model needs {dims[key]}"
                )
            if not np.all(np.isfinite(v)):
                raise StatsError(f"statistics {key!r}.{field} contain NaN or inf")


def _from_data_stats(stats: Any) -> dict[str, dict[str, np.ndarray]]:
    """Arrays from a ``dexgrasp.data.normalize.NormalizationStats``."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key in NORM_KEYS:
        out[key] = {f: np.asarray(stats.get(key, f), dtype=np.float32) for f in STAT_FIELDS}
    return out


class Normalizer(nn.Module):
    """Normalise / unnormalise ``observation.state`` and ``action`` tensors (..., D).

    Statistics live in non-persistent buffers (they travel with the model's device but are
    stored in their own file next to the weights, never inside ``model.safetensors``).
    """

    def __init__(self, arrays: dict[str, dict[str, np.ndarray]], mode: str = "min_max") -> None:
        super().__init__()
        if mode not in ("min_max", "mean_std"):
            raise StatsError(f"mode={mode!r}: expected 'min_max' or 'mean_std'")
        arrays = {
            k: {f: np.asarray(v, dtype=np.float32).reshape(-1) for f, v in d.items()}
            for k, d in arrays.items()
        }
        _validate(arrays, None)
        self.mode = mode
        self._arrays = arrays
        for i, key in enumerate(NORM_KEYS):
            for field in STAT_FIELDS:
                self.register_buffer(f"k{i}_{field}", torch.from_numpy(arrays[key][field]), persistent=False)

    def _buf(self, key: str, field: str) -> torch.Tensor:
        if key not in NORM_KEYS:
            raise KeyError(f"no normalisation for {key!r}; known: {NORM_KEYS}")
        return getattr(self, f"k{NORM_KEYS.index(key)}_{field}")

    def dim(self, key: str) -> int:
        return int(self._buf(key, "min").shape[0])

    def check_dims(self, state_dim: int, action_dim: int) -> None:
        _validate(self._arrays, {OBS_STATE: state_dim, ACTION: action_dim})

    def normalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.dim(key):
            raise ValueError(f"{key}: last dim {x.shape[-1]} != statistics dim {self.dim(key)}")
        if self.mode == "min_max":
            lo, hi = self._buf(key, "min"), self._buf(key, "max")
            span = hi - lo
            safe = torch.where(span > EPS, span, torch.ones_like(span))
            y = 2.0 * (x - lo) / safe - 1.0
            return torch.where(span > EPS, y, torch.zeros_like(y))
        mean, std = self._buf(key, "mean"), self._buf(key, "std")
        return (x - mean) / torch.clamp(std, min=EPS)

    def unnormalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.dim(key):
            raise ValueError(f"{key}: last dim {x.shape[-1]} != statistics dim {self.dim(key)}")
        if self.mode == "min_max":
            lo, hi = self._buf(key, "min"), self._buf(key, "max")
            span = hi - lo
            y = (x + 1.0) / 2.0 * span + lo
            return torch.where(span > EPS, y, lo.expand_as(y))
        mean, std = self._buf(key, "mean"), self._buf(key, "std")
        return x * torch.clamp(std, min=EPS) + mean

    # ---- fitting, persistence -------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, state: np.ndarray, action: np.ndarray, mode: str = "min_max") -> Normalizer:
        """Fit on in-memory (N, D) arrays (tests, small data)."""
        arrays = {}
        for key, x in ((OBS_STATE, state), (ACTION, action)):
            x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
            arrays[key] = {
                "min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0)
            }  # fmt: skip
        return cls(arrays, mode)

    @classmethod
    def fit(cls, store: Any, mode: str = "min_max") -> Normalizer:
        """Fit on an episode store's state and action arrays (streaming, via ``dexgrasp.data``)."""
        from dexgrasp.data.normalize import fit_stats

        return cls(_from_data_stats(fit_stats(store, keys=NORM_KEYS)), mode)

    def fingerprint(self) -> str:
        """sha256 of the statistics and mode: ties a checkpoint's weights to its statistics."""
        h = hashlib.sha256(self.mode.encode())
        for key in NORM_KEYS:
            for field in STAT_FIELDS:
                h.update(f"{key}.{field}".encode())
                h.update(np.ascontiguousarray(self._arrays[key][field], dtype=np.float32).tobytes())
        return h.hexdigest()

    def save(self, path: str | Path) -> None:
        data = {
            "mode": self.mode,
            "stats": {k: {f: v.tolist() for f, v in d.items()} for k, d in self._arrays.items()},
        }
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> Normalizer:
        try:
            data = json.loads(Path(path).read_text())
            arrays = {k: {f: np.asarray(v, np.float32) for f, v in d.items()} for k, d in data["stats"].items()}
            mode = data["mode"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise StatsError(f"cannot read normalisation statistics {path}: {err}") from err
        return cls(arrays, mode)
