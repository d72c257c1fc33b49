"""``dexgrasp train controller`` and ``dexgrasp eval controller``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from dexgrasp.cli import add_export_parser, export_model
from dexgrasp.constants import MIXED_PRECISION_MODES


def register(
    top: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    t = groups["train"].add_parser(
        "controller",
        help="train the DexGraspVLA controller on demonstrations",
        description="Train the controller (accelerate; for many GPUs run "
        "`accelerate launch --num_processes N -m dexgrasp.cli train controller ...`). "
        "Re-running with the same --out resumes exactly from the last checkpoint.",
    )
    t.add_argument(
        "--data", required=True, help="episode store (zarr), ours or the authors' layout"
    )
    t.add_argument("--out", required=True, help="output directory (checkpoint, logs, state)")
    t.add_argument(
        "--config",
        default="small",
        help="preset (small, paper, paper_dinov2_train, paper_vit_small) or a config.json",
    )
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a controller config field, e.g. --set prediction_type=sample",
    )
    t.add_argument("--epochs", type=int, help="override the preset's epochs")
    t.add_argument("--max-steps", type=int, help="stop after this many optimizer steps in total")
    t.add_argument("--batch-size", type=int, help="per-process batch size")
    t.add_argument("--lr", type=float)
    t.add_argument("--warmup-steps", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--ema", action="store_true", help="keep an EMA of the weights and export it")
    t.add_argument("--checkpoint-every", type=int, help="optimizer steps between checkpoints")
    t.add_argument("--log-every", type=int, help="optimizer steps between loss-log lines")
    t.add_argument("--feature-cache-views", type=int,
                   help="cache frozen-encoder features with this many colour-jittered views")  # fmt: skip
    t.add_argument("--episodes", type=int, help="use only the first N episodes of the store")
    t.add_argument("--split", help="use only episodes whose metadata split equals this")
    t.add_argument(
        "--min-takeover-step", type=int, default=None, metavar="N", help="of the expert "
        "takeover episodes (dexgrasp takeover) use only those from policy step N on",
    )  # fmt: skip
    t.add_argument("--head-encoder", help="DINOv2 hub id or local dir for the head camera")
    t.add_argument("--wrist-encoder", help="DINOv2 hub id or local dir for the wrist camera")
    t.add_argument("--num-workers", type=int, help="data loader worker processes")
    t.add_argument("--mixed-precision", choices=MIXED_PRECISION_MODES,
                   help="auto (default): bf16 on CUDA, fp32 on CPU; bf16 on a CPU pays only "
                   "with bf16 matrix units (AVX512-BF16, AMX) and warns without them")  # fmt: skip
    t.add_argument("--init-from", metavar="CKPT",
                   help="fine-tune: start from this checkpoint's weights and normalisation "
                   "statistics (pass its config.json as --config)")  # fmt: skip
    t.add_argument("--no-resume", action="store_true", help="start over even if --out has a state")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)

    e = groups["eval"].add_parser(
        "controller",
        help="closed-loop success rate of a controller checkpoint in simulation",
        description="Runs N episodes in dexgrasp/TabletopGrasp-v0 with the ground-truth mask.",
    )
    e.add_argument("--ckpt", default="shipped", help="checkpoint directory, or 'shipped'")
    e.add_argument("--split", default="train", help="object split: train | unseen | ...")
    e.add_argument("--episodes", type=int, default=100)
    e.add_argument("--seed", type=int, help="first scene seed (default: the evaluation base)")
    e.add_argument("--max-steps", type=int, help="control steps per episode")
    e.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="inference setting: n_action_steps, num_inference_steps, num_samples, "
        "warm_start_steps, noise_scale, sample_select (medoid|coherent) or episode_noise "
        "(true|false) (e.g. --set num_samples=4 --set sample_select=coherent)",
    )
    e.add_argument("--attempts", type=int, default=1,
                   help="tries per scene, the robot reset to home after a failed one (the "
                   "paper's Ours@k; the summary reports @1..@k)")  # fmt: skip
    e.add_argument("--background", help="table background (default: white table)")
    e.add_argument("--lighting", help="lighting (default: white)")
    e.add_argument("--room", help="room: collection | evaluation")
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=int, help="torch threads (per worker)")
    e.add_argument("--workers", type=int, default=1,
                   help="evaluation processes, each on a contiguous range of scene seeds")  # fmt: skip
    e.add_argument("--out", help="write the result JSON here")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=_eval)

    add_export_parser(
        groups["export"],
        "controller",
        what="controller",
        description="Loads --ckpt, checks it, and writes config, weights, statistics and the "
        "provenance to --out (e.g. src/dexgrasp/checkpoints/controller_small, the package's "
        "shipped controller: dexgrasp run --controller shipped).",
        source="--ckpt",
        source_help="trained controller directory",
        func=_export,
    )

    from dexgrasp.sim.cli import add_collect_arguments

    k = top.add_parser(
        "takeover",
        help="collect expert corrections where a trained controller fails (DAgger-style)",
        description="Like `dexgrasp collect`, but each attempt runs the controller at --ckpt; "
        "when it fails, the expert takes over from some of the states it visited and its "
        "successful corrections are stored (dexgrasp.vla.controller.takeover).",
    )
    add_collect_arguments(k)
    k.add_argument("--ckpt", required=True, help="trained controller directory")
    k.add_argument("--takeovers-per-episode", type=int, default=2,
                   help="expert episodes per failed policy episode, from distinct policy steps")  # fmt: skip
    k.add_argument("--continue-grasp", action="store_true",
                   help="the expert corrects the policy's own grasp (the feasible grasp nearest "
                   "where its hand closed, from states just before) instead of planning afresh")  # fmt: skip
    k.add_argument("--after-miss", action="store_true",
                   help="take over only after the policy's hand closed on nothing (the stalled "
                   "empty hand): the expert opens it and grasps again")  # fmt: skip
    k.set_defaults(func=_takeover)


def _takeover(args: argparse.Namespace) -> int:
    from dexgrasp.sim.cli import cmd_collect
    from dexgrasp.vla.controller.takeover import TakeoverSource

    try:
        source = TakeoverSource(
            args.ckpt, args.takeovers_per_episode, args.continue_grasp, args.after_miss
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return cmd_collect(args, source=source)


def _load_config(spec: str, args: argparse.Namespace):
    from dexgrasp.vla.controller.configuration import PRESETS, ControllerConfig, TrainConfig

    if spec in PRESETS:
        config = ControllerConfig.preset(spec)
        train_cfg = TrainConfig.preset("small" if spec == "small" else "paper")
    else:
        config, train_cfg = ControllerConfig.load(spec), TrainConfig.preset("small")
    data = config.to_dict()
    for item in args.set:
        field, sep, value = item.partition("=")
        if not sep or field not in data or isinstance(data[field], dict):
            raise SystemExit(f"--set {item!r}: expected FIELD=VALUE with a top-level field")
        try:
            data[field] = json.loads(value)
        except json.JSONDecodeError:
            data[field] = value  # a bare string
    config = ControllerConfig.from_dict(data)
    for cam in ("head", "wrist"):
        path = getattr(args, f"{cam}_encoder")
        if path:
            getattr(config, f"{cam}_encoder").pretrained = path
    overrides = {
        "epochs": args.epochs, "max_steps": args.max_steps, "batch_size": args.batch_size,
        "lr": args.lr, "warmup_steps": args.warmup_steps, "seed": args.seed,
        "checkpoint_every": args.checkpoint_every, "log_every": args.log_every,
        "num_workers": args.num_workers, "mixed_precision": args.mixed_precision,
        "feature_cache_views": args.feature_cache_views, "init_from": args.init_from,
    }  # fmt: skip
    kwargs = {**vars(train_cfg), **{k: v for k, v in overrides.items() if v is not None}}
    if args.ema:
        kwargs["ema"] = True
    return config, TrainConfig(**kwargs)


def _train(args: argparse.Namespace) -> int:
    from dexgrasp.data.episodes import EpisodeStore
    from dexgrasp.vla.controller.train import train_controller

    config, train_cfg = _load_config(args.config, args)
    store = EpisodeStore(args.data)
    episodes = list(range(len(store)))
    if args.split:
        episodes = store.episodes_where(split=args.split)
    if args.min_takeover_step is not None:
        episodes = [
            i for i in episodes
            if store.meta(i).get("takeover_step", args.min_takeover_step) >= args.min_takeover_step
        ]  # fmt: skip
    if args.episodes is not None:
        episodes = episodes[: args.episodes]
    if not episodes:
        print(f"no episodes selected from {args.data}", file=sys.stderr)
        return 2
    out = train_controller(
        args.data, args.out, config, train_cfg, episodes=episodes,
        resume=not args.no_resume, progress=not args.quiet,
    )  # fmt: skip
    if int(os.environ.get("RANK", "0")) == 0:
        _write_provenance(out, store, episodes, args)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"controller written to {out} ({len(episodes)} episodes of {args.data})")
    return 0


def _write_provenance(out: Path, store, episodes: list[int], args: argparse.Namespace) -> None:
    """What produced this checkpoint: command, data, episodes and their scene seeds."""
    import platform
    import time

    from dexgrasp.cli import command_line

    seeds = [store.meta(i).get("scene_seed") for i in episodes]
    doc = {
        "command": command_line(args),
        "data": str(Path(args.data).resolve()),
        "store_layout": store.layout,
        "episodes": len(episodes),
        "frames": int(sum(store.episode_lengths[i] for i in episodes)),
        "splits": sorted({str(store.meta(i).get("split")) for i in episodes}),
        "scene_seeds": seeds,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
    }
    (Path(out) / "provenance.json").write_text(json.dumps(doc, indent=1) + "\n")


def _export(args: argparse.Namespace) -> int:
    from dexgrasp.vla.controller.modeling import DexGraspVLAController

    return export_model(
        DexGraspVLAController.from_pretrained, args.ckpt, args.out, args.dtype, "controller"
    )


def _inference_settings(items: list[str], ckpt: Path) -> dict[str, Any]:
    """``--set FIELD=N`` items of ``dexgrasp eval controller`` -> settings, validated against
    the checkpoint's config."""
    from dexgrasp.vla.controller.checkpoint import CONFIG_NAME
    from dexgrasp.vla.controller.configuration import ControllerConfig
    from dexgrasp.vla.controller.modeling import DexGraspVLAController

    fields = DexGraspVLAController.INFERENCE_FIELDS
    types = {f.name: str(f.type) for f in dataclasses.fields(ControllerConfig)}
    parsers = {  # the config's annotation says how to read the value
        "int": (int, "an integer"),
        "float": (float, "a number"),
        "str": (str, "a string"),
        "bool": (
            lambda v: {"true": True, "1": True, "false": False, "0": False}[v.lower()],
            "true or false",
        ),
    }
    out = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep or field not in fields:
            raise ValueError(f"{item!r}: expected FIELD=VALUE with FIELD one of {fields}")
        parse, kind = parsers[types[field]]
        try:  # ranges and choices are checked by the config (set_inference)
            out[field] = parse(value)
        except (ValueError, KeyError):
            raise ValueError(f"{item!r}: the value must be {kind}") from None
    if out and (ckpt / CONFIG_NAME).is_file():
        dataclasses.replace(ControllerConfig.load(ckpt / CONFIG_NAME), **out)  # validates
    return out


def _eval(args: argparse.Namespace) -> int:
    from dexgrasp.vla.controller.evaluate import EVAL_SEED_BASE, evaluate_checkpoint
    from dexgrasp.vla.runtime.factory import resolve_controller

    try:
        ckpt = Path(resolve_controller(args.ckpt))
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    if not ckpt.is_dir():
        print(f"no controller checkpoint at {ckpt}", file=sys.stderr)
        return 2
    env_kwargs = {
        k: getattr(args, k) for k in ("background", "lighting", "room") if getattr(args, k)
    }
    kwargs = {"max_steps": args.max_steps} if args.max_steps else {}
    if args.attempts < 1:
        print(f"--attempts must be at least 1, got {args.attempts}", file=sys.stderr)
        return 2
    threads = args.threads or (1 if args.workers > 1 else None)
    try:
        inference = _inference_settings(args.set, Path(ckpt))
    except ValueError as exc:
        print(f"--set: {exc}", file=sys.stderr)
        return 2
    result = evaluate_checkpoint(
        ckpt, workers=args.workers, device=args.device, threads=threads, split=args.split,
        episodes=args.episodes, seed=EVAL_SEED_BASE if args.seed is None else args.seed,
        env_kwargs=env_kwargs or None, progress=not args.quiet, inference=inference,
        attempts=args.attempts, **kwargs,
    )  # fmt: skip
    print(result.summary())
    if args.out:
        result.save(args.out)
    print(json.dumps({"split": result.split, "episodes": result.episodes,
                      "success_rate": result.success_rate}))  # fmt: skip
    return 0
