"""Crash-safe, episode-indexed zarr store of demonstrations.

Layout (zarr format 2, readable by zarr-python 2.18+ and 3)::

    <store>/.zattrs              {"format": "dexgrasp.episodes", "format_version": 1, "keys": [...]}
    <store>/data/<key>           (N, ...) every episode's frames concatenated over time
    <store>/meta/episode_ends    (E,) int64, exclusive end frame of each episode
    <store>/meta/episode_meta    (E,) JSON text per episode (scene seed, objects, target, split)
    <store>/meta/.zattrs         {"num_episodes": E}   <- the commit record

Images and masks are chunked one frame per chunk (Blosc/zstd), so a random frame costs one
small read; state/action are chunked 1024 frames at a time.

Crash safety: ``add_episode`` first appends the frames, then the metadata entry and the
end index, and only then rewrites ``meta/.zattrs`` with the new episode count. zarr's
local store writes every file to a temporary name and renames it into place, so each step
is atomic; anything past the committed count is an unfinished tail that readers ignore
and the next writer truncates. Creation happens in a temporary directory renamed into
place. One writer at a time (an advisory ``flock``, released if the process dies).

Example::

    with EpisodeWriter("demos.zarr") as w:
        w.add_episode({"observation.state": s, "action": a}, {"split": "train", "seed": 3})
    store = EpisodeStore("demos.zarr")
    store.slice("action", 0, 64)  # (64, 13) float32
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dexgrasp.constants import OBS_HEAD, OBS_MASK, OBS_WRIST
from dexgrasp.data import legacy
from dexgrasp.data.fastread import FrameReader
from dexgrasp.data.schema import (
    IMAGE_LIKE_KEYS,
    KEY_RULES,
    StoreError,
    decode_meta,
    encode_meta,
    validate_frames,
)

__all__ = ["EpisodeStore", "EpisodeWriter", "StoreError", "image_compressor"]

FORMAT_NAME = "dexgrasp.episodes"
FORMAT_VERSION = 1
LOWDIM_CHUNK = 1024  # frames per chunk for state/action-like arrays
META_CHUNK = 256  # episodes per chunk of meta/episode_meta and meta/episode_ends
# Direct chunk reads win for a few frames; for longer ranges zarr's concurrent decoding
# is faster (bench/bench_store.py measures both).
DIRECT_MAX_FRAMES = 8
RAM_CACHE_BYTES = 256 << 20  # (N, D) arrays up to this size are loaded once and kept in RAM


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the episode store needs zarr: pip install 'dexgrasp[sim]'") from err
    return zarr


IMAGE_CODECS = ("zstd", "zstd-fast", "lz4", "none")


def image_compressor(codec: str = "zstd") -> Any:
    """Compressor for image and mask chunks (Blosc, bit-shuffled).

    ``zstd``: level 3, the default; ``zstd-fast``: level 1, faster writes, slightly larger;
    ``lz4``: fastest, least compression; ``none``: raw bytes. Bit shuffling compresses
    camera images better *and* faster than no shuffle here; ``bench/bench_store.py``
    measures the trade-off.
    """
    import numcodecs

    if codec not in IMAGE_CODECS:
        raise ValueError(f"image codec must be one of {IMAGE_CODECS}, got {codec!r}")
    if codec == "none":
        return None
    cname, level = {"zstd": ("zstd", 3), "zstd-fast": ("zstd", 1), "lz4": ("lz4", 5)}[codec]
    return numcodecs.Blosc(cname=cname, clevel=level, shuffle=numcodecs.Blosc.BITSHUFFLE)


def _lowdim_compressor() -> Any:
    import numcodecs

    return numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.SHUFFLE)


def _open_group(path: Path, mode: str) -> Any:
    zarr = _zarr()
    try:
        return zarr.open_group(str(path), mode=mode)
    except Exception as err:  # zarr raises several types for "not a group"
        raise StoreError(
            f"{path}: not a readable zarr group ({type(err).__name__}: {err})"
        ) from err


def _get(group: Any, name: str, where: str) -> Any:
    try:
        return group[name]
    except KeyError as err:
        raise StoreError(f"{where}: missing {name!r}") from err


class EpisodeStore:
    """Read-only view of an episode store (ours, or the authors' released layout).

    Attributes:
        path: the store directory.
        layout: ``"dexgrasp"`` or ``"dexgraspvla"`` (the authors' layout).
        keys: the frame keys, e.g. ``observation.images.head``, ``action``.
        episode_ends: (E,) int64, exclusive end frame of each episode.

    Opening validates the store and raises `StoreError` naming the episode and key of the
    first problem found (missing key, truncated arrays, non-monotonic ends, shape or dtype
    mismatch, corrupt metadata).

    Args:
        path: the store directory.
        direct_reads: read up to ``DIRECT_MAX_FRAMES`` one-frame image chunks straight
            from their files (`dexgrasp.data.fastread`), bypassing zarr's async reads, and serve
            low-dimensional (N, D) arrays such as state and action (up to
            ``RAM_CACHE_BYTES``) from memory after reading them whole on first use. Same
            results, faster; False reads everything through zarr.
    """

    def __init__(self, path: str | Path, *, direct_reads: bool = True) -> None:
        self.path = Path(path)
        self.direct_reads = direct_reads
        if not self.path.is_dir():
            raise StoreError(f"{self.path}: no episode store here (not a directory)")
        self._root = _open_group(self.path, "r")
        attrs = dict(self._root.attrs)
        data = _get(self._root, "data", str(self.path))
        meta = _get(self._root, "meta", str(self.path))
        data_names = [name for name, _ in data.arrays()]
        if attrs.get("format") == FORMAT_NAME:
            self.layout = "dexgrasp"
            self._open_ours(attrs, data, meta)
        elif legacy.is_legacy_layout(data_names):
            self.layout = "dexgraspvla"
            self._open_legacy(data, meta, data_names)
        else:
            raise StoreError(
                f"{self.path}: neither a dexgrasp episode store (root attribute "
                f"format={FORMAT_NAME!r}) nor the DexGraspVLA layout (data/rgbm, "
                f"data/right_state, ...); data/ holds {sorted(data_names)}"
            )
        self._cache: tuple[str, int, int, np.ndarray] | None = None
        self._ram: dict[str, np.ndarray] = {}
        # one-frame-chunk arrays on local disk are read without zarr's async machinery
        self._direct = {
            str(arr.path): FrameReader.maybe(self.path, arr) if direct_reads else None
            for arr, _ in self._sources.values()
        }

    # ------------------------------------------------------------------ opening
    def _open_ours(self, attrs: dict[str, Any], data: Any, meta: Any) -> None:
        if attrs.get("format_version") != FORMAT_VERSION:
            raise StoreError(
                f"{self.path}: format_version {attrs.get('format_version')!r} is not "
                f"{FORMAT_VERSION}; upgrade dexgrasp to read it"
            )
        num = meta.attrs.get("num_episodes")
        if not isinstance(num, int) or num < 0:
            raise StoreError(f"{self.path}: meta/.zattrs num_episodes={num!r} is not an int >= 0")
        ends = self._read_ends(meta, num)
        meta_arr = _get(meta, "episode_meta", f"{self.path}/meta")
        if meta_arr.shape[0] < num:
            raise StoreError(
                f"{self.path}: meta/episode_meta has {meta_arr.shape[0]} entries, "
                f"episode {meta_arr.shape[0]} of {num} has no metadata (truncated store)"
            )
        texts = meta_arr[:num] if num else []
        self._meta = [
            decode_meta(t, f"episode {i}, meta/episode_meta") for i, t in enumerate(texts)
        ]
        keys = attrs.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise StoreError(f"{self.path}: root attribute 'keys' is missing or not a list")
        self._sources: dict[str, tuple[Any, Any]] = {}
        for key in keys:
            if key not in data:
                if num == 0:  # an unfinished first episode: nothing committed to check
                    continue
                raise StoreError(f"{self.path}: data/{key} is missing (all episodes)")
            self._sources[key] = (data[key], None)
        self.keys = tuple(self._sources)
        self._set_ends(ends)
        self._check_arrays({k: a for k, (a, _) in self._sources.items()}, prefix="data/")
        for key, (arr, _) in self._sources.items():
            rule = KEY_RULES.get(key)
            if rule and (arr.dtype != rule[0] or (rule[1] and arr.ndim != rule[1] + 1)):
                raise StoreError(
                    f"{self.path}: data/{key} is {arr.shape} {arr.dtype}, expected "
                    f"{rule[1] + 1 if rule[1] else '?'}-D {rule[0]} (all episodes)"
                )
        shapes = {k: tuple(a.shape[1:]) for k, (a, _) in self._sources.items()}
        for key in (OBS_HEAD, OBS_WRIST):
            if key in shapes and shapes[key][-1] != 3:
                raise StoreError(f"{self.path}: data/{key} frames are {shapes[key]}, not RGB")
        if OBS_HEAD in shapes and OBS_MASK in shapes and shapes[OBS_HEAD][:2] != shapes[OBS_MASK]:
            raise StoreError(
                f"{self.path}: data/{OBS_MASK} frames are {shapes[OBS_MASK]} but "
                f"data/{OBS_HEAD} frames are {shapes[OBS_HEAD]} (all episodes)"
            )

    def _open_legacy(self, data: Any, meta: Any, data_names: list[str]) -> None:
        arrays = {name: data[name] for name in data_names}
        for name, arr in arrays.items():
            problem = legacy.expected_legacy_shape(name, tuple(arr.shape))
            if problem:
                raise StoreError(f"{self.path}: data/{name}: {problem} (all episodes)")
        ends_arr = _get(meta, "episode_ends", f"{self.path}/meta")
        ends = self._read_ends(meta, ends_arr.shape[0])
        sources = legacy.legacy_sources({n: tuple(a.shape) for n, a in arrays.items()})
        self._sources = {key: (arrays[name], fn) for key, (name, fn) in sources.items()}
        self.keys = tuple(self._sources)
        self._meta = [legacy.legacy_meta() for _ in range(len(ends))]
        self._set_ends(ends)
        self._check_arrays({n: arrays[n] for n, _ in sources.values()}, prefix="data/")

    def _read_ends(self, meta: Any, num: int) -> np.ndarray:
        arr = _get(meta, "episode_ends", f"{self.path}/meta")
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise StoreError(
                f"{self.path}: meta/episode_ends is {arr.shape} {arr.dtype}, expected (E,) int"
            )
        if arr.shape[0] < num:
            raise StoreError(
                f"{self.path}: meta/episode_ends has {arr.shape[0]} entries but {num} episodes "
                f"are committed; episode {arr.shape[0]} has no end (truncated store)"
            )
        ends = np.asarray(arr[:num], dtype=np.int64) if num else np.zeros(0, np.int64)
        starts = np.concatenate([[0], ends[:-1]])
        bad = np.flatnonzero(ends <= starts)
        if bad.size:
            i = int(bad[0])
            raise StoreError(
                f"{self.path}: meta/episode_ends is not increasing: episode {i} ends at "
                f"{int(ends[i])}, at or before its start {int(starts[i])}"
            )
        return ends

    def _set_ends(self, ends: np.ndarray) -> None:
        self.episode_ends = ends
        self.episode_ends.setflags(write=False)
        self._starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)

    def _check_arrays(self, arrays: Mapping[str, Any], prefix: str) -> None:
        need = self.num_frames
        for name, arr in arrays.items():
            if arr.shape[0] < need:
                ep = int(np.searchsorted(self.episode_ends, arr.shape[0], side="right"))
                raise StoreError(
                    f"{self.path}: episode {ep}, {prefix}{name}: array has {arr.shape[0]} frames "
                    f"but the episodes end at {need} (truncated store)"
                )

    def __getstate__(self) -> dict[str, Any]:
        # zarr handles are not shared across processes (DataLoader workers): reopen by path
        return {"path": str(self.path), "direct_reads": self.direct_reads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], direct_reads=state.get("direct_reads", True))

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return int(self.episode_ends.shape[0])

    def __repr__(self) -> str:
        return (
            f"EpisodeStore({str(self.path)!r}, layout={self.layout}, episodes={len(self)}, "
            f"frames={self.num_frames}, keys={list(self.keys)})"
        )

    @property
    def num_frames(self) -> int:
        """Total committed frames over all episodes."""
        return int(self.episode_ends[-1]) if len(self.episode_ends) else 0

    @property
    def episode_lengths(self) -> np.ndarray:
        """(E,) int64 frames per episode."""
        return self.episode_ends - self._starts

    def frame_shape(self, key: str) -> tuple[int, ...]:
        """Per-frame shape of ``key`` as returned by `frame` (e.g. (224, 224, 3))."""
        arr, fn = self._source(key)
        if fn is None:
            return tuple(arr.shape[1:])
        return tuple(fn(np.zeros((1, *arr.shape[1:]), arr.dtype)).shape[1:])

    def dtype(self, key: str) -> np.dtype:
        """dtype of ``key`` as returned by `frame` (e.g. uint8 for images)."""
        arr, fn = self._source(key)
        if fn is None:
            return np.dtype(arr.dtype)
        return fn(np.zeros((1, *arr.shape[1:]), arr.dtype)).dtype

    def episode_bounds(self, i: int) -> tuple[int, int]:
        """(start, stop) global frame indices of episode ``i``."""
        i = self._check_episode(i)
        return int(self._starts[i]), int(self.episode_ends[i])

    def episode_of(self, global_t: int) -> int:
        """Index of the episode containing global frame ``global_t``."""
        if not 0 <= global_t < self.num_frames:
            raise IndexError(f"frame {global_t} out of range [0, {self.num_frames})")
        return int(np.searchsorted(self.episode_ends, global_t, side="right"))

    def meta(self, i: int) -> dict[str, Any]:
        """Metadata of episode ``i`` (a copy): scene seed, objects, target, split, ..."""
        return dict(self._meta[self._check_episode(i)])

    def episodes_where(self, **conditions: Any) -> list[int]:
        """Indices of episodes whose metadata matches, e.g. ``episodes_where(split="train")``."""
        return [
            i for i, m in enumerate(self._meta) if all(m.get(k) == v for k, v in conditions.items())
        ]

    def episode(self, i: int, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """All frames of episode ``i``: key -> (T_i, ...) array."""
        start, stop = self.episode_bounds(i)
        return {key: self.slice(key, start, stop) for key in (keys or self.keys)}

    def frame(self, key: str, global_t: int) -> np.ndarray:
        """One frame of ``key`` at global index ``global_t`` (e.g. (H, W, 3) uint8)."""
        if not 0 <= global_t < self.num_frames:
            raise IndexError(f"frame {global_t} out of range [0, {self.num_frames})")
        return self.slice(key, global_t, global_t + 1)[0]

    def slice(self, key: str, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` (global indices) of ``key``: (stop - start, ...)."""
        if not 0 <= start <= stop <= self.num_frames:
            raise IndexError(f"slice [{start}, {stop}) out of range [0, {self.num_frames}]")
        arr, fn = self._source(key)
        name = str(arr.path)
        if fn is None:
            return self._read(name, arr, start, stop)
        if self._cache is not None and self._cache[:3] == (name, start, stop):
            raw = self._cache[3]  # head and mask share one rgbm read
        else:
            raw = self._read(name, arr, start, stop)
            self._cache = (name, start, stop, raw)
        return fn(raw)

    def _read(self, name: str, arr: Any, start: int, stop: int) -> np.ndarray:
        try:
            return self._read_raw(name, arr, start, stop)
        except Exception as err:  # a corrupt or truncated chunk file
            where = f"episode {self.episode_of(start)}, " if start < self.num_frames else ""
            raise StoreError(
                f"{self.path}: {where}{name} frames [{start}, {stop}) are unreadable "
                f"({type(err).__name__}: {err})"
            ) from err

    def _read_raw(self, name: str, arr: Any, start: int, stop: int) -> np.ndarray:
        direct = self._direct.get(name)
        if direct is not None and stop - start <= DIRECT_MAX_FRAMES:
            return direct.read_range(start, stop)
        if name not in self._ram and self.direct_reads and self._small(arr):
            self._ram[name] = np.asarray(arr[: self.num_frames])  # state/action: keep in RAM
        if name in self._ram:
            return self._ram[name][start:stop].copy()
        return np.asarray(arr[start:stop])

    def _small(self, arr: Any) -> bool:
        frame_bytes = int(np.prod(arr.shape[1:], dtype=np.int64)) * np.dtype(arr.dtype).itemsize
        return frame_bytes * self.num_frames <= RAM_CACHE_BYTES and arr.ndim <= 2

    def _source(self, key: str) -> tuple[Any, Any]:
        try:
            return self._sources[key]
        except KeyError:
            raise KeyError(f"no key {key!r} in {self.path}; keys: {list(self.keys)}") from None

    def _check_episode(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"episode {i} out of range for {n} episodes")
        return i % n


class EpisodeWriter:
    """Append episodes to a store: creates it, or opens an existing one and continues.

    Opening an existing store validates it (`StoreError` if it is malformed; nothing is
    changed then) and truncates any unfinished tail left by an interrupted writer.

    Args:
        path: store directory (conventionally ``*.zarr``).
        image_codec: compression of image/mask chunks of a new store (`IMAGE_CODECS`);
            an existing store keeps the codec it was created with.
    """

    def __init__(self, path: str | Path, *, image_codec: str = "zstd") -> None:
        self.path = Path(path)
        image_compressor(image_codec)  # validate early
        self._image_codec = image_codec
        if not self.path.exists() or (self.path.is_dir() and not any(self.path.iterdir())):
            self._create()
        if not (self.path / ".zgroup").is_file():
            EpisodeStore(self.path)  # raises the precise StoreError, if any
            raise StoreError(f"{self.path}: not a zarr format 2 store; only those are appendable")
        self._lock_fd = os.open(self.path / ".zgroup", os.O_RDONLY)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise StoreError(f"{self.path}: another EpisodeWriter has it open") from None
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _create(self) -> None:
        zarr = _zarr()
        tmp = self.path.with_name(f".{self.path.name}.creating-{uuid.uuid4().hex[:8]}")
        try:
            root = zarr.open_group(str(tmp), mode="w", zarr_format=2)
            root.attrs.update({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "keys": []})
            root.require_group("data")
            meta = root.require_group("meta")
            meta.create_array(
                "episode_ends", shape=(0,), chunks=(META_CHUNK,), dtype="int64", fill_value=-1
            )
            meta.create_array("episode_meta", shape=(0,), chunks=(META_CHUNK,), dtype=str)
            meta.attrs["num_episodes"] = 0
            try:
                os.replace(tmp, self.path)  # atomic; also replaces an empty directory
            except OSError:
                if not (self.path / ".zgroup").is_file():
                    raise  # otherwise another writer created it first: open theirs
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _open(self) -> None:
        store = EpisodeStore(self.path)  # validates the committed part
        if store.layout != "dexgrasp":
            raise StoreError(
                f"{self.path}: is in the {store.layout} layout, which is read-only; "
                "write a new store and copy episodes into it"
            )
        self._remove_partials()
        self._root = _open_group(self.path, "r+")
        self._data = self._root["data"]
        self._meta = self._root["meta"]
        self._num = len(store)
        self._frames = store.num_frames
        self._schema: dict[str, tuple[tuple[int, ...], str]] | None = None
        if self._num == 0:
            self._reset_data()  # an unfinished first episode may have left anything
        else:
            self._schema = {k: (store.frame_shape(k), str(store.dtype(k))) for k in store.keys}
            self._truncate()

    def _remove_partials(self) -> None:
        """Delete ``*.partial`` temporaries of zarr's atomic writes left by a killed writer."""
        for dirpath, _, names in os.walk(self.path):
            for name in names:
                if name.endswith(".partial"):
                    (Path(dirpath) / name).unlink(missing_ok=True)

    def _reset_data(self) -> None:
        for name in [n for n, _ in self._data.arrays()]:
            del self._data[name]
        self._root.attrs["keys"] = []
        self._truncate()

    def _truncate(self) -> None:
        """Drop anything past the committed episodes (an interrupted writer's tail)."""
        for _, arr in self._data.arrays():
            if arr.shape[0] != self._frames:
                arr.resize((self._frames, *arr.shape[1:]))
        for name in ("episode_ends", "episode_meta"):
            if self._meta[name].shape[0] != self._num:
                self._meta[name].resize((self._num,))

    @property
    def num_episodes(self) -> int:
        """Episodes committed so far."""
        return self._num

    @property
    def num_frames(self) -> int:
        """Frames committed so far (all episodes)."""
        return self._frames

    def add_episode(
        self, frames: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None
    ) -> int:
        """Validate, write and commit one episode; returns its index.

        Args:
            frames: key -> (T, ...) array; same T >= 1 for all keys; the first episode fixes
                the keys, per-frame shapes and dtypes (see `dexgrasp.data.schema`).
            meta: JSON-able dict (scene seed, objects, target, split, ...).

        Raises:
            StoreError: before anything is written, if frames or meta are malformed.
        """
        if self._lock_fd < 0:
            raise StoreError(f"{self.path}: writer is closed")
        where = f"add_episode (episode {self._num})"
        arrays = validate_frames(frames, self._schema, where)
        text = encode_meta(meta, where)
        if self._schema is None:
            self._create_arrays(arrays)
        t0, t1 = self._frames, self._frames + next(iter(arrays.values())).shape[0]
        for key, x in arrays.items():
            # every frame gets its chunk file, even an all-zero mask: no stale or implied data
            arr = self._data[key].with_config({"write_empty_chunks": True})
            arr.resize((t1, *arr.shape[1:]))
            arr[t0:t1] = x
        e = self._num
        self._meta["episode_meta"].resize((e + 1,))
        self._meta["episode_meta"][e] = text
        self._meta["episode_ends"].resize((e + 1,))
        self._meta["episode_ends"][e] = t1
        self._meta.attrs["num_episodes"] = e + 1  # the commit point
        self._num, self._frames = e + 1, t1
        return e

    def _create_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        for key, x in arrays.items():
            image = key in IMAGE_LIKE_KEYS or x.ndim >= 3
            self._data.create_array(
                key,
                shape=(0, *x.shape[1:]),
                chunks=(1, *x.shape[1:]) if image else (LOWDIM_CHUNK, *x.shape[1:]),
                dtype=x.dtype,
                compressors=image_compressor(self._image_codec) if image else _lowdim_compressor(),
                fill_value=0,
            )
        self._root.attrs["keys"] = list(arrays)
        self._schema = {k: (tuple(x.shape[1:]), str(x.dtype)) for k, x in arrays.items()}

    def close(self) -> None:
        """Release the store (episodes are committed by `add_episode`; nothing to flush)."""
        if getattr(self, "_lock_fd", -1) >= 0:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = -1

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
