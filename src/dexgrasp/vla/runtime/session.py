"""One call that sets up a simulated run end to end: scene, planner, perception, controller,
recorder and ground-truth judge.

    from dexgrasp.vla.runtime import run_in_sim
    result, out_dir = run_in_sim("clear the table", scene_seed=3, out="runs/demo")
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from dexgrasp.vla.runtime.factory import (
    PlannerOptions,
    controller_image_size,
    make_controller,
    make_perception,
    make_planner,
    resolve_controller,
)
from dexgrasp.vla.runtime.judge import Judge
from dexgrasp.vla.runtime.loop import HierarchicalRunner, RunResult, RuntimeConfig
from dexgrasp.vla.runtime.recorder import RunRecorder

DEFAULT_IMAGE_SIZE = (240, 320)  # (H, W) for the planner and the video when the expert controls


def run_in_sim(
    prompt: str,
    *,
    planner: str = "oracle",
    controller: str | None = None,
    scene_seed: int = 0,
    n_objects: int = 3,
    split: str = "unseen",
    objects: list[str] | None = None,
    out: str | Path | None = None,
    video: bool = True,
    segmenter: str = "auto",
    tracker: str = "auto",
    sam: str | None = None,
    sam2: str | None = None,
    planner_options: PlannerOptions | None = None,
    config: RuntimeConfig | None = None,
    image_size: tuple[int, int] | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> tuple[RunResult, Path | None, dict[str, Any]]:
    """Run ``prompt`` on a seeded simulated scene. Returns (result, run directory, summary)."""
    from dexgrasp.sim import layout
    from dexgrasp.vla.runtime.sim_robot import SimRobot

    controller = resolve_controller(controller)
    learned = None
    if controller != "expert":
        learned = make_controller(controller, robot=None)
    size = image_size or (controller_image_size(learned) if learned else None) or DEFAULT_IMAGE_SIZE
    robot = SimRobot.make(
        scene_seed,
        n_objects=n_objects,
        split=split,
        image_size=size,
        objects=objects,
        **(env_kwargs or {}),
    )
    ctrl = learned or make_controller(controller, robot)
    recorder = RunRecorder(out, video=video)
    plan = make_planner(planner, robot, planner_options, on_record=recorder.planner)
    seg, trk = make_perception(segmenter, tracker, robot, planner, sam=sam, sam2=sam2)
    judge = Judge(robot, lift_success_m=layout.SUCCESS_LIFT_M)
    runner = HierarchicalRunner(robot, plan, seg, trk, ctrl, config, recorder, judge=judge)
    scene_objects = [o.name for o in robot.env.scene.objects]
    expected = judge.expected_targets(prompt)
    hidden = [o.name for o in robot.objects() if o.box is None]
    if hidden:
        recorder.event("warning", message="objects not visible in the head camera", objects=hidden)
        warnings.warn(f"not visible in the head camera at the start: {hidden}", stacklevel=2)
    try:
        result = runner.run(prompt)
    finally:
        robot.close()
    status = dict(robot.status)
    summary = {
        **result.to_dict(),
        "planner": planner,
        "controller": controller,
        "segmenter": type(seg).__name__,
        "tracker": type(trk).__name__,
        "scene_seed": scene_seed,
        "split": split,
        "objects": scene_objects,
        "expected_targets": expected,
        "object_status": status,
        "gt_success": bool(expected) and all(status.get(n) == "placed" for n in expected),
        "wrong_picks": [n for n in result.picked if n not in expected],
        "planner_calls": recorder.n_planner,
    }
    out_dir = recorder.finish(summary)
    return result, out_dir, summary


def format_summary(summary: dict[str, Any]) -> str:
    """A plain-text table of the attempts and the totals."""
    lines = [
        f"prompt: {summary['prompt']!r}   scene seed {summary['scene_seed']}   objects: {', '.join(summary['objects'])}"
    ]
    lines.append(f"{'#':>2}  {'instruction':<58} {'outcome':<16} {'steps':>5}")
    for a in summary["attempts"]:
        lines.append(
            f"{a['index']:>2}  {a['instruction'][:58]:<58} {a['outcome']:<16} {a['steps']:>5}"
        )
    lines.append(
        f"completed (planner): {summary['completed']}   reason: {summary['reason']}   "
        f"ground truth: {'success' if summary['gt_success'] else 'not all targets placed'}   "
        f"time {summary['duration_s']:.1f} s, {summary['control_steps']} control steps"
    )
    acc = summary.get("accuracy") or {}
    if acc:
        lines.append(
            "planner vs ground truth: "
            + ", ".join(f"{k} {v['correct']}/{v['total']}" for k, v in sorted(acc.items()))
        )
    for name, state in summary["object_status"].items():
        lines.append(f"  {name:<36} {state}")
    return "\n".join(lines)
