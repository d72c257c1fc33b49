"""``dexgrasp grasps synth`` and ``dexgrasp grasps render``.

    dexgrasp grasps synth --out out/grasps --objects 300 --grasps-per-object 70 --workers 2
    dexgrasp grasps render --data out/grasps --index 0 --out grasp.png

``synth`` builds procedural objects, synthesises grasps validated in MuJoCo, annotates contacts
and instructions (template annotator of ``grasps/language.py``) and writes the dataset
(``grasps/dataset.py``). It resumes: objects already written are skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def register(top, groups) -> None:
    g = groups["grasps"]
    sp = g.add_parser("synth", help="synthesise a validated grasp dataset (procedural objects)",
                      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sp.add_argument("--out", required=True, help="dataset directory (created; resumable)")
    sp.add_argument(
        "--objects", type=int, default=24, help="number of objects (round-robin over categories)"
    )
    sp.add_argument("--grasps-per-object", type=int, default=10)
    sp.add_argument("--workers", type=int, default=1, help="processes")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument(
        "--attempts-per-grasp", type=int, default=12, help="search budget per wanted grasp"
    )
    sp.add_argument("--types", default=None, help="comma list of grasp types (default: all)")
    sp.add_argument("--no-mesh", action="store_true", help="do not write STL meshes")
    sp.set_defaults(func=run_synth)

    rp = g.add_parser("render", help="render one grasp of a dataset with its contacts to PNG")
    rp.add_argument("--data", required=True, help="dataset directory")
    rp.add_argument("--index", type=int, default=0, help="record index (dataset order)")
    rp.add_argument("--out", required=True, help="PNG path")
    rp.add_argument("--views", type=int, default=3, help="views side by side")
    rp.add_argument("--size", type=int, default=480, help="pixels per view (square)")
    rp.set_defaults(func=run_render)


def _check_positive(args, names: list[str]) -> None:
    for name in names:
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')}: must be >= 1, got {getattr(args, name)}")


def run_synth(args) -> int:
    _check_positive(args, ["objects", "grasps_per_object", "workers", "attempts_per_grasp"])
    from dexgrasp.grasps.synthesis import GRASP_TYPES

    types = tuple(t.strip() for t in args.types.split(",")) if args.types else tuple(GRASP_TYPES)
    bad = [t for t in types if t not in GRASP_TYPES]
    if bad:
        raise SystemExit(f"--types: unknown {bad}; choose from {list(GRASP_TYPES)}")
    from tqdm import tqdm

    from dexgrasp.grasps.dataset import GraspDatasetWriter
    from dexgrasp.grasps.synthesis import synthesize_to_dataset

    writer = GraspDatasetWriter(
        args.out, info={"generator": "dexgrasp grasps synth", "seed": args.seed}
    )
    jobs = [(i, args.seed, args.grasps_per_object, args.out, args.attempts_per_grasp, types,
             not args.no_mesh) for i in range(args.objects)]  # fmt: skip
    t0, total, done = time.time(), 0, 0
    bar = tqdm(total=len(jobs), desc="objects", unit="obj", file=sys.stderr)
    try:
        if args.workers == 1:
            results = map(synthesize_to_dataset, jobs)
            for _oid, n in results:
                total, done = total + max(n, 0), done + 1
                bar.set_postfix(grasps=total)
                bar.update()
        else:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(args.workers, maxtasksperchild=50) as pool:
                for _oid, n in pool.imap_unordered(synthesize_to_dataset, jobs):
                    total, done = total + max(n, 0), done + 1
                    bar.set_postfix(grasps=total)
                    bar.update()
    finally:
        bar.close()
        meta = writer.finalize()
    hours = (time.time() - t0) / 3600
    print(f"{meta['n_grasps']} grasps over {meta['n_objects']} objects in {args.out} "
          f"({hours * 3600:.0f} s this run, {total / max(hours, 1e-9):.0f} new valid grasps/hour)")  # fmt: skip
    return 0


def run_render(args) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from dexgrasp.grasps.dataset import GraspDataset
    from dexgrasp.grasps.render import render_grasp, save_png

    ds = GraspDataset.open(args.data)
    if not 0 <= args.index < len(ds):
        raise SystemExit(f"--index: {args.index} outside 0..{len(ds) - 1}")
    rec = ds[args.index]
    obj = ds.objects[rec.object_id].grasp_object()
    img = render_grasp(
        obj, rec.grasp, rec.contacts, width=args.size, height=args.size, views=args.views
    )
    path = save_png(img, args.out)
    links = ", ".join(rec.contact_links) or "none"
    print(f"{path}: {rec.object_id} part={rec.part} type={rec.grasp_type} contacts: {links}")
    return 0
