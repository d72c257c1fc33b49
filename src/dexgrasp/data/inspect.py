"""Human-readable summaries of an episode store and contact sheets of its episodes."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from dexgrasp.constants import OBS_HEAD, OBS_MASK, OBS_WRIST
from dexgrasp.data.episodes import EpisodeStore


def summarize(store: EpisodeStore) -> dict[str, Any]:
    """JSON-able overview: counts, lengths, per-key shape/dtype, splits, targets."""
    lengths = store.episode_lengths
    metas = [store.meta(i) for i in range(len(store))]
    keys = {}
    for key in store.keys:
        dtype = str(store.dtype(key))
        keys[key] = {"shape": list(store.frame_shape(key)), "dtype": dtype}
    return {
        "path": str(store.path),
        "layout": store.layout,
        "episodes": len(store),
        "frames": store.num_frames,
        "length": {
            "min": int(lengths.min()) if len(lengths) else 0,
            "mean": float(lengths.mean()) if len(lengths) else 0.0,
            "max": int(lengths.max()) if len(lengths) else 0,
        },
        "keys": keys,
        "splits": dict(Counter(str(m.get("split", "-")) for m in metas)),
        "targets": dict(Counter(_target_name(m) for m in metas).most_common(20)),
    }


def _target_name(meta: dict[str, Any]) -> str:
    target = meta.get("target", "-")
    objects = meta.get("objects")
    if isinstance(target, int) and isinstance(objects, list) and 0 <= target < len(objects):
        target = objects[target]
    if isinstance(target, dict):
        target = target.get("name", target)
    return str(target)


def format_summary(summary: dict[str, Any], store: EpisodeStore, limit: int = 20) -> str:
    """Text report of `summarize` plus the first ``limit`` episodes."""
    s = summary
    lines = [
        f"store    {s['path']}  ({s['layout']} layout)",
        f"episodes {s['episodes']}   frames {s['frames']}   length "
        f"min {s['length']['min']} / mean {s['length']['mean']:.1f} / max {s['length']['max']}",
        "keys",
    ]
    lines += [f"  {k:<28} {tuple(v['shape'])!s:<18} {v['dtype']}" for k, v in s["keys"].items()]
    lines.append("splits   " + ", ".join(f"{k}: {v}" for k, v in s["splits"].items()))
    lines.append("targets  " + ", ".join(f"{k}: {v}" for k, v in s["targets"].items()))
    if len(store):
        lines.append(f"{'episode':>7} {'start':>8} {'length':>6}  {'split':<6} {'seed':>6}  target")
    lengths = store.episode_lengths
    for i in range(min(limit, len(store))):
        m = store.meta(i)
        start, _ = store.episode_bounds(i)
        lines.append(
            f"{i:>7} {start:>8} {int(lengths[i]):>6}  {str(m.get('split', '-')):<6} "
            f"{str(m.get('seed', m.get('scene_seed', '-'))):>6}  {_target_name(m)}"
        )
    if len(store) > limit:
        lines.append(f"... {len(store) - limit} more (use --limit)")
    return "\n".join(lines)


def contact_sheet(store: EpisodeStore, episode: int, num_frames: int = 8) -> np.ndarray:
    """(H', W', 3) uint8 grid: one column per sampled time step, rows = head (with the
    target mask overlaid in red) and wrist images; labelled with the frame index."""
    from dexgrasp.viz.images import overlay_mask, tile

    start, stop = store.episode_bounds(episode)
    steps = np.unique(np.linspace(start, stop - 1, num=max(1, num_frames)).round().astype(int))
    rows: list[list[np.ndarray]] = []
    names: list[str] = []
    if OBS_HEAD in store.keys:
        heads = [store.frame(OBS_HEAD, int(t)) for t in steps]
        if OBS_MASK in store.keys:
            heads = [
                overlay_mask(h, store.frame(OBS_MASK, int(t)), alpha=0.45)
                for h, t in zip(heads, steps)
            ]
        rows.append(heads)
        names.append("head")
    if OBS_WRIST in store.keys:
        rows.append([store.frame(OBS_WRIST, int(t)) for t in steps])
        names.append("wrist")
    if not rows:
        raise ValueError(f"{store.path}: episode {episode} has no image keys to show")
    labels = [f"{name} t={int(t) - start}" for name in names for t in steps]
    images = [im for row in rows for im in row]
    return tile(images, ncols=len(steps), labels=labels)
