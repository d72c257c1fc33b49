"""Top-level verbs of the simulation area: ``collect``, ``render``, ``video``, ``demo``.

    dexgrasp collect --episodes 100 --split train --out demos.zarr --workers 2
    dexgrasp render --scene-seed 3 --out out/render
    dexgrasp video --scene-seed 3 --out expert.mp4
    dexgrasp demo

Collection: worker processes run expert episodes (each its own env) and send the successful
ones to the main process, the single writer of the episode store. Attempts are numbered;
attempt ``k`` of a run with ``--seed S`` always uses the same scene (``scene_seed_for``),
and every stored episode records its attempt, so running the same command on an existing
store continues after the last stored attempt instead of repeating scenes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

SPLIT_CHOICES = ("train", "unseen", "unseen_subset")


def scene_seed_for(seed: int, split: str, attempt: int) -> int:
    """Deterministic scene seed (31-bit) of attempt ``attempt`` of a collection run."""
    import numpy as np

    split_id = sum(ord(c) * 31**i for i, c in enumerate(split)) % 2**31
    state = np.random.SeedSequence([int(seed), split_id, int(attempt)]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def _headless() -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def _make_env(split: str, image_size: int, **kw):
    _headless()
    import gymnasium as gym

    import dexgrasp.sim  # noqa: F401  (registers the env)

    return gym.make(
        "dexgrasp/TabletopGrasp-v0",
        split=split,
        image_size=(image_size, image_size),
        max_steps=10_000,
        **kw,
    )


# -- collection ------------------------------------------------------------------------------
def _worker(task_q, result_q, split: str, image_size: int, seed: int, source) -> None:
    """Worker process: run the episodes of the attempt numbers it receives; sends back
    (attempt, [(frames, meta) of each successful episode], [reason of each failed one])."""
    from dexgrasp.sim.rollout import rollout

    env = _make_env(split, image_size)
    while True:
        attempt = task_q.get()
        if attempt is None:
            break
        scene_seed = scene_seed_for(seed, split, attempt)
        tag = {"attempt": int(attempt), "collection_seed": int(seed)}
        try:
            runs = source(env, scene_seed, attempt) if source else [rollout(env, scene_seed)]
            extra = getattr(source, "meta", {})
            ok = [(r.frames, {**r.meta, **extra, **tag}) for r in runs if r.success]
            result_q.put((attempt, ok, [r.reason for r in runs if not r.success]))
        except Exception as err:  # a broken scene must not stop the collection
            result_q.put((attempt, [], [f"error: {err!r}"]))
    env.close()


def collect(
    out: str | Path,
    episodes: int,
    split: str = "train",
    workers: int = 1,
    image_size: int = 224,
    seed: int = 0,
    max_attempts: int | None = None,
    progress: bool = True,
    source=None,
) -> dict:
    """Add successful expert demonstrations to the store at ``out`` until it holds
    ``episodes`` episodes. Returns a summary dict (stored, attempts, failures, seconds).

    ``source``: what each attempt runs instead of an expert episode from the start, a
    picklable callable ``(env, scene_seed, attempt) -> list[Rollout]`` (its successful
    rollouts are stored) whose ``meta`` dict is stored with each episode and must match for
    a resumed run to count an attempt (e.g. ``dexgrasp.vla.controller.takeover.TakeoverSource``)."""
    import multiprocessing as mp

    from tqdm import tqdm

    from dexgrasp.data.episodes import EpisodeStore, EpisodeWriter

    if episodes < 0:
        raise ValueError(f"--episodes must be >= 0, got {episodes}")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if split not in SPLIT_CHOICES:
        raise ValueError(f"--split must be one of {SPLIT_CHOICES}, got {split!r}")
    _headless()
    out = Path(out)
    next_attempt = 0
    if out.exists():
        store = EpisodeStore(out)
        extra = getattr(source, "meta", {})
        for i in range(len(store)):
            meta = store.meta(i)
            same_run = meta.get("split") == split and meta.get("collection_seed", seed) == seed
            if same_run and all(meta.get(k) == v for k, v in extra.items()):
                next_attempt = max(next_attempt, int(meta.get("attempt", -1)) + 1)
    max_attempts = max_attempts if max_attempts is not None else 4 * episodes + 20
    t0 = time.perf_counter()
    failures: dict[str, int] = {}
    attempts = 0
    with EpisodeWriter(out) as writer:
        todo = episodes - writer.num_episodes
        if todo <= 0:
            return {"stored": writer.num_episodes, "added": 0, "attempts": 0, "failures": {}}
        ctx = mp.get_context("spawn")
        task_q, result_q = ctx.Queue(), ctx.Queue()
        procs = [
            ctx.Process(
                target=_worker,
                args=(task_q, result_q, split, image_size, seed, source),
                daemon=True,
            )
            for _ in range(workers)
        ]
        for p in procs:
            p.start()
        issued = 0
        in_flight = 0

        def issue() -> None:
            nonlocal issued, in_flight
            task_q.put(next_attempt + issued)
            issued += 1
            in_flight += 1

        for _ in range(min(2 * workers, max_attempts)):
            issue()
        added = 0
        pending: dict[int, tuple] = {}  # results waiting so episodes are written in attempt order
        next_to_write = next_attempt
        bar = tqdm(total=todo, desc=f"collect {split}", unit="ep", disable=not progress)
        try:
            while in_flight > 0:
                res = result_q.get()
                in_flight -= 1
                attempts += 1
                pending[res[0]] = res
                while next_to_write in pending:
                    _, stored_ok, reasons = pending.pop(next_to_write)
                    next_to_write += 1
                    for frames, meta in stored_ok[: todo - added]:
                        writer.add_episode(frames, meta)
                        added += 1
                        bar.update(1)
                    for reason in reasons:
                        key = reason.split(":")[0]
                        failures[key] = failures.get(key, 0) + 1
                bar.set_postfix(failed=sum(failures.values()))
                if added + in_flight < todo and issued < max_attempts:
                    issue()
        finally:
            bar.close()
            for _ in procs:
                task_q.put(None)
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()
        stored = writer.num_episodes
    seconds = time.perf_counter() - t0
    return {
        "stored": stored,
        "added": added,
        "attempts": attempts,
        "failures": failures,
        "success_rate": added / max(attempts, 1),
        "seconds": round(seconds, 1),
        "episodes_per_hour": round(3600 * added / max(seconds, 1e-9), 1),
    }


def cmd_collect(args, source=None) -> int:
    """``dexgrasp collect`` (and verbs built on it, with their ``source``): run and report."""
    summary = collect(
        args.out,
        args.episodes,
        split=args.split,
        workers=args.workers,
        image_size=args.image_size,
        seed=args.seed,
        max_attempts=args.max_attempts,
        source=source,
    )
    print(
        f"{args.out}: {summary['stored']} episodes ({summary.get('added', 0)} new); "
        f"{summary['attempts']} attempts, failures {summary['failures']}"
        + (f", {summary['episodes_per_hour']:.0f} episodes/hour" if summary.get("added") else "")
    )
    if summary["stored"] < args.episodes:
        print(f"stopped after {args.max_attempts or 'the maximum'} attempts", file=sys.stderr)
        return 1
    return 0


def _cmd_collect_expert(args) -> int:
    """``dexgrasp collect``: expert demonstrations, with DART noise when asked."""
    if args.action_noise < 0:
        print(f"--action-noise must be >= 0 radians, got {args.action_noise}", file=sys.stderr)
        return 2
    source = None
    if args.action_noise > 0:
        from dexgrasp.sim.rollout import ActionNoise, NoisyExpertSource

        source = NoisyExpertSource(ActionNoise(sigma=args.action_noise))
    return cmd_collect(args, source=source)


# -- pictures ----------------------------------------------------------------------------------
def _write_png(path: Path, image) -> None:
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, image)


def render_scene(
    scene_seed: int,
    out: str | Path,
    split: str = "train",
    image_size: int = 480,
    background: str | None = None,
    lighting: str | None = None,
) -> list[Path]:
    """Write head.png, wrist.png and mask.png of scene ``scene_seed``; returns the paths."""
    import numpy as np

    from dexgrasp.constants import OBS_HEAD, OBS_MASK, OBS_WRIST

    options = {"scene_seed": scene_seed}
    if background:
        options["background"] = background
    if lighting:
        options["lighting"] = lighting
    env = _make_env(split, image_size)
    obs, info = env.reset(seed=scene_seed, options=options)
    out = Path(out)
    paths = [out / "head.png", out / "wrist.png", out / "mask.png"]
    _write_png(paths[0], obs[OBS_HEAD])
    _write_png(paths[1], obs[OBS_WRIST])
    _write_png(paths[2], (obs[OBS_MASK] * 255).astype(np.uint8))
    env.close()
    return paths


def _cmd_render(args) -> int:
    paths = render_scene(
        args.scene_seed, args.out, args.split, args.image_size, args.background, args.lighting
    )
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def expert_video(
    scene_seed: int, out: str | Path, split: str = "train", image_size: int = 320
) -> dict:
    """Run the expert on scene ``scene_seed`` and write an MP4 (head | wrist side by side)."""
    import numpy as np

    from dexgrasp.constants import OBS_HEAD, OBS_WRIST
    from dexgrasp.sim.rollout import rollout
    from dexgrasp.viz.video import write_mp4

    env = _make_env(split, image_size)
    r = rollout(env, scene_seed, keep_failures=True)
    env.close()
    if not r.frames:
        raise RuntimeError(f"the expert did not move in scene {scene_seed}: {r.reason}")
    frames = np.concatenate([r.frames[OBS_HEAD], r.frames[OBS_WRIST]], axis=2)
    n = write_mp4(out, frames)
    return {"frames": n, "success": r.success, "target": r.meta["target"], "reason": r.reason}


def _cmd_video(args) -> int:
    res = expert_video(args.scene_seed, args.out, args.split, args.image_size)
    print(
        f"wrote {args.out}: {res['frames']} frames, target {res['target']!r}, "
        f"success={res['success']}" + (f" ({res['reason']})" if res["reason"] else "")
    )
    return 0


def _cmd_demo(args) -> int:
    from dexgrasp.data.episodes import EpisodeStore

    out = Path(args.out)
    t0 = time.perf_counter()
    summary = collect(out / "demos.zarr", args.episodes, workers=args.workers, seed=args.seed)
    store = EpisodeStore(out / "demos.zarr")
    first = store.meta(0) if len(store) else {}
    scene_seed = int(first.get("scene_seed", args.seed))
    pngs = render_scene(scene_seed, out / "scene")
    video = expert_video(scene_seed, out / "expert.mp4")
    print("dexgrasp demo: scripted expert demonstrations in the MuJoCo tabletop world")
    print(
        f"  episode store : {out / 'demos.zarr'}  ({len(store)} episodes, {store.num_frames} frames)"
    )
    print(
        f"  expert        : {summary['attempts']} attempts this run, failures {summary['failures']}"
    )
    for i in range(min(len(store), 5)):
        m = store.meta(i)
        print(
            f"    episode {i}: '{m.get('instruction')}' ({m.get('grasp')} grasp, scene {m.get('scene_seed')})"
        )
    print(f"  scene images  : {', '.join(str(p) for p in pngs)}")
    print(
        f"  expert video  : {out / 'expert.mp4'} ({video['frames']} frames, success={video['success']})"
    )
    print(f"  time          : {time.perf_counter() - t0:.1f} s")
    return 0


# -- registration ------------------------------------------------------------------------------
def add_collect_arguments(p) -> None:
    """The options of ``dexgrasp collect`` (shared with verbs that collect other episodes)."""
    p.add_argument("--episodes", type=int, required=True, help="episodes the store should hold")
    p.add_argument("--split", choices=SPLIT_CHOICES, default="train")
    p.add_argument("--out", required=True, help="episode store (zarr directory)")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--image-size", type=int, default=224, help="square camera images, pixels")
    p.add_argument("--seed", type=int, default=0, help="seed of the scene sequence")
    p.add_argument("--max-attempts", type=int, default=None, help="give up after this many")


def register(top, groups) -> None:  # noqa: ARG001 - groups unused: no train/eval verbs here
    p = top.add_parser(
        "collect", help="collect scripted-expert demonstrations into an episode store"
    )
    add_collect_arguments(p)
    p.add_argument(
        "--action-noise",
        type=float,
        default=0.0,
        metavar="RAD",
        help="DART: add smooth noise of this std (radians per arm joint, e.g. 0.04) to the "
        "expert's executed arm targets during the reach and approach, and record its clean "
        "targets, so demonstrations show corrections back to the plan (default 0: none)",
    )
    p.set_defaults(func=_cmd_collect_expert)

    p = top.add_parser("render", help="write head and wrist camera images of a scene")
    p.add_argument("--scene-seed", type=int, required=True)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--split", choices=SPLIT_CHOICES, default="train")
    p.add_argument("--image-size", type=int, default=480)
    p.add_argument("--background", default=None, help="table background (see sim.rooms)")
    p.add_argument("--lighting", default=None, help="lighting condition (see sim.rooms)")
    p.set_defaults(func=_cmd_render)

    p = top.add_parser("video", help="MP4 of one expert episode (head | wrist)")
    p.add_argument("--scene-seed", type=int, required=True)
    p.add_argument("--out", required=True, help="output .mp4")
    p.add_argument("--split", choices=SPLIT_CHOICES, default="train")
    p.add_argument("--image-size", type=int, default=320)
    p.set_defaults(func=_cmd_video)

    p = top.add_parser("demo", help="collect a few demonstrations, write a scene PNG and an MP4")
    p.add_argument("--out", default="out/demo")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - convenience entry
    parser = argparse.ArgumentParser(prog="dexgrasp-sim")
    top = parser.add_subparsers(dest="command", required=True)
    register(top, {})
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
