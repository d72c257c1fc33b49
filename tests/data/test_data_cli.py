"""`dexgrasp inspect`, `stats` and `append` (registered on a parser of their own)."""

from __future__ import annotations

import argparse
import json

import numpy as np

from dexgrasp.data import cli as data_cli
from dexgrasp.data.episodes import EpisodeStore, EpisodeWriter
from dexgrasp.data.legacy import write_legacy_store
from dexgrasp.data.normalize import NormalizationStats
from dexgrasp.viz.images import load_png


def _run(argv):
    parser = argparse.ArgumentParser(prog="dexgrasp")
    top = parser.add_subparsers(dest="command", required=True)
    data_cli.register(top, {})
    args = parser.parse_args(argv)
    return args.func(args)


def _store(tmp_path, episodes):
    path = tmp_path / "s.zarr"
    with EpisodeWriter(path) as w:
        for i, ep in enumerate(episodes):
            w.add_episode(
                ep,
                {
                    "split": "val" if i == 2 else "train",
                    "seed": i,
                    "objects": ["mug", "can"],
                    "target": i % 2,
                },
            )
    return path


def test_inspect_prints_summary_and_sheet(tmp_path, episodes, capsys):
    path = _store(tmp_path, episodes)
    assert (
        _run(
            ["inspect", str(path), "--episode", "1", "--out", str(tmp_path / "o"), "--frames", "3"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "episodes 3" in out and "frames 15" in out
    assert "observation.images.head" in out and "(16, 16, 3)" in out
    assert "train: 2, val: 1" in out and "mug: 2, can: 1" in out
    sheet = load_png(tmp_path / "o" / "episode_00001.png")
    assert sheet.shape[1] > 3 * 16 and sheet.shape[0] > 2 * 16  # 3 steps x (head, wrist)


def test_inspect_json_and_legacy(tmp_path, episodes, capsys):
    path = write_legacy_store(tmp_path / "theirs.zarr", episodes)
    assert _run(["inspect", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["layout"] == "dexgraspvla" and summary["episodes"] == 3
    assert summary["keys"]["observation.mask"] == {"shape": [16, 16], "dtype": "uint8"}


def test_inspect_errors(tmp_path, episodes, capsys):
    assert _run(["inspect", str(tmp_path / "missing.zarr")]) == 2
    assert "no episode store" in capsys.readouterr().err
    path = _store(tmp_path, episodes)
    assert _run(["inspect", str(path), "--episode", "7", "--out", str(tmp_path)]) == 2


def test_stats_command(tmp_path, episodes, capsys):
    path = _store(tmp_path, episodes)
    out = tmp_path / "stats.safetensors"
    assert _run(["stats", str(path), "--out", str(out), "--split", "train"]) == 0
    stats = NormalizationStats.load(out, expected={"observation.state": (13,), "action": (13,)})
    want = np.concatenate([e["action"] for e in episodes[:2]])
    np.testing.assert_allclose(stats.stats["action"]["max"], want.max(0))
    assert stats.counts["action"] == 9


def test_inspect_video(tmp_path, episodes):
    from dexgrasp.viz.video import read_mp4

    path = _store(tmp_path, episodes)
    assert _run(["inspect", str(path), "--episode", "0", "--out", str(tmp_path), "--video"]) == 0
    video = read_mp4(tmp_path / "episode_00000.mp4")
    assert video.shape == (4, 16, 32, 3)  # head | wrist side by side, 4 steps


def test_append_copies_episodes_and_refuses_a_mismatch(tmp_path, episodes, episode_factory, capsys):
    src = _store(tmp_path, episodes)
    dest = tmp_path / "dest.zarr"
    with EpisodeWriter(dest) as w:
        w.add_episode(episodes[0], {"split": "train", "seed": 99})
    assert _run(["append", str(src), "--to", str(dest)]) == 0
    out, back = EpisodeStore(dest), EpisodeStore(src)
    assert len(out) == 1 + len(back)
    for i in range(len(back)):
        assert out.meta(i + 1) == back.meta(i)
        for key, x in back.episode(i).items():
            np.testing.assert_array_equal(out.episode(i + 1)[key], x)
    # A store with other frame shapes is refused; what DEST held stays.
    other = tmp_path / "other.zarr"
    with EpisodeWriter(other) as w:
        w.add_episode(episode_factory(0, size=8))  # other image size
    assert _run(["append", str(other), "--to", str(dest)]) == 2
    assert "error" in capsys.readouterr().err
    assert len(EpisodeStore(dest)) == 1 + len(back)
    assert _run(["append", str(dest), "--to", str(dest)]) == 2
