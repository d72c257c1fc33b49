"""Does a DextER checkpoint read the object's points, or only the instruction? Prints one JSON
object.

    python scripts/diagnose_dexter.py --model DIR --data out/grasps [--max-per-object 8]

For one training record of each of ``--objects`` training objects, the greedy answer to the
record's instruction is compared, in action-bin space, with every training grasp:

- ``nearest``: whose training grasp the answer is nearest to: the same object, another object
  of the same category (the part of the object id before its last ``_``), or another category.
  A model that copies grasps of other objects of the category ignores the object's shape;
  one that reads the points answers with grasps of the object itself.
- ``exact``: the share of answers equal to some training grasp in every dimension (memorised).
- ``swap``: the same prompt with the points of another object of the same category: the mean
  number of action bins that change (0: the points are not read at all).
- ``loss``: teacher-forced cross-entropy on the training records of those objects (first
  instruction, no position dropout), split into the contact block and the grasp's action
  tokens, with token accuracy: where a contacts-first model is behind an action-only one.

- ``link_sets`` (contacts-first models): 4 samples per object at T = 0.3; the share whose set
  of contact links is that of one of the object's training grasps, or of any training grasp,
  and the share whose grasp equals a training grasp in every bin. A model that samples its
  links token by token can combine links of different grasps into a set no grasp has.

``--max-per-object`` and ``--seed`` must match the training command's
``--max-grasps-per-object`` and ``--seed`` so that "training grasps" are the ones it saw.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from dexgrasp.dexter.data import load_grasp_data
from dexgrasp.dexter.evaluate import answer_losses
from dexgrasp.dexter.generate import generate_grasps
from dexgrasp.dexter.model import DexterModel


def category(object_id: str) -> str:
    return object_id.rsplit("_", 1)[0]


def diagnose(model: DexterModel, objects, samples, n_objects: int) -> dict:
    tok = model.tokenizer
    bins = tok.grasp_to_bins(np.stack([s.grasp for s in samples]))
    owner = np.array([s.object_id for s in samples])
    first = {}
    for i, s in enumerate(samples):
        first.setdefault(s.object_id, i)
    ids = sorted(first)
    ids = ids[:: max(1, len(ids) // n_objects)][:n_objects]
    counts = {"same_object": 0, "same_category": 0, "other_category": 0}
    exact, changed = 0, []
    for oid in ids:
        s = samples[first[oid]]

        def answer(points, instruction=s.instructions[0]):
            g = generate_grasps(model, points, instruction, n=1, temperature=0.0, seed=0)[0]
            return tok.grasp_to_bins(g.grasp[None])[0]

        a = answer(objects[oid])
        d = np.abs(bins - a).sum(1)
        j = int(np.argmin(d))
        exact += int(d[j] == 0)
        if owner[j] == oid:
            counts["same_object"] += 1
        elif category(owner[j]) == category(oid):
            counts["same_category"] += 1
        else:
            counts["other_category"] += 1
        mates = [o for o in sorted(objects) if o != oid and category(o) == category(oid)]
        if mates:
            changed.append(float((answer(objects[mates[0]]) != a).sum()))
    n = len(ids)
    chosen = set(ids)
    out = {}
    if not model.config.action_only:
        out["link_sets"] = link_sets(model, objects, samples, ids, first, bins)
    return out | {
        "loss": answer_losses(model, objects, [s for s in samples if s.object_id in chosen]),
        "answers": n,
        "nearest": {k: v / n for k, v in counts.items()},
        "exact": exact / n,
        "swap": {
            "pairs": len(changed),
            "mean_bins_changed": float(np.mean(changed)) if changed else None,
            "of": int(bins.shape[1]),
        },
    }


def link_sets(model: DexterModel, objects, samples, ids, first, bins, n: int = 4) -> dict:
    """How often sampled contact-link sets (and grasps) are ones the training data has."""
    tok = model.tokenizer
    sets = {}
    for s in samples:
        sets.setdefault(s.object_id, set()).add(frozenset(s.contacts))
    every = set().union(*sets.values())
    own = anyset = exact = total = 0
    for oid in ids:
        s = samples[first[oid]]
        for g in generate_grasps(model, objects[oid], s.instructions[0], n=n, temperature=0.3,
                                 top_p=0.9, seed=0):  # fmt: skip
            links = frozenset(g.contact_links)
            own += links in sets[oid]
            anyset += links in every
            exact += int((np.abs(bins - tok.grasp_to_bins(g.grasp[None])[0]).sum(1) == 0).any())
            total += 1
    return {"samples": total, "of_own_object": own / total, "of_any_grasp": anyset / total,
            "grasp_exact": exact / total}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="trained DextER directory")
    ap.add_argument("--data", required=True, help="grasp dataset directory")
    ap.add_argument("--split", default="train")
    ap.add_argument("--max-per-object", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--objects", type=int, default=30)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = DexterModel.from_pretrained(args.model)
    objects, samples = load_grasp_data(args.data, args.split, args.max_per_object, args.seed)
    print(json.dumps(diagnose(model, objects, samples, args.objects), indent=1))


if __name__ == "__main__":
    main()
