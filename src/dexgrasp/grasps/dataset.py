"""The on-disk grasp dataset: objects (point clouds + part labels + meshes), grasps with contacts
and instructions, splits. One format for synthesised and imported data.

Layout (a directory)::

    meta.json                  {"format": "dexgrasp.grasps", "version": 1, "hand": ..., ...}
    splits.json                {"train": [object_id, ...], "unseen": [...]}
    objects/<id>.json          {"object_id", "category", "parts", "split", "mesh",
                                "spec": GraspObject.to_dict() or null}
    objects/<id>.npz           points (N,3) f32, labels (N,) i16 index into parts,
                               normals (N,3) f32 (optional)
    objects/<id>.stl           watertight mesh (optional)
    grasps/<id>.jsonl          one grasp per line (see GraspRecord.to_json)

Per-object files make writing crash-safe and parallel: each file is written to a temporary
name and renamed; a finished object is skipped when generation resumes. ``splits.json`` and
``meta.json`` are (re)built by :meth:`GraspDatasetWriter.finalize`.

>>> ds = GraspDataset.open("out/grasps")
>>> obj = ds.objects["mug_0000"]; obj.points.shape, obj.parts
>>> for rec in ds.records("train"): rec.grasp, rec.contacts, rec.instructions
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dexgrasp.grasps.contacts import validate_contacts
from dexgrasp.grasps.conventions import GRASP_DIM, LINK_NAMES, SHADOW_JOINT_NAMES

FORMAT = "dexgrasp.grasps"
VERSION = 1
HAND = "openai_shadow_hand"  # the 28-D convention of conventions.py
SPLITS = ("train", "unseen")
LEVELS = ("physical", "functional")


class DatasetFormatError(ValueError):
    """A dataset file is malformed; the message names the file and the field."""


@dataclass
class GraspRecord:
    """One grasp of one object (object frame, metres / radians)."""

    object_id: str
    grasp: np.ndarray  # (28,) float32, see conventions.py
    part: str = ""
    grasp_type: str = ""
    contacts: dict[str, np.ndarray] = field(default_factory=dict)  # link -> (k, 3) float32
    instructions: list[dict] = field(default_factory=list)  # [{"level": ..., "text": ...}]
    hand: str = HAND
    source: str = "synth"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.grasp = np.asarray(self.grasp, dtype=np.float32)
        if self.grasp.shape != (GRASP_DIM,) or not np.isfinite(self.grasp).all():
            raise DatasetFormatError(
                f"grasp: expected {GRASP_DIM} finite numbers, got shape {self.grasp.shape}"
            )
        if not isinstance(self.object_id, str) or not self.object_id:
            raise DatasetFormatError("object_id: must be a non-empty string")
        try:
            self.contacts = validate_contacts(self.contacts)
        except ValueError as err:
            raise DatasetFormatError(str(err)) from None
        for i, ins in enumerate(self.instructions):
            if (
                not isinstance(ins, dict)
                or ins.get("level") not in LEVELS
                or not isinstance(ins.get("text"), str)
            ):
                raise DatasetFormatError(
                    f"instructions[{i}]: expected {{'level': 'physical'|'functional', 'text': str}}, got {ins!r}"
                )

    @property
    def contact_links(self) -> tuple[str, ...]:
        return tuple(
            link for link in LINK_NAMES if link in self.contacts and len(self.contacts[link])
        )

    def to_json(self) -> str:
        d = {
            "object_id": self.object_id,
            "grasp": [float(v) for v in self.grasp],  # float32 -> exact decimal round trip
            "part": self.part,
            "grasp_type": self.grasp_type,
            "contacts": {k: v.tolist() for k, v in self.contacts.items()},
            "instructions": self.instructions,
            "hand": self.hand,
            "source": self.source,
            "meta": self.meta,
        }
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: object, where: str = "record") -> GraspRecord:
        if not isinstance(d, dict):
            raise DatasetFormatError(f"{where}: expected a JSON object")
        for key in ("object_id", "grasp"):
            if key not in d:
                raise DatasetFormatError(f"{where}: missing field {key!r}")
        try:
            grasp = np.asarray(d["grasp"], dtype=np.float32)
        except (TypeError, ValueError):
            raise DatasetFormatError(f"{where}: field 'grasp' is not a list of numbers") from None
        try:
            return cls(str(d["object_id"]), grasp, str(d.get("part", "")), str(d.get("grasp_type", "")),
                       d.get("contacts", {}), list(d.get("instructions", [])), str(d.get("hand", HAND)),
                       str(d.get("source", "")), dict(d.get("meta", {})))  # fmt: skip
        except DatasetFormatError as err:
            raise DatasetFormatError(f"{where}: field {err}") from None


@dataclass
class ObjectEntry:
    """One object of the dataset; point data load lazily from its npz."""

    object_id: str
    category: str
    parts: tuple[str, ...]
    split: str
    npz_path: Path
    mesh_path: Path | None = None
    spec: dict | None = None  # GraspObject.to_dict() for procedural objects (physics)
    _cache: dict = field(default_factory=dict, repr=False)

    def _load(self) -> dict:
        if not self._cache:
            try:
                with np.load(self.npz_path) as z:
                    data = {k: z[k] for k in z.files}
            except (OSError, ValueError) as err:
                raise DatasetFormatError(f"{self.npz_path}: cannot read ({err})") from None
            pts = data.get("points")
            if pts is None or pts.ndim != 2 or pts.shape[1] != 3:
                raise DatasetFormatError(f"{self.npz_path}: field 'points' must be (N, 3)")
            labels = data.get("labels")
            if labels is None or labels.shape != (len(pts),):
                raise DatasetFormatError(f"{self.npz_path}: field 'labels' must be ({len(pts)},)")
            if len(labels) and (labels.min() < 0 or labels.max() >= len(self.parts)):
                raise DatasetFormatError(
                    f"{self.npz_path}: field 'labels' indexes outside parts {self.parts}"
                )
            normals = data.get("normals")
            if normals is not None and normals.shape != pts.shape:
                raise DatasetFormatError(
                    f"{self.npz_path}: field 'normals' must match points {pts.shape}"
                )
            self._cache.update(
                points=pts.astype(np.float32), labels=labels.astype(np.int16), normals=normals
            )
        return self._cache

    @property
    def points(self) -> np.ndarray:
        """(N, 3) float32 surface points, object frame, metres (N = 10,000 for synthetic data)."""
        return self._load()["points"]

    @property
    def labels(self) -> np.ndarray:
        """(N,) int16 part index of each point (into ``parts``)."""
        return self._load()["labels"]

    @property
    def normals(self) -> np.ndarray | None:
        """(N, 3) float32 outward normals, or None."""
        n = self._load()["normals"]
        return None if n is None else n.astype(np.float32)

    def grasp_object(self):
        """The physics object (:class:`GraspObject`) for procedural objects; else an error."""
        from dexgrasp.grasps.objects import GraspObject

        if self.spec is None:
            raise DatasetFormatError(
                f"objects/{self.object_id}.json: no 'spec' (not a procedural object)"
            )
        try:
            return GraspObject.from_dict(self.spec)
        except ValueError as err:
            raise DatasetFormatError(
                f"objects/{self.object_id}.json: field 'spec': {err}"
            ) from None


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: missing") from None
    except json.JSONDecodeError as err:
        raise DatasetFormatError(f"{path}: invalid JSON ({err})") from None


def _atomic_write(path: Path, data: bytes | str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


class GraspDataset:
    """Read access to a dataset directory (see module docstring). Use :meth:`open`."""

    def __init__(self, root: Path, objects: dict[str, ObjectEntry], splits: dict[str, list[str]],
                 meta: dict) -> None:  # fmt: skip
        self.root, self.objects, self.splits, self.meta = root, objects, splits, meta
        self._records: list[GraspRecord] | None = None

    @classmethod
    def open(cls, path: str | Path) -> GraspDataset:
        root = Path(path)
        if not root.is_dir():
            raise DatasetFormatError(f"{root}: not a dataset directory")
        meta = _read_json(root / "meta.json")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DatasetFormatError(f"{root / 'meta.json'}: field 'format' must be {FORMAT!r}")
        if meta.get("version") != VERSION:
            raise DatasetFormatError(
                f"{root / 'meta.json'}: field 'version' must be {VERSION}, got {meta.get('version')!r}"
            )
        if tuple(meta.get("joint_names", SHADOW_JOINT_NAMES)) != SHADOW_JOINT_NAMES:
            raise DatasetFormatError(
                f"{root / 'meta.json'}: field 'joint_names' differs from SHADOW_JOINT_NAMES"
            )
        splits = _read_json(root / "splits.json")
        if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
            raise DatasetFormatError(
                f"{root / 'splits.json'}: expected {{split: [object_id, ...]}}"
            )
        objects = {}
        for jpath in sorted((root / "objects").glob("*.json")):
            d = _read_json(jpath)
            if not isinstance(d, dict):
                raise DatasetFormatError(f"{jpath}: expected a JSON object")
            for key in ("object_id", "category", "parts"):
                if key not in d:
                    raise DatasetFormatError(f"{jpath}: missing field {key!r}")
            oid = str(d["object_id"])
            mesh = d.get("mesh")
            objects[oid] = ObjectEntry(oid, str(d["category"]), tuple(d["parts"]), str(d.get("split", "train")),
                                       jpath.with_suffix(".npz"), (root / mesh) if mesh else None,
                                       d.get("spec"))  # fmt: skip
        for split, ids in splits.items():
            unknown = [i for i in ids if i not in objects]
            if unknown:
                raise DatasetFormatError(
                    f"{root / 'splits.json'}: split {split!r} names unknown objects {unknown[:3]}"
                )
        return cls(root, objects, splits, meta)

    def _load_records(self) -> list[GraspRecord]:
        if self._records is None:
            recs = []
            for path in sorted((self.root / "grasps").glob("*.jsonl")):
                for i, line in enumerate(path.read_text().splitlines()):
                    if not line.strip():
                        continue
                    where = f"{path}:{i + 1}"
                    try:
                        d = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise DatasetFormatError(f"{where}: invalid JSON ({err})") from None
                    rec = GraspRecord.from_dict(d, where)
                    if rec.object_id not in self.objects:
                        raise DatasetFormatError(
                            f"{where}: field 'object_id' {rec.object_id!r} has no object"
                        )
                    recs.append(rec)
            self._records = recs
        return self._records

    def records(self, split: str | None = None) -> list[GraspRecord]:
        """All grasp records, or those of objects in ``split`` (``train`` / ``unseen``)."""
        recs = self._load_records()
        if split is None:
            return list(recs)
        if split not in self.splits:
            raise KeyError(f"split: {split!r} is not one of {sorted(self.splits)}")
        ids = set(self.splits[split])
        return [r for r in recs if r.object_id in ids]

    def __len__(self) -> int:
        return len(self._load_records())

    def __iter__(self) -> Iterator[GraspRecord]:
        return iter(self._load_records())

    def __getitem__(self, i: int) -> GraspRecord:
        return self._load_records()[i]

    def grasp_objects(self) -> dict:
        """object id -> :class:`GraspObject` for every procedural object (for simulation)."""
        return {k: v.grasp_object() for k, v in self.objects.items() if v.spec is not None}


class GraspDatasetWriter:
    """Writes a dataset directory; safe to use from several processes on distinct objects."""

    def __init__(self, root: str | Path, info: dict | None = None) -> None:
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        (self.root / "grasps").mkdir(parents=True, exist_ok=True)
        self.info = dict(info or {})

    def has_object(self, object_id: str) -> bool:
        """True once the object's grasps file exists (it is written last)."""
        return (self.root / "grasps" / f"{object_id}.jsonl").exists()

    def add_object(self, object_id: str, category: str, parts: tuple[str, ...] | list[str],
                   points: np.ndarray, labels: np.ndarray, normals: np.ndarray | None = None,
                   split: str = "train", mesh=None, spec: dict | None = None) -> None:  # fmt: skip
        """Store one object. ``mesh``: a trimesh (saved as STL) or None."""
        pts = np.asarray(points, dtype=np.float32)
        lab = np.asarray(labels, dtype=np.int16)
        if pts.ndim != 2 or pts.shape[1] != 3 or not np.isfinite(pts).all():
            raise DatasetFormatError(f"points: expected finite (N, 3), got {pts.shape}")
        if lab.shape != (len(pts),) or (len(lab) and (lab.min() < 0 or lab.max() >= len(parts))):
            raise DatasetFormatError(
                f"labels: expected ({len(pts)},) indices into parts {tuple(parts)}"
            )
        if split not in SPLITS:
            raise DatasetFormatError(f"split: {split!r} is not one of {SPLITS}")
        arrays = {"points": pts, "labels": lab}
        if normals is not None:
            arrays["normals"] = np.asarray(normals, dtype=np.float32)
        base = self.root / "objects" / object_id
        tmp = base.with_name(f".{object_id}.tmp{os.getpid()}.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, base.with_suffix(".npz"))
        mesh_rel = None
        if mesh is not None:
            _atomic_write(base.with_suffix(".stl"), mesh.export(file_type="stl"))
            mesh_rel = f"objects/{object_id}.stl"
        d = {"object_id": object_id, "category": category, "parts": list(parts), "split": split,
             "mesh": mesh_rel, "spec": spec}  # fmt: skip
        _atomic_write(base.with_suffix(".json"), json.dumps(d))

    def add_grasps(self, object_id: str, records: list[GraspRecord]) -> None:
        """Write all grasps of one object (replaces an earlier file)."""
        bad = [r.object_id for r in records if r.object_id != object_id]
        if bad:
            raise DatasetFormatError(f"object_id: records of {bad[0]!r} given for {object_id!r}")
        text = "".join(r.to_json() + "\n" for r in records)
        _atomic_write(self.root / "grasps" / f"{object_id}.jsonl", text)

    def finalize(self) -> dict:
        """Write ``splits.json`` and ``meta.json`` from the stored objects; returns the meta."""
        splits: dict[str, list[str]] = {s: [] for s in SPLITS}
        n_grasps = 0
        for jpath in sorted((self.root / "objects").glob("*.json")):
            d = _read_json(jpath)
            oid = d["object_id"]
            if not self.has_object(oid):
                continue  # unfinished object
            splits.setdefault(d.get("split", "train"), []).append(oid)
            with open(self.root / "grasps" / f"{oid}.jsonl") as f:
                n_grasps += sum(1 for line in f if line.strip())
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "hand": HAND,
            "grasp_dim": GRASP_DIM,
            "joint_names": list(SHADOW_JOINT_NAMES),
            "link_names": list(LINK_NAMES),
            "n_objects": sum(len(v) for v in splits.values()),
            "n_grasps": n_grasps,
            **self.info,
        }
        _atomic_write(self.root / "splits.json", json.dumps(splits, indent=1))
        _atomic_write(self.root / "meta.json", json.dumps(meta, indent=1))
        return meta
