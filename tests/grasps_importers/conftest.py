"""Small fixtures in the DexGYS and Dexonomy / DexGraspBench layouts."""

import json

import numpy as np
import pytest


def dexgys_entry(i: int, obj: str = "C12001", cat: str = "mug") -> dict:
    g = np.zeros(28)
    g[:3] = [0.01 * i, -0.08, 0.02]
    g[3:6] = [0.1, 0.2, 0.3]
    g[6:] = 0.3
    g[23] = 0.1  # THJ4 inside its limits
    g[27] = -0.2  # THJ0 is <= 0 on the OpenAI hand
    return {"cate_id": cat, "obj_id": obj, "action_id": 1 + i % 4, "seq_id": f"s{i}",
            "dex_grasp": g.tolist(), "guidence": f"Hold the {cat} by its handle, grasp {i}."}  # fmt: skip


@pytest.fixture
def dexgys_dir(tmp_path):
    root = tmp_path / "dexgys"
    root.mkdir()
    train = [dexgys_entry(i) for i in range(4)] + [dexgys_entry(9, "C20002", "bottle")]
    (root / "train_with_guide_v2.1.json").write_text(json.dumps(train))
    (root / "test_with_guide_v2.1.json").write_text(
        json.dumps([dexgys_entry(5, "C30003", "knife")])
    )
    return root


def menagerie_qpos(pos=(0.0, 0.0, 0.0), quat=(1.0, 0.0, 0.0, 0.0), joints=None) -> np.ndarray:
    q = np.zeros(29)
    q[:3], q[3:7] = pos, quat
    q[7:] = 0.2 if joints is None else joints
    q[7 + 17] = 0.0  # THJ5
    q[7 + 19] = 0.0  # THJ3 (hub, +-0.209)
    return q


@pytest.fixture
def dexonomy_dir(tmp_path):
    root = tmp_path / "Dexonomy_GRASP_shadow" / "succgrasp"
    d1 = root / "1_Large_Diameter" / "core_bottle_1a7ba1f4c8"
    d1.mkdir(parents=True)
    for k in range(2):
        q = menagerie_qpos(pos=(0.0, -0.1, 0.01 * k))
        np.save(d1 / f"{k}.npy", {
            "grasp_qpos": q[None],
            "pregrasp_qpos": np.stack([q * 0.5, q * 0.8]),
            "squeeze_qpos": (q + 0.05)[None],
            "obj_pose": np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]),
            "obj_scale": 0.08,
            "obj_path": "assets/object/DGN_obj/processed_data/core_bottle_1a7ba1f4c8",
            "hand_contact_body_names": np.array(["rh_ffdistal", "rh_thdistal", "rh_ffdistal"]),
            "obj_worldframe_contacts": np.array([[0.01, 0, 0, 1, 0, 0], [-0.01, 0, 0, -1, 0, 0],
                                                 [0.01, 0.01, 0, 1, 0, 0]]),
        })  # fmt: skip
    d2 = root / "24_Tip_Pinch" / "sem_Mug_ab12"
    d2.mkdir(parents=True)
    np.savez(d2 / "0.npz", grasp_qpos=menagerie_qpos(pos=(0.05, 0, 0)), obj_scale=np.array(0.1))
    return root.parent
