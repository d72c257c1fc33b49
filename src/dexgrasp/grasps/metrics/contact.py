"""Contact metrics: contact maps and contact distance, contact-link set scores, position accuracy.

Contact map (GraspTTA / DexGYS "Con."): every object point gets a value in (0, 1],
``2 - 2 * sigmoid(sharpness * d)``, where ``d`` is its distance to the nearest hand point
(1 on the hand, ~0 beyond a few centimetres). Contact distance is the mean squared
difference between two maps over the same object points.

Contact links and positions follow DextER Sec. 4.6: the predicted set of touching links is
scored against the ground-truth set (IoU, precision, recall, F1), and a predicted contact
position counts as localised when it lies within 1 cm of the link it names, with the link
placed by forward kinematics of the predicted grasp.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from dexgrasp.grasps.metrics.chamfer import nearest_distances

DEFAULT_SHARPNESS = 100.0  # 1/m: a point 1 cm from the hand scores 2 - 2 sigmoid(1) = 0.54
POSITION_TOLERANCE = 0.01  # m


def contact_map(
    object_points: np.ndarray, hand_points: np.ndarray, sharpness: float = DEFAULT_SHARPNESS
) -> np.ndarray:
    """Per-object-point contact value in (0, 1]: (N,) from object (N, 3) and hand (M, 3) points."""
    d = nearest_distances(object_points, hand_points)
    return 2.0 - 2.0 / (1.0 + np.exp(-sharpness * d))


def contact_distance(map_a: np.ndarray, map_b: np.ndarray) -> float:
    """Mean squared difference of two contact maps over the same (N,) object points."""
    a = np.asarray(map_a, dtype=np.float64)
    b = np.asarray(map_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"contact maps must be equal-length vectors, got {a.shape} and {b.shape}")
    return float(np.mean((a - b) ** 2))


def link_set_scores(pred: Iterable[str], target: Iterable[str]) -> dict[str, float]:
    """IoU, precision, recall and F1 of a predicted contact-link set against the target set.

    Two empty sets agree perfectly (all scores 1); otherwise empty denominators give 0.
    """
    p, t = set(pred), set(target)
    if not p and not t:
        return {"iou": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    inter = len(p & t)
    precision = inter / len(p) if p else 0.0
    recall = inter / len(t) if t else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"iou": inter / len(p | t), "precision": precision, "recall": recall, "f1": f1}


def position_hits(
    pred_contacts: Mapping[str, np.ndarray],
    link_points: Mapping[str, np.ndarray],
    tol: float = POSITION_TOLERANCE,
) -> tuple[int, int]:
    """Count predicted contact positions within ``tol`` of the link they name.

    Args:
        pred_contacts: link name -> (k, 3) predicted contact positions, metres, object frame.
        link_points: link name -> (m, 3) surface points of that link placed by forward
            kinematics of the predicted grasp (same frame). A link missing here counts as a miss.
        tol: distance threshold, metres (1 cm in DextER).
    Returns:
        (hits, total) over all predicted positions.
    """
    hits = total = 0
    for link, pos in pred_contacts.items():
        pos = np.asarray(pos, dtype=np.float64).reshape(-1, 3)
        total += len(pos)
        surf = link_points.get(link)
        if surf is None or len(pos) == 0 or len(np.asarray(surf)) == 0:
            continue
        hits += int((nearest_distances(pos, np.asarray(surf).reshape(-1, 3)) < tol).sum())
    return hits, total


def contact_quality(
    preds: Iterable[Mapping[str, np.ndarray]],
    targets: Iterable[Mapping[str, np.ndarray]],
    link_points: Iterable[Mapping[str, np.ndarray]] | None = None,
    tol: float = POSITION_TOLERANCE,
) -> dict[str, float]:
    """Dataset-level contact reasoning quality (DextER Table 4).

    Args:
        preds: per grasp, predicted contacts (link -> (k, 3)).
        targets: per grasp, ground-truth contacts (only the link set is used).
        link_points: per grasp, FK link surface points of the predicted grasp; when given,
            ``pos_acc`` (fraction of predicted positions within ``tol``) is reported.
    Returns:
        Mean IoU/precision/recall/F1 over grasps, and ``pos_acc`` pooled over all contacts.
    """
    preds, targets = list(preds), list(targets)
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} targets")
    if not preds:
        raise ValueError("no grasps to score")
    scores = [link_set_scores(p.keys(), t.keys()) for p, t in zip(preds, targets)]
    out = {k: float(np.mean([s[k] for s in scores])) for k in ("iou", "precision", "recall", "f1")}
    if link_points is not None:
        link_points = list(link_points)
        if len(link_points) != len(preds):
            raise ValueError(f"{len(link_points)} link point sets for {len(preds)} predictions")
        hits = total = 0
        for p, lp in zip(preds, link_points):
            h, t = position_hits(p, lp, tol)
            hits, total = hits + h, total + t
        out["pos_acc"] = hits / total if total else 0.0
    return out
