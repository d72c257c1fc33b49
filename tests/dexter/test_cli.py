"""End to end through the CLI on a tiny on-disk grasp dataset: train, generate, eval."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dexgrasp.cli import main
from dexgrasp.grasps.conventions import GRASP_DIM, LINK_NAMES


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from dexgrasp.grasps.dataset import GraspDatasetWriter, GraspRecord
    from dexgrasp.grasps.objects import make_object

    root = tmp_path_factory.mktemp("grasps")
    writer = GraspDatasetWriter(root)
    rng = np.random.default_rng(0)
    for i, cat in enumerate(("mug", "bottle", "box")):
        obj = make_object(cat, 0)
        pts, normals, labels = obj.sample_surface(1200)
        split = "unseen" if i == 2 else "train"
        writer.add_object(obj.object_id, cat, obj.parts, pts, labels, normals, split=split,
                          spec=obj.to_dict())  # fmt: skip
        recs = []
        for _ in range(3):
            links = rng.choice(LINK_NAMES, 3, replace=False)
            grasp = rng.normal(scale=0.2, size=GRASP_DIM)
            grasp[:3] = [0.0, 0.0, 0.12]
            recs.append(GraspRecord(obj.object_id, grasp,
                                    contacts={str(k): pts[rng.integers(len(pts), size=1)] for k in links},
                                    instructions=[{"level": "physical", "text": f"hold the {cat}"}]))  # fmt: skip
        writer.add_grasps(obj.object_id, recs)
        if i == 2:
            (root / "box.json").write_text(json.dumps(obj.to_dict()))
    writer.finalize()
    return root


def test_train_generate_eval(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "dexter", "--data", str(dataset), "--config", "tiny", "--out", str(run),
            "--steps", "3", "--batch-size", "2", "--save-every", "3"]  # fmt: skip
    assert main(args) == 0
    assert (run / "model.safetensors").is_file() and (run / "train_state" / "step.json").is_file()

    out = tmp_path / "g.json"
    args = ["generate", "--model", str(run), "--object", str(dataset / "box.json"),
            "--instruction", "hold the box", "-n", "3", "--out", str(out), "--no-image",
            "--contact", "rh_thdistal@0.0,0.01,0.02", "--contact", "rh_ffdistal",
            "--surface-tol", "0.005", "--fit-contacts", "given"]  # fmt: skip
    assert main(args) == 0
    payload = json.loads(out.read_text())
    assert len(payload["grasps"]) == 3 and all(g["ok"] for g in payload["grasps"])
    assert all(len(g["model_grasp"]) == 28 for g in payload["grasps"])  # fitted: both kept
    assert all(g["logprob"] < 0 and g["num_tokens"] > 28 for g in payload["grasps"])
    assert all(g["contact_links"][:2] == ["rh_ffdistal", "rh_thdistal"] for g in payload["grasps"])

    rows = tmp_path / "rows.json"
    args = ["eval", "dexter", "--model", f"tiny={run}", "--data", str(dataset), "-n", "2",
            "--metrics", "cd,div,contact", "--out", str(rows), "--candidates", "3",
            "--rank", "grasp", "--contact-temperature", "0"]  # fmt: skip
    assert main(args) == 0
    row = json.loads(rows.read_text())[0]
    assert row["cfg_contact_temperature"] == 0.0
    assert row["row"] == "tiny" and row["n_samples"] == 6 and row["decode_rate"] == 1.0
    assert row["cfg_candidates"] == 3 and row["cfg_rank"] == "grasp"
    assert row["logprob_per_token"] < 0
    assert row["train_steps"] == 3 and "cd_cm" in row and "contact_f1" in row
    assert "| tiny | 6/6 |" in capsys.readouterr().out


def test_generate_bad_object(tmp_path):
    bad = tmp_path / "pts.npy"
    np.save(bad, np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        main(["generate", "--model", str(tmp_path), "--object", str(bad), "--instruction", "x"])
