"""A writer killed with SIGKILL mid-episode leaves every finished episode readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from dexgrasp.data.episodes import EpisodeStore, EpisodeWriter

HERE = Path(__file__).parent

# The child counts zarr array writes (resize / setitem) during its last episode and
# SIGKILLs itself right after write number KILL_AT: a deterministic "crash" at each step.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {here!r})
    import zarr
    from conftest import make_episode
    from dexgrasp.data.episodes import EpisodeWriter

    path, n_full, kill_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    state = {{"armed": False, "ops": 0}}

    def wrap(name):
        orig = getattr(zarr.Array, name)
        def patched(self, *args, **kwargs):
            out = orig(self, *args, **kwargs)
            if state["armed"]:
                state["ops"] += 1
                if state["ops"] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return out
        setattr(zarr.Array, name, patched)

    wrap("resize")
    wrap("__setitem__")
    w = EpisodeWriter(path)
    for i in range(n_full):
        w.add_episode(make_episode(i), {{"i": i}})
    if kill_at < 0:  # run until killed from outside
        i = n_full
        while True:
            w.add_episode(make_episode(i, length=20, size=64), {{"i": i}})
            print("committed", i, flush=True)
            i += 1
    state["armed"] = True
    w.add_episode(make_episode(n_full), {{"i": n_full}})
    os.kill(os.getpid(), signal.SIGKILL)  # after the commit, before close()
    """
).format(here=str(HERE))


def _run_child(path: Path, n_full: int, kill_at: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(n_full), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def _check_and_resume(path: Path, expected: int, episode_factory, lengths=None) -> None:
    def make(i):
        return episode_factory(i, **(lengths(i) if lengths else {}))

    store = EpisodeStore(path)
    assert len(store) == expected
    for i in range(expected):
        want = make(i)
        got = store.episode(i)
        for key, x in want.items():
            np.testing.assert_array_equal(got[key], x, err_msg=f"episode {i} {key}")
        assert store.meta(i) == {"i": i}
    with EpisodeWriter(path) as w:
        assert w.num_episodes == expected
        assert w.add_episode(make(100), {"i": 100}) == expected
    store = EpisodeStore(path)
    assert len(store) == expected + 1
    assert not list(path.rglob("*.partial"))  # temporaries of interrupted writes are gone
    np.testing.assert_array_equal(store.episode(expected)["action"], make(100)["action"])
    root = zarr.open_group(str(path), mode="r")
    for name, arr in root["data"].arrays():  # the partial tail was truncated
        assert arr.shape[0] == store.num_frames, name
    assert root["meta"]["episode_meta"].shape == (expected + 1,)


# 5 keys x (resize, write) = 10 data ops, then meta (2) and ends (2): 14 ops per episode.
@pytest.mark.parametrize("kill_at", [1, 4, 10, 11, 12, 13, 14, 99])
def test_sigkill_mid_episode(tmp_path, episode_factory, kill_at):
    path = tmp_path / "s.zarr"
    _run_child(path, n_full=2, kill_at=kill_at)
    _check_and_resume(path, expected=3 if kill_at == 99 else 2, episode_factory=episode_factory)


def test_leftover_partial_files_are_removed(tmp_path, episode_factory):
    path = tmp_path / "s.zarr"
    _run_child(path, n_full=2, kill_at=99)
    (path / "data" / "action" / "0.0.0123abc.partial").write_bytes(b"torn")
    (path / "meta" / ".0123abc.partial").write_bytes(b"torn")
    _check_and_resume(path, expected=3, episode_factory=episode_factory)


def test_sigkill_during_first_episode(tmp_path, episode_factory):
    path = tmp_path / "s.zarr"
    _run_child(path, n_full=0, kill_at=6)
    _check_and_resume(path, expected=0, episode_factory=episode_factory)


def test_sigkill_at_a_random_time(tmp_path, episode_factory):
    path = tmp_path / "s.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), "0", "-1"], stdout=subprocess.PIPE, text=True
    )
    try:
        committed = -1
        deadline = time.monotonic() + 60
        while committed < 1 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("committed"):
                committed = int(line.split()[1])
        assert committed >= 1, "child did not commit two episodes"
        # mid-write of a later episode; the store stays readable while being written
        assert len(EpisodeStore(path)) >= 2
        time.sleep(float(np.random.default_rng(0).uniform(0.0, 0.05)))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    n = len(EpisodeStore(path))
    assert n >= committed + 1
    _check_and_resume(path, n, episode_factory, lengths=lambda i: {"length": 20, "size": 64})
