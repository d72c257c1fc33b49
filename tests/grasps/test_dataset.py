"""Grasp dataset: write/read round trip and errors that name the bad field."""

import json

import numpy as np
import pytest

from dexgrasp.grasps.dataset import (
    DatasetFormatError,
    GraspDataset,
    GraspDatasetWriter,
    GraspRecord,
)
from dexgrasp.grasps.objects import make_object


def _write(root, n_grasps: int = 3):
    obj = make_object("mug", 0)
    pts, nrm, lab = obj.sample_surface(500)
    w = GraspDatasetWriter(root)
    w.add_object(obj.object_id, obj.category, obj.parts, pts, lab, nrm, obj.split, mesh=obj.mesh(),
                 spec=obj.to_dict())  # fmt: skip
    rng = np.random.default_rng(0)
    recs = [
        GraspRecord(
            obj.object_id,
            rng.normal(size=28),
            "handle",
            "hook",
            {"rh_ffdistal": rng.normal(size=(2, 3)), "rh_thdistal": rng.normal(size=(1, 3))},
            [
                {"level": "physical", "text": "Hook the handle."},
                {"level": "functional", "text": "Carry the mug."},
            ],
        )  # fmt: skip
        for _ in range(n_grasps)
    ]
    w.add_grasps(obj.object_id, recs)
    w.finalize()
    return obj, pts, lab, recs


def test_round_trip(tmp_path):
    obj, pts, lab, recs = _write(tmp_path)
    ds = GraspDataset.open(tmp_path)
    assert len(ds) == 3 and ds.meta["n_grasps"] == 3
    entry = ds.objects[obj.object_id]
    assert entry.category == "mug" and entry.parts == obj.parts
    np.testing.assert_array_equal(entry.points, pts)
    np.testing.assert_array_equal(entry.labels, lab)
    assert entry.mesh_path.is_file()
    assert entry.grasp_object().to_dict() == obj.to_dict()
    got = ds.records("train")
    for a, b in zip(got, recs):
        np.testing.assert_array_equal(a.grasp, b.grasp)  # float32 round trip is exact
        assert a.contact_links == ("rh_ffdistal", "rh_thdistal")
        np.testing.assert_array_equal(a.contacts["rh_ffdistal"], b.contacts["rh_ffdistal"])
        assert a.instructions == b.instructions and a.part == "handle" and a.grasp_type == "hook"
    assert ds.records("unseen") == []


def test_resume_marker(tmp_path):
    w = GraspDatasetWriter(tmp_path)
    assert not w.has_object("mug_0000")
    _write(tmp_path)
    assert w.has_object("mug_0000")


def _corrupt(tmp_path, fn):
    _write(tmp_path)
    fn(tmp_path)
    return lambda: len(GraspDataset.open(tmp_path))


def test_bad_meta_names_field(tmp_path):
    def edit(root):
        m = json.loads((root / "meta.json").read_text())
        m["format"] = "other"
        (root / "meta.json").write_text(json.dumps(m))

    with pytest.raises(DatasetFormatError, match="format"):
        _corrupt(tmp_path, edit)()


def test_short_grasp_names_file_line_and_field(tmp_path):
    def edit(root):
        p = root / "grasps" / "mug_0000.jsonl"
        lines = p.read_text().splitlines()
        d = json.loads(lines[1])
        d["grasp"] = d["grasp"][:27]
        lines[1] = json.dumps(d)
        p.write_text("\n".join(lines))

    with pytest.raises(DatasetFormatError, match=r"mug_0000.jsonl:2.*grasp"):
        _corrupt(tmp_path, edit)()


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda d: d.pop("object_id"), "object_id"),
        (lambda d: d.update(contacts={"rh_wing": [[0, 0, 0]]}), "rh_wing"),
        (lambda d: d.update(instructions=[{"level": "poetic", "text": "x"}]), "instructions"),
        (lambda d: d.update(object_id="ghost"), "object_id"),
    ],
)
def test_bad_record_names_field(tmp_path, change, field):
    def edit(root):
        p = root / "grasps" / "mug_0000.jsonl"
        d = json.loads(p.read_text().splitlines()[0])
        change(d)
        p.write_text(json.dumps(d) + "\n")

    with pytest.raises(DatasetFormatError, match=field):
        _corrupt(tmp_path, edit)()


def test_bad_point_file_names_field(tmp_path):
    _write(tmp_path)
    np.savez(tmp_path / "objects" / "mug_0000.npz", points=np.zeros((10, 3)), labels=np.full(10, 9))
    ds = GraspDataset.open(tmp_path)
    with pytest.raises(DatasetFormatError, match="labels"):
        _ = ds.objects["mug_0000"].points


def test_splits_with_unknown_object(tmp_path):
    def edit(root):
        (root / "splits.json").write_text(json.dumps({"train": ["nope"], "unseen": []}))

    with pytest.raises(DatasetFormatError, match="splits.json"):
        _corrupt(tmp_path, edit)()


def test_writer_rejects_bad_inputs(tmp_path):
    w = GraspDatasetWriter(tmp_path)
    with pytest.raises(DatasetFormatError, match="points"):
        w.add_object("a", "mug", ("body",), np.zeros((5, 2)), np.zeros(5))
    with pytest.raises(DatasetFormatError, match="split"):
        w.add_object("a", "mug", ("body",), np.zeros((5, 3)), np.zeros(5), split="test")
    with pytest.raises(DatasetFormatError, match="grasp"):
        GraspRecord("a", np.full(28, np.nan))
