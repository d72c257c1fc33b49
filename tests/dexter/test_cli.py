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
    # generate decodes as measured best unless told: 16 answers at T = 0.5, and with steering
    # contacts the one whose hand reaches them
    decoding = payload["decoding"]
    assert (decoding["temperature"], decoding["candidates"], decoding["rank"]) == (
        0.5,
        16,
        "contacts",
    )

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


def test_export_init_from_and_provenance(dataset, tmp_path):
    import torch

    from dexgrasp.dexter.model import DexterModel

    run = tmp_path / "run"
    base = ["train", "dexter", "--data", str(dataset), "--config", "tiny", "--out", str(run),
            "--batch-size", "2", "--save-every", "2"]  # fmt: skip
    assert main([*base, "--steps", "2"]) == 0
    assert main([*base, "--steps", "3"]) == 0  # resumes: the record lists both runs
    runs = json.loads((run / "provenance.json").read_text())["runs"]
    assert [r["result"]["steps"] for r in runs] == [2, 3]
    assert "--seed 0" in runs[0]["command"]  # zeros are settings too, not unset options
    assert (
        runs[1]["command"].startswith("dexgrasp train dexter")
        and "--steps 3" in runs[1]["command"]
        and runs[0]["grasps"] == 6
    )

    packed = tmp_path / "packed"
    assert main(["export", "dexter", "--model", str(run), "--out", str(packed)]) == 0
    assert not (packed / "train_state").exists()  # no optimiser state in a shipped copy
    assert json.loads((packed / "provenance.json").read_text())["runs"] == runs
    full, half = DexterModel.from_pretrained(run), DexterModel.from_pretrained(packed)
    assert (packed / "model.safetensors").stat().st_size < 0.6 * (
        run / "model.safetensors"
    ).stat().st_size
    for (name, a), b in zip(full.state_dict().items(), half.state_dict().values(), strict=True):
        assert b.dtype == a.dtype, name  # loaded back into the model's own type
        torch.testing.assert_close(b, a.half().to(a.dtype), msg=name)

    # a fresh run from the exported weights: same tokenizer, architecture options from it
    again = tmp_path / "again"
    args = ["train", "dexter", "--data", str(dataset), "--config", "tiny", "--out", str(again),
            "--batch-size", "2", "--steps", "1", "--init-from", str(packed)]  # fmt: skip
    assert main(args) == 0
    history = json.loads((again / "provenance.json").read_text())["runs"]
    assert history[:2] == runs and history[2]["init_from"] == str(packed)  # the lineage
    assert (
        DexterModel.from_pretrained(again).tokenizer.q_low.tolist() == half.tokenizer.q_low.tolist()
    )
    with pytest.raises(SystemExit, match="action_only=True"):
        main(
            [*args[:-2], "--init-from", str(packed), "--action-only", "--out", str(tmp_path / "x")]
        )


def test_shipped_model_generates(tmp_path):
    from dexgrasp.dexter.model import SHIPPED_DEXTER
    from dexgrasp.grasps.objects import make_object

    if not (SHIPPED_DEXTER / "config.json").is_file():
        pytest.skip("this installation has no packaged DextER model")
    obj = tmp_path / "mug.json"
    obj.write_text(json.dumps(make_object("mug", 3).to_dict()))
    out = tmp_path / "g.json"
    args = ["generate", "--object", str(obj), "--instruction", "hold the mug", "-n", "2",
            "--out", str(out), "--no-image"]  # fmt: skip
    assert main(args) == 0  # --model defaults to the packaged model
    payload = json.loads(out.read_text())
    grasps = payload["grasps"]
    assert len(grasps) == 2 and all(g["ok"] and g["contact_links"] for g in grasps)
    assert payload["decoding"]["rank"] == "touch"  # free grasps: the rank measured best
    assert len({tuple(g["grasp"]) for g in grasps}) == 2  # two different hands


def test_shipped_missing_is_clear(monkeypatch, tmp_path):
    from dexgrasp.dexter import model as m

    monkeypatch.setattr(m, "SHIPPED_DEXTER", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="no packaged DextER model.*dexgrasp train dexter"):
        m.DexterModel.from_pretrained("shipped")
