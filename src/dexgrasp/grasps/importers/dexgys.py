"""Importer for DexGYS (Grasp as You Say, NeurIPS 2024) grasp and language labels.

Layout (as released on the Hugging Face hub under ``dexgys/`` and read by the authors'
``datasets/task_dex_datasets.py``)::

    <src>/train_with_guide_v2.1.json      one JSON list per split (any *.json is accepted;
    <src>/test_with_guide_v2.1.json       a file name with "train"/"test" sets the split)

Each list entry is one grasp::

    {"cate_id": "mug",              # object category (string)
     "obj_id": "C12001",            # OakInk object id
     "action_id": 1,                # intention: 1 use, 2 hold, 3 lift, 4 hand over
     "seq_id": "...",               # source sequence (kept in meta)
     "dex_grasp": [28 floats],      # palm translation (m) + axis-angle + 22 joints (OpenAI order)
     "guidence": "Hold the mug ..."}  # the language guidance (the authors' spelling)

The hand is the OpenAI Shadow Hand in our own 28-D convention, so grasps are copied as they
are (``hand = shadow_openai``). Object meshes (OakInk shapes) are not part of the label
files; with ``oakink_root`` the importer records each object's mesh path
(``shape/metaV2/{object_id,virtual_object_id}.json`` -> ``OakInk[Virtual]ObjectsV2/<name>/align_ds``).
The grasp frame is the mesh frame shifted to the centre of its bounding box, as DexGYS does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dexgrasp.grasps.conventions import GRASP_DIM
from dexgrasp.grasps.importers.hands import HAND_OPENAI
from dexgrasp.grasps.importers.records import ImportedGrasp, ImportFormatError

INTENTS = {1: "use", 2: "hold", 3: "lift", 4: "hand over"}
REQUIRED = ("cate_id", "obj_id", "action_id", "dex_grasp")


def _split_of(path: Path) -> str:
    name = path.name.lower()
    return "test" if ("test" in name or "val" in name) else "train"


def parse_entry(entry: object, where: str) -> ImportedGrasp:
    """One DexGYS list entry -> :class:`ImportedGrasp`; errors name ``where`` and the field."""
    if not isinstance(entry, dict):
        raise ImportFormatError(f"{where}: entry must be an object, got {type(entry).__name__}")
    for key in REQUIRED:
        if key not in entry:
            raise ImportFormatError(f"{where}: missing field {key!r}")
    try:
        grasp = np.asarray(entry["dex_grasp"], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ImportFormatError(f"{where}: field 'dex_grasp' must be a list of numbers") from None
    if grasp.shape != (GRASP_DIM,):
        raise ImportFormatError(
            f"{where}: field 'dex_grasp' must have {GRASP_DIM} numbers, got {grasp.size}"
        )
    if not np.isfinite(grasp).all():
        raise ImportFormatError(f"{where}: field 'dex_grasp' contains non-finite values")
    try:
        action = int(entry["action_id"])
    except (TypeError, ValueError):
        raise ImportFormatError(f"{where}: field 'action_id' must be an integer") from None
    if action not in INTENTS:
        raise ImportFormatError(
            f"{where}: field 'action_id' must be one of {sorted(INTENTS)}, got {action}"
        )
    category = str(entry["cate_id"]).strip()
    if not category:
        raise ImportFormatError(f"{where}: field 'cate_id' is empty")
    guidance = entry.get("guidence", entry.get("guidance"))
    if guidance is not None and not isinstance(guidance, str):
        raise ImportFormatError(f"{where}: field 'guidence' must be a string")
    intent = INTENTS[action]
    instructions = {"functional": [f"{intent.capitalize()} the {category.replace('_', ' ')}."]}
    if guidance:
        instructions["physical"] = [guidance.strip()]
    return ImportedGrasp(
        object_id=str(entry["obj_id"]),
        category=category,
        grasp=grasp,
        hand=HAND_OPENAI,
        source_qpos=grasp.copy(),
        source=where,
        instructions=instructions,
        meta={"intent": intent, "action_id": action, "seq_id": entry.get("seq_id")},
    )


def read_dexgys(src: str | Path, oakink_root: str | Path | None = None) -> list[ImportedGrasp]:
    """Read every DexGYS label file under ``src`` (a file or a directory of ``*.json``).

    Returns the grasps in file order; ``meta["split"]`` is ``train`` or ``test`` from the
    file name. Raises :class:`ImportFormatError` naming the file, entry index and field.
    """
    src = Path(src)
    files = [src] if src.is_file() else sorted(src.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no DexGYS label files (*.json) at {src}")
    meshes = _oakink_meshes(Path(oakink_root)) if oakink_root is not None else None
    out: list[ImportedGrasp] = []
    for path in files:
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ImportFormatError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(data, list):
            raise ImportFormatError(f"{path}: top level must be a list of grasps")
        split = _split_of(path)
        for i, entry in enumerate(data):
            rec = parse_entry(entry, f"{path.name}[{i}]")
            rec.meta["split"] = split
            if meshes is not None:
                rec.object_mesh = meshes.get(rec.object_id)
            out.append(rec)
    return out


def _oakink_meshes(root: Path) -> dict[str, str]:
    """OakInk object id -> mesh path, from ``shape/metaV2`` (real and virtual objects)."""
    shape = root / "shape" if (root / "shape").is_dir() else root
    found: dict[str, str] = {}
    for meta_name, obj_dir in (
        ("object_id.json", "OakInkObjectsV2"),
        ("virtual_object_id.json", "OakInkVirtualObjectsV2"),
    ):
        meta_path = shape / "metaV2" / meta_name
        if not meta_path.is_file():
            continue
        meta = json.loads(meta_path.read_text())
        for oid, info in meta.items():
            if not isinstance(info, dict) or "name" not in info:
                raise ImportFormatError(f"{meta_path}: entry {oid!r} lacks field 'name'")
            mesh_dir = shape / obj_dir / info["name"] / "align_ds"
            files = sorted(mesh_dir.glob("*.obj")) + sorted(mesh_dir.glob("*.ply"))
            if files:
                found[oid] = str(files[0])
    return found
