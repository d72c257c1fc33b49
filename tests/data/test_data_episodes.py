"""Episode store: round trip, append, validation of frames and of malformed stores."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import zarr

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.data.episodes import EpisodeStore, EpisodeWriter, StoreError


def _write(path, episodes, metas=None):
    with EpisodeWriter(path) as w:
        for i, ep in enumerate(episodes):
            assert w.add_episode(ep, (metas or [{}] * len(episodes))[i]) == i
    return path


def test_round_trip_and_random_access(tmp_path, episodes):
    metas = [
        {"split": "train", "seed": np.int64(i), "objects": ["mug"], "target": 0} for i in range(3)
    ]
    metas[2]["split"] = "val"
    store = EpisodeStore(_write(tmp_path / "s.zarr", episodes, metas))
    assert len(store) == 3
    assert store.layout == "dexgrasp"
    assert store.episode_ends.tolist() == [4, 9, 15]
    assert store.episode_ends.dtype == np.int64
    assert set(store.keys) == set(episodes[0])
    for i, ep in enumerate(episodes):
        got = store.episode(i)
        for key, x in ep.items():
            np.testing.assert_array_equal(got[key], x)
            assert got[key].dtype == x.dtype
    assert store.meta(1) == {"split": "train", "seed": 1, "objects": ["mug"], "target": 0}
    assert store.episodes_where(split="val") == [2]
    np.testing.assert_array_equal(store.frame(OBS_HEAD, 5), episodes[1][OBS_HEAD][1])
    np.testing.assert_array_equal(
        store.slice(ACTION, 3, 6), np.concatenate([e[ACTION] for e in episodes])[3:6]
    )
    assert store.episode_of(9) == 2 and store.episode_bounds(1) == (4, 9)
    assert store.frame_shape(OBS_MASK) == (16, 16)
    with pytest.raises(IndexError):
        store.frame(ACTION, 15)
    with pytest.raises(KeyError, match="nope"):
        store.slice("nope", 0, 1)


def test_reopen_appends(tmp_path, episodes):
    path = _write(tmp_path / "s.zarr", episodes[:2])
    with EpisodeWriter(path) as w:
        assert w.num_episodes == 2
        assert w.add_episode(episodes[2], {"split": "test"}) == 2
    store = EpisodeStore(path)
    assert len(store) == 3
    np.testing.assert_array_equal(store.episode(2)[OBS_STATE], episodes[2][OBS_STATE])
    assert store.meta(2) == {"split": "test"}


def test_zarr_format_2_on_disk(tmp_path, episodes):
    path = _write(tmp_path / "s.zarr", episodes[:1])
    zarray = json.loads((path / "data" / OBS_HEAD / ".zarray").read_text())
    assert zarray["zarr_format"] == 2
    assert zarray["chunks"][0] == 1  # one frame per image chunk
    assert zarray["compressor"]["cname"] == "zstd"


def test_custom_keys_and_float64_cast(tmp_path, episode_factory):
    ep = {OBS_STATE: np.zeros((3, 13)), "observation.box": np.ones((3, 4), np.int32)}
    store = EpisodeStore(_write(tmp_path / "s.zarr", [ep]))
    assert store.slice(OBS_STATE, 0, 3).dtype == np.float32
    assert store.slice("observation.box", 0, 3).dtype == np.int32


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda e: e.update({ACTION: e[ACTION][:-1]}), "different lengths"),
        (lambda e: e.update({OBS_WRIST: e[OBS_WRIST][:, :8]}), "frames are"),
        (lambda e: e.update({OBS_HEAD: e[OBS_HEAD].astype(np.float32)}), "uint8"),
        (lambda e: e.update({OBS_MASK: e[OBS_MASK] * 255}), "values up to 255"),
        (lambda e: e[OBS_STATE].__setitem__((1, 2), np.nan), "NaN"),
        (lambda e: e.pop(ACTION), "missing \\['action'\\]"),
        (lambda e: e.update({"extra": np.zeros(len(e[ACTION]))}), "unexpected \\['extra'\\]"),
        (lambda e: e.update({ACTION: np.zeros((0, 13), np.float32)}), "T >= 1"),
    ],
)
def test_add_episode_refuses_bad_frames_before_writing(tmp_path, episodes, change, match):
    path = _write(tmp_path / "s.zarr", episodes[:1])
    before = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    bad = {k: v.copy() for k, v in episodes[1].items()}
    change(bad)
    with EpisodeWriter(path) as w, pytest.raises(StoreError, match=match):
        w.add_episode(bad, {})
    after = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    assert before == after
    assert len(EpisodeStore(path)) == 1


def test_bad_meta_refused(tmp_path, episodes):
    with EpisodeWriter(tmp_path / "s.zarr") as w:
        with pytest.raises(StoreError, match="meta"):
            w.add_episode(episodes[0], {"x": object()})
        with pytest.raises(StoreError, match="meta"):
            w.add_episode(episodes[0], {"x": float("nan")})
        assert w.num_episodes == 0


def test_mask_must_match_head(tmp_path, episodes):
    ep = dict(episodes[0], **{OBS_MASK: np.zeros((4, 8, 8), np.uint8)})
    with EpisodeWriter(tmp_path / "s.zarr") as w, pytest.raises(StoreError, match="head image"):
        w.add_episode(ep, {})


def test_second_writer_refused(tmp_path, episodes):
    path = _write(tmp_path / "s.zarr", episodes[:1])
    with EpisodeWriter(path), pytest.raises(StoreError, match="another EpisodeWriter"):
        EpisodeWriter(path)
    with EpisodeWriter(path) as w:  # released on close
        assert w.num_episodes == 1


def test_empty_store(tmp_path):
    path = tmp_path / "empty.zarr"
    path.mkdir()
    EpisodeWriter(path).close()
    store = EpisodeStore(path)
    assert len(store) == 0 and store.num_frames == 0


def _corrupt_missing_key(path):
    shutil.rmtree(path / "data" / ACTION)


def _corrupt_truncated(path):
    zarr.open_array(str(path / "data" / OBS_STATE), mode="r+").resize((7, 13))


def _corrupt_non_monotonic(path):
    zarr.open_array(str(path / "meta" / "episode_ends"), mode="r+")[1] = 3


def _corrupt_dtype(path):
    root = zarr.open_group(str(path), mode="r+")
    x = root["data"][ACTION][:]
    del root["data"][ACTION]
    root["data"].create_array(ACTION, data=x.astype(np.float64))


def _corrupt_meta(path):
    zarr.open_array(str(path / "meta" / "episode_meta"), mode="r+")[1] = '{"split": "tr'


def _corrupt_count(path):
    zarr.open_group(str(path / "meta"), mode="r+").attrs["num_episodes"] = 5


def _corrupt_frame_shape(path):
    root = zarr.open_group(str(path), mode="r+")
    del root["data"][OBS_HEAD]
    root["data"].create_array(OBS_HEAD, data=np.zeros((15, 16, 16), np.uint8))


def _corrupt_mask_size(path):
    root = zarr.open_group(str(path), mode="r+")
    del root["data"][OBS_MASK]
    root["data"].create_array(OBS_MASK, data=np.zeros((15, 8, 8), np.uint8))


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (_corrupt_mask_size, "data/observation.mask frames are \\(8, 8\\)"),
        (_corrupt_missing_key, "data/action is missing"),
        (_corrupt_truncated, "episode 1, data/observation.state: array has 7 frames"),
        (_corrupt_non_monotonic, "episode 1 ends at 3"),
        (_corrupt_dtype, "data/action is .* float64"),
        (_corrupt_meta, "episode 1, meta/episode_meta: metadata is not valid JSON"),
        (_corrupt_count, "episode 3 has no end"),
        (_corrupt_frame_shape, "data/observation.images.head"),
    ],
)
def test_malformed_store_raises_store_error(tmp_path, episodes, corrupt, match):
    path = _write(tmp_path / "s.zarr", episodes, [{"split": "train"}] * 3)
    corrupt(path)
    with pytest.raises(StoreError, match=match):
        EpisodeStore(path)
    with pytest.raises(StoreError, match=match):  # the writer refuses too, changing nothing
        EpisodeWriter(path)


def test_not_a_store(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file.txt").write_text("hello")
    with pytest.raises(StoreError):
        EpisodeStore(tmp_path / "x")
    with pytest.raises(StoreError):
        EpisodeStore(tmp_path / "missing")
    root = zarr.open_group(str(tmp_path / "other.zarr"), mode="w", zarr_format=2)
    root.require_group("data").create_array("foo", data=np.zeros(3))
    root.require_group("meta")
    with pytest.raises(StoreError, match="neither"):
        EpisodeStore(tmp_path / "other.zarr")


def test_store_pickles_by_path(tmp_path, episodes):
    import pickle

    store = EpisodeStore(_write(tmp_path / "s.zarr", episodes))
    clone = pickle.loads(pickle.dumps(store))
    assert len(pickle.dumps(store)) < 1000  # the path, not the data
    np.testing.assert_array_equal(clone.frame(OBS_HEAD, 7), store.frame(OBS_HEAD, 7))


def test_package_import_does_not_load_zarr():
    import subprocess
    import sys

    code = "import sys, dexgrasp.data; print('zarr' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("codec", ["zstd-fast", "lz4", "none"])
def test_image_codecs_round_trip(tmp_path, episodes, codec):
    path = tmp_path / "s.zarr"
    with EpisodeWriter(path, image_codec=codec) as w:
        w.add_episode(episodes[0], {})
    np.testing.assert_array_equal(EpisodeStore(path).episode(0)[OBS_HEAD], episodes[0][OBS_HEAD])
    with pytest.raises(ValueError, match="image codec"):
        EpisodeWriter(tmp_path / "t.zarr", image_codec="bz2")


def test_slices_across_episode_boundaries(tmp_path):
    """Random episode lengths: global slices equal the concatenation, ends are cumulative."""
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 40, size=12)
    actions = [rng.normal(size=(n, 13)).astype(np.float32) for n in lengths]
    with EpisodeWriter(tmp_path / "s.zarr") as w:
        for a in actions:
            w.add_episode({ACTION: a}, {})
    store = EpisodeStore(tmp_path / "s.zarr")
    flat = np.concatenate(actions)
    assert store.episode_ends.tolist() == np.cumsum(lengths).tolist()
    for a, b in rng.integers(0, len(flat), size=(20, 2)):
        a, b = sorted((int(a), int(b)))
        np.testing.assert_array_equal(store.slice(ACTION, a, b), flat[a:b])
    for t in rng.integers(0, len(flat), size=20):
        i = store.episode_of(int(t))
        start, stop = store.episode_bounds(i)
        assert start <= t < stop


def test_append_across_lowdim_chunk_boundaries(tmp_path):
    """Reopening and appending rewrites partly filled 1024-frame chunks correctly."""
    rng = np.random.default_rng(2)
    actions = [rng.normal(size=(300, 13)).astype(np.float32) for _ in range(8)]
    for k in range(0, 8, 3):  # three writer sessions
        with EpisodeWriter(tmp_path / "s.zarr") as w:
            for a in actions[k : k + 3]:
                w.add_episode({ACTION: a}, {})
    store = EpisodeStore(tmp_path / "s.zarr")
    np.testing.assert_array_equal(store.slice(ACTION, 0, 2400), np.concatenate(actions))


def test_direct_reads_match_zarr(tmp_path, episodes):
    from dexgrasp.data.legacy import write_legacy_store

    ours = _write(tmp_path / "s.zarr", episodes)
    theirs = write_legacy_store(tmp_path / "t.zarr", episodes, mask_scale=255)
    for path in (ours, theirs):
        fast, slow = EpisodeStore(path), EpisodeStore(path, direct_reads=False)
        assert any(r is not None for r in fast._direct.values())  # the fast path is in use
        assert all(r is None for r in slow._direct.values())
        for key in fast.keys:
            np.testing.assert_array_equal(fast.slice(key, 0, 15), slow.slice(key, 0, 15))
            np.testing.assert_array_equal(fast.slice(key, 3, 9), slow.slice(key, 3, 9))
            np.testing.assert_array_equal(fast.frame(key, 6), slow.frame(key, 6))
        frame = fast.frame(OBS_HEAD, 3)
        frame[0, 0] = 7  # a writable copy
    (ours / "data" / OBS_MASK / "5.0.0").unlink()  # a chunk never written reads as fill
    np.testing.assert_array_equal(EpisodeStore(ours).frame(OBS_MASK, 5), 0)
    np.testing.assert_array_equal(EpisodeStore(ours, direct_reads=False).frame(OBS_MASK, 5), 0)


def test_all_zero_frames_are_written(tmp_path, episodes):
    ep = dict(episodes[0], **{OBS_MASK: np.zeros((4, 16, 16), np.uint8)})
    path = _write(tmp_path / "s.zarr", [ep])
    assert (path / "data" / OBS_MASK / "3.0.0").is_file()


@pytest.mark.parametrize("direct_reads", [True, False])
def test_corrupt_chunk_names_episode_and_key(tmp_path, episodes, direct_reads):
    path = _write(tmp_path / "s.zarr", episodes)
    (path / "data" / OBS_HEAD / "6.0.0.0").write_bytes(b"not a blosc chunk")
    store = EpisodeStore(path, direct_reads=direct_reads)
    with pytest.raises(StoreError, match="episode 1, data/observation.images.head frames"):
        store.frame(OBS_HEAD, 6)
    np.testing.assert_array_equal(store.frame(OBS_HEAD, 7), episodes[1][OBS_HEAD][3])
