"""Physics-based contact annotation (DextER 3.4 / supp. 6.3): MuJoCo contacts per hand link.

For a grasp, place the hand and the object in MuJoCo (forward kinematics only, nothing is
simulated), collect every hand-object contact closer than ``threshold`` and return the contact
positions in the object frame, grouped by DextER link name:
``{"rh_ffdistal": (k, 3) float32, "rh_thdistal": (k, 3) float32, ...}``.

MuJoCo reports a contact point midway between the two surfaces; it is projected onto the object
surface along the contact normal, so the positions lie on the object (as the paper's point-cloud
bins expect).

>>> sim = HandObjectSim.from_object(obj)
>>> contacts = annotate_contacts(sim, grasp)
"""

from __future__ import annotations

import numpy as np

from dexgrasp.grasps.conventions import LINK_NAMES
from dexgrasp.grasps.simulate import HandObjectSim

DEFAULT_THRESHOLD = 0.002  # m: surfaces closer than 2 mm count as touching


def annotate_contacts(sim: HandObjectSim, grasp: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
                      merge_radius: float = 0.003) -> dict[str, np.ndarray]:  # fmt: skip
    """Contact positions per hand link for one (28,) grasp, object frame, metres.

    ``merge_radius``: contacts of one link closer than this (m) are merged (MuJoCo can report
    several points for one touching patch). Links are ordered as ``LINK_NAMES``.
    """
    if threshold < 0:
        raise ValueError(f"threshold: must be >= 0, got {threshold}")
    sim.set_grasp(grasp)  # object at the origin: world frame = object frame
    per_link: dict[str, list[np.ndarray]] = {}
    for c in sim.contacts(max_dist=threshold):
        # c.pos is midway; the object surface is half the distance further along the normal
        on_object = c.pos + c.normal * (c.dist / 2)
        pts = per_link.setdefault(c.link, [])
        if all(np.linalg.norm(on_object - q) > merge_radius for q in pts):
            pts.append(on_object)
    return {
        link: np.asarray(per_link[link], dtype=np.float32).reshape(-1, 3)
        for link in LINK_NAMES
        if link in per_link
    }


def contact_links(contacts: dict[str, np.ndarray]) -> tuple[str, ...]:
    """Links with at least one contact, in ``LINK_NAMES`` order."""
    return tuple(link for link in LINK_NAMES if link in contacts and len(contacts[link]))


def validate_contacts(contacts: object, where: str = "contacts") -> dict[str, np.ndarray]:
    """Check a ``{link: (k, 3)}`` mapping; returns float32 arrays. Errors name the bad field."""
    if not isinstance(contacts, dict):
        raise ValueError(
            f"{where}: expected a mapping link -> positions, got {type(contacts).__name__}"
        )
    out = {}
    for link, pts in contacts.items():
        if link not in LINK_NAMES:
            raise ValueError(f"{where}[{link!r}]: unknown link; expected one of LINK_NAMES")
        arr = np.asarray(pts, dtype=np.float32)
        if arr.size == 0:
            arr = arr.reshape(0, 3)
        if arr.ndim != 2 or arr.shape[1] != 3 or not np.isfinite(arr).all():
            raise ValueError(
                f"{where}[{link!r}]: expected finite (k, 3) positions, got {arr.shape}"
            )
        out[link] = arr
    return out


def contacted_part(contacts: dict[str, np.ndarray], points: np.ndarray, labels: np.ndarray,
                   parts: tuple[str, ...], fallback: str = "") -> str:  # fmt: skip
    """The functional part touched by most contacts (nearest labelled surface point of each).

    ``points`` (N, 3) / ``labels`` (N,) are the object's labelled surface samples; ties go to the
    part listed first; no contacts -> ``fallback``.
    """
    pos = [p for p in contacts.values() if len(p)]
    if not pos:
        return fallback
    from scipy.spatial import cKDTree

    _, idx = cKDTree(np.asarray(points, dtype=np.float64)).query(
        np.concatenate(pos).astype(np.float64)
    )
    counts = np.bincount(np.asarray(labels)[idx], minlength=len(parts))
    return parts[int(np.argmax(counts))]
