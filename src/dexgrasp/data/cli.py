"""`dexgrasp inspect STORE`, `dexgrasp stats STORE --out FILE` and
`dexgrasp append SRC... --to DEST`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(
    top: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    """Add the data verbs to the `dexgrasp` command (see dexgrasp/cli.py)."""
    p = top.add_parser(
        "inspect",
        help="summarise an episode store (ours or the authors' layout); contact sheets",
        description="Print episodes, lengths, keys, shapes, splits and targets of a store. "
        "With --episode I --out DIR, also write a contact sheet PNG (and --video an MP4).",
    )
    p.add_argument("store", type=Path, help="episode store directory (*.zarr)")
    p.add_argument("--episode", type=int, default=None, help="episode for the contact sheet")
    p.add_argument("--out", type=Path, default=None, help="directory for the sheet/video")
    p.add_argument("--frames", type=int, default=8, help="time steps on the sheet (default 8)")
    p.add_argument("--video", action="store_true", help="also write head|wrist MP4 of --episode")
    p.add_argument("--limit", type=int, default=20, help="episodes listed (default 20)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_inspect)

    s = top.add_parser(
        "stats",
        help="fit normalisation statistics (min/max/mean/std/q01/q99) of a store",
        description="Fit per-key normalisation statistics over a store's state and action "
        "and save them to a .safetensors or .json file.",
    )
    s.add_argument("store", type=Path, help="episode store directory")
    s.add_argument("--out", type=Path, required=True, help="output .safetensors or .json")
    s.add_argument(
        "--keys", nargs="+", default=None, help="keys to fit (default observation.state action)"
    )
    s.add_argument("--split", default=None, help="only episodes whose metadata split matches")
    s.set_defaults(func=_stats)

    a = top.add_parser(
        "append",
        help="append the episodes of stores to another (e.g. expert takeovers to demonstrations)",
        description="Copy every episode (frames and metadata) of each SRC store, in order, to "
        "the end of DEST (created if missing). An episode whose keys, shapes or dtypes do not "
        "match DEST's is refused before anything of it is written; episodes already stored stay.",
    )
    a.add_argument("sources", type=Path, nargs="+", metavar="SRC", help="episode stores to copy")
    a.add_argument("--to", type=Path, required=True, metavar="DEST", help="store to append to")
    a.set_defaults(func=_append)


def _inspect(args: argparse.Namespace) -> int:
    from dexgrasp.data.episodes import EpisodeStore, StoreError
    from dexgrasp.data.inspect import contact_sheet, format_summary, summarize

    try:
        store = EpisodeStore(args.store)
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = summarize(store)
    print(
        json.dumps(summary, indent=1) if args.json else format_summary(summary, store, args.limit)
    )
    if args.episode is None:
        if args.out is not None or args.video:
            print("error: --out/--video need --episode I", file=sys.stderr)
            return 2
        return 0
    if not 0 <= args.episode < len(store):
        print(f"error: episode {args.episode} out of range [0, {len(store)})", file=sys.stderr)
        return 2
    out = args.out or Path(".")
    from dexgrasp.viz.images import save_png

    path = save_png(
        out / f"episode_{args.episode:05d}.png", contact_sheet(store, args.episode, args.frames)
    )
    print(f"wrote {path}")
    if args.video:
        path = _episode_video(store, args.episode, out / f"episode_{args.episode:05d}.mp4")
        print(f"wrote {path}")
    return 0


def _episode_video(store, episode: int, path: Path) -> Path:
    import numpy as np

    from dexgrasp.constants import OBS_HEAD, OBS_MASK, OBS_WRIST
    from dexgrasp.viz.images import overlay_mask
    from dexgrasp.viz.video import write_mp4

    start, stop = store.episode_bounds(episode)

    def frames():
        for t in range(start, stop):
            parts = []
            if OBS_HEAD in store.keys:
                head = store.frame(OBS_HEAD, t)
                if OBS_MASK in store.keys:
                    head = overlay_mask(head, store.frame(OBS_MASK, t), alpha=0.45)
                parts.append(head)
            if OBS_WRIST in store.keys:
                parts.append(store.frame(OBS_WRIST, t))
            h = max(p.shape[0] for p in parts)
            yield np.concatenate(
                [np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0))) for p in parts], 1
            )

    write_mp4(path, frames())
    return path


def _stats(args: argparse.Namespace) -> int:
    from dexgrasp.constants import ACTION, OBS_STATE
    from dexgrasp.data.episodes import EpisodeStore, StoreError
    from dexgrasp.data.normalize import NormalizationError, NormalizationStats

    try:
        store = EpisodeStore(args.store)
        episodes = store.episodes_where(split=args.split) if args.split else None
        keys = args.keys or [k for k in (OBS_STATE, ACTION) if k in store.keys]
        stats = NormalizationStats.fit(store, keys=keys, episodes=episodes)
    except (StoreError, NormalizationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    path = stats.save(args.out)
    for key in stats.keys:
        s = stats.stats[key]
        print(
            f"{key}: {stats.counts[key]} frames, shape {stats.shape(key)}, "
            f"min {s['min'].min():.3f} max {s['max'].max():.3f}"
        )
    print(f"wrote {path}")
    return 0


def _append(args: argparse.Namespace) -> int:
    from dexgrasp.data.episodes import EpisodeStore, EpisodeWriter, StoreError

    dest = args.to.resolve()
    if any(src.resolve() == dest for src in args.sources):
        print(f"error: {args.to} is also a source; append a store to another", file=sys.stderr)
        return 2
    try:
        stores = [EpisodeStore(src) for src in args.sources]  # all readable before writing
        with EpisodeWriter(args.to) as writer:
            before = writer.num_episodes
            for src, store in zip(args.sources, stores):
                for i in range(len(store)):
                    writer.add_episode(store.episode(i), store.meta(i))
                print(f"{src}: {len(store)} episodes appended")
            total = writer.num_episodes
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.to}: {total} episodes ({total - before} new)")
    return 0
