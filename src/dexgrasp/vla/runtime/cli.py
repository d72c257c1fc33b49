"""``dexgrasp run PROMPT``: the hierarchical system on a simulated scene."""

from __future__ import annotations

import argparse
import re
import time


def register(top: argparse._SubParsersAction, groups: dict) -> None:
    p = top.add_parser(
        "run",
        help="run a prompt ('clear the table') with planner + controller in simulation",
        description="Run the hierarchical DexGraspVLA system on a seeded simulated scene. With no "
        "options: oracle planner, the scripted expert controller, 3 objects.",
    )
    p.add_argument(
        "prompt", nargs="?", default="clear the table", help="user prompt (default: %(default)r)"
    )
    p.add_argument("--planner", default="oracle", choices=("oracle", "openai", "qwen-local"))
    p.add_argument(
        "--controller",
        default=None,
        help="'expert' (default), 'shipped' (the trained controller packaged with "
        "dexgrasp) or a controller checkpoint directory",
    )
    p.add_argument("--scene-seed", type=int, default=0)
    p.add_argument("--n-objects", type=int, default=3)
    p.add_argument("--split", default="unseen")
    p.add_argument("--out", default=None, help="run directory (default: runs/<time>_<prompt>)")
    p.add_argument("--no-video", action="store_true", help="skip the MP4 (faster)")
    p.add_argument("--segmenter", default="auto", choices=("auto", "gt", "grabcut", "sam"))
    p.add_argument("--tracker", default="auto", choices=("auto", "gt", "flow", "sam2"))
    p.add_argument("--sam", default=None, help="SAM hub id or directory (with --segmenter sam)")
    p.add_argument(
        "--sam2", default=None, help="SAM 2 video hub id or directory (with --tracker sam2)"
    )
    p.add_argument(
        "--base-url", default="http://localhost:8000/v1", help="OpenAI-compatible endpoint"
    )
    p.add_argument(
        "--model", default="Qwen/Qwen2.5-VL-72B-Instruct", help="model name at --base-url"
    )
    p.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", help="environment variable with the key"
    )
    p.add_argument(
        "--qwen-model", default="Qwen/Qwen2.5-VL-7B-Instruct", help="hub id or directory"
    )
    p.add_argument("--max-attempts", type=int, default=12)
    p.add_argument("--attempts-per-object", type=int, default=3)
    p.add_argument(
        "--attempt-steps", type=int, default=200, help="control steps per attempt (20 Hz)"
    )
    p.add_argument("--max-time", type=float, default=900.0, help="wall-clock budget, seconds")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dexgrasp.vla.runtime.factory import PlannerOptions
    from dexgrasp.vla.runtime.loop import RuntimeConfig
    from dexgrasp.vla.runtime.session import format_summary, run_in_sim

    out = args.out
    if out is None:
        slug = re.sub(r"[^a-z0-9]+", "_", args.prompt.lower()).strip("_")[:40] or "run"
        out = f"runs/{time.strftime('%Y%m%d_%H%M%S')}_{slug}"
    config = RuntimeConfig(
        max_attempts_per_object=args.attempts_per_object,
        max_attempts=args.max_attempts,
        max_time_s=args.max_time,
        attempt_steps=args.attempt_steps,
    )
    options = PlannerOptions(
        base_url=args.base_url,
        model=args.model,
        api_key_env=args.api_key_env,
        qwen_model=args.qwen_model,
    )
    result, out_dir, summary = run_in_sim(
        args.prompt,
        planner=args.planner,
        controller=args.controller,
        scene_seed=args.scene_seed,
        n_objects=args.n_objects,
        split=args.split,
        out=out,
        video=not args.no_video,
        segmenter=args.segmenter,
        tracker=args.tracker,
        sam=args.sam,
        sam2=args.sam2,
        planner_options=options,
        config=config,
    )
    print(format_summary(summary))
    print(f"run directory: {out_dir}")
    return 0 if result.completed else 1
