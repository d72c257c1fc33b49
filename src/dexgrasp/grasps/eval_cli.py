"""``dexgrasp grasps eval`` and ``dexgrasp grasps import``.

    dexgrasp grasps eval --data DIR [--pred grasps.json] --metrics sim,q1,pen,cd,con,div,contact,pfid
    dexgrasp grasps import --format dexgys|dexonomy --src PATH --out DIR
    dexgrasp grasps annotate --data DIR [--annotator vlm --base-url URL --model NAME]

``eval`` without ``--pred`` scores the dataset's own grasps (physical quality and diversity);
with ``--pred`` it scores predictions against the dataset's grasps. A predictions file is a
JSON list (or ``{"grasps": [...]}``) of::

    {"object_id": "mug_0003", "grasp": [28 numbers],
     "contacts": {"rh_ffdistal": [[x, y, z], ...], ...},   # optional, object frame, m
     "ref": 12}                                            # optional reference row

``ref`` indexes the evaluated reference rows (dataset order after ``--split``/``--limit``);
without it each prediction is paired with the closest (Chamfer) reference of its object.
A table goes to stdout and everything to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

DEFAULT_METRICS = "sim,q1,pen,div"
DEFAULT_PRED_METRICS = "sim,q1,pen,cd,con,div"
NOT_COMPARABLE = ("P-FID here uses a PointNet++ trained on dexgrasp's procedural object "
                  "categories: the number is NOT comparable with published P-FID values.")  # fmt: skip


def register(top, groups) -> None:
    g = groups["grasps"]
    ev = g.add_parser("eval", help="grasp metrics: simulated success, Q1, penetration, CD, ...",
                      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ev.add_argument("--data", required=True, help="grasp dataset directory")
    ev.add_argument("--pred", help="predicted grasps (.json); default: score the dataset's grasps")
    ev.add_argument("--metrics", default=None,
                    help=f"comma list from sim,q1,pen,cd,con,div,contact,pfid "
                         f"(default {DEFAULT_METRICS}; with --pred {DEFAULT_PRED_METRICS})")  # fmt: skip
    ev.add_argument("--split", default=None, help="dataset split to use as reference (e.g. unseen)")
    ev.add_argument(
        "--limit", type=int, default=None, help="use at most this many reference grasps"
    )
    ev.add_argument(
        "--pfid-weights", help="P-FID feature net: saved directory or PointNet++ checkpoint"
    )
    ev.add_argument("--pfid-width", type=int, default=2, help="width_mult of a checkpoint file (2)")
    ev.add_argument("--train-pfid", metavar="DIR",
                    help="train a feature net on the dataset's object categories, save it to DIR")  # fmt: skip
    ev.add_argument("--pfid-epochs", type=int, default=15)
    ev.add_argument(
        "--out", help="metrics JSON (default: <pred>.metrics.json or DATA/eval_metrics.json)"
    )
    ev.add_argument("--progress", action="store_true", help="progress bars")
    ev.set_defaults(func=run_eval)

    im = g.add_parser("import", help="import DexGYS or Dexonomy/DexGraspBench grasps")
    im.add_argument("--format", required=True, choices=("dexgys", "dexonomy"))
    im.add_argument("--src", required=True, help="source file or directory")
    im.add_argument("--out", required=True, help="output dataset directory")
    im.add_argument("--oakink", help="DexGYS only: OakInk root, to locate object meshes")
    im.add_argument(
        "--mesh-root", help="Dexonomy only: directory the obj_path entries are relative to"
    )
    im.add_argument(
        "--annotate",
        choices=("none", "template"),
        default="template",
        help="add template instructions where the source has none (default template)",
    )
    im.set_defaults(func=run_import)

    an = g.add_parser("annotate", help="add physical + functional instructions (template or VLM)")
    an.add_argument("--data", required=True, help="grasp dataset directory (updated in place)")
    an.add_argument("--annotator", choices=("template", "vlm"), default="template")
    an.add_argument("--base-url", default="http://localhost:8000/v1",
                    help="VLM: OpenAI-compatible endpoint (vLLM, Ollama, DashScope, OpenAI)")  # fmt: skip
    an.add_argument("--model", default="Qwen/Qwen2.5-VL-7B-Instruct", help="VLM: model name")
    an.add_argument("--api-key-env", default="OPENAI_API_KEY",
                    help="VLM: environment variable holding the key (unset -> 'EMPTY')")  # fmt: skip
    an.add_argument("--views", type=int, default=5, help="VLM: rendered views per grasp")
    an.add_argument("--n", type=int, default=1, help="sentences per level")
    an.add_argument("--limit", type=int, default=None, help="annotate at most this many grasps")
    an.add_argument("--no-fallback", action="store_true",
                    help="VLM: count unusable answers as failures instead of using templates")  # fmt: skip
    an.add_argument("--seed", type=int, default=0)
    an.set_defaults(func=run_annotate)


# --- predictions -----------------------------------------------------------------------------
def load_predictions(path: Path):
    """Read a predictions file -> (GraspSet, ref indices or None)."""
    from dexgrasp.grasps.conventions import LINK_NAMES
    from dexgrasp.grasps.metrics.evaluate import GraspSet

    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if isinstance(data, dict):
        if "grasps" not in data:
            raise ValueError(f"{path}: expected a list or an object with field 'grasps'")
        data = data["grasps"]
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path}: no predictions")
    ids, grasps, contacts, refs = [], [], [], []
    for i, e in enumerate(data):
        where = f"{path}[{i}]"
        if not isinstance(e, dict):
            raise ValueError(f"{where}: each prediction must be an object")
        for key in ("object_id", "grasp"):
            if key not in e:
                raise ValueError(f"{where}: missing field {key!r}")
        try:
            g = np.asarray(e["grasp"], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: field 'grasp' must be 28 numbers") from None
        if g.shape != (28,) or not np.isfinite(g).all():
            raise ValueError(f"{where}: field 'grasp' must be 28 finite numbers, got {g.size}")
        c = e.get("contacts")
        if c is not None:
            if not isinstance(c, dict):
                raise ValueError(f"{where}: field 'contacts' must map link names to positions")
            bad = [k for k in c if k not in LINK_NAMES]
            if bad:
                raise ValueError(f"{where}: field 'contacts' has unknown links {bad}")
            try:
                c = {k: np.asarray(v, dtype=np.float64).reshape(-1, 3) for k, v in c.items()}
            except ValueError:
                raise ValueError(
                    f"{where}: field 'contacts' positions must be [x, y, z] lists"
                ) from None
        r = e.get("ref")
        if r is not None and (not isinstance(r, int) or r < 0):
            raise ValueError(f"{where}: field 'ref' must be a non-negative integer")
        ids.append(str(e["object_id"]))
        grasps.append(g)
        contacts.append(c)
        refs.append(r)
    has_contacts = all(c is not None for c in contacts)
    if any(c is not None for c in contacts) and not has_contacts:
        raise ValueError(f"{path}: give 'contacts' for every prediction or for none")
    if any(r is not None for r in refs) and not all(r is not None for r in refs):
        raise ValueError(f"{path}: give 'ref' for every prediction or for none")
    pred = GraspSet(ids, np.stack(grasps), contacts if has_contacts else None)
    return pred, (np.asarray(refs) if refs[0] is not None else None)


# --- dataset ---------------------------------------------------------------------------------
def load_reference(path: Path, split: str | None = None, limit: int | None = None):
    """Dataset -> (reference GraspSet, objects by id, object points by id)."""
    from dexgrasp.grasps.importers.bridge import read_reference

    return read_reference(Path(path), split=split, limit=limit)


# --- commands --------------------------------------------------------------------------------
def _print_table(summary: dict[str, float], seconds: dict[str, float], n: int) -> None:
    width = max(len(k) for k in summary) + 2
    print(f"{'metric':<{width}}{'value':>12}")
    for k, v in summary.items():
        print(f"{k:<{width}}{v:>12.4f}")
    if seconds:
        print("\ntime (s): " + ", ".join(f"{k} {v:.1f} ({n / v:.1f} grasps/s)" if v > 0 else k
                                       for k, v in seconds.items()))  # fmt: skip


def _pfid_net(args, objects, points, progress: bool):
    from dexgrasp.grasps.metrics.pfid import load_feature_net, save_feature_net, train_on_objects

    if args.pfid_weights:
        return load_feature_net(args.pfid_weights, width_mult=args.pfid_width), True
    if not args.train_pfid:
        raise ValueError("metric pfid needs --pfid-weights PATH or --train-pfid DIR")
    out = Path(args.train_pfid)
    if (out / "model.safetensors").is_file():
        return load_feature_net(out), False
    net, cats, losses = train_on_objects(
        objects, points, epochs=args.pfid_epochs, progress=progress
    )
    save_feature_net(net, out, extra={"classes": cats, "loss": losses, "note": NOT_COMPARABLE})
    print(f"trained P-FID feature net on {len(cats)} categories -> {out}")
    return net, False


def run_eval(args) -> int:
    from dexgrasp.grasps.metrics.evaluate import METRICS, evaluate

    metrics = [m.strip() for m in (args.metrics or (DEFAULT_PRED_METRICS if args.pred else DEFAULT_METRICS)).split(",") if m.strip()]  # fmt: skip
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        print(f"error: unknown metrics {bad}; choose from {','.join(METRICS)}", file=sys.stderr)
        return 2
    try:
        ref, objects, points = load_reference(Path(args.data), args.split, args.limit)
        pred, ref_index = load_predictions(Path(args.pred)) if args.pred else (ref, None)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.pred is None:
        ref_index = np.arange(len(ref.grasps))
        dropped = [m for m in metrics if m in ("cd", "con", "contact", "pfid")]
        if dropped:
            print(f"note: {','.join(dropped)} compare predictions with the dataset; give --pred",
                  file=sys.stderr)  # fmt: skip
            metrics = [m for m in metrics if m not in dropped]
        if not metrics:
            return 2
    net, comparable = None, True
    try:
        if "pfid" in metrics:
            net, comparable = _pfid_net(args, objects, points, args.progress)
        res = evaluate(pred, objects, metrics, ref=ref, ref_index=ref_index, object_points=points,
                       pfid_net=net, progress=args.progress)  # fmt: skip
    except (ValueError, KeyError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _print_table(res.summary, res.seconds, len(pred.grasps))
    if "pfid" in metrics and not comparable:
        print("\nnote: " + NOT_COMPARABLE)
    out = Path(args.out) if args.out else (
        Path(args.pred).with_suffix(".metrics.json") if args.pred else Path(args.data) / "eval_metrics.json")  # fmt: skip
    payload = {"data": str(args.data), "pred": args.pred, "metrics": metrics,
               "summary": res.summary, "seconds": res.seconds,
               "per_grasp": {k: np.asarray(v).tolist() for k, v in res.per_grasp.items()}}  # fmt: skip
    if "pfid" in metrics and not comparable:
        payload["pfid_note"] = NOT_COMPARABLE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {out}")
    return 0


def run_import(args) -> int:
    from dexgrasp.grasps.importers import READERS, ImportFormatError
    from dexgrasp.grasps.importers.bridge import write_imported

    try:
        if args.format == "dexgys":
            recs = READERS["dexgys"](args.src, oakink_root=args.oakink)
        else:
            recs = READERS["dexonomy"](args.src)
    except (ImportFormatError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        summary = write_imported(recs, Path(args.out), annotate=args.annotate,
                                 mesh_root=args.mesh_root)  # fmt: skip
    except (ValueError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


def run_annotate(args) -> int:
    from dexgrasp.grasps.dataset import DatasetFormatError
    from dexgrasp.grasps.language import TemplateAnnotator, VLMAnnotator, annotate_dataset

    if args.n < 1 or args.views < 1:
        print("error: --n and --views must be >= 1", file=sys.stderr)
        return 2
    template = TemplateAnnotator(args.seed)
    annotator = template
    if args.annotator == "vlm":
        from dexgrasp.vlm import OpenAIClientConfig, OpenAICompatibleClient, VLMError

        try:
            client = OpenAICompatibleClient(OpenAIClientConfig(
                base_url=args.base_url, model=args.model, api_key_env=args.api_key_env,
                allow_missing_key=True))  # fmt: skip
        except (ValueError, ImportError, VLMError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        annotator = VLMAnnotator(client, n_views=args.views, n=args.n,
                                 fallback=None if args.no_fallback else template)  # fmt: skip
    try:
        counts = annotate_dataset(args.data, annotator, n=args.n, limit=args.limit, progress=True)
    except DatasetFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(counts))
    return 0
