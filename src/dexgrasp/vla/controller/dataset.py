"""Training windows from an episode store, and a feature cache for frozen encoders.

A sample at global frame t of an episode ending at frame ``stop`` holds the observation at t
(head/wrist images, mask, state) and the actions t .. t+H-1, padded with the episode's last
action past its end (the robot holds its final target). Works with both layouts that
``dexgrasp.data.episodes.EpisodeStore`` reads (ours and the authors' released zarr), since
the store presents the same keys for both.

Feature cache: frozen encoders give the same features for the same pixels, so the
training loop need not re-run DINOv2 every step. The cache stores, per frame, V views:
view 0 without augmentation and views 1..V-1 with colour jitter, as float16 ``.npy``
memmaps ``(N, V, L, D)`` next to a ``meta.json`` describing what was encoded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.vla.controller.configuration import ControllerConfig
from dexgrasp.vla.controller.modes import FINAL_ACTION
from dexgrasp.vla.controller.target import ANCHOR_GEOMETRY, mask_geometry

CACHE_FORMAT = "dexgrasp-feature-cache/1"
CAMERAS = {"head": OBS_HEAD, "wrist": OBS_WRIST}


class FeatureCacheError(RuntimeError):
    """A feature cache is missing, incomplete, or was built for other data or encoders."""


def _open_store(store: Any) -> Any:
    if isinstance(store, (str, Path)):
        from dexgrasp.data.episodes import EpisodeStore

        return EpisodeStore(store)
    return store


def _cache_signature(config: ControllerConfig, store: Any, n_views: int) -> dict[str, Any]:
    cams = {}
    for cam in CAMERAS:
        enc = getattr(config, f"{cam}_encoder")
        if enc.frozen:
            cams[cam] = {"pretrained": enc.pretrained, "feature_dim": enc.feature_dim}
    jitter = [
        config.jitter_brightness,
        config.jitter_contrast,
        config.jitter_saturation,
        config.jitter_hue,
    ]
    return {
        "format": CACHE_FORMAT,
        "store": str(Path(store.path).resolve()),
        "num_frames": int(store.num_frames),
        "episode_ends": [int(e) for e in store.episode_ends],
        "image_size": config.image_size,
        "cameras": cams,
        "jitter": jitter,
        "n_views": n_views,
    }


class FeatureCache:
    """Per-frame frozen-encoder features: ``get(cam, t, view) -> (L, D)`` float16 array."""

    def __init__(self, directory: str | Path, meta: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.meta = meta
        self.n_views = int(meta["n_views"])
        self.arrays = {
            cam: np.load(self.directory / f"{cam}.npy", mmap_mode="r") for cam in meta["cameras"]
        }

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(self.arrays)

    def get(self, cam: str, global_t: int, view: int) -> np.ndarray:
        return self.arrays[cam][global_t, view]

    @classmethod
    def open(
        cls, directory: str | Path, config: ControllerConfig, store: Any, n_views: int | None = None
    ) -> FeatureCache:
        """Open a complete cache, checking it was built for this store and these encoders."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / "meta.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise FeatureCacheError(f"no readable feature cache at {directory}: {err}") from err
        if not meta.get("complete"):
            raise FeatureCacheError(f"feature cache {directory} is incomplete; rebuild it")
        want = _cache_signature(config, _open_store(store), n_views or meta.get("n_views", 0))
        got = {k: meta.get(k) for k in want}
        if got != want:
            diff = [k for k in want if got[k] != want[k]]
            raise FeatureCacheError(
                f"feature cache {directory} was built for different {diff}; rebuild it"
            )
        return cls(directory, meta)

    @classmethod
    @torch.inference_mode()
    def build(
        cls,
        directory: str | Path,
        model: torch.nn.Module,
        store: Any,
        n_views: int,
        batch_size: int = 16,
        seed: int = 0,
        progress: bool = True,
    ) -> FeatureCache:
        """Encode every frame of ``store`` with ``model``'s frozen encoders, ``n_views`` each."""
        from tqdm.auto import tqdm

        from dexgrasp.vla.controller.encoders import (
            color_jitter,
            imagenet_normalize,
            images_to_float,
            resize,
        )

        if n_views < 1:
            raise ValueError(f"n_views={n_views} must be >= 1")
        store = _open_store(store)
        cfg: ControllerConfig = model.config
        meta = _cache_signature(cfg, store, n_views)
        if not meta["cameras"]:
            raise FeatureCacheError("no frozen encoder in this config: nothing to cache")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "meta.json").write_text(json.dumps({**meta, "complete": False}))
        n = store.num_frames
        gen = torch.Generator().manual_seed(seed)
        arrays = {}
        for cam in meta["cameras"]:
            enc = getattr(model, f"{cam}_encoder")
            tokens = (cfg.image_size // getattr(cfg, f"{cam}_encoder").patch_size) ** 2
            arrays[cam] = np.lib.format.open_memmap(
                directory / f"{cam}.npy", mode="w+", dtype=np.float16,
                shape=(n, n_views, tokens, enc.feature_dim),
            )  # fmt: skip
        bar = tqdm(total=n * len(arrays), desc="feature cache", disable=not progress)
        for cam, arr in arrays.items():
            enc = getattr(model, f"{cam}_encoder")
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                x = images_to_float(torch.from_numpy(store.slice(CAMERAS[cam], start, stop)))
                x = resize(x.to(model.device), cfg.image_size)
                for v in range(n_views):
                    xv = x if v == 0 else color_jitter(
                        x, cfg.jitter_brightness, cfg.jitter_contrast, cfg.jitter_saturation,
                        cfg.jitter_hue, generator=gen,
                    )  # fmt: skip
                    feats = enc(imagenet_normalize(xv))
                    arr[start:stop, v] = feats.float().cpu().numpy().astype(np.float16)
                bar.update(stop - start)
            arr.flush()
        bar.close()
        (directory / "meta.json").write_text(json.dumps({**meta, "complete": True}))
        return cls(directory, {**meta, "complete": True})


class ControllerDataset(Dataset):
    """Windows (observation at t, actions t..t+H-1) over selected episodes of a store.

    Item: dict with ``observation.state`` (13,) float32, ``action`` (H, 13) float32,
    ``episode.final_action`` (13,) float32 (what grasp modes are read from),
    ``observation.mask`` (H_img, W_img) uint8, and per camera either the image
    (H_img, W_img, 3) uint8 or, with a feature cache, ``observation.features.<cam>`` (L, D)
    float16 from a view chosen deterministically from (seed, epoch, index).
    """

    def __init__(
        self,
        store: Any,
        horizon: int,
        episodes: list[int] | None = None,
        feature_cache: FeatureCache | None = None,
        seed: int = 0,
        anchor: bool = False,
    ) -> None:
        self.store = _open_store(store)
        if len(self.store) == 0:
            raise ValueError(f"episode store {self.store.path} has no episodes")
        self.horizon = horizon
        self.cache = feature_cache
        self.seed = seed
        self.epoch = 0
        episodes = list(range(len(self.store))) if episodes is None else list(episodes)
        # Low-dimensional arrays are small: keep them in memory.
        self.state = self.store.slice(OBS_STATE, 0, self.store.num_frames).astype(np.float32)
        self.action = self.store.slice(ACTION, 0, self.store.num_frames).astype(np.float32)
        frames, stops = [], []
        for e in episodes:
            start, stop = self.store.episode_bounds(e)
            frames.append(np.arange(start, stop))
            stops.append(np.full(stop - start, stop))
        self.frames = np.concatenate(frames).astype(np.int64)
        self.stops = np.concatenate(stops).astype(np.int64)
        # action_anchor: every frame's episode-first-frame mask geometry (N, 8)
        self.anchor_geometry = first_frame_geometry(self.store) if anchor else None

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def final_actions(self) -> np.ndarray:
        """(E, A) the last action of each selected episode, in episode order."""
        return self.action[np.unique(self.stops) - 1]

    def set_epoch(self, epoch: int) -> None:
        """Changes which cached augmentation view each sample uses."""
        self.epoch = epoch

    def action_window(self, t: int | np.ndarray, stop: int | np.ndarray) -> np.ndarray:
        """Actions t..t+H-1 clipped to the episode, padded with its last action: (H, A), or
        (N, H, A) for arrays of frames and episode stops."""
        t, stop = np.asarray(t)[..., None], np.asarray(stop)[..., None]
        return self.action[np.minimum(t + np.arange(self.horizon), stop - 1)]

    def stat_chunks(
        self,
        relative: bool = True,
        convert: Callable[[np.ndarray], np.ndarray] | None = None,
        block: int = 4096,
        anchors: np.ndarray | None = None,
    ) -> dict[str, Callable[[], Iterator[np.ndarray]]]:
        """What the diffusion head sees, as chunk sources for
        ``NormalizationStats.from_chunks``: every sample's state (n, D) and its action window
        (n * H, A), minus the window's starting state when ``relative``, ``block`` samples at
        a time, float64. ``convert`` maps (n, 13) joint arrays to the model's action space
        (``PalmKinematics.to_palm``); it runs once over the store's actions and states.
        ``anchors`` (store frames, 3): subtracted from each window's first 3 action dims
        (palm positions, ``action_anchor``)."""
        action, ref = self.action, self.state
        if convert is not None:
            action, ref = convert(self.action), convert(self.state)

        def states() -> Iterator[np.ndarray]:
            for a in range(0, len(self), block):
                yield self.state[self.frames[a : a + block]].astype(np.float64)

        def actions() -> Iterator[np.ndarray]:
            steps = np.arange(self.horizon)
            for a in range(0, len(self), block):
                t, stop = self.frames[a : a + block], self.stops[a : a + block]
                w = action[np.minimum(t[:, None] + steps, stop[:, None] - 1)]
                if relative:
                    w = w - ref[t][:, None]
                if anchors is not None:
                    w = w.copy()
                    w[..., :3] -= anchors[t][:, None]
                yield w.reshape(-1, w.shape[-1]).astype(np.float64)

        return {OBS_STATE: states, ACTION: actions}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        t, stop = int(self.frames[i]), int(self.stops[i])
        item = {
            OBS_STATE: torch.from_numpy(self.state[t]),
            ACTION: torch.from_numpy(self.action_window(t, stop)),
            FINAL_ACTION: torch.from_numpy(self.action[stop - 1]),
            OBS_MASK: torch.from_numpy(np.ascontiguousarray(self.store.frame(OBS_MASK, t))),
        }
        if self.anchor_geometry is not None:
            item[ANCHOR_GEOMETRY] = torch.from_numpy(self.anchor_geometry[t])
        cached = self.cache.cameras if self.cache is not None else ()
        if cached:
            rng = np.random.default_rng((self.seed, self.epoch, i))
            view = int(rng.integers(self.cache.n_views))
        for cam, key in CAMERAS.items():
            if cam in cached:
                feats = np.array(self.cache.get(cam, t, view))  # copy out of the memmap
                item[f"observation.features.{cam}"] = torch.from_numpy(feats)
            else:
                item[key] = torch.from_numpy(np.ascontiguousarray(self.store.frame(key, t)))
        return item


def first_frame_geometry(store: Any) -> np.ndarray:
    """(N, 8) float32: for every frame of ``store``, the ``mask_geometry`` of its episode's
    first mask (what ``action_anchor="mask"`` anchors the episode on)."""
    store = _open_store(store)
    out = np.zeros((store.num_frames, 8), np.float32)
    for e in range(len(store)):
        start, stop = store.episode_bounds(e)
        mask = torch.from_numpy(np.ascontiguousarray(store.frame(OBS_MASK, start)))[None]
        out[start:stop] = mask_geometry(mask)[0].numpy()
    return out
