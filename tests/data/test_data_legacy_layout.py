"""Reading the DexGraspVLA authors' zarr layout (data/rgbm, data/right_state, ...)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.data.episodes import EpisodeStore, EpisodeWriter, StoreError
from dexgrasp.data.legacy import write_legacy_store


@pytest.mark.parametrize("mask_scale", [1, 255])
def test_legacy_store_reads_as_our_keys(tmp_path, episodes, mask_scale):
    path = write_legacy_store(tmp_path / "theirs.zarr", episodes, mask_scale=mask_scale)
    root = zarr.open_group(str(path), mode="r")
    assert root["data"]["rgbm"].shape == (15, 16, 16, 4)  # really their layout on disk
    store = EpisodeStore(path)
    assert store.layout == "dexgraspvla"
    assert set(store.keys) == {OBS_HEAD, OBS_WRIST, OBS_MASK, OBS_STATE, ACTION}
    assert store.episode_ends.tolist() == [4, 9, 15]
    for i, ep in enumerate(episodes):
        got = store.episode(i)
        for key, x in ep.items():
            np.testing.assert_array_equal(got[key], x, err_msg=key)
            assert got[key].dtype == x.dtype, key
    assert store.meta(0) == {}
    np.testing.assert_array_equal(store.frame(OBS_MASK, 5), episodes[1][OBS_MASK][1])
    assert store.frame_shape(OBS_HEAD) == (16, 16, 3)
    assert store.frame_shape(OBS_MASK) == (16, 16)


def test_legacy_channel_first_fork(tmp_path, episodes):
    """Some forks store (T, C, H, W); it is detected and transposed."""
    root = zarr.open_group(str(tmp_path / "chw.zarr"), mode="w", zarr_format=2)
    ep = episodes[0]
    rgbm = np.concatenate([ep[OBS_HEAD], ep[OBS_MASK][..., None] * 255], -1).transpose(0, 3, 1, 2)
    root.require_group("data").create_array("rgbm", data=np.ascontiguousarray(rgbm))
    wrist = np.ascontiguousarray(ep[OBS_WRIST].transpose(0, 3, 1, 2))
    root["data"].create_array("right_cam_img", data=wrist)
    root["data"].create_array("right_state", data=ep[OBS_STATE].astype(np.float64))
    root.require_group("meta").create_array("episode_ends", data=np.array([4], np.int64))
    store = EpisodeStore(tmp_path / "chw.zarr")
    got = store.episode(0)
    np.testing.assert_array_equal(got[OBS_HEAD], ep[OBS_HEAD])
    np.testing.assert_array_equal(got[OBS_MASK], ep[OBS_MASK])
    np.testing.assert_array_equal(got[OBS_WRIST], ep[OBS_WRIST])
    assert got[OBS_STATE].dtype == np.float32
    assert ACTION not in store.keys


def test_legacy_validation(tmp_path, episodes):
    path = write_legacy_store(tmp_path / "theirs.zarr", episodes)
    zarr.open_array(str(path / "data" / "right_state"), mode="r+").resize((12, 13))
    with pytest.raises(StoreError, match="episode 2, data/right_state"):
        EpisodeStore(path)
    zarr.open_array(str(path / "meta" / "episode_ends"), mode="r+")[2] = 8
    with pytest.raises(StoreError, match="episode 2 ends at 8"):
        EpisodeStore(path)


def test_legacy_bad_rgbm_shape(tmp_path):
    root = zarr.open_group(str(tmp_path / "bad.zarr"), mode="w", zarr_format=2)
    root.require_group("data").create_array("rgbm", data=np.zeros((2, 8, 8, 3), np.uint8))
    root.require_group("meta").create_array("episode_ends", data=np.array([2], np.int64))
    with pytest.raises(StoreError, match="data/rgbm"):
        EpisodeStore(tmp_path / "bad.zarr")


def test_writer_refuses_legacy_store(tmp_path, episodes):
    path = write_legacy_store(tmp_path / "theirs.zarr", episodes)
    with pytest.raises(StoreError, match="read-only"):
        EpisodeWriter(path)
