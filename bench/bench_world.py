"""Speed of the tabletop world: library, scene reset, physics, rendering, full env steps.

    MUJOCO_GL=egl python bench/bench_world.py [--resets 10] [--steps 60]

Prints a table and writes bench/results/world.json. The robot holds its home pose, so
physics timings are for a resting scene (contacts with 6 objects, no grasp).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

import dexgrasp.sim  # noqa: E402,F401
from dexgrasp.sim import robot  # noqa: E402
from dexgrasp.sim.objects import ObjectLibrary  # noqa: E402


def _time(fn, n: int) -> float:
    """Mean seconds per call of ``fn`` over ``n`` calls (after one warm-up call)."""
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def bench(size: tuple[int, int], resets: int, steps: int) -> dict:
    env = gym.make(dexgrasp.sim.ENV_ID, image_size=size)
    u = env.unwrapped
    seeds = iter(range(10_000))
    reset_s = _time(lambda: env.reset(seed=next(seeds)), resets)
    env.reset(seed=0)
    physics_s = _time(lambda: mujoco.mj_step(u.model, u.data, nstep=u.n_substeps), steps)
    head_s = _time(lambda: u.render_camera("head"), steps)
    wrist_s = _time(lambda: u.render_camera(robot.WRIST_CAMERA), steps)
    seg_s = _time(lambda: u.segmentation("head"), steps)
    env.reset(seed=0)
    step_s = _time(lambda: env.step(robot.HOME_QPOS), steps)
    env.close()
    return {
        "image_size": list(size),
        "reset_s": reset_s,
        "physics_per_control_step_ms": 1e3 * physics_s,
        "render_head_ms": 1e3 * head_s,
        "render_wrist_ms": 1e3 * wrist_s,
        "segmentation_ms": 1e3 * seg_s,
        "env_step_ms": 1e3 * step_s,
        "env_steps_per_s": 1.0 / step_s,
        "realtime_factor": (1.0 / step_s) / 20.0,
    }


def bench_renderer_reuse(n: int = 5) -> dict:
    """Side by side: a fresh ``mujoco.Renderer`` per model (new GL context) vs. the env's
    ``SceneRenderer.set_model`` (one GL context), each followed by one 224x224 render."""
    from dexgrasp.sim.scene import SceneRenderer

    env = gym.make(dexgrasp.sim.ENV_ID)
    env.reset(seed=0)
    u = env.unwrapped
    m, d = u.model, u.data

    def fresh() -> None:
        with mujoco.Renderer(m, 224, 224) as r:
            r.update_scene(d, "head")
            r.render()

    shared = SceneRenderer()

    def reuse() -> None:
        shared.set_model(m)
        shared.render(d, "head", (224, 224))

    fresh_s, reuse_s = _time(fresh, n), _time(reuse, n)
    shared.close()
    env.close()
    return {
        "fresh_renderer_s": fresh_s,
        "scene_renderer_set_model_s": reuse_s,
        "speedup": fresh_s / reuse_s,
    }


def bench_expert_per_category(n_per_category: int, split: str = "train") -> dict:
    """Scripted-expert success with each category's first objects as the target (6-object
    scenes, 32x32 images): shows which object kinds are hard to grasp."""
    from dexgrasp.sim.object_shapes import CATEGORIES
    from dexgrasp.sim.rollout import rollout

    env = gym.make(dexgrasp.sim.ENV_ID, image_size=(32, 32), split=split)
    lib = env.unwrapped.library
    out = {}
    for cat in CATEGORIES:
        objs = lib.filter(split, category=cat)[:n_per_category]
        wins = [
            rollout(env, 100 + i, record=False, reset_options={"target": o.name}).success
            for i, o in enumerate(objs)
        ]
        out[cat] = {"success": int(sum(wins)), "episodes": len(wins)}
        print(f"  expert {cat:10s} {sum(wins)}/{len(wins)}", flush=True)
    env.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resets", type=int, default=10)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--out", default="bench/results/world.json")
    ap.add_argument(
        "--expert-per-category", type=int, default=0, help="expert episodes per category (0: skip)"
    )
    args = ap.parse_args()
    t0 = time.perf_counter()
    ObjectLibrary(0)
    library_s = time.perf_counter() - t0
    rows = [bench(s, args.resets, args.steps) for s in ((224, 224), (480, 640))]
    reuse = bench_renderer_reuse()
    expert = (
        bench_expert_per_category(args.expert_per_category) if args.expert_per_category else None
    )
    result = {
        "library_build_s": library_s,
        "runs": rows,
        "renderer_per_reset": reuse,
        "expert_per_category": expert,
        "load_average_1min": os.getloadavg()[0],
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "mujoco": mujoco.__version__,
            "gl": os.environ.get("MUJOCO_GL"),
        },
    }
    print(f"object library (446 objects): {library_s:.3f} s")
    cols = [
        "image_size",
        "reset_s",
        "physics_per_control_step_ms",
        "render_head_ms",
        "render_wrist_ms",
        "segmentation_ms",
        "env_step_ms",
        "env_steps_per_s",
        "realtime_factor",
    ]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    print(
        f"renderer per reset: fresh mujoco.Renderer {reuse['fresh_renderer_s']:.3f} s, "
        f"SceneRenderer.set_model {reuse['scene_renderer_set_model_s']:.3f} s "
        f"({reuse['speedup']:.1f}x); load average {os.getloadavg()[0]:.1f}"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
