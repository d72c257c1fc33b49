"""Simulation benchmark: physics and render speed, expert throughput and success rates.

    python bench/bench_sim.py                       # full run (200 scenes per split)
    python bench/bench_sim.py --scenes 20 --collect 4   # quick look

Prints a table and writes ``bench/results/sim.json``. Success rates run the expert exactly as
``dexgrasp collect`` does (same scenes, same plan, same physics) but without rendering the
cameras, which does not change the physics. The machine's load average is recorded with the
timings: other processes on the same cores slow every number here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from dexgrasp.sim import robot, rooms  # noqa: E402
from dexgrasp.sim.cli import _make_env, collect, scene_seed_for  # noqa: E402
from dexgrasp.sim.expert import PlanningError, ScriptedExpert  # noqa: E402
from dexgrasp.sim.rollout import lifted_and_held  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "sim.json"


def physics_speed(env, steps: int = 3000) -> float:
    """Physics steps per second in a 6-object scene with the robot holding its home pose."""
    env.reset(seed=1, options={"scene_seed": 1})
    u = env.unwrapped
    t = time.perf_counter()
    mujoco.mj_step(u.model, u.data, nstep=steps)
    return steps / (time.perf_counter() - t)


def render_speed(env, height: int, width: int, frames: int = 40) -> float:
    """Head-camera frames per second at (height, width), one renderer reused."""
    u = env.unwrapped
    with mujoco.Renderer(u.model, height, width) as r:
        r.update_scene(u.data, rooms.HEAD_CAMERA)
        r.render()
        t = time.perf_counter()
        for _ in range(frames):
            r.update_scene(u.data, rooms.HEAD_CAMERA)
            r.render()
        return frames / (time.perf_counter() - t)


def env_step_speed(env, steps: int = 30) -> float:
    """Control steps per second of the env (physics + head, wrist and mask images)."""
    env.reset(seed=2, options={"scene_seed": 2})
    a = np.asarray(robot.HOME_QPOS, dtype=np.float32)
    t = time.perf_counter()
    for _ in range(steps):
        env.step(a)
    return steps / (time.perf_counter() - t)


def _success_chunk(args: tuple) -> dict:
    split, ks, seed, show = args
    env = _make_env(split, 32)  # images are not used here; keep them tiny
    outcomes, kinds, reasons, plan_s = [], Counter(), Counter(), []
    for k in tqdm(ks, desc=f"expert {split}", unit="scene", disable=not show):
        scene_seed = scene_seed_for(seed, split, k)
        env.reset(seed=scene_seed, options={"scene_seed": scene_seed})
        u = env.unwrapped
        t = time.perf_counter()
        try:
            expert = ScriptedExpert(u.model)
            actions = expert.plan(u.data, u.target_body_id)
        except PlanningError:
            outcomes.append(False)
            reasons["planning"] += 1
            continue
        plan_s.append(time.perf_counter() - t)
        kinds[expert.last_grasp.kind] += 1
        for a in actions:
            u.data.ctrl[:13] = a
            mujoco.mj_step(u.model, u.data, nstep=u.n_substeps)
        ok = lifted_and_held(u)
        if ok:
            mujoco.mj_step(u.model, u.data, nstep=u.n_substeps * 20)
            ok = lifted_and_held(u)
        outcomes.append(bool(ok))
        if not ok:
            reasons["not lifted"] += 1
    env.close()
    return {"outcomes": outcomes, "kinds": kinds, "reasons": reasons, "plan_s": plan_s}


def success_rates(splits: tuple[str, ...], scenes: int, workers: int, seed: int = 1000) -> dict:
    """Expert success over ``scenes`` cluttered scenes per split (physics only), the scenes
    spread over ``workers`` processes."""
    import multiprocessing as mp

    jobs = [
        (split, list(range(w, scenes, workers)), seed, w == 0)
        for split in splits
        for w in range(workers)
    ]
    with mp.get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_success_chunk, jobs, chunksize=1)
    out = {}
    for split in splits:
        mine = [p for j, p in zip(jobs, parts) if j[0] == split]
        outcomes = [o for p in mine for o in p["outcomes"]]
        plan_s = [t for p in mine for t in p["plan_s"]]
        out[split] = {
            "split": split,
            "scenes": len(outcomes),
            "success_rate": float(np.mean(outcomes)),
            "successes": int(np.sum(outcomes)),
            "failures": dict(sum((p["reasons"] for p in mine), Counter())),
            "grasp_kinds": dict(sum((p["kinds"] for p in mine), Counter())),
            "plan_seconds_mean": float(np.mean(plan_s)) if plan_s else None,
        }
    return out


def throughput(episodes: int, workers: int, image_size: int) -> dict:
    """Demonstrations per hour of ``dexgrasp collect`` (fresh store, ``workers`` processes)."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = collect(
            Path(tmp) / "demos.zarr",
            episodes,
            workers=workers,
            image_size=image_size,
            seed=7,
            progress=False,
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", type=int, default=200, help="scenes per split for success rates")
    p.add_argument("--collect", type=int, default=12, help="episodes for the throughput run")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument(
        "--parts",
        default="speed,collect,success",
        help="comma-separated subset of speed,collect,success; other entries of an existing "
        "--out file are kept",
    )
    args = p.parse_args(argv)
    parts = set(args.parts.split(","))

    out = Path(args.out)
    res: dict = json.loads(out.read_text()) if out.exists() else {}
    res.update(load_average_start=list(os.getloadavg()), cpu_count=os.cpu_count())
    if "speed" in parts:
        env = _make_env("train", args.image_size)
        res["physics_steps_per_s"] = physics_speed(env)
        res["render_fps_224x224"] = render_speed(env, 224, 224)
        res["render_fps_640x480"] = render_speed(env, 480, 640)
        res["env_steps_per_s_224"] = env_step_speed(env)
        env.close()
    if "collect" in parts:
        tp = throughput(args.collect, args.workers, args.image_size)
        res["collect"] = {**tp, "workers": args.workers, "image_size": args.image_size}
        res["collect"]["load_average_after"] = list(os.getloadavg())
    if "success" in parts:
        for split, r in success_rates(("train", "unseen"), args.scenes, args.workers).items():
            res[f"expert_{split}"] = r
    res["load_average_end"] = list(os.getloadavg())
    tp = res.get("collect", {})

    rows = [
        ("physics steps/s (6 objects + robot)", f"{res.get('physics_steps_per_s', 0):.0f}"),
        ("render frames/s 224x224", f"{res.get('render_fps_224x224', 0):.1f}"),
        ("render frames/s 640x480", f"{res.get('render_fps_640x480', 0):.1f}"),
        ("env control steps/s (3 images, 224 px)", f"{res.get('env_steps_per_s_224', 0):.2f}"),
        (
            f"demonstrations/hour ({tp.get('workers')} workers, {tp.get('image_size')} px)",
            f"{tp.get('episodes_per_hour', 0):.0f}",
        ),
        ("collect success rate (attempts)", f"{tp.get('success_rate', 0):.2f}"),
    ]
    for split in ("train", "unseen"):
        r = res.get(f"expert_{split}")
        if r is None:
            continue
        rows.append((f"expert success {split} ({r['scenes']} scenes)", f"{r['success_rate']:.3f}"))
    rows.append(
        (
            "load average (start -> end)",
            f"{res['load_average_start'][0]:.1f} -> {res['load_average_end'][0]:.1f}",
        )
    )
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
