"""What an episode's frames must look like before they are written to a store.

Known keys (``dexgrasp.constants``) have fixed dtypes and ranks; any other key is accepted
as a numeric time series whose per-frame shape and dtype are fixed by the first episode.

    observation.images.head / .wrist   (T, H, W, 3) uint8
    observation.mask                   (T, H, W)    uint8 in {0, 1}, same H, W as head
    observation.state / action         (T, D)       float32 (floats/ints are cast), finite
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST


class StoreError(RuntimeError):
    """A store, or data offered to it, is malformed; the message names the episode and key."""


# key -> (dtype, number of dimensions per frame, or None for "any")
KEY_RULES: dict[str, tuple[np.dtype, int | None]] = {
    OBS_HEAD: (np.dtype(np.uint8), 3),
    OBS_WRIST: (np.dtype(np.uint8), 3),
    OBS_MASK: (np.dtype(np.uint8), 2),
    OBS_STATE: (np.dtype(np.float32), 1),
    ACTION: (np.dtype(np.float32), 1),
}
IMAGE_LIKE_KEYS = (OBS_HEAD, OBS_WRIST, OBS_MASK)  # stored one frame per chunk


def _check_known(key: str, x: np.ndarray, where: str) -> np.ndarray:
    dtype, ndim = KEY_RULES[key]
    if ndim is not None and x.ndim != ndim + 1:
        raise StoreError(f"{where}: {key} has shape {x.shape}, expected {ndim + 1} dims (T, ...)")
    if key in (OBS_HEAD, OBS_WRIST) and x.shape[-1] != 3:
        raise StoreError(f"{where}: {key} has shape {x.shape}, expected (T, H, W, 3) RGB")
    if dtype == np.uint8:
        if x.dtype != np.uint8:
            raise StoreError(f"{where}: {key} has dtype {x.dtype}, expected uint8")
        if key == OBS_MASK and x.size and int(x.max()) > 1:
            raise StoreError(f"{where}: {key} has values up to {int(x.max())}, expected {{0, 1}}")
        return x
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise StoreError(f"{where}: {key} has dtype {x.dtype}, expected a real number type")
    x = x.astype(dtype, copy=False)
    if not np.all(np.isfinite(x)):
        bad = int(np.argwhere(~np.isfinite(x))[0][0])
        raise StoreError(f"{where}: {key} has a NaN or inf at frame {bad}")
    return x


def validate_frames(
    frames: Mapping[str, Any],
    schema: Mapping[str, tuple[tuple[int, ...], str]] | None,
    where: str = "add_episode",
) -> dict[str, np.ndarray]:
    """Check one episode's frames; return them as contiguous arrays with their stored dtypes.

    Args:
        frames: key -> (T, ...) array, same T >= 1 for every key.
        schema: key -> (per-frame shape, dtype string) of the store, or None for a new store.
        where: prefix for error messages (e.g. ``"episode 3"``).

    Raises:
        StoreError: naming the key, if anything is missing, extra, mis-shaped or mis-typed.
    """
    if not isinstance(frames, Mapping) or not frames:
        raise StoreError(f"{where}: frames must be a non-empty dict of key -> (T, ...) array")
    out: dict[str, np.ndarray] = {}
    lengths: dict[str, int] = {}
    for key, value in frames.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise StoreError(f"{where}: invalid key {key!r} (a non-empty string without '/')")
        x = np.asarray(value)
        if x.ndim == 0 or x.shape[0] == 0:
            raise StoreError(f"{where}: {key} has shape {x.shape}, expected (T, ...) with T >= 1")
        if key in KEY_RULES:
            x = _check_known(key, x, where)
        elif x.dtype.kind not in "biuf":
            raise StoreError(f"{where}: {key} has dtype {x.dtype}, expected bool/int/float")
        out[key] = np.ascontiguousarray(x)
        lengths[key] = x.shape[0]
    if len(set(lengths.values())) != 1:
        raise StoreError(f"{where}: keys have different lengths (frames): {lengths}")
    if OBS_HEAD in out and OBS_MASK in out and out[OBS_HEAD].shape[1:3] != out[OBS_MASK].shape[1:]:
        raise StoreError(
            f"{where}: {OBS_MASK} is {out[OBS_MASK].shape[1:]} but {OBS_HEAD} is "
            f"{out[OBS_HEAD].shape[1:3]}; the mask must be of the head image"
        )
    if schema is not None:
        missing = sorted(set(schema) - set(out))
        extra = sorted(set(out) - set(schema))
        if missing or extra:
            raise StoreError(
                f"{where}: keys differ from the store's: missing {missing}, unexpected {extra}"
            )
        for key, (shape, dtype) in schema.items():
            if out[key].shape[1:] != tuple(shape) or out[key].dtype != np.dtype(dtype):
                raise StoreError(
                    f"{where}: {key} frames are {out[key].shape[1:]} {out[key].dtype}, "
                    f"the store holds {tuple(shape)} {np.dtype(dtype)}"
                )
    return out


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def encode_meta(meta: Mapping[str, Any] | None, where: str = "add_episode") -> str:
    """Episode metadata -> JSON text (numpy scalars/arrays become numbers/lists)."""
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise StoreError(f"{where}: meta must be a dict, got {type(meta).__name__}")
    try:
        return json.dumps(dict(meta), default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise StoreError(f"{where}: meta is not JSON-serialisable: {err}") from err


def decode_meta(text: Any, where: str) -> dict[str, Any]:
    """JSON text -> metadata dict; StoreError naming ``where`` if it is corrupt."""
    try:
        value = json.loads(str(text))
    except ValueError as err:
        raise StoreError(
            f"{where}: metadata is not valid JSON ({err}): {str(text)[:80]!r}"
        ) from err
    if not isinstance(value, dict):
        raise StoreError(f"{where}: metadata is {type(value).__name__}, expected a JSON object")
    return value
