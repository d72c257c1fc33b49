"""Normalisation statistics of state/action arrays: fit (streaming), save, load, apply.

Per key, over all frames (axis 0), each statistic has the per-frame shape (e.g. (13,)):
``min``, ``max``, ``mean``, ``std``, ``q01``, ``q99`` (1st / 99th percentiles) and the frame
``count``. Modes of `NormalizationStats.normalize`:

    "minmax"    [min, max] -> [-1, 1]         (the controller's default)
    "quantile"  [q01, q99] -> [-1, 1]         (DextER's action bins; optionally clipped)
    "meanstd"   (x - mean) / std

Dimensions with a (near) zero range or std are passed through centred, never divided by 0.
Every mode is an affine map, ``y = (x - center) * scale`` (`center_scale`) or equivalently
``y = x * scale + offset`` (`affine`), which is what torch wrappers need.

Fit from the command line::

    dexgrasp stats demos.zarr --out demos.stats.safetensors

Pure numpy (plus ``safetensors.numpy`` for the binary format); no torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from dexgrasp.constants import ACTION, OBS_STATE

STAT_NAMES = ("min", "max", "mean", "std", "q01", "q99")
MODES = ("minmax", "quantile", "meanstd")
FORMAT_NAME = "dexgrasp.normalization"
EPS = 1e-6  # ranges / stds below this are treated as zero
HIST_BINS = 1 << 16  # quantile resolution: (max - min) / HIST_BINS
MAX_DIMS = 1024  # values per frame a key may have (the histograms take MAX_DIMS x HIST_BINS)
FIT_COMMAND = "dexgrasp stats STORE --out FILE"


class NormalizationError(ValueError):
    """Statistics are missing, malformed or do not fit the data; the message says how to fix."""


@dataclass
class NormalizationStats:
    """Per-key statistics; ``stats[key][name]`` is a float32 array of the per-frame shape.

    Example::

        stats = NormalizationStats.fit(EpisodeStore("demos.zarr"))
        stats.save("stats.safetensors")
        y = NormalizationStats.load("stats.safetensors").normalize("action", a)  # in [-1, 1]
    """

    stats: dict[str, dict[str, np.ndarray]]
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, per in self.stats.items():
            _validate_key(key, per, where="NormalizationStats")
            self.stats[key] = {n: np.asarray(per[n], dtype=np.float32) for n in STAT_NAMES}

    # ---------------------------------------------------------------- queries
    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.stats)

    def __contains__(self, key: str) -> bool:
        return key in self.stats

    def get(self, key: str, stat: str) -> np.ndarray:
        """One statistic (``min``, ``max``, ``mean``, ``std``, ``q01``, ``q99``) of ``key``."""
        if stat not in STAT_NAMES:
            raise KeyError(f"unknown statistic {stat!r}; known: {STAT_NAMES}")
        return self._get(key)[stat]

    def shape(self, key: str) -> tuple[int, ...]:
        """Per-frame shape the statistics of ``key`` apply to."""
        return tuple(self._get(key)["min"].shape)

    def _get(self, key: str) -> dict[str, np.ndarray]:
        if key not in self.stats:
            raise NormalizationError(
                f"no normalisation statistics for {key!r} (have {list(self.stats)}); "
                f"refit them with `{FIT_COMMAND}`"
            )
        return self.stats[key]

    # ---------------------------------------------------------------- apply
    def affine(self, key: str, mode: str = "minmax") -> tuple[np.ndarray, np.ndarray]:
        """(scale, offset), float32 of the per-frame shape, with ``y = x * scale + offset``."""
        center, scale = self.center_scale(key, mode)
        return scale.astype(np.float32), (-center * scale).astype(np.float32)

    def center_scale(self, key: str, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """float64 (center, scale), each of the per-frame shape, with
        ``y = (x - center) * scale``: the numerically stable form of `affine` (prefer it in
        float32 when a range is narrow relative to its magnitude)."""
        s = self._get(key)
        if mode in ("minmax", "quantile"):
            lo, hi = (s["min"], s["max"]) if mode == "minmax" else (s["q01"], s["q99"])
            lo, hi = lo.astype(np.float64), hi.astype(np.float64)
            span = hi - lo
            flat = span < EPS  # constant dimension: centre it, do not scale
            return (lo + hi) / 2.0, np.where(flat, 1.0, 2.0 / np.where(flat, 1.0, span))
        if mode == "meanstd":
            std = s["std"].astype(np.float64)
            return s["mean"].astype(np.float64), 1.0 / np.where(std < EPS, 1.0, std)
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    def _check_x(self, key: str, x: np.ndarray) -> None:
        shape = self.shape(key)
        if tuple(x.shape[x.ndim - len(shape) :]) != shape or x.ndim < len(shape):
            raise NormalizationError(
                f"{key}: array of shape {x.shape} does not end in the statistics' shape {shape}"
            )

    def normalize(
        self, key: str, x: np.ndarray, mode: str = "minmax", clip: bool = False
    ) -> np.ndarray:
        """Normalise ``x`` (..., *shape) of ``key``; ``clip`` limits the result to [-1, 1]."""
        x = np.asarray(x, dtype=np.float32)
        self._check_x(key, x)
        center, scale = self.center_scale(key, mode)
        y = ((x - center) * scale).astype(np.float32)
        return np.clip(y, -1.0, 1.0) if clip else y

    def unnormalize(self, key: str, y: np.ndarray, mode: str = "minmax") -> np.ndarray:
        """Inverse of `normalize` (without clipping): (..., *shape) float32."""
        y = np.asarray(y, dtype=np.float32)
        self._check_x(key, y)
        center, scale = self.center_scale(key, mode)
        return (y / scale + center).astype(np.float32)

    # ---------------------------------------------------------------- fit
    @classmethod
    def fit(
        cls,
        store: Any,
        keys: Iterable[str] = (OBS_STATE, ACTION),
        episodes: Iterable[int] | None = None,
        chunk_frames: int = 65536,
    ) -> NormalizationStats:
        """Fit statistics over a store's arrays, streaming ``chunk_frames`` frames at a time.

        Two passes: exact min/max/mean/std (Chan's parallel update, float64), then a
        ``HIST_BINS``-bin histogram per dimension for the quantiles.

        Args:
            store: an `EpisodeStore` (anything with ``keys``, ``slice``, ``episode_bounds``).
            keys: which keys to fit; default state and action.
            episodes: restrict to these episode indices (e.g. the training split).
            chunk_frames: frames read per step.
        """
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        ids = range(len(store)) if episodes is None else list(episodes)
        ranges = _merge_ranges([store.episode_bounds(i) for i in ids])
        if not ranges:
            raise NormalizationError("no frames to fit statistics on (empty store or selection)")

        def chunks(key: str) -> Iterable[np.ndarray]:
            for start, stop in ranges:
                for a in range(start, stop, chunk_frames):
                    x = store.slice(key, a, min(stop, a + chunk_frames))
                    yield np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)

        shapes = {}
        for key in keys:
            if key not in store.keys:
                raise NormalizationError(f"store has no key {key!r}; keys: {list(store.keys)}")
            shapes[key] = tuple(store.frame_shape(key))
        return cls.from_chunks({k: partial(chunks, k) for k in shapes}, shapes)

    @classmethod
    def from_chunks(
        cls,
        chunks: Mapping[str, Callable[[], Iterable[np.ndarray]]],
        shapes: Mapping[str, tuple[int, ...]],
    ) -> NormalizationStats:
        """Statistics of data given as chunks: ``chunks[key]()`` yields (n, D) float64 arrays
        (called twice: moments, then the quantile histogram) of frames of ``shapes[key]``."""
        out: dict[str, dict[str, np.ndarray]] = {}
        counts: dict[str, int] = {}
        for key, frame_shape in shapes.items():
            if int(np.prod(frame_shape)) > MAX_DIMS:
                raise NormalizationError(
                    f"{key}: frames of shape {frame_shape} are too large for per-dimension "
                    f"statistics (at most {MAX_DIMS} values); fit state/action-like keys"
                )
            n, mean, m2, lo, hi = _moments(chunks[key](), key)
            hist = np.zeros((lo.size, HIST_BINS), np.int64)
            span = np.where(hi - lo > 0, hi - lo, 1.0)
            for x in chunks[key]():
                b = np.clip(((x - lo) / span * HIST_BINS).astype(np.int64), 0, HIST_BINS - 1)
                for d in range(lo.size):
                    hist[d] += np.bincount(b[:, d], minlength=HIST_BINS)
            q01, q99 = (np.clip(_hist_quantile(hist, lo, span, q), lo, hi) for q in (0.01, 0.99))
            std = np.sqrt(m2 / n)
            stats = {"min": lo, "max": hi, "mean": mean, "std": std, "q01": q01, "q99": q99}
            out[key] = {k: v.reshape(frame_shape) for k, v in stats.items()}
            counts[key] = n
        return cls(out, counts)

    # ---------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        """Write to ``*.safetensors`` (tensors ``<key>/<stat>``) or ``*.json``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT_NAME, "version": "1", "counts": json.dumps(self.counts)}
        meta["keys"] = json.dumps(list(self.stats))
        if path.suffix == ".json":
            doc = {
                **meta,
                "keys": {
                    k: {"shape": list(self.shape(k)), **{n: v.tolist() for n, v in s.items()}}
                    for k, s in self.stats.items()
                },
            }
            doc["counts"] = self.counts
            path.write_text(json.dumps(doc, indent=1))
        elif path.suffix == ".safetensors":
            from safetensors.numpy import save_file

            tensors = {
                f"{k}/{n}": np.ascontiguousarray(v)
                for k, s in self.stats.items()
                for n, v in s.items()
            }
            save_file(tensors, str(path), metadata=meta)
        else:
            raise ValueError(f"{path}: use a .safetensors or .json file name")
        return path

    @classmethod
    def load(
        cls, path: str | Path, expected: Mapping[str, tuple[int, ...]] | None = None
    ) -> NormalizationStats:
        """Read statistics written by `save` and validate them.

        Args:
            path: ``*.safetensors`` or ``*.json``.
            expected: key -> per-frame shape the caller needs, e.g. ``{"action": (13,)}``.

        Raises:
            NormalizationError: file missing or unreadable, key or statistic missing, wrong
                shape, NaN/inf, or min > max; the message names it and the refit command.
        """
        path = Path(path)
        hint = f"refit them with `{FIT_COMMAND}`"
        if not path.is_file():
            raise NormalizationError(f"{path}: no normalisation statistics file; {hint}")
        try:
            raw, counts = _read(path)
        except Exception as err:
            raise NormalizationError(f"{path}: unreadable statistics ({err}); {hint}") from err
        stats: dict[str, dict[str, np.ndarray]] = {}
        for key, per in raw.items():
            _validate_key(key, per, where=str(path))
            stats[key] = per
        for key, shape in (expected or {}).items():
            if key not in stats:
                raise NormalizationError(
                    f"{path}: no statistics for {key!r} (have {list(stats)}); {hint}"
                )
            if tuple(stats[key]["min"].shape) != tuple(shape):
                raise NormalizationError(
                    f"{path}: statistics for {key!r} have shape {stats[key]['min'].shape}, "
                    f"expected {tuple(shape)}; {hint}"
                )
        return cls(stats, counts)


def fit_stats(
    store: Any,
    keys: Iterable[str] = (OBS_STATE, ACTION),
    episodes: Iterable[int] | None = None,
) -> NormalizationStats:
    """`NormalizationStats.fit` as a function."""
    return NormalizationStats.fit(store, keys=keys, episodes=episodes)


def _validate_key(key: str, per: Mapping[str, Any], where: str) -> None:
    hint = f"refit them with `{FIT_COMMAND}`"
    missing = [n for n in STAT_NAMES if n not in per]
    if missing:
        raise NormalizationError(f"{where}: {key!r} lacks statistics {missing}; {hint}")
    arrays = {n: np.asarray(per[n], dtype=np.float64) for n in STAT_NAMES}
    shapes = {n: a.shape for n, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise NormalizationError(f"{where}: {key!r} statistics differ in shape {shapes}; {hint}")
    for n, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise NormalizationError(f"{where}: {key!r} {n} contains NaN or inf; {hint}")
    if np.any(arrays["min"] > arrays["max"]) or np.any(arrays["std"] < 0):
        raise NormalizationError(f"{where}: {key!r} has min > max or std < 0; {hint}")


def _read(path: Path) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, int]]:
    if path.suffix == ".json":
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT_NAME:
            raise ValueError(f"format is {doc.get('format')!r}, not {FORMAT_NAME!r}")
        stats = {
            k: {n: np.asarray(v[n], np.float32).reshape(v["shape"]) for n in STAT_NAMES if n in v}
            for k, v in doc["keys"].items()
        }
        return stats, {k: int(c) for k, c in doc.get("counts", {}).items()}
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT_NAME:
            raise ValueError(f"format is {meta.get('format')!r}, not {FORMAT_NAME!r}")
        stats: dict[str, dict[str, np.ndarray]] = {}
        for name in f.keys():  # noqa: SIM118 - safe_open is not a mapping
            key, _, stat = name.rpartition("/")
            stats.setdefault(key, {})[stat] = f.get_tensor(name)
        order = json.loads(meta.get("keys", "[]"))  # safetensors sorts names; keep ours
        names = [k for k in order if k in stats] + [k for k in stats if k not in order]
        stats = {k: stats[k] for k in names}
        return stats, {k: int(c) for k, c in json.loads(meta.get("counts", "{}")).items()}


def _merge_ranges(bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged [start, stop) ranges (adjacent episodes are read as one run)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(bounds):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def _moments(
    chunks: Iterable[np.ndarray], key: str
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean, M2 (sum of squared deviations), min, max over (n, D) float64 chunks."""
    n, mean, m2, lo, hi = 0, None, None, None, None
    for x in chunks:
        if not np.all(np.isfinite(x)):
            raise NormalizationError(f"{key}: the store holds NaN or inf values")
        k = x.shape[0]
        if k == 0:
            continue
        cm = x.mean(axis=0)
        cm2 = ((x - cm) ** 2).sum(axis=0)
        if mean is None:
            n, mean, m2, lo, hi = k, cm, cm2, x.min(axis=0), x.max(axis=0)
            continue
        delta = cm - mean
        total = n + k
        mean = mean + delta * (k / total)
        m2 = m2 + cm2 + delta**2 * (n * k / total)
        lo, hi = np.minimum(lo, x.min(axis=0)), np.maximum(hi, x.max(axis=0))
        n = total
    if mean is None:
        raise NormalizationError(f"{key}: no frames to fit statistics on")
    return n, mean, m2, lo, hi


def _hist_quantile(hist: np.ndarray, lo: np.ndarray, span: np.ndarray, q: float) -> np.ndarray:
    """Per-dimension quantile from (D, bins) histograms over [lo, lo + span].

    numpy's default ("linear") definition: interpolate between the sorted samples at ranks
    floor(q (n - 1)) and the next; each sample's value is known to within one bin.
    """
    out = np.empty(hist.shape[0])
    bins = hist.shape[1]
    for d in range(hist.shape[0]):
        cum = np.cumsum(hist[d])
        n = int(cum[-1])

        def value(r: int, cum: np.ndarray = cum, d: int = d) -> float:
            b = int(np.searchsorted(cum, r + 1))  # bin holding the sample of rank r
            before = int(cum[b - 1]) if b else 0
            pos = (r - before + 0.5) / int(hist[d, b])  # spread samples evenly in the bin
            return float(lo[d] + span[d] * (b + pos) / bins)

        rank = q * (n - 1)
        r0 = math.floor(rank)
        v0 = value(r0)
        out[d] = v0 if r0 + 1 >= n else v0 + (rank - r0) * (value(r0 + 1) - v0)
    return out
