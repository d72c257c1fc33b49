"""Grasp synthesis throughput and ground-truth quality.

    python bench/bench_grasp_synth.py [--objects 8] [--grasps 6] [--data out/grasps]

Synthesises grasps for a fixed set of objects (one per category, round-robin) in this process
and reports valid grasps per hour of CPU time and of wall time (the machine may be shared, so
both are given), the yield per grasp type, the time of one simulated success test, and how often
the stored grasps pass the test again in a fresh simulation (force and gravity modes) versus the
same grasps with noise on joints and palm. ``--data`` also summarises a generated dataset.
Writes ``bench/results/grasp_synth.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")


def perturb(
    g: np.ndarray, rng: np.random.Generator, lo, hi, joint_std=0.2, trans_std=0.01, rot_std=0.1
):
    from scipy.spatial.transform import Rotation

    out = g.astype(np.float64).copy()
    out[:3] += rng.normal(0, trans_std, 3)
    out[3:6] = (
        Rotation.from_rotvec(rng.normal(0, rot_std, 3)) * Rotation.from_rotvec(out[3:6])
    ).as_rotvec()
    out[6:] = np.clip(out[6:] + rng.normal(0, joint_std, 22), lo, hi)
    return out


def summarise_dataset(path: str) -> dict:
    from dexgrasp.grasps.dataset import GraspDataset

    ds = GraspDataset.open(path)
    recs = ds.records()
    per_obj = collections.Counter(r.object_id for r in recs)
    return {
        "path": path,
        "n_grasps": len(recs),
        "n_objects": len(ds.objects),
        "n_objects_with_grasps": len(per_obj),
        "n_categories": len({o.category for o in ds.objects.values()}),
        "splits": {k: len(v) for k, v in ds.splits.items()},
        "grasp_types": dict(collections.Counter(r.grasp_type for r in recs)),
        "parts": dict(collections.Counter(r.part for r in recs).most_common(12)),
        "mean_contact_links": float(np.mean([len(r.contact_links) for r in recs])) if recs else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--objects", type=int, default=8)
    ap.add_argument("--grasps", type=int, default=6, help="grasps per object")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None, help="also summarise this dataset directory")
    ap.add_argument("--out", default="bench/results/grasp_synth.json")
    ap.add_argument("--data-only", action="store_true", help="only (re)summarise --data into --out")
    args = ap.parse_args()
    if args.data_only:
        if not args.data:
            raise SystemExit("--data-only needs --data")
        out = Path(args.out)
        result = json.loads(out.read_text()) if out.is_file() else {}
        result["dataset"] = summarise_dataset(args.data)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
        for k, v in result["dataset"].items():
            print(f"{'dataset.' + k:40s} {v}")
        return

    import dexgrasp.grasps.synthesis as synth
    from dexgrasp.grasps.objects import CATEGORIES, make_object
    from dexgrasp.grasps.simulate import HandObjectSim, SimConfig

    cats = list(CATEGORIES)
    objects = [make_object(cats[(3 * i) % len(cats)], 0, args.seed) for i in range(args.objects)]
    tried, won = collections.Counter(), collections.Counter()
    attempt = synth._attempt

    def counting_attempt(sim, gt, *a, **k):
        tried[gt.name] += 1
        res = attempt(sim, gt, *a, **k)
        won[gt.name] += res is not None
        return res

    synth._attempt = counting_attempt
    cpu0, wall0 = time.process_time(), time.perf_counter()
    found = []
    for obj in objects:
        found += [(obj, g) for g in synth.synthesize_object(obj, args.grasps, seed=args.seed)]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    synth._attempt = attempt

    rng = np.random.default_rng(args.seed)
    rows = {"force": [0, 0], "gravity": [0, 0]}
    test_cpu, n_tests = 0.0, 0
    for mode in rows:
        sims = {}
        for obj, g in found:
            sim = sims.setdefault(
                obj.object_id, HandObjectSim.from_object(obj, SimConfig(mode=mode))
            )
            t0 = time.process_time()
            rows[mode][0] += sim.test_grasp(g.grasp).success
            test_cpu, n_tests = test_cpu + time.process_time() - t0, n_tests + 1
            rows[mode][1] += sim.test_grasp(perturb(g.grasp, rng, sim.lower, sim.upper)).success
    n = max(len(found), 1)
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}",
        "objects": len(objects),
        "valid_grasps": len(found),
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "valid_grasps_per_cpu_hour": round(len(found) / max(cpu, 1e-9) * 3600),
        "valid_grasps_per_wall_hour_one_process": round(len(found) / max(wall, 1e-9) * 3600),
        "attempts": sum(tried.values()),
        "yield_per_type": {k: f"{won[k]}/{tried[k]}" for k in tried},
        "sim_test_cpu_ms": round(test_cpu / max(n_tests, 1) * 1000, 1),
        "gt_pass_force": rows["force"][0] / n,
        "gt_pass_gravity": rows["gravity"][0] / n,
        "perturbed_pass_force": rows["force"][1] / n,
        "perturbed_pass_gravity": rows["gravity"][1] / n,
        "perturbation": "joints N(0, 0.2 rad), palm N(0, 1 cm), rotation N(0, 0.1 rad)",
    }
    if args.data:
        result["dataset"] = summarise_dataset(args.data)
    print(f"{'metric':40s} value")
    for k, v in result.items():
        if k != "dataset":
            print(f"{k:40s} {v}")
    if "dataset" in result:
        for k, v in result["dataset"].items():
            print(f"{'dataset.' + k:40s} {v}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
