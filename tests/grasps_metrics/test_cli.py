"""`dexgrasp grasps eval` and `dexgrasp grasps import`, end to end on tiny datasets."""

import json

import numpy as np
import pytest

from dexgrasp.cli import main
from dexgrasp.grasps.dataset import GraspDataset, GraspDatasetWriter, GraspRecord
from dexgrasp.grasps.objects import GraspObject, Primitive

from .test_simulation import GOOD


@pytest.fixture
def ball_dataset(tmp_path):
    obj = GraspObject("ball", "ball", (Primitive("sphere", (0.035,)),), mass=0.1)
    pts, nrm, lab = obj.sample_surface(2000, seed=0)
    w = GraspDatasetWriter(tmp_path / "ds")
    w.add_object("ball", "ball", obj.parts, pts, lab, nrm, spec=obj.to_dict())
    moved = GOOD.copy()
    moved[2] -= 0.005
    recs = [GraspRecord("ball", g, "body", "power_sphere", {"rh_ffdistal": [[0.0, -0.035, 0.0]]})
            for g in (GOOD, moved)]  # fmt: skip
    w.add_grasps("ball", recs)
    w.finalize()
    return tmp_path / "ds"


def test_eval_dataset_grasps(ball_dataset, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["grasps", "eval", "--data", str(ball_dataset), "--metrics", "sim,pen,div",
                 "--out", str(out)]) == 0  # fmt: skip
    res = json.loads(out.read_text())
    assert res["summary"]["n_grasps"] == 2
    assert res["summary"]["sim_force_all6"] > 0  # GOOD holds
    assert len(res["per_grasp"]["pen_m"]) == 2
    assert "sim_force_all6" in capsys.readouterr().out


def test_eval_predictions_with_contacts_and_pfid(ball_dataset, tmp_path, capsys):
    far = GOOD.copy()
    far[1] += 0.1
    pred = [{"object_id": "ball", "grasp": GOOD.tolist(), "ref": 0,
             "contacts": {"rh_ffdistal": [[0.0, -0.035, 0.0]], "rh_palm": [[0, 0, 0]]}},
            {"object_id": "ball", "grasp": far.tolist(), "ref": 1, "contacts": {}}]  # fmt: skip
    pfile = tmp_path / "pred.json"
    pfile.write_text(json.dumps(pred))
    args = ["grasps", "eval", "--data", str(ball_dataset), "--pred", str(pfile),
            "--metrics", "cd,con,contact,pfid", "--train-pfid", str(tmp_path / "net"),
            "--pfid-epochs", "1"]  # fmt: skip
    assert main(args) == 0
    res = json.loads((tmp_path / "pred.metrics.json").read_text())
    s = res["summary"]
    assert s["contact_recall"] == 0.5 and s["contact_precision"] == 0.25
    assert res["per_grasp"]["cd_m"][0] < 1e-6 and res["per_grasp"]["cd_m"][1] > 0.05
    assert np.isfinite(s["pfid"]) and "NOT comparable" in res["pfid_note"]
    assert (tmp_path / "net" / "model.safetensors").is_file()
    assert "NOT comparable" in capsys.readouterr().out


def test_eval_errors(ball_dataset, tmp_path, capsys):
    assert main(["grasps", "eval", "--data", str(ball_dataset), "--metrics", "fid"]) == 2
    assert main(["grasps", "eval", "--data", str(tmp_path / "none")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"object_id": "ball", "grasp": [1, 2]}]))
    assert main(["grasps", "eval", "--data", str(ball_dataset), "--pred", str(bad)]) == 2
    assert "field 'grasp'" in capsys.readouterr().err


def test_import_dexgys_and_dexonomy(tmp_path, capsys):
    from tests.grasps_importers.conftest import dexgys_entry, menagerie_qpos

    src = tmp_path / "gys"
    src.mkdir()
    (src / "train_with_guide_v2.1.json").write_text(json.dumps([dexgys_entry(0), dexgys_entry(1)]))
    (src / "test_with_guide_v2.1.json").write_text(json.dumps([dexgys_entry(2, "C9", "knife")]))
    args = [
        "grasps",
        "import",
        "--format",
        "dexgys",
        "--src",
        str(src),
        "--out",
        str(tmp_path / "o1"),
    ]
    assert main(args) == 0
    ds = GraspDataset.open(tmp_path / "o1")
    assert len(ds) == 3 and ds.splits["unseen"] == ["C9"]
    rec = ds.records("train")[0]
    assert rec.source == "dexgys" and rec.meta["source_hand"] == "shadow_openai"
    assert {i["level"] for i in rec.instructions} == {"physical", "functional"}
    # Dexonomy with a mesh: geometry is sampled, contacts and template instructions kept.
    import trimesh

    mdir = tmp_path / "meshes" / "core_box_1"
    mdir.mkdir(parents=True)
    trimesh.creation.box(extents=[1.0, 0.5, 0.3]).export(mdir / "simplified.obj")
    gdir = tmp_path / "dex" / "1_Large_Diameter" / "core_box_1"
    gdir.mkdir(parents=True)
    np.save(gdir / "0.npy", {"grasp_qpos": menagerie_qpos(pos=(0, -0.1, 0)), "obj_scale": 0.1,
                             "obj_path": "core_box_1",
                             "hand_contact_body_names": np.array(["rh_thdistal"]),
                             "obj_worldframe_contacts": np.array([[0.0, 0.0, 0.015, 0, 0, 1]])})  # fmt: skip
    out2 = tmp_path / "o2"
    assert main(["grasps", "import", "--format", "dexonomy", "--src", str(tmp_path / "dex"),
                 "--out", str(out2), "--mesh-root", str(tmp_path / "meshes")]) == 0  # fmt: skip
    ds2 = GraspDataset.open(out2)
    entry = ds2.objects["core_box_1"]
    assert entry.points.shape == (10_000, 3)
    assert np.abs(entry.points).max(axis=0) == pytest.approx([0.05, 0.025, 0.015], abs=1e-6)
    r = ds2[0]
    assert r.source == "dexonomy" and r.meta["source_hand"] == "shadow_menagerie"
    assert len(r.meta["source_qpos"]) == 29 and r.contact_links == ("rh_thdistal",)
    assert any(i.get("annotator") == "template" for i in r.instructions)
    # The imported mesh object is evaluable (penetration through the mesh SDF).
    out = tmp_path / "pen.json"
    args = ["grasps", "eval", "--data", str(out2), "--metrics", "sim,pen,q1", "--out", str(out)]
    assert main(args) == 0
    summary = json.loads(out.read_text())["summary"]
    assert summary["pen_cm"] >= 0.0 and summary["sim_force_all6"] == 0.0  # hand 10 cm away
    # Never overwrite an existing dataset.
    assert main(["grasps", "import", "--format", "dexonomy", "--src", str(tmp_path / "dex"),
                 "--out", str(out2)]) == 2  # fmt: skip
    assert "already holds a dataset" in capsys.readouterr().err


def test_eval_pfid_needs_weights_and_drops_ref_metrics(ball_dataset, tmp_path, capsys):
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps([{"object_id": "ball", "grasp": GOOD.tolist()}]))
    args = [
        "grasps",
        "eval",
        "--data",
        str(ball_dataset),
        "--pred",
        str(pfile),
        "--metrics",
        "pfid",
    ]
    assert main(args) == 2
    assert "--pfid-weights" in capsys.readouterr().err
    assert main(args + ["--pfid-weights", str(tmp_path / "missing.pt")]) == 2
    assert "no P-FID feature network" in capsys.readouterr().err
    # Without --pred, metrics that need predictions are dropped with a note.
    out = tmp_path / "o.json"
    assert (
        main(
            [
                "grasps",
                "eval",
                "--data",
                str(ball_dataset),
                "--metrics",
                "cd,div",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "give --pred" in capsys.readouterr().err
    assert "cd_cm" not in json.loads(out.read_text())["summary"]
