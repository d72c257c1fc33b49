"""``dexgrasp train dexter``, ``dexgrasp generate``, ``dexgrasp eval dexter`` and
``dexgrasp export dexter``.

Heavy imports (torch, transformers) happen inside the handlers so ``dexgrasp --help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dexgrasp.cli import add_export_parser, export_model
from dexgrasp.constants import (
    DEXTER_FIT_CONTACTS,
    DEXTER_RANKS,
    DEXTER_RECOMMENDED_CANDIDATES,
    DEXTER_RECOMMENDED_TEMPERATURE,
    MIXED_PRECISION_MODES,
)

DEFAULT_METRICS = ("sim", "q1", "pen", "cd", "con", "div", "contact")


_REQUIRE_POSITIONS_HELP = "every contact block carries a position (no link-only blocks)"
_FIT_CONTACTS_HELP = (
    "after decoding, move each grasp so its links touch the contact positions: 'given' "
    "(the --contact / steering ones) or 'all' (every position in the answer)"
)
_SURFACE_TOL_HELP = (
    "contact positions the model writes must lie on the object's points to within this many "
    "metres per axis (e.g. 0.005); default: free"
)


def _add_decoding_args(p, recommended: bool = False) -> None:
    """The decoding options ``generate`` and ``eval dexter`` share.

    ``recommended``: default to the decoding measured best (``generate``); otherwise to plain
    sampling, one answer per grasp (``eval dexter``, which measures the model as it samples).
    """
    temperature = DEXTER_RECOMMENDED_TEMPERATURE if recommended else 1.0
    candidates = DEXTER_RECOMMENDED_CANDIDATES if recommended else 1
    p.add_argument(
        "--temperature",
        type=float,
        default=temperature,
        help=f"sampling temperature, 0 is greedy (default: {temperature})",
    )
    p.add_argument("--top-p", type=float, default=0.9, help="nucleus sampling (default: 0.9)")
    p.add_argument(
        "--contact-temperature",
        type=float,
        default=None,
        metavar="T",
        help="sample the contact block at temperature T and the grasp at --temperature "
        "(default: --temperature throughout; 0 writes the most likely contacts)",
    )
    p.add_argument("--require-positions", action="store_true", help=_REQUIRE_POSITIONS_HELP)
    p.add_argument("--surface-tol", type=float, default=None, metavar="M", help=_SURFACE_TOL_HELP)
    p.add_argument(
        "--fit-contacts", choices=DEXTER_FIT_CONTACTS, default=None, help=_FIT_CONTACTS_HELP
    )
    p.add_argument(
        "--candidates",
        type=int,
        default=candidates,
        metavar="K",
        help="sample K answers per grasp and keep the one the model scores best (--rank; "
        f"default: {candidates})",
    )
    p.add_argument(
        "--rank",
        choices=DEXTER_RANKS,
        default=None if recommended else "mean",
        help="score that picks among --candidates: mean log-probability per token, its sum, "
        "the sum over the grasp's action tokens, 'contacts': the written contacts against "
        "the hand the grasp places (links touching the object, positions on their links), "
        "'touch': mean plus a bonus for hand links touching the object, or 'consistent': "
        "touch plus a bonus where the contact links the model wrote are the ones that touch"
        + (" (default: touch, or contacts when --contact is given)" if recommended else ""),
    )


def _decoding_kwargs(args: argparse.Namespace) -> dict:
    """``generate_grasps`` keyword arguments for the shared decoding options."""
    return {
        "temperature": args.temperature,
        "top_p": args.top_p,
        "require_positions": args.require_positions,
        "surface_tol": args.surface_tol,
        "fit_contacts": args.fit_contacts,
        "candidates": args.candidates,
        "rank": args.rank,
        "contact_temperature": args.contact_temperature,
    }


def register(top, groups) -> None:
    """Add the DextER commands to the ``dexgrasp`` parser."""
    p = groups["train"].add_parser("dexter", help="train the DextER grasp generator")
    p.add_argument("--data", required=True, help="grasp dataset directory (dexgrasp grasps synth)")
    p.add_argument("--config", default="tiny", choices=("tiny", "paper"), help="model preset")
    p.add_argument("--out", default="runs/dexter", help="output directory (model + train state)")
    p.add_argument("--split", default="train", help="dataset split to train on")
    p.add_argument(
        "--steps", type=int, default=None, help="optimiser steps (tiny 3000, paper 100k)"
    )
    p.add_argument("--batch-size", type=int, default=None, help="batch size (tiny 32, paper 64)")
    p.add_argument("--lr", type=float, default=None, help="default: tiny 5e-4, paper 1e-4")
    p.add_argument("--warmup-steps", type=int, default=None, help="default min(1000, steps/10)")
    p.add_argument("--contact-dropout", type=float, default=0.5)
    p.add_argument("--action-only", action="store_true", help="ablation: no contact reasoning")
    p.add_argument(
        "--augment-rotation",
        action="store_true",
        help="train on objects turned by random angles about the vertical axis",
    )
    p.add_argument(
        "--augment-shift",
        type=float,
        default=0.0,
        metavar="METRES",
        help="train on objects moved by random offsets of up to METRES per axis (e.g. 0.05)",
    )
    p.add_argument(
        "--max-grasps-per-object",
        type=int,
        default=None,
        metavar="K",
        help="train on at most K grasps of each object (seeded random choice; all objects kept)",
    )
    p.add_argument(
        "--ordinal-bins",
        action="store_true",
        help="initialise the bin token embeddings with sinusoids of the bin value",
    )
    p.add_argument(
        "--point-bin-tokens",
        action="store_true",
        help="add the position-bin embeddings of each group centre to its point token",
    )
    p.add_argument("--pos-bins", type=int, default=256)
    p.add_argument("--action-bins", type=int, default=256)
    p.add_argument("--llm", default=None, help="paper preset: Qwen2.5-0.5B hub id or directory")
    p.add_argument("--random-init", action="store_true", help="paper preset without weights")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument(
        "--mixed-precision",
        default="auto",
        choices=MIXED_PRECISION_MODES,
        help="auto: bf16 on GPU, fp32 on CPU; bf16 on a CPU pays only with bf16 matrix units "
        "(AVX512-BF16, AMX) and warns without them",
    )
    p.add_argument("--no-resume", action="store_true", help="ignore an existing train state")
    p.add_argument(
        "--init-from",
        default=None,
        metavar="DIR",
        help="start from a trained model's weights and tokenizer ('shipped': the packaged "
        "model) with a fresh optimiser and schedule; the architecture options come from it",
    )
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument(
        "--num-workers",
        type=int,
        default=0,
        help="data loader processes (tokenising and augmenting the samples); on a GPU the "
        "tiny model waits for its data without them",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_train)

    p = top.add_parser("generate", help="generate grasps for an object with DextER")
    p.add_argument(
        "--model",
        default="shipped",
        help="trained DextER directory (default 'shipped': the tiny model packaged with the "
        "library)",
    )
    p.add_argument(
        "--object", required=True, help="object: .json (GraspObject), .npy/.npz points, or a mesh"
    )
    p.add_argument("--instruction", required=True, help="grasp instruction text")
    p.add_argument(
        "--contact",
        action="append",
        default=[],
        metavar="LINK@x,y,z",
        help="steering contact (object frame, metres), or LINK alone; repeatable",
    )
    p.add_argument("-n", type=int, default=8, help="number of grasps")
    p.add_argument("--out", default="grasps.json", help="output JSON")
    p.add_argument("--image", default=None, help="picture path (default: OUT with .png)")
    p.add_argument("--no-image", action="store_true")
    p.add_argument("--unconstrained", action="store_true", help="disable grammar constraints")
    _add_decoding_args(p, recommended=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_generate)

    p = groups["eval"].add_parser("dexter", help="evaluate DextER on a grasp dataset split")
    p.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="[NAME=]DIR",
        help="trained DextER directory or 'shipped'; repeat (NAME=DIR) to compare models in "
        "one table",
    )
    p.add_argument("--data", required=True, help="grasp dataset directory")
    p.add_argument("--split", default="unseen")
    p.add_argument(
        "--table",
        default="models",
        choices=("models", "steering"),
        help="models: one row per --model (Tables 1, 2, 4); steering: 0..--max-links given contacts",
    )
    p.add_argument("--max-links", type=int, default=5, help="steering table: up to K links")
    p.add_argument("-n", type=int, default=4, help="grasps per test record")
    p.add_argument("--max-records", type=int, default=None)
    p.add_argument("--steer-links", type=int, default=0, help="give the first K true contacts")
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma list")
    _add_decoding_args(p)
    p.add_argument("--out", default=None, help="write the rows as JSON here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_eval)

    add_export_parser(
        groups["export"],
        "dexter",
        what="DextER model",
        description="Loads --model, checks it, and writes config, weights, tokenizer and "
        "provenance to --out (e.g. src/dexgrasp/checkpoints/dexter_tiny, the package's shipped "
        "model: dexgrasp generate --model shipped). The optimiser state is not copied.",
        source="--model",
        source_help="trained DextER directory or 'shipped'",
        func=_export,
    )


def load_object_points(path: str | Path, n: int = 10_000):
    """(N, 3) float32 points and the GraspObject (or None) from an object file."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"object file {path} does not exist")
    suffix = path.suffix.lower()
    obj = None
    if suffix == ".json":
        from dexgrasp.grasps.objects import object_from_json

        obj = object_from_json(path.read_text())
        points = obj.sample_surface(n)[0]
    elif suffix == ".npy":
        points = np.load(path)
    elif suffix == ".npz":
        with np.load(path) as z:
            if "points" not in z:
                raise ValueError(f"{path} has no 'points' array (found {list(z.keys())})")
            points = z["points"]
    else:
        import trimesh

        mesh = trimesh.load(path, force="mesh")
        points = np.asarray(mesh.sample(n))
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3 or not np.all(np.isfinite(points)):
        raise ValueError(f"{path}: expected finite (N, 3) points, got shape {points.shape}")
    return points, obj


def _train(args: argparse.Namespace) -> int:
    from dexgrasp.dexter.config import DexterConfig
    from dexgrasp.dexter.data import fit_tokenizer, load_grasp_data
    from dexgrasp.dexter.model import DexterModel
    from dexgrasp.dexter.train import TrainConfig, train

    overrides = {
        "action_only": args.action_only,
        "augment_rotation": args.augment_rotation,
        "augment_shift": args.augment_shift,
        "ordinal_bins": args.ordinal_bins,
        "point_bin_tokens": args.point_bin_tokens,
        "n_pos_bins": args.pos_bins,
        "n_action_bins": args.action_bins,
    }
    if args.config == "paper":
        if args.random_init:
            overrides["llm_init"] = "scratch"
        elif args.llm:
            overrides["llm_name_or_path"] = overrides["tokenizer"] = args.llm
    objects, samples = load_grasp_data(
        args.data, args.split, max_per_object=args.max_grasps_per_object, seed=args.seed
    )
    out = Path(args.out)
    resuming = not args.no_resume and (out / "config.json").is_file()
    if resuming:
        if args.init_from:
            print(f"--init-from ignored: resuming {out} (--no-resume starts over)", file=sys.stderr)
        model = DexterModel.from_pretrained(out)  # resume: keep the fitted tokenizer
        model.train()
    elif args.init_from:
        model = DexterModel.from_pretrained(args.init_from)  # weights and fitted tokenizer
        _check_init_options(model.config, overrides, args)
        model.train()
    else:
        model = DexterModel.build(DexterConfig.preset(args.config, **overrides))
        fit_tokenizer(model.tokenizer, samples, model.config)
    steps = args.steps or (3000 if args.config == "tiny" else 100_000)
    cfg = TrainConfig(
        output_dir=str(out),
        steps=steps,
        batch_size=args.batch_size or (32 if args.config == "tiny" else 64),
        lr=args.lr or (5e-4 if args.config == "tiny" else 1e-4),
        warmup_steps=args.warmup_steps if args.warmup_steps is not None else min(1000, steps // 10),
        contact_dropout=args.contact_dropout,
        gradient_checkpointing=args.gradient_checkpointing,
        mixed_precision=args.mixed_precision,
        resume=not args.no_resume,
        save_every=args.save_every,
        num_workers=args.num_workers,
        seed=args.seed,
    )
    print(f"training DextER ({args.config}) on {len(samples)} grasps of {len(objects)} objects")
    summary = train(model, objects, samples, cfg)
    _record_provenance(out, args, len(samples), len(objects), summary, resuming)
    print(json.dumps(summary))
    return 0


def _check_init_options(config, overrides: dict, args: argparse.Namespace) -> None:
    """With --init-from the architecture comes from the checkpoint: refuse model options on
    the command line that say otherwise (instead of silently ignoring them)."""
    from dexgrasp.dexter.config import DexterConfig

    defaults = DexterConfig.preset(args.config)
    clash = [
        f"{k}={v!r} (the checkpoint has {getattr(config, k)!r})"
        for k, v in overrides.items()
        if v != getattr(defaults, k, v) and v != getattr(config, k, v)
    ]
    if clash:
        raise SystemExit(
            f"--init-from {args.init_from}: the model options come from the checkpoint; "
            f"drop {', '.join(clash)}"
        )


def _record_provenance(
    out: Path, args: argparse.Namespace, grasps: int, objects: int, summary: dict, resumed: bool
) -> None:
    """Append this run (command, data, result) to ``out/provenance.json``: a model resumed or
    started ``--init-from`` another lists every run that made it; `dexgrasp export dexter`
    copies the file."""
    import platform
    import time

    from dexgrasp.cli import command_line
    from dexgrasp.dexter.model import PROVENANCE_FILE, resolve_model_dir

    path = out / PROVENANCE_FILE
    # the runs before this one: this directory's (resumed) or the starting model's (--init-from)
    before = path if resumed else None
    if not resumed and args.init_from:
        before = resolve_model_dir(args.init_from) / PROVENANCE_FILE
    runs = []
    if before is not None and before.is_file():
        try:
            runs = list(json.loads(before.read_text()).get("runs", []))
        except (ValueError, AttributeError):  # unreadable: start a new record, keep the old
            if before == path:
                path.replace(path.with_suffix(".json.bad"))
    runs.append(
        {
            "command": command_line(args),
            "data": str(args.data),
            "split": args.split,
            "grasps": grasps,
            "objects": objects,
            "init_from": args.init_from if not resumed else None,
            "result": summary,
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": platform.python_version(),
        }
    )
    path.write_text(json.dumps({"runs": runs}, indent=1) + "\n")


def _generate(args: argparse.Namespace) -> int:
    import numpy as np

    from dexgrasp.dexter.generate import generate_grasps, parse_contact_arg, recommended_rank
    from dexgrasp.dexter.model import DexterModel

    contacts = [parse_contact_arg(c) for c in args.contact]
    if args.rank is None:
        args.rank = recommended_rank(contacts)
    points, obj = load_object_points(args.object)
    model = DexterModel.from_pretrained(args.model, device=args.device)
    decoding = {**_decoding_kwargs(args), "constrained": not args.unconstrained, "seed": args.seed}
    results = generate_grasps(
        model, points, args.instruction, n=args.n, contacts=contacts, **decoding
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "object": str(args.object),
        "instruction": args.instruction,
        "steering": [{"link": k, "position": v} for k, v in contacts],
        "decoding": decoding,
        "grasps": [r.to_json() for r in results],
    }
    out.write_text(json.dumps(payload, indent=1))
    n_ok = sum(r.ok for r in results)
    print(f"wrote {n_ok}/{len(results)} decodable grasps to {out}")
    if not args.no_image:
        _picture(args, obj, [r for r in results if r.ok], out, np)
    return 0 if n_ok else 1


def _picture(args, obj, results, out: Path, np) -> None:
    """Render up to 4 grasps side by side when the grasp renderer and a GraspObject exist."""
    try:
        from dexgrasp.grasps.render import render_grasp, save_png
    except ImportError:
        print("no picture: dexgrasp.grasps.render is not available", file=sys.stderr)
        return
    if obj is None or not results:
        print("no picture: needs a .json GraspObject and a decodable grasp", file=sys.stderr)
        return
    tiles = [render_grasp(obj, r.grasp, r.contacts, width=320, height=240) for r in results[:4]]
    path = Path(args.image) if args.image else out.with_suffix(".png")
    save_png(np.concatenate(tiles, axis=1), path)
    print(f"picture: {path}")


def _eval(args: argparse.Namespace) -> int:
    from dexgrasp.dexter.evaluate import (
        EvalConfig,
        compare_models,
        format_table,
        steering_table,
    )

    cfg = EvalConfig(
        n_per_record=args.n,
        max_records=args.max_records,
        steer_links=args.steer_links,
        metrics=tuple(m.strip() for m in args.metrics.split(",") if m.strip()),
        seed=args.seed,
        **_decoding_kwargs(args),
    )
    specs = args.model or ["runs/dexter"]
    models = dict(s.split("=", 1) if "=" in s else (Path(s).name, s) for s in specs)
    if args.table == "steering":
        if len(models) != 1:
            raise SystemExit("--table steering takes exactly one --model")
        rows = steering_table(
            next(iter(models.values())),
            args.data,
            range(args.max_links + 1),
            args.split,
            cfg,
            args.device,
        )
    else:
        rows = compare_models(models, args.data, args.split, cfg, args.device)
    print(format_table(rows))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=1, default=float))
        print(f"wrote {args.out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from dexgrasp.dexter.model import DexterModel, resolve_model_dir

    src = resolve_model_dir(args.model)
    return export_model(
        DexterModel.from_pretrained, src, args.out, args.dtype, "DextER model", source="--model"
    )
