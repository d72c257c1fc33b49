"""Long-horizon prompts in simulation with the oracle planner and the scripted expert.

Reproduces the protocol of DexGraspVLA Sec. 5.5 on the simulated tabletop: "clear the table"
on 3-object scenes, and "grasp all bottles / green objects / food" on 3-4-object scenes in
which exactly two objects are targets. Reports the task success rate (ground truth: every
target placed in the drop zone and the planner declared the prompt complete), the planner's
per-sub-task accuracy against ground truth (instruction proposal, box IoU >= 0.5,
completion check, grasp check), the controller's grasp success per attempt, attempts per
object in successful runs, and wrong picks (non-target objects lifted).

    python bench/bench_runtime.py                       # 40 + 3 x 10 runs, ~10 min on 2 cores
    python bench/bench_runtime.py --runs 5 --other-runs 2   # quick look
Writes bench/results/runtime.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

TARGETED_PROMPTS = ("grasp all bottles", "grasp all green objects", "grasp all food")


def targeted_scene(library, split: str, prompt: str, rng: np.random.Generator) -> list[str]:
    """2 objects the prompt is about + 1-2 that it is not about, in random order."""
    from dexgrasp.vla.planner.language import matches, object_words, parse_prompt

    pool = [o for o in library.split(split) if not o.flat]
    known = {w for o in pool for w in object_words(o.category, o.noun)}
    spec = parse_prompt(prompt, known_nouns=known)

    def relevant(o) -> bool:
        tags = {t for t, f in (("food", o.is_food), ("drink", o.is_drink)) if f}
        return matches(spec, o.color_name, object_words(o.category, o.noun, o.name), tags)

    yes = [o.name for o in pool if relevant(o)]
    no = [o.name for o in pool if not relevant(o)]
    if len(yes) < 2:
        raise ValueError(f"split {split!r} has fewer than 2 objects for {prompt!r}")
    names = list(rng.choice(yes, 2, replace=False)) + list(
        rng.choice(no, int(rng.integers(1, 3)), replace=False)
    )
    rng.shuffle(names)
    return [str(n) for n in names]


def run_one(prompt: str, seed: int, objects: list[str] | None, args: argparse.Namespace) -> dict:
    from dexgrasp.vla.runtime.loop import RuntimeConfig
    from dexgrasp.vla.runtime.session import run_in_sim

    env_kwargs = {}
    if args.head_camera_pos:
        env_kwargs["head_camera_pos"] = tuple(args.head_camera_pos)
    t0 = time.perf_counter()
    result, _, summary = run_in_sim(
        prompt,
        planner="oracle",
        controller="expert",
        scene_seed=seed,
        n_objects=len(objects) if objects else args.n_objects,
        split=args.split,
        objects=objects,
        out=None,
        video=False,
        config=RuntimeConfig(max_attempts=args.max_attempts, max_attempts_per_object=3),
        env_kwargs=env_kwargs,
    )
    summary["wall_s"] = time.perf_counter() - t0
    return summary


def aggregate(runs: list[dict]) -> dict:
    n = len(runs)
    ok = [r for r in runs if r["gt_success"] and r["completed"]]
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in runs:
        for k, v in r["accuracy"].items():
            acc[k][0] += v["correct"]
            acc[k][1] += v["total"]
    executed = [
        a for r in runs for a in r["attempts"] if a["outcome"] in ("grasped", "not_grasped")
    ]
    attempts_per_object = [len(r["attempts"]) / max(1, len(r["expected_targets"])) for r in ok]
    return {
        "runs": n,
        "task_success": len(ok) / n if n else float("nan"),
        "task_successes": len(ok),
        "planner_declared_complete": sum(r["completed"] for r in runs),
        "attempts_per_object_in_successes": float(np.mean(attempts_per_object))
        if ok
        else float("nan"),
        "controller_grasp_success": (
            sum(a["outcome"] == "grasped" for a in executed) / len(executed)
            if executed
            else float("nan")
        ),
        "controller_attempts": len(executed),
        "expert_planning_failures": sum(
            a["outcome"] == "controller_error" for r in runs for a in r["attempts"]
        ),
        "wrong_picks": sum(len(r["wrong_picks"]) for r in runs),
        "planner_accuracy": {
            k: {"correct": c, "total": t, "accuracy": c / t if t else float("nan")}
            for k, (c, t) in sorted(acc.items())
        },
        "mean_wall_s": float(np.mean([r["wall_s"] for r in runs])) if runs else float("nan"),
        "failure_reasons": dict(
            sorted(
                {r["reason"]: sum(x["reason"] == r["reason"] for x in runs) for r in runs}.items()
            )
        ),
    }


def main() -> None:
    from tqdm.auto import tqdm

    from dexgrasp.sim.objects import ObjectLibrary

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=40, help='"clear the table" runs (3 objects)')
    p.add_argument("--other-runs", type=int, default=10, help="runs per targeted prompt")
    p.add_argument("--n-objects", type=int, default=3)
    p.add_argument("--split", default="unseen")
    p.add_argument("--max-attempts", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--head-camera-pos", type=float, nargs=3, default=None, help="override (x y z) m"
    )
    p.add_argument("--out", default="bench/results/runtime.json")
    args = p.parse_args()

    jobs: list[tuple[str, int, list[str] | None]] = [
        ("clear the table", args.seed + i, None) for i in range(args.runs)
    ]
    library = ObjectLibrary(0)
    rng = np.random.default_rng(args.seed)
    for prompt in TARGETED_PROMPTS:
        for i in range(args.other_runs):
            jobs.append(
                (prompt, args.seed + 1000 + i, targeted_scene(library, args.split, prompt, rng))
            )
    per_prompt: dict[str, list[dict]] = defaultdict(list)
    for prompt, seed, objects in tqdm(jobs, desc="runs"):
        per_prompt[prompt].append(run_one(prompt, seed, objects, args))
    results = {prompt: aggregate(runs) for prompt, runs in per_prompt.items()}
    results["all"] = aggregate([r for runs in per_prompt.values() for r in runs])
    report = {
        "benchmark": "runtime: oracle planner + scripted expert, simulated long-horizon prompts",
        "settings": vars(args),
        "results": results,
        "runs": {
            prompt: [
                {
                    k: r[k]
                    for k in (
                        "scene_seed",
                        "objects",
                        "expected_targets",
                        "completed",
                        "gt_success",
                        "reason",
                        "picked",
                        "wrong_picks",
                        "object_status",
                        "wall_s",
                    )
                }
                | {"attempts": [(a["instruction"], a["outcome"]) for a in r["attempts"]]}
                for r in runs
            ]
            for prompt, runs in per_prompt.items()
        },
    }
    print(
        f"{'prompt':<26} {'runs':>4} {'task ok':>8} {'attempts/obj':>12} {'grasp ok':>9} {'wrong':>5} {'proposal':>9} {'bbox':>6} {'complete':>9} {'s/run':>6}"
    )
    for prompt, r in results.items():
        a = r["planner_accuracy"]

        def pct(key: str, a: dict = a) -> str:
            return f"{100 * a[key]['accuracy']:.1f}" if key in a else "-"

        print(
            f"{prompt:<26} {r['runs']:>4} {100 * r['task_success']:>7.1f}% {r['attempts_per_object_in_successes']:>12.2f} "
            f"{100 * r['controller_grasp_success']:>8.1f}% {r['wrong_picks']:>5} {pct('instruction_proposal'):>9} {pct('bbox'):>6} "
            f"{pct('completion_check'):>9} {r['mean_wall_s']:>6.1f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
