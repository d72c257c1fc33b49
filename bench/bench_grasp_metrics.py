"""Benchmark the grasp metrics: throughput, and whether simulated success tells good from bad.

Ground-truth grasps come from a dataset (``--data DIR``, any layout ``dexgrasp grasps eval``
reads) or are synthesised here for ``--objects`` objects (``dexgrasp.grasps.synthesis``).
Perturbed copies get Gaussian noise on joints (rad), palm translation (m) and palm rotation
(rad) at two levels. Everything runs on one CPU thread.

    python bench/bench_grasp_metrics.py --objects 8 --grasps-per-object 6

Prints a table and writes ``bench/results/grasp_metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

NOISE = {  # name -> (joint_std rad, trans_std m, rot_std rad)
    "small": (0.1, 0.005, 0.05),
    "large": (0.25, 0.015, 0.15),
}


def ground_truth(args) -> tuple[np.ndarray, list[str], dict, dict]:
    """(grasps (N, 28), object ids, objects, contacts per grasp) from a dataset or synthesis."""
    if args.data:
        from dexgrasp.grasps.eval_cli import load_reference

        ref, objects, _points = load_reference(Path(args.data), split=args.split, limit=args.limit)
        return ref.grasps, ref.object_ids, objects, {"contacts": ref.contacts}
    from dexgrasp.grasps.objects import object_library
    from dexgrasp.grasps.synthesis import synthesize_object

    objs = object_library(args.objects, seed=args.seed)
    grasps, ids, t0 = [], [], time.perf_counter()
    for k, obj in enumerate(objs):
        for sg in synthesize_object(obj, args.grasps_per_object, seed=args.seed + k):
            grasps.append(np.asarray(sg.grasp, dtype=np.float64))
            ids.append(obj.object_id)
        print(f"  synthesised {len(grasps)} grasps ({k + 1}/{len(objs)} objects)", flush=True)
    print(f"synthesis: {len(grasps)} grasps in {time.perf_counter() - t0:.0f} s")
    return np.stack(grasps), ids, {o.object_id: o for o in objs}, {"contacts": None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="grasp dataset directory (default: synthesise)")
    p.add_argument("--split", default=None)
    p.add_argument("--limit", type=int, default=200, help="max dataset grasps")
    p.add_argument("--objects", type=int, default=8)
    p.add_argument("--grasps-per-object", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pfid-epochs", type=int, default=15)
    p.add_argument("--out", default="bench/results/grasp_metrics.json")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from dexgrasp.grasps.hand import shadow_hand
    from dexgrasp.grasps.metrics.evaluate import GraspSet, evaluate
    from dexgrasp.grasps.metrics.pointnet2 import PointNet2Classifier, PointNet2Config
    from dexgrasp.grasps.metrics.simulation import perturb_grasps, simulated_success

    grasps, ids, objects, extra = ground_truth(args)
    hand = shadow_hand()
    n = len(grasps)
    print(f"{n} ground-truth grasps over {len(set(ids))} objects")

    # 1) Does simulated success separate ground truth from perturbed grasps?
    sets = {"ground_truth": grasps}
    for name, (js, ts, rs) in NOISE.items():
        sets[f"perturbed_{name}"] = perturb_grasps(grasps, js, ts, rs, seed=args.seed + 1,
                                                   lower=hand.lower, upper=hand.upper)  # fmt: skip
    success, speed = {}, {}
    for name, g in sets.items():
        res = simulated_success(g, ids, objects)
        success[name] = {}
        for test, r in res.items():
            success[name][test] = {"all6": float(r.all6.mean()), "any6": float(r.any6.mean()),
                                   "n": int(len(r.all6))}  # fmt: skip
            speed.setdefault(f"sim_{test}", []).append(len(r.all6) / r.seconds)

    # 2) Throughput of the other metrics (perturbed grasps against the ground truth).
    pred = GraspSet(ids, sets["perturbed_small"])
    ref = GraspSet(ids, grasps)
    torch.manual_seed(0)
    net = PointNet2Classifier(PointNet2Config(num_classes=24)).eval()  # timing only
    res = evaluate(pred, objects, ("q1", "pen", "cd", "con", "div", "pfid"), ref=ref,
                   ref_index=np.arange(n), pfid_net=net)  # fmt: skip
    for key, sec in res.seconds.items():
        speed[key] = [n / sec if sec > 0 else float("inf")]
    gt_eval = evaluate(GraspSet(ids, grasps), objects, ("q1", "pen", "div"))

    # 3) P-FID with a feature net trained here on the objects' categories: each set against
    #    the ground truth, same objects and object points on both sides (so only the hands
    #    differ; ground truth against itself is 0 by construction).
    from dexgrasp.grasps.metrics.pfid import train_on_objects

    t0 = time.perf_counter()
    pnet, classes, losses = train_on_objects(objects, epochs=args.pfid_epochs, seed=args.seed)
    train_s = time.perf_counter() - t0
    pfid_vals = {}
    for name, g in sets.items():
        r = evaluate(GraspSet(ids, g), objects, ("pfid",), ref=ref, ref_index=np.arange(n),
                     pfid_net=pnet)  # fmt: skip
        pfid_vals[name] = r.summary["pfid"]
        speed.setdefault("pfid_trained_net", []).append(n / r.seconds["pfid"])

    table = {k: float(np.mean(v)) for k, v in speed.items()}
    print("\nsimulated success (fraction of grasps)")
    print(
        f"{'set':<18}{'force all6':>12}{'force any6':>12}{'grav all6':>12}{'grav any6':>12}{'n':>6}"
    )
    for name, s in success.items():
        f, g = s["force"], s["gravity"]
        print(
            f"{name:<18}{f['all6']:>12.3f}{f['any6']:>12.3f}{g['all6']:>12.3f}{g['any6']:>12.3f}{f['n']:>6}"
        )
    print("\nthroughput (grasps / s, 1 thread)")
    for k, v in table.items():
        print(f"  {k:<10}{v:>10.1f}")
    print(
        f"\nP-FID against the ground truth (net trained here on {len(classes)} categories "
        f"in {train_s:.0f} s, not comparable with published values):"
    )
    for k, v in pfid_vals.items():
        print(f"  {k:<18}{v:>10.3f}")
    print("\nground truth: " + ", ".join(f"{k}={v:.3f}" for k, v in gt_eval.summary.items()))
    print("perturbed_small vs ground truth: "
          + ", ".join(f"{k}={v:.3f}" for k, v in res.summary.items() if k != "pfid"))  # fmt: skip

    out = {
        "n_grasps": n,
        "n_objects": len(set(ids)),
        "source": args.data or f"synthesised ({args.objects} objects x {args.grasps_per_object})",
        "noise": {
            k: {"joint_std_rad": a, "trans_std_m": b, "rot_std_rad": c}
            for k, (a, b, c) in NOISE.items()
        },  # fmt: skip
        "simulated_success": success,
        "grasps_per_second": table,
        "ground_truth_metrics": gt_eval.summary,
        "perturbed_small_metrics": {k: v for k, v in res.summary.items() if k != "pfid"},
        "pfid_vs_ground_truth": pfid_vals,
        "pfid_net": {
            "classes": len(classes),
            "epochs": args.pfid_epochs,
            "final_loss": losses[-1],
            "train_seconds": train_s,
        },  # fmt: skip
        "note": (
            "pfid throughput uses a randomly initialised classic-size net (speed only); "
            "P-FID values use a net trained here: not comparable with published P-FID"
        ),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "threads": 1,
        },  # fmt: skip
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
