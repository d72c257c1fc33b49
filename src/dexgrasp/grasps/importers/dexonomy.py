"""Importer for Dexonomy / DexGraspBench grasp files (MuJoCo Menagerie Shadow Hand).

Layout: one grasp (or a batch) per file, anywhere under ``src``; a path component named
like a taxonomy template (``<n>_<Name>``, e.g. ``1_Large_Diameter``) gives the grasp type::

    <src>/.../<grasp_type>/<object>/.../<k>.npy    np.save(dict) (pickled, trusted files only)
    <src>/.../<k>.npz                              the same keys, no pickle

Keys (DexGraspBench's documented data point; Dexonomy writes the same hand keys):

    grasp_qpos      (29,) | (1, 29) | (N, 29)  required. pos (m) + quat (wxyz) + 22 joints
    pregrasp_qpos   (29,) | (K, 29)            optional; the first row is used (most open)
    squeeze_qpos    (29,) | (1, 29) | (N, 29)  optional
    obj_pose        (7,)                       optional object pose, pos + wxyz (identity)
    obj_scale       float                      optional mesh scale (1.0)
    obj_path        str                        optional object asset path (DexGraspBench)
    scene_path      str                        optional scene file (Dexonomy)
    grasp_type | template_name   str           optional; else taken from the path
    hand_contact_body_names  (C,) str          optional Dexonomy contacts: hand body per contact
    obj_worldframe_contacts  (C, 6)            optional contact position + normal on the object

Joint vectors are for the Menagerie hand; they are converted to our OpenAI-hand 28-D
convention with :func:`~dexgrasp.grasps.importers.hands.menagerie_to_openai` and the source
vector is kept (``hand = shadow_menagerie`` on every record). Dexonomy contact positions lie
on the object surface, so they are kept (object frame) as ``meta["source_contacts"]``.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np

from dexgrasp.grasps.conventions import LINK_NAMES
from dexgrasp.grasps.importers.hands import (
    HAND_MENAGERIE,
    MENAGERIE_QPOS_DIM,
    menagerie_to_openai,
    quat_wxyz_to_matrix,
)
from dexgrasp.grasps.importers.records import ImportedGrasp, ImportFormatError

TEMPLATE_DIR = re.compile(r"^\d+_[A-Za-z][A-Za-z0-9_]*$")


def _load(path: Path) -> dict:
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        obj = np.load(path, allow_pickle=True)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise ImportFormatError(f"{path}: cannot read ({err})") from None
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        raise ImportFormatError(
            f"{path}: expected a saved dict of arrays, got {type(obj).__name__}"
        )
    return obj


def _qpos(data: dict, key: str, where: str, required: bool) -> np.ndarray | None:
    if key not in data:
        if required:
            raise ImportFormatError(f"{where}: missing field {key!r}")
        return None
    try:
        q = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise ImportFormatError(f"{where}: field {key!r} must be numeric") from None
    q = q.reshape(-1, q.shape[-1]) if q.ndim else q.reshape(1, 1)
    if q.shape[-1] != MENAGERIE_QPOS_DIM or len(q) == 0:
        raise ImportFormatError(
            f"{where}: field {key!r} must have {MENAGERIE_QPOS_DIM} values per row "
            f"(pos 3 + quat 4 + 22 joints), got shape {np.shape(data[key])}"
        )
    if not np.isfinite(q).all():
        raise ImportFormatError(f"{where}: field {key!r} contains non-finite values")
    if np.any(np.linalg.norm(q[:, 3:7], axis=1) < 1e-6):
        raise ImportFormatError(f"{where}: field {key!r} has a zero quaternion")
    return q


def _grasp_type(data: dict, path: Path) -> str | None:
    for key in ("grasp_type", "template_name"):
        if key in data:
            return str(np.asarray(data[key]).reshape(-1)[0])
    for part in reversed(path.parts[:-1]):
        if TEMPLATE_DIR.match(part):
            return part
    return None


def _object_id(data: dict, path: Path) -> tuple[str, str | None]:
    for key in ("obj_path", "scene_path"):
        if key in data:
            ref = str(np.asarray(data[key]).reshape(-1)[0])
            p = Path(ref)
            name = p.stem if p.suffix else p.name
            return name, ref
    return path.parent.name, None


def _contacts(data: dict, where: str, pose: np.ndarray | None) -> dict[str, list] | None:
    if "hand_contact_body_names" not in data or "obj_worldframe_contacts" not in data:
        return None
    names = [str(n) for n in np.asarray(data["hand_contact_body_names"]).reshape(-1)]
    pts = np.asarray(data["obj_worldframe_contacts"], dtype=np.float64)
    pts = pts.reshape(len(names), -1) if pts.size else pts.reshape(0, 6)
    if pts.shape != (len(names), 6) and pts.shape != (len(names), 3):
        raise ImportFormatError(
            f"{where}: field 'obj_worldframe_contacts' must be ({len(names)}, 6), got {pts.shape}"
        )
    xyz = pts[:, :3]
    if pose is not None:
        xyz = (xyz - pose[:3]) @ quat_wxyz_to_matrix(pose[3:7])
    out: dict[str, list] = {}
    for name, p in zip(names, xyz):
        link = name if name in LINK_NAMES else None
        if link is None:
            raise ImportFormatError(f"{where}: contact body {name!r} is not one of LINK_NAMES")
        out.setdefault(link, []).append(p.tolist())
    return out


def parse_file(path: Path) -> list[ImportedGrasp]:
    """All grasps of one Dexonomy / DexGraspBench file."""
    data = _load(path)
    where = str(path)
    grasp_q = _qpos(data, "grasp_qpos", where, required=True)
    pre_q = _qpos(data, "pregrasp_qpos", where, required=False)
    sq_q = _qpos(data, "squeeze_qpos", where, required=False)
    pose = None
    if "obj_pose" in data:
        pose = np.asarray(data["obj_pose"], dtype=np.float64).reshape(-1)
        if pose.shape != (7,) or not np.isfinite(pose).all():
            raise ImportFormatError(
                f"{where}: field 'obj_pose' must be 7 finite numbers (pos + wxyz)"
            )
    scale = 1.0
    if "obj_scale" in data:
        scale = float(np.asarray(data["obj_scale"], dtype=np.float64).reshape(-1)[0])
        if not scale > 0:
            raise ImportFormatError(f"{where}: field 'obj_scale' must be > 0, got {scale}")
    if sq_q is not None and len(sq_q) not in (1, len(grasp_q)):
        raise ImportFormatError(
            f"{where}: field 'squeeze_qpos' has {len(sq_q)} rows for {len(grasp_q)} grasps"
        )
    grasps, clip_g = menagerie_to_openai(grasp_q, pose, scale)
    pre = menagerie_to_openai(pre_q[0], pose, scale)[0] if pre_q is not None else None
    squeeze = menagerie_to_openai(sq_q, pose, scale)[0] if sq_q is not None else None
    object_id, ref = _object_id(data, path)
    grasp_type = _grasp_type(data, path)
    contacts = _contacts(data, where, pose)
    out = []
    for i, g in enumerate(grasps):
        meta = {"object_ref": ref, "joint_clip_rad": clip_g}
        if contacts is not None and len(grasps) == 1:
            meta["source_contacts"] = contacts
        out.append(
            ImportedGrasp(
                object_id=object_id,
                category=_category_of(object_id),
                grasp=g,
                hand=HAND_MENAGERIE,
                source_qpos=grasp_q[i].copy(),
                source=f"{where}[{i}]" if len(grasps) > 1 else where,
                grasp_type=grasp_type,
                pregrasp=pre,
                squeeze=None if squeeze is None else squeeze[min(i, len(squeeze) - 1)],
                object_mesh=ref,
                object_scale=scale,
                meta=meta,
            )
        )
    return out


def _category_of(object_id: str) -> str:
    """Category from a DexGraspNet-style code (``core_bottle_1a7b...`` -> ``bottle``)."""
    parts = object_id.split("_")
    if len(parts) >= 3 and parts[0] in ("core", "sem", "mujoco", "ddg"):
        return parts[1].lower()
    return parts[0].lower() if len(parts) > 1 else "object"


def read_dexonomy(src: str | Path) -> list[ImportedGrasp]:
    """Read every ``*.npy`` / ``*.npz`` grasp file under ``src`` (recursively, sorted)."""
    src = Path(src)
    files = (
        [src]
        if src.is_file()
        else sorted(p for p in src.rglob("*") if p.suffix in (".npy", ".npz") and p.is_file())
    )
    if not files:
        raise FileNotFoundError(f"no Dexonomy grasp files (*.npy, *.npz) under {src}")
    out: list[ImportedGrasp] = []
    for path in files:
        out.extend(parse_file(path))
    return out
