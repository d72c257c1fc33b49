"""Video and image utilities (viz/video.py, viz/images.py)."""

from __future__ import annotations

import numpy as np
import pytest

from dexgrasp.viz.images import draw_box, load_png, overlay_mask, save_png, tile, to_rgb_uint8
from dexgrasp.viz.video import read_mp4, write_mp4


def _frames(n, h, w):
    y, x = np.mgrid[0:h, 0:w]
    for t in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[..., 0] = (x * 255 // max(w - 1, 1)).astype(np.uint8)
        f[..., 1] = (y * 255 // max(h - 1, 1)).astype(np.uint8)
        f[..., 2] = t * 20
        yield f


@pytest.mark.parametrize(("h", "w"), [(32, 48), (31, 45)])
def test_write_mp4_round_trip(tmp_path, h, w):
    frames = list(_frames(8, h, w))
    n = write_mp4(tmp_path / "v" / "a.mp4", iter(frames), fps=20)
    assert n == 8
    back = read_mp4(tmp_path / "v" / "a.mp4")
    assert back.shape == (8, h + h % 2, w + w % 2, 3)  # odd sizes padded to even
    err = np.abs(back[:, :h, :w].astype(int) - np.stack(frames).astype(int)).mean()
    assert err < 6  # lossy, but the same picture


def test_write_mp4_is_h264_yuv420p(tmp_path):
    import subprocess

    import imageio_ffmpeg

    write_mp4(tmp_path / "a.mp4", _frames(3, 16, 16))
    info = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(tmp_path / "a.mp4")],
        capture_output=True,
        text=True,
    ).stderr
    assert "h264" in info and "yuv420p" in info


def test_write_mp4_rejects_bad_frames(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "a.mp4", [])
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "b.mp4", [np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match="differs"):
        write_mp4(
            tmp_path / "c.mp4", [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)]
        )
    assert not (tmp_path / "c.mp4").exists()


def test_overlay_mask():
    img = np.full((4, 5, 3), 100, np.uint8)
    mask = np.zeros((4, 5), np.uint8)
    mask[1:3, 2:4] = 1
    out = overlay_mask(img, mask, color=(255, 0, 0), alpha=0.5)
    np.testing.assert_array_equal(out[1, 2], [178, 50, 50])
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(img, 100)  # input untouched
    with pytest.raises(ValueError, match="mask shape"):
        overlay_mask(img, np.zeros((5, 4)))
    with pytest.raises(ValueError, match="alpha"):
        overlay_mask(img, mask, alpha=2)


def test_draw_box():
    img = np.zeros((20, 30, 3), np.uint8)
    out = draw_box(img, (5, 4, 15, 12), color=(0, 255, 0), width=1)
    assert tuple(out[4, 10]) == (0, 255, 0) and tuple(out[12, 5]) == (0, 255, 0)
    assert tuple(out[8, 10]) == (0, 0, 0)  # outline only
    assert out.shape == img.shape and img.max() == 0
    draw_box(img, (-10, -10, 100, 100), label="mug")  # clipped, no error
    with pytest.raises(ValueError, match="x0 <= x1"):
        draw_box(img, (10, 0, 5, 5))


def test_tile_layout_and_labels():
    ims = [np.full((10, 12, 3), v, np.uint8) for v in (0, 80, 160)]
    ims.append(np.ones((6, 6), np.float32))  # grayscale float, smaller
    out = tile(ims, ncols=2, pad=2, background=50)
    assert out.shape == (2 * (10 + 2) + 2, 2 * (12 + 2) + 2, 3)
    np.testing.assert_array_equal(out[2 + 12, 2], [160, 160, 160])  # row 1, col 0
    np.testing.assert_array_equal(out[14 + 3, 16 + 3], [255, 255, 255])  # the float image
    np.testing.assert_array_equal(out[14 + 8, 16 + 8], [50, 50, 50])  # its cell's padding
    np.testing.assert_array_equal(out[0, 0], [50, 50, 50])
    labelled = tile(ims, ncols=4, labels=["a", "b", "c", "d"])
    assert labelled.shape[0] == 10 + 12 + 4
    with pytest.raises(ValueError, match="labels"):
        tile(ims, ncols=2, labels=["a"])


def test_png_round_trip(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(load_png(save_png(tmp_path / "x" / "a.png", img)), img)
    assert to_rgb_uint8(np.ones((2, 2), bool)).max() == 255
