"""The layout of the DexGraspVLA authors' released controller code, read as our keys.

Their zarr (diffusion_policy ``ReplayBuffer`` style)::

    data/rgbm            (T, H, W, 4) uint8   head RGB + target mask as a 4th channel
    data/right_cam_img   (T, H, W, 3) uint8   wrist RGB
    data/right_state     (T, D)       float   measured joint positions
    data/action          (T, D)       float   joint position targets
    meta/episode_ends    (E,)         int64

Their dataset thresholds the mask channel at 0.5 after scaling, so both {0, 1} and {0, 255}
masks occur; we binarise to {0, 1}. Some forks store images channel-first (T, C, H, W);
that is detected and transposed. There is no per-episode metadata in this layout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST

RGBM, WRIST_IMG, STATE, LEGACY_ACTION = "rgbm", "right_cam_img", "right_state", "action"
LEGACY_MARKERS = (RGBM, STATE, WRIST_IMG)

Transform = Callable[[np.ndarray], np.ndarray]


def is_legacy_layout(data_keys: Iterable[str]) -> bool:
    """True if a store's ``data/`` group looks like the authors' layout."""
    return any(k in set(data_keys) for k in LEGACY_MARKERS)


def _channels_last(raw_shape: tuple[int, ...], channels: int) -> bool:
    """Whether (T, H, W, C) (True) or (T, C, H, W) (False) for a stored image array."""
    return not (len(raw_shape) == 4 and raw_shape[-1] != channels and raw_shape[1] == channels)


def _binarise(mask: np.ndarray) -> np.ndarray:
    """{0,1} or {0,255} (possibly interpolated) mask -> {0,1} uint8, per frame."""
    mask = np.asarray(mask)
    out = np.empty(mask.shape, dtype=np.uint8)
    for i in range(mask.shape[0]):
        m = mask[i]
        threshold = 0.5 if float(m.max(initial=0)) <= 1.0 else 127.5
        out[i] = m > threshold
    return out


def legacy_sources(data_shapes: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[str, Transform]]:
    """Our key -> (their array name, transform of a (n, ...) slice of it to our layout)."""
    sources: dict[str, tuple[str, Transform]] = {}
    if RGBM in data_shapes:
        if _channels_last(data_shapes[RGBM], 4):
            sources[OBS_HEAD] = (RGBM, lambda r: np.ascontiguousarray(r[..., :3]))
            sources[OBS_MASK] = (RGBM, lambda r: _binarise(r[..., 3]))
        else:
            sources[OBS_HEAD] = (
                RGBM,
                lambda r: np.ascontiguousarray(r[:, :3].transpose(0, 2, 3, 1)),
            )
            sources[OBS_MASK] = (RGBM, lambda r: _binarise(r[:, 3]))
    if WRIST_IMG in data_shapes:
        if _channels_last(data_shapes[WRIST_IMG], 3):
            sources[OBS_WRIST] = (WRIST_IMG, lambda r: np.asarray(r))
        else:
            sources[OBS_WRIST] = (
                WRIST_IMG,
                lambda r: np.ascontiguousarray(r.transpose(0, 2, 3, 1)),
            )
    if STATE in data_shapes:
        sources[OBS_STATE] = (STATE, lambda r: np.asarray(r, dtype=np.float32))
    if LEGACY_ACTION in data_shapes:
        sources[ACTION] = (LEGACY_ACTION, lambda r: np.asarray(r, dtype=np.float32))
    return sources


def expected_legacy_shape(name: str, shape: tuple[int, ...]) -> str | None:
    """A problem with one of their arrays' shape, or None if it is usable."""
    if name == RGBM and not (len(shape) == 4 and 4 in (shape[1], shape[-1])):
        return f"expected (T, H, W, 4) head RGB + mask, got {shape}"
    if name == WRIST_IMG and not (len(shape) == 4 and 3 in (shape[1], shape[-1])):
        return f"expected (T, H, W, 3) wrist RGB, got {shape}"
    if name in (STATE, LEGACY_ACTION) and len(shape) != 2:
        return f"expected (T, D), got {shape}"
    return None


def write_legacy_store(
    path: str | Path,
    episodes: Iterable[Mapping[str, np.ndarray]],
    mask_scale: int = 1,
) -> Path:
    """Write episodes (our keys) in the authors' layout, e.g. to train with their code.

    Args:
        path: new zarr directory (zarr format 2, as their code expects).
        episodes: each a dict with our keys: head, wrist, mask, state, action, (T, ...).
        mask_scale: 1 stores the mask channel as {0, 1}, 255 as {0, 255}.

    Returns:
        The path written.
    """
    import zarr

    from dexgrasp.data.episodes import image_compressor

    parts: dict[str, list[np.ndarray]] = {RGBM: [], WRIST_IMG: [], STATE: [], LEGACY_ACTION: []}
    ends: list[int] = []
    total = 0
    for ep in episodes:
        mask = (np.asarray(ep[OBS_MASK]) > 0).astype(np.uint8) * np.uint8(mask_scale)
        parts[RGBM].append(np.concatenate([ep[OBS_HEAD], mask[..., None]], axis=-1))
        parts[WRIST_IMG].append(np.asarray(ep[OBS_WRIST]))
        parts[STATE].append(np.asarray(ep[OBS_STATE], dtype=np.float32))
        parts[LEGACY_ACTION].append(np.asarray(ep[ACTION], dtype=np.float32))
        total += len(ep[ACTION])
        ends.append(total)
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    data = root.require_group("data")
    for name, chunks in parts.items():
        arr = np.concatenate(chunks, axis=0)
        image = arr.ndim == 4
        data.create_array(
            name,
            data=arr,
            chunks=(1, *arr.shape[1:]) if image else (1024, *arr.shape[1:]),
            compressors=image_compressor() if image else None,
        )
    root.require_group("meta").create_array("episode_ends", data=np.asarray(ends, np.int64))
    return Path(path)


def legacy_meta() -> dict[str, Any]:
    """Per-episode metadata for the authors' layout (it stores none)."""
    return {}
