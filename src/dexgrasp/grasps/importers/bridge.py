"""Between imported records / evaluation and the on-disk grasp dataset (``grasps/dataset.py``).

* :func:`write_imported` stores :class:`ImportedGrasp` records as a dataset directory: one
  object entry per source object (10,000 surface points sampled from its mesh when the mesh
  can be found, the mesh itself as STL), one :class:`GraspRecord` per grasp with the grasp in
  our 28-D convention, ``meta.source_hand`` and the untouched ``meta.source_qpos``.
* :func:`read_reference` opens a dataset for ``dexgrasp grasps eval``: reference grasps,
  physics objects (procedural :class:`GraspObject` or :class:`MeshObject` from a stored mesh)
  and object point clouds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dexgrasp.grasps.importers.hands import HAND_OPENAI
from dexgrasp.grasps.importers.records import ImportedGrasp

N_POINTS = 10_000


class MeshObject:
    """A physics/geometry object from a watertight mesh (imported datasets).

    Offers what the metrics use from a :class:`GraspObject`: ``sdf`` (negative inside),
    ``bounds``, ``sample_surface``, ``mjcf`` + ``mjcf_assets`` (MuJoCo collides with the
    mesh's convex hull: exact for convex objects, optimistic for concave ones).
    """

    def __init__(self, object_id: str, category: str, mesh, mass: float = 0.1) -> None:
        from dexgrasp.grasps.metrics.penetration import mesh_sdf

        self.object_id, self.category, self.mesh, self.mass = object_id, category, mesh, mass
        self._sdf_inside = mesh_sdf(mesh)

    def sdf(self, p: np.ndarray) -> np.ndarray:
        """(N,) signed distance, negative inside (the GraspObject convention)."""
        return -self._sdf_inside(p)

    def bounds(self) -> np.ndarray:
        return np.asarray(self.mesh.bounds, dtype=np.float64)

    def sample_surface(self, n: int = N_POINTS, seed: int = 0):
        """points (n, 3) f32, normals (n, 3) f32, labels (n,) i16 (all zeros: one part)."""
        import trimesh

        pts, face = trimesh.sample.sample_surface(self.mesh, n, seed=seed)
        nrm = self.mesh.face_normals[face]
        return pts.astype(np.float32), nrm.astype(np.float32), np.zeros(n, np.int16)

    def mjcf_assets(self, name: str = "object") -> str:
        v = " ".join(f"{x:.6g}" for x in np.asarray(self.mesh.vertices).ravel())
        f = " ".join(str(int(i)) for i in np.asarray(self.mesh.faces).ravel())
        return f'<mesh name="{name}_mesh" vertex="{v}" face="{f}"/>'

    def mjcf(self, name: str = "object", free: bool = True, rgba: str = "0.85 0.55 0.3 1",
             friction: float = 1.0) -> str:  # fmt: skip
        volume = max(float(abs(self.mesh.volume)), 1e-9)
        joint = f'<freejoint name="{name}/free"/>' if free else ""
        return (f'<body name="{name}">{joint}<geom name="{name}/0/body" type="mesh" mesh="{name}_mesh" '
                f'density="{self.mass / volume:.6g}" rgba="{rgba}" friction="{friction:g} 0.005 0.0001" '
                f'contype="1" conaffinity="1" condim="4" group="2"/></body>')  # fmt: skip


# --- reading ---------------------------------------------------------------------------------
def read_reference(path: Path, split: str | None = None, limit: int | None = None):
    """Open a dataset -> (GraspSet of its grasps, objects by id, object points by id).

    ``limit`` keeps that many grasps evenly spaced over the dataset order. Objects without a
    procedural spec or a mesh are left out of ``objects`` (only point-based metrics apply).
    """
    import trimesh

    from dexgrasp.grasps.dataset import DatasetFormatError, GraspDataset
    from dexgrasp.grasps.metrics.evaluate import GraspSet

    try:
        ds = GraspDataset.open(path)
        recs = ds.records(split)
    except DatasetFormatError as err:
        raise ValueError(str(err)) from None
    if not recs:
        raise ValueError(f"{path}: no grasps{f' in split {split!r}' if split else ''}")
    if limit is not None and 0 < limit < len(recs):
        recs = [recs[i] for i in np.linspace(0, len(recs) - 1, limit).round().astype(int)]
    used = sorted({r.object_id for r in recs})
    objects, points = {}, {}
    for oid in used:
        entry = ds.objects[oid]
        points[oid] = entry.points
        if entry.spec is not None:
            objects[oid] = entry.grasp_object()
        elif entry.mesh_path is not None and entry.mesh_path.is_file():
            mesh = trimesh.load(entry.mesh_path, force="mesh")
            objects[oid] = MeshObject(oid, entry.category, mesh)
    ref = GraspSet([r.object_id for r in recs], np.stack([r.grasp for r in recs]),
                   [dict(r.contacts) for r in recs])  # fmt: skip
    return ref, objects, points


# --- writing ---------------------------------------------------------------------------------
def _load_mesh(rec: ImportedGrasp, mesh_root: str | Path | None):
    """The record's object mesh (scaled, DexGYS: centred on its bounding box), or None."""
    import trimesh

    if not rec.object_mesh:
        return None
    p = Path(rec.object_mesh)
    candidates = [p] if p.is_absolute() or mesh_root is None else [Path(mesh_root) / p, p]
    files = []
    for c in candidates:
        if c.is_file():
            files = [c]
        elif c.is_dir():  # DexGraspBench / MeshProcess object folders
            files = sorted(c.glob("mesh/*.obj")) + sorted(c.glob("*.obj")) + sorted(c.glob("*.stl"))
        if files:
            break
    if not files:
        return None
    mesh = trimesh.load(files[0], force="mesh", process=True)
    if rec.meta.get("intent") is not None:  # DexGYS grasps live in the bbox-centred frame
        mesh.apply_translation(-(mesh.bounds[0] + mesh.bounds[1]) / 2)
    mesh.apply_scale(rec.object_scale)
    return mesh


def _readable_type(grasp_type: str | None) -> str | None:
    """``1_Large_Diameter`` -> ``large_diameter`` (template vocabulary style)."""
    if not grasp_type:
        return grasp_type
    parts = grasp_type.split("_")
    return "_".join(parts[1:] if parts[0].isdigit() else parts).lower()


def write_imported(records: Sequence[ImportedGrasp], out: Path, annotate: str = "template",
                   mesh_root: str | Path | None = None, seed: int = 0) -> dict:  # fmt: skip
    """Write imported grasps as a dataset at ``out`` (must not hold a dataset already).

    Returns a summary: objects, grasps, objects with geometry, instructions added.
    """
    from dexgrasp.grasps.dataset import GraspDatasetWriter, GraspRecord
    from dexgrasp.grasps.language import TemplateAnnotator

    out = Path(out)
    if (out / "meta.json").exists():
        raise FileExistsError(f"{out} already holds a dataset; choose a new --out")
    if annotate not in ("none", "template"):
        raise ValueError(f"annotate must be 'none' or 'template', got {annotate!r}")
    if not records:
        raise ValueError("no records to write")
    by_obj: dict[str, list[ImportedGrasp]] = {}
    for r in records:
        by_obj.setdefault(r.object_id, []).append(r)
    sources = sorted({r.hand for r in records})
    writer = GraspDatasetWriter(out, info={"source_hands": sources, "imported": True})
    annotator = TemplateAnnotator(seed)
    with_geometry = added = 0
    for oid, recs in by_obj.items():
        first = recs[0]
        mesh = _load_mesh(first, mesh_root)
        if mesh is not None:
            pts, nrm, _ = MeshObject(oid, first.category, mesh).sample_surface(N_POINTS, seed)
            with_geometry += 1
        else:
            pts, nrm = np.zeros((0, 3), np.float32), None
        split = "unseen" if first.meta.get("split") == "test" else "train"
        writer.add_object(oid, first.category, ("body",), pts, np.zeros(len(pts), np.int16), nrm,
                          split=split, mesh=mesh if mesh is not None and mesh.is_watertight else None)  # fmt: skip
        out_recs = []
        for k, r in enumerate(recs):
            contacts = {
                link: np.asarray(v, np.float32)
                for link, v in r.meta.get("source_contacts", {}).items()
            }
            ins = [
                {"level": lvl, "text": t} for lvl, texts in r.instructions.items() for t in texts
            ]
            if annotate == "template" and not any(i["level"] == "physical" for i in ins):
                gen = annotator.annotate(r.category, "body", _readable_type(r.grasp_type),
                                         list(contacts), key=f"{oid}/{k}")  # fmt: skip
                ins += [
                    {"level": "physical", "text": t, "annotator": "template"} for t in gen.physical
                ]
                if not any(i["level"] == "functional" for i in ins):
                    ins += [
                        {"level": "functional", "text": t, "annotator": "template"}
                        for t in gen.functional
                    ]
                added += 1
            meta = {"source_hand": r.hand, "source_qpos": [float(v) for v in r.source_qpos],
                    "source_file": r.source,
                    **{k2: v for k2, v in r.meta.items() if k2 not in ("source_contacts",)}}  # fmt: skip
            if r.pregrasp is not None:
                meta["pregrasp"] = [float(v) for v in r.pregrasp]
            if r.squeeze is not None:
                meta["squeeze"] = [float(v) for v in r.squeeze]
            source = "dexgys" if r.hand == HAND_OPENAI else "dexonomy"
            out_recs.append(GraspRecord(oid, r.grasp, "", r.grasp_type or "", contacts, ins,
                                        source=source, meta=meta))  # fmt: skip
        writer.add_grasps(oid, out_recs)
    meta = writer.finalize()
    return {"out": str(out), "objects": meta["n_objects"], "grasps": meta["n_grasps"],
            "objects_with_geometry": with_geometry, "annotated": added, "source_hands": sources}  # fmt: skip
