"""MP4 writing and reading through imageio-ffmpeg (H.264, yuv420p: plays everywhere).

yuv420p needs even frame sizes, so odd heights/widths are padded by one edge pixel
(replicated) rather than resized; frames stream to ffmpeg one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dexgrasp.constants import CONTROL_HZ


def _ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "video writing needs imageio-ffmpeg: pip install 'dexgrasp[sim]'"
        ) from err
    return imageio_ffmpeg


def _pad_even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(frame)


def write_mp4(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float = CONTROL_HZ,
    crf: int = 20,
) -> int:
    """Encode (H, W, 3) uint8 RGB frames as H.264/yuv420p MP4; returns the frame count.

    Args:
        path: output file (parent directories are created).
        frames: any iterable (a generator is fine); all frames must share one shape.
        fps: frames per second (default: the 20 Hz control rate).
        crf: x264 constant rate factor, 0 (lossless) .. 51 (worst); 20 looks clean.

    Raises:
        ValueError: no frames, a frame that is not (H, W, 3) uint8, or a size change.
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be in [0, 51], got {crf}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    shape = None
    count = 0
    try:
        for frame in frames:
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
                raise ValueError(
                    f"frame {count}: expected (H, W, 3) uint8, got {frame.shape} {frame.dtype}"
                )
            if shape is None:
                shape = frame.shape
                padded = _pad_even(frame)
                writer = _ffmpeg().write_frames(
                    str(path),
                    size=(padded.shape[1], padded.shape[0]),
                    fps=fps,
                    codec="libx264",
                    pix_fmt_in="rgb24",
                    pix_fmt_out="yuv420p",
                    quality=None,
                    macro_block_size=1,
                    ffmpeg_log_level="error",
                    output_params=["-crf", str(int(crf))],
                )
                writer.send(None)  # start ffmpeg
            elif frame.shape != shape:
                raise ValueError(
                    f"frame {count}: shape {frame.shape} differs from the first {shape}"
                )
            writer.send(_pad_even(frame).tobytes())
            count += 1
    except BaseException:
        if writer is not None:
            writer.close()
            path.unlink(missing_ok=True)  # no half-written video left behind
        raise
    if writer is not None:
        writer.close()
    if count == 0:
        raise ValueError(f"{path}: no frames to write")
    return count


def read_mp4(path: str | Path) -> np.ndarray:
    """Decode a video to (T, H, W, 3) uint8 RGB (whole file in memory)."""
    reader = _ffmpeg().read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    w, h = meta["size"]
    frames = [np.frombuffer(buf, np.uint8).reshape(h, w, 3) for buf in reader]
    return np.stack(frames) if frames else np.zeros((0, h, w, 3), np.uint8)
