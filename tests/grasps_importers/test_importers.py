"""DexGYS and Dexonomy importers on small fixtures; hand mapping; bad files name the field."""

import json

import numpy as np
import pytest

from dexgrasp.grasps.importers.dexgys import read_dexgys
from dexgrasp.grasps.importers.dexonomy import read_dexonomy
from dexgrasp.grasps.importers.hands import (
    HAND_MENAGERIE,
    HAND_OPENAI,
    MENAGERIE_PALM_OFFSET,
    menagerie_to_openai,
    openai_to_menagerie,
)
from dexgrasp.grasps.importers.records import ImportFormatError

from .conftest import dexgys_entry, menagerie_qpos


def test_dexgys_reads_grasps_language_and_splits(dexgys_dir):
    recs = read_dexgys(dexgys_dir)
    assert len(recs) == 6
    test = [r for r in recs if r.meta["split"] == "test"]
    assert [r.category for r in test] == ["knife"]
    r0 = next(r for r in recs if r.meta["seq_id"] == "s0")
    assert r0.hand == HAND_OPENAI and r0.object_id == "C12001"
    np.testing.assert_array_equal(r0.grasp, dexgys_entry(0)["dex_grasp"])  # same convention
    assert r0.instructions["physical"] == ["Hold the mug by its handle, grasp 0."]
    assert r0.instructions["functional"] == ["Use the mug."]  # action_id 1 = use
    assert {r.meta["intent"] for r in recs} >= {"use", "hold", "lift", "hand over"}


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("dex_grasp"), "dex_grasp"),
        (lambda e: e.update(dex_grasp=[0.0] * 27), "dex_grasp"),
        (lambda e: e.update(dex_grasp=[float("nan")] * 28), "dex_grasp"),
        (lambda e: e.update(action_id=7), "action_id"),
        (lambda e: e.pop("cate_id"), "cate_id"),
        (lambda e: e.update(guidence=3), "guidence"),
    ],
)
def test_dexgys_bad_entries_name_the_field(tmp_path, mutate, field):
    entries = [dexgys_entry(0), dexgys_entry(1)]
    mutate(entries[1])
    (tmp_path / "train.json").write_text(json.dumps(entries))
    with pytest.raises(ImportFormatError, match=rf"train\.json\[1\].*{field}"):
        read_dexgys(tmp_path)


def test_dexgys_bad_files(tmp_path):
    (tmp_path / "train.json").write_text("{not json")
    with pytest.raises(ImportFormatError, match="not valid JSON"):
        read_dexgys(tmp_path)
    (tmp_path / "train.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ImportFormatError, match="list"):
        read_dexgys(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_dexgys(tmp_path / "nothing")


def test_dexgys_oakink_mesh_lookup(tmp_path, dexgys_dir):
    shape = tmp_path / "oakink" / "shape"
    (shape / "metaV2").mkdir(parents=True)
    (shape / "metaV2" / "object_id.json").write_text(json.dumps({"C12001": {"name": "mug_a"}}))
    mesh_dir = shape / "OakInkObjectsV2" / "mug_a" / "align_ds"
    mesh_dir.mkdir(parents=True)
    (mesh_dir / "mug_a.obj").write_text("v 0 0 0\n")
    recs = read_dexgys(dexgys_dir, oakink_root=tmp_path / "oakink")
    mug = [r for r in recs if r.object_id == "C12001"]
    assert all(r.object_mesh and r.object_mesh.endswith("mug_a.obj") for r in mug)
    assert all(r.object_mesh is None for r in recs if r.object_id != "C12001")


def test_hand_mapping_signs_offset_and_round_trip():
    j = np.zeros(22)
    j[0], j[8], j[20], j[21] = 0.2, 0.2, 0.3, 0.5  # FFJ4, RFJ4, THJ2, THJ1 (menagerie)
    q = menagerie_qpos(joints=j)
    g, clipped = menagerie_to_openai(q)
    assert g[6 + 0] == pytest.approx(-0.2)  # FF knuckle axis flipped
    assert g[6 + 8] == pytest.approx(0.2)  # RF knuckle axis agrees
    assert g[6 + 20] == pytest.approx(-0.3)  # THJ2 -> THJ1, flipped
    assert g[6 + 21] == pytest.approx(-0.5)  # THJ1 -> THJ0, flipped into [-1.571, 0]
    assert clipped == 0.0
    np.testing.assert_allclose(g[:3], MENAGERIE_PALM_OFFSET)  # palm sits 3.4 cm up the z axis
    # Rotated 90 degrees about x: the palm offset turns with the hand.
    c = np.cos(np.pi / 4)
    g90, _ = menagerie_to_openai(menagerie_qpos(quat=(c, c, 0, 0)))
    np.testing.assert_allclose(g90[:3], [0, -0.034, 0], atol=1e-12)
    np.testing.assert_allclose(g90[3:6], [np.pi / 2, 0, 0], atol=1e-12)
    # Round trip for joints inside both ranges.
    back = openai_to_menagerie(g90)
    np.testing.assert_allclose(menagerie_to_openai(back)[0], g90, atol=1e-12)
    # Out-of-range menagerie joint (proximal at -0.2 rad) is clipped and reported.
    j2 = np.zeros(22)
    j2[1] = -0.2
    g2, clipped2 = menagerie_to_openai(menagerie_qpos(joints=j2))
    assert g2[7] == 0.0 and clipped2 == pytest.approx(0.2)


def test_hand_mapping_object_frame():
    # Object translated by (1, 0, 0) and turned 180 degrees about z; hand 10 cm in front of it.
    pose = np.array([1.0, 0, 0, 0, 0, 0, 1.0])  # wxyz = (0, 0, 0, 1)
    g, _ = menagerie_to_openai(menagerie_qpos(pos=(1.1, 0, -0.034)), object_pose=pose)
    np.testing.assert_allclose(g[:3], [-0.1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(np.abs(g[3:6]), [0, 0, np.pi], atol=1e-9)


def test_dexonomy_reads_types_objects_contacts(dexonomy_dir):
    recs = read_dexonomy(dexonomy_dir)
    assert len(recs) == 3
    by_type = {r.grasp_type for r in recs}
    assert by_type == {"1_Large_Diameter", "24_Tip_Pinch"}
    big = [r for r in recs if r.grasp_type == "1_Large_Diameter"]
    assert {r.object_id for r in big} == {"core_bottle_1a7ba1f4c8"}
    assert big[0].category == "bottle" and big[0].object_scale == 0.08
    assert all(r.hand == HAND_MENAGERIE and r.source_qpos.shape == (29,) for r in recs)
    assert big[0].pregrasp is not None and big[0].squeeze is not None
    assert big[0].grasp[1] == pytest.approx(-0.1)
    contacts = big[0].meta["source_contacts"]
    assert sorted(contacts) == ["rh_ffdistal", "rh_thdistal"] and len(contacts["rh_ffdistal"]) == 2
    npz = next(r for r in recs if r.grasp_type == "24_Tip_Pinch")
    assert npz.object_id == "sem_Mug_ab12" and npz.category == "mug"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"pregrasp_qpos": np.zeros(29)}, "grasp_qpos"),
        ({"grasp_qpos": np.zeros(28)}, "grasp_qpos"),
        ({"grasp_qpos": np.zeros(29)}, "zero quaternion"),
        ({"grasp_qpos": menagerie_qpos(), "obj_pose": np.zeros(6)}, "obj_pose"),
        ({"grasp_qpos": menagerie_qpos(), "obj_scale": -1.0}, "obj_scale"),
        ({"grasp_qpos": menagerie_qpos(), "squeeze_qpos": np.ones((2, 30))}, "squeeze_qpos"),
        (
            {
                "grasp_qpos": menagerie_qpos(),
                "hand_contact_body_names": np.array(["wrist"]),
                "obj_worldframe_contacts": np.zeros((1, 6)),
            },
            "wrist",
        ),  # fmt: skip
    ],
)
def test_dexonomy_bad_files_name_the_field(tmp_path, data, field):
    np.save(tmp_path / "bad.npy", data)
    with pytest.raises(ImportFormatError, match=field):
        read_dexonomy(tmp_path)


def test_dexonomy_not_a_dict(tmp_path):
    np.save(tmp_path / "arr.npy", np.zeros(29))
    with pytest.raises(ImportFormatError, match="saved dict"):
        read_dexonomy(tmp_path)
    (tmp_path / "arr.npy").write_bytes(b"garbage")
    with pytest.raises(ImportFormatError, match="cannot read"):
        read_dexonomy(tmp_path)
