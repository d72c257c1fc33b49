"""Episode store throughput at 224x224: write, random single-frame reads, training-style
sample reads and whole-episode reads, for each image codec side by side.

    python bench/bench_store.py [--episodes 16] [--codecs zstd zstd-fast lz4 none]

A "frame" is one time step with every key: head + wrist RGB (224x224x3 uint8), mask
(224x224 uint8), 13-D state and action: 351,336 raw bytes. Images are synthetic
tabletop-like scenes (smooth shading, moving objects), not random bytes, so compression
ratios mean something: "rendered" is noise-free like our MuJoCo renders, "camera" adds
Gaussian sensor noise (sigma 2 gray levels) like a real camera. Reads are measured with
the store's direct chunk reads (default) and through zarr (``direct_reads=False``) side by
side, alternating, best of 5 (the machine is shared). Prints a table; writes
bench/results/store.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from dexgrasp.constants import ACTION, EPISODE_STEPS, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.data.episodes import EpisodeStore, EpisodeWriter
from dexgrasp.data.legacy import write_legacy_store

SIZE = 224
HORIZON = 64


def synthetic_episode(
    seed: int, noise: float = 0.0, steps: int = EPISODE_STEPS, size: int = SIZE
) -> dict:
    """A tabletop-like episode: shaded table, 3 coloured boxes (one moving), pixel noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([150 + 40 * x, 120 + 30 * y, 90 + 20 * x * y], -1)
    head = np.empty((steps, size, size, 3), np.uint8)
    wrist = np.empty_like(head)
    mask = np.zeros((steps, size, size), np.uint8)
    boxes = rng.integers(20, size - 60, (3, 2))
    colors = rng.integers(0, 255, (3, 3))
    for t in range(steps):
        img = base.copy()
        for k, (by, bx) in enumerate(boxes):
            dy = int(t * 0.4) if k == 0 else 0
            img[by + dy : by + dy + 40, bx : bx + 40] = colors[k]
            if k == 0:
                mask[t, by + dy : by + dy + 40, bx : bx + 40] = 1
        if noise:
            img += rng.normal(0, noise, img.shape)
        head[t] = np.clip(img, 0, 255).astype(np.uint8)
        wimg = np.roll(img, shift=(t * 2, t), axis=(0, 1)) * 0.9
        if noise:
            wimg += rng.normal(0, noise, img.shape)
        wrist[t] = np.clip(wimg, 0, 255).astype(np.uint8)
    q = np.cumsum(rng.normal(0, 0.02, (steps + 1, 13)), 0).astype(np.float32)
    return {OBS_HEAD: head, OBS_WRIST: wrist, OBS_MASK: mask, OBS_STATE: q[:-1], ACTION: q[1:]}


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _frame_bytes(ep: dict) -> int:
    return sum(x[0].nbytes for x in ep.values())


def _best_pair(fn_a, fn_b, repeats: int = 5) -> tuple[float, float]:
    """Fastest wall time (s) of each of two functions, run alternately ``repeats`` times
    so that both see the same background load."""
    a, b = [], []
    for _ in range(repeats):
        for fn, times in ((fn_a, a), (fn_b, b)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return min(a), min(b)


def bench_codec(root: Path, episodes: list[dict], codec: str, reads: int, seed: int) -> dict:
    path = root / f"{codec}.zarr"
    frames = sum(len(e[ACTION]) for e in episodes)
    raw = frames * _frame_bytes(episodes[0])
    t0 = time.perf_counter()
    with EpisodeWriter(path, image_codec=codec) as w:
        for i, ep in enumerate(episodes):
            w.add_episode(ep, {"split": "train", "seed": i})
    write_s = time.perf_counter() - t0
    disk = _dir_bytes(path)
    ts = [int(t) for t in np.random.default_rng(seed).integers(0, frames, reads)]

    def heads(store: EpisodeStore) -> None:  # random single head frames (one chunk each)
        for t in ts:
            store.frame(OBS_HEAD, t)

    def samples(store: EpisodeStore) -> None:  # images + state at t, actions t .. t+63
        for t in ts:
            stop = min(int(store.episode_ends[store.episode_of(t)]), t + HORIZON)
            for key in (OBS_HEAD, OBS_WRIST, OBS_MASK, OBS_STATE):
                store.frame(key, t)
            store.slice(ACTION, t, stop)

    def whole(store: EpisodeStore) -> None:
        for i in range(n_ep):
            store.episode(i)

    # direct chunk reads (the default) and zarr's own reads, side by side
    store, via_zarr = EpisodeStore(path), EpisodeStore(path, direct_reads=False)
    n_ep = min(len(store), 4)
    head_s, zarr_head_s = _best_pair(lambda: heads(store), lambda: heads(via_zarr))
    sample_s, zarr_sample_s = _best_pair(lambda: samples(store), lambda: samples(via_zarr))
    whole_s, zarr_whole_s = _best_pair(lambda: whole(store), lambda: whole(via_zarr))
    ep_frames = int(store.episode_ends[n_ep - 1])
    shutil.rmtree(path)
    return {
        "codec": codec,
        "frames": frames,
        "raw_mb": raw / 1e6,
        "disk_mb": disk / 1e6,
        "ratio": raw / disk,
        "write_frames_per_s": frames / write_s,
        "write_mb_per_s": raw / 1e6 / write_s,
        "read_head_frames_per_s": reads / head_s,
        "read_head_mb_per_s": reads * SIZE * SIZE * 3 / 1e6 / head_s,
        "read_samples_per_s": reads / sample_s,
        "zarr_read_head_frames_per_s": reads / zarr_head_s,
        "zarr_read_samples_per_s": reads / zarr_sample_s,
        "zarr_read_episode_frames_per_s": int(store.episode_ends[n_ep - 1]) / zarr_whole_s,
        "read_episode_frames_per_s": ep_frames / whole_s,
        "read_episode_mb_per_s": ep_frames * _frame_bytes(episodes[0]) / 1e6 / whole_s,
    }


def bench_legacy(root: Path, episodes: list[dict], reads: int, seed: int) -> dict:
    path = write_legacy_store(root / "legacy.zarr", episodes)
    store = EpisodeStore(path)
    ts = [int(t) for t in np.random.default_rng(seed).integers(0, store.num_frames, reads)]

    def run() -> None:
        for t in ts:
            store.frame(OBS_HEAD, t)
            store.frame(OBS_MASK, t)

    dt, _ = _best_pair(run, lambda: None)
    shutil.rmtree(path)
    return {"layout": "dexgraspvla", "read_head_and_mask_per_s": reads / dt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--codecs", nargs="+", default=["zstd", "zstd-fast", "lz4", "none"])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "store.json"
    )
    parser.add_argument(
        "--tmp", type=Path, default=None, help="scratch directory (default: system)"
    )
    args = parser.parse_args()

    kinds = {"rendered": 0.0, "camera": 2.0}
    results, legacy = [], {}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for kind, noise in kinds.items():
            episodes = [synthetic_episode(i, noise=noise) for i in range(args.episodes)]
            for codec in args.codecs:
                r = bench_codec(Path(tmp), episodes, codec, args.reads, seed=0)
                results.append({"images": kind, **r})
                print(f"  {kind} {codec} done", flush=True)
            legacy[kind] = bench_legacy(Path(tmp), episodes, args.reads, seed=0)

    cols = [
        ("images", "{:<9}", "images"),
        ("codec", "{:<10}", "codec"),
        ("ratio", "{:>6.2f}", "ratio"),
        ("disk_mb", "{:>8.1f}", "disk MB"),
        ("write_frames_per_s", "{:>10.1f}", "write f/s"),
        ("write_mb_per_s", "{:>10.1f}", "write MB/s"),
        ("read_head_frames_per_s", "{:>10.1f}", "head f/s"),
        ("read_head_mb_per_s", "{:>10.1f}", "head MB/s"),
        ("zarr_read_head_frames_per_s", "{:>10.1f}", "zarr head"),
        ("read_samples_per_s", "{:>10.1f}", "sample/s"),
        ("zarr_read_samples_per_s", "{:>10.1f}", "zarr smpl"),
        ("read_episode_frames_per_s", "{:>10.1f}", "ep f/s"),
        ("read_episode_mb_per_s", "{:>10.1f}", "ep MB/s"),
        ("zarr_read_episode_frames_per_s", "{:>10.1f}", "zarr ep"),
    ]
    r0 = results[0]
    print(
        f"{args.episodes} episodes x {EPISODE_STEPS} steps = {r0['frames']} frames at "
        f"{SIZE}x{SIZE}, {r0['raw_mb']:.0f} MB raw; {args.reads} random reads, best of 5"
    )
    widths = [len(fmt.format(r0[k])) for k, fmt, _ in cols]
    print(
        " ".join(
            f"{h:>{w}}" if i > 1 else f"{h:<{w}}"
            for i, ((_, _, h), w) in enumerate(zip(cols, widths))
        )
    )
    for r in results:
        print(" ".join(fmt.format(r[k]) for k, fmt, _ in cols))
    for kind, leg in legacy.items():
        print(
            f"authors' layout, {kind} images (rgbm split into head + mask): "
            f"{leg['read_head_and_mask_per_s']:.1f} random frames/s"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "bench": "store",
        "command": "python bench/bench_store.py "
        + " ".join(f"--{k} {v}" for k, v in (("episodes", args.episodes), ("reads", args.reads))),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m_at_end": os.getloadavg()[0],
        },
        "image_size": SIZE,
        "steps_per_episode": EPISODE_STEPS,
        "frame_raw_bytes": _frame_bytes(episodes[0]),
        "image_noise_sigma": kinds,
        "results": results,
        "legacy": legacy,
    }
    args.out.write_text(json.dumps(doc, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
