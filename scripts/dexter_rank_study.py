"""Which score picks DextER's good candidates? Prints (and writes) one JSON object.

    python scripts/dexter_rank_study.py --model DIR --data out/grasps --split train \
        [--records 60 --candidates 8 --steer-links K --out study.json]

For ``--records`` records of the split (evenly spaced), ``--candidates`` answers are sampled
(T = 0.3, top-p 0.9, as ``dexgrasp eval dexter``) and every one is scored by each ranking
signal and run through the simulated tests, with its Chamfer distance to the record's grasp:

- ``mean``, ``grasp``: the model's log-probability per token, and summed over the action tokens;
- ``agreement``: ``contact_agreement`` (written links against touching links, positions),
  and ``f1``, its link term alone;
- ``with_position``: the share of written contacts that carry a position;
- ``penetration``: minus the deepest hand point inside the point-cloud SDF (per 5 mm), the
  term ``contact_agreement`` used to include;
- ``touch``: the fraction of hand links within 5 mm of the object's points;
- ``q1``: the Q1 force closure of the hand's contacts with the point-cloud SDF (no mesh);
- ``oracle``: the simulated outcome itself (an upper bound for picking among these samples).

For each signal, for ``mean + w * touch`` over a few weights ``w``, and for ``mean + 0.5 *
touch + v * S`` for S in ``f1``, ``agreement`` and ``q1`` over the same weights ``v``, the
report gives the force / gravity success and CD of the candidate each record would keep (best
of K), and the correlation of the signal with force success over all candidates. Pick weights
on the training split and check them on ``unseen``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dexgrasp.dexter.evaluate import _instruction, steering_contacts
from dexgrasp.dexter.generate import _agreement, generate_grasps
from dexgrasp.dexter.model import DexterModel
from dexgrasp.grasps.dataset import GraspDataset
from dexgrasp.grasps.hand import shadow_hand
from dexgrasp.grasps.importers.bridge import read_reference
from dexgrasp.grasps.metrics.evaluate import GraspSet
from dexgrasp.grasps.metrics.evaluate import evaluate as score
from dexgrasp.grasps.metrics.penetration import point_cloud_sdf

WEIGHTS = (0.25, 0.5, 1.0, 2.0)


def cloud_q1(surf: np.ndarray, cloud: np.ndarray, sdf) -> np.ndarray:
    """Q1 force closure of each hand (``surf``: (B, P, 3) surface points) from the point cloud
    alone: one contact per link within 5 mm of the point-cloud SDF's surface, as the ``q1``
    metric does with the object's mesh."""
    from dexgrasp.grasps.metrics.evaluate import sdf_contacts
    from dexgrasp.grasps.metrics.q1 import q1_metric

    lo, hi = cloud.min(axis=0), cloud.max(axis=0)
    scale = 1.0 / max(float(np.linalg.norm(hi - lo)) / 2, 1e-3)
    outside = lambda q: -np.asarray(sdf(q))  # noqa: E731 - sdf_contacts wants negative inside
    ids = shadow_hand().surface_point_links
    out = np.zeros(len(surf))
    for i, pts in enumerate(surf):
        p, n, _ = sdf_contacts(pts, ids, outside, bounds=np.stack([lo, hi]))
        out[i] = q1_metric(p, n, torque_scale=scale)
    return out


def sample(
    model, data: Path, split: str, n_records: int, k: int, seed: int, steer: int = 0
) -> list[dict]:
    """One row per decoded candidate: its record, ranking signals and simulated outcome."""
    records = GraspDataset.open(data).records(split)
    idx = np.linspace(0, len(records) - 1, min(n_records, len(records))).round().astype(int)
    records = [records[i] for i in idx]
    _, objects, points = read_reference(data, split)
    rows, grasps, ids, contacts, ref_index = [], [], [], [], []
    for j, rec in enumerate(records):
        cloud = np.asarray(points[rec.object_id], dtype=np.float64)
        given = steering_contacts(rec.contacts, steer, model.tokenizer) or None
        outs = generate_grasps(model, cloud, _instruction(rec), n=k, contacts=given,
                               temperature=0.3, top_p=0.9, seed=seed + j)  # fmt: skip
        outs = [o for o in outs if o.ok]
        if not outs:
            continue
        sdf = point_cloud_sdf(cloud)
        _agreement(outs, cloud, sdf, "contacts")
        _agreement(outs, cloud, sdf, "consistent")  # touch and the written links' F1
        surf = shadow_hand().surface_points(np.stack([o.grasp for o in outs]))
        depth = np.asarray(sdf(surf.reshape(-1, 3))).reshape(surf.shape[:2]).max(axis=1)
        q1 = cloud_q1(surf, cloud, sdf)
        for o, d, q in zip(outs, depth, q1):
            placed = [len(v) > 0 for v in o.contacts.values()]
            rows.append({"record": j, "mean": o.score("mean"), "grasp": o.grasp_logprob,
                         "agreement": o.agreement, "f1": o.links_f1, "touch": o.touch,
                         "penetration": -max(float(d), 0.0) / 0.005, "q1": float(q),
                         "with_position": float(np.mean(placed)) if placed else 0.0})  # fmt: skip
            grasps.append(o.grasp)
            ids.append(rec.object_id)
            contacts.append(dict(o.contacts))
            ref_index.append(j)
    ref = GraspSet([r.object_id for r in records], np.stack([r.grasp for r in records]),
                   [dict(r.contacts) for r in records])  # fmt: skip
    res = score(GraspSet(ids, np.stack(grasps), contacts), objects, ["sim", "cd"], ref=ref,
                ref_index=np.asarray(ref_index), object_points=points)  # fmt: skip
    for i, r in enumerate(rows):
        r["force"] = bool(res.per_grasp["sim_force_all6"][i])
        r["gravity"] = bool(res.per_grasp["sim_gravity_any6"][i])
        r["cd_cm"] = 100 * float(res.per_grasp["cd_m"][i])
    return rows


def report(rows: list[dict]) -> dict:
    """Best-of-K outcomes per signal, and each signal's correlation with force success."""
    by_record: dict[int, list[dict]] = {}
    for r in rows:
        by_record.setdefault(r["record"], []).append(r)

    def kept(key) -> dict:
        picks = [max(group, key=key) for group in by_record.values()]
        return {"force_all6": float(np.mean([p["force"] for p in picks])),
                "gravity_any6": float(np.mean([p["gravity"] for p in picks])),
                "cd_cm": float(np.mean([p["cd_cm"] for p in picks]))}  # fmt: skip

    signals = ("mean", "grasp", "agreement", "f1", "with_position", "touch", "penetration", "q1")
    out = {"n_records": len(by_record), "n_candidates": len(rows)}
    out["as_sampled"] = {
        "force_all6": float(np.mean([r["force"] for r in rows])),
        "gravity_any6": float(np.mean([r["gravity"] for r in rows])),
        "cd_cm": float(np.mean([r["cd_cm"] for r in rows])),
    }
    out["best_of_k"] = {s: kept(lambda r, s=s: (r[s], r["mean"])) for s in signals}
    for w in WEIGHTS:
        out["best_of_k"][f"mean+{w}*touch"] = kept(lambda r, w=w: r["mean"] + w * r["touch"])
    for v in WEIGHTS:  # the touch rank plus how well the written contacts match the hand
        for s in ("f1", "agreement", "q1"):
            out["best_of_k"][f"mean+0.5*touch+{v}*{s}"] = kept(
                lambda r, v=v, s=s: r["mean"] + 0.5 * r["touch"] + v * r[s]
            )
    for s in ("agreement", "f1", "with_position"):  # what the kept candidates look like
        out["best_of_k"][s]["kept_with_position"] = float(
            np.mean([max(g, key=lambda r, s=s: (r[s], r["mean"]))["with_position"]
                     for g in by_record.values()]))  # fmt: skip
    out["best_of_k"]["oracle"] = kept(lambda r: (r["force"], r["gravity"], -r["cd_cm"]))
    force = np.array([r["force"] for r in rows], dtype=float)
    out["corr_with_force"] = {}
    for s in signals:
        x = np.array([r[s] for r in rows], dtype=float)
        ok = x.std() > 0 and force.std() > 0
        out["corr_with_force"][s] = float(np.corrcoef(x, force)[0, 1]) if ok else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="trained DextER directory")
    ap.add_argument("--data", required=True, help="grasp dataset directory")
    ap.add_argument("--split", default="train")
    ap.add_argument("--records", type=int, default=60)
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--steer-links", type=int, default=0, help="give the first K true contacts")
    ap.add_argument("--out", default=None, help="also write the JSON (with every candidate)")
    args = ap.parse_args()
    model = DexterModel.from_pretrained(args.model).eval()
    rows = sample(model, Path(args.data), args.split, args.records, args.candidates, args.seed,
                  args.steer_links)  # fmt: skip
    result = {"model": args.model, "split": args.split, "steer_links": args.steer_links,
              **report(rows)}  # fmt: skip
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({**result, "candidates": rows}, indent=1))


if __name__ == "__main__":
    main()
