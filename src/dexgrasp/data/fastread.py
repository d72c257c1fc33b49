"""Direct reads of one-frame chunks of a zarr format 2 array on local disk.

Random access to a single image is the store's hot path (a training sample reads three).
zarr-python 3 routes every read through its asyncio machinery, which costs about as much
as reading and decoding the chunk itself; for arrays chunked one frame per chunk the chunk
file is ``<array>/<t><sep>0<sep>0...`` and can be read and decoded directly with the array's
own compressor. `FrameReader.maybe` returns None for any array this does not cover
(other chunking, filters, non-native byte order, remote stores), which then goes through
zarr as usual. Results are identical to zarr's (tested).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np


class FrameReader:
    """Reads frame ``t`` of an (N, ...) array stored one frame per chunk."""

    def __init__(self, directory: Path, arr: Any) -> None:
        md = arr.metadata
        self.directory = directory
        self.shape = tuple(arr.shape)
        self.frame_shape = self.shape[1:]
        self.dtype = np.dtype(arr.dtype)
        self.codec = md.compressor
        self.fill_value = md.fill_value
        sep = md.dimension_separator or "."
        self.suffix = "".join(sep + "0" for _ in self.frame_shape)

    @classmethod
    def maybe(cls, store_path: Path, arr: Any) -> FrameReader | None:
        """A reader for ``arr`` if its layout allows direct reads, else None."""
        md = arr.metadata
        try:
            ok = (
                md.zarr_format == 2
                and tuple(arr.chunks) == (1, *arr.shape[1:])
                and not md.filters
                and md.order == "C"
                and np.dtype(arr.dtype).kind in "biuf"
                and np.dtype(arr.dtype).byteorder
                in ("=", "|", "<" if sys.byteorder == "little" else ">")
            )
        except (AttributeError, TypeError):
            return None
        directory = Path(store_path) / str(arr.path)
        if not ok or not (directory / ".zarray").is_file():
            return None
        return cls(directory, arr)

    def read(self, t: int) -> np.ndarray:
        """Frame ``t`` as a new, writable array of the per-frame shape."""
        out = np.empty(self.frame_shape, self.dtype)
        self._read_into(t, out)
        return out

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` as (stop - start, ...)."""
        out = np.empty((stop - start, *self.frame_shape), self.dtype)
        for i, t in enumerate(range(start, stop)):
            self._read_into(t, out[i])
        return out

    def _read_into(self, t: int, out: np.ndarray) -> None:
        try:
            raw = (self.directory / f"{t}{self.suffix}").read_bytes()
        except FileNotFoundError:  # never-written chunk: zarr's fill value
            out[...] = self.fill_value
            return
        if self.codec is None:
            out.reshape(-1).view(np.uint8)[:] = np.frombuffer(raw, np.uint8)
        else:
            self.codec.decode(raw, out=out)
