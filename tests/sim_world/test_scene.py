"""Scenes: deterministic sampling, settling without interpenetration, ground-truth heights."""

import mujoco
import numpy as np
import pytest

from dexgrasp.sim import scene as S
from dexgrasp.sim.objects import ObjectLibrary
from dexgrasp.sim.robot import HOME_QPOS, set_robot_qpos


@pytest.fixture(scope="module")
def lib():
    return ObjectLibrary(seed=0)


def _settled(lib, split="train", seed=0, n=6, **kw):
    desc = S.sample_scene(lib, split, n, seed=seed, **kw)
    model = S.build_spec(desc).compile()
    data = mujoco.MjData(model)
    scene = S.Scene.from_model(desc, model)
    set_robot_qpos(model, data, HOME_QPOS)
    data.ctrl[:13] = HOME_QPOS
    mujoco.mj_forward(model, data)
    S.settle(model, data, scene)
    return desc, model, data, scene


def test_same_seed_same_scene(lib):
    d1, _, data1, _ = _settled(lib, seed=5)
    d2, _, data2, _ = _settled(lib, seed=5)
    d3 = S.sample_scene(lib, "train", 6, seed=6)
    assert d1 == d2
    np.testing.assert_array_equal(data1.qpos, data2.qpos)
    assert d1.names != d3.names or d1.objects != d3.objects


@pytest.mark.parametrize(
    ("split", "seed"),
    [("train", 0), ("unseen", 1), ("unseen_subset", 2), ("nonprehensile_train", 3)],
)
def test_settled_scene_has_no_interpenetration(lib, split, seed):
    desc, model, data, scene = _settled(lib, split, seed)
    assert len(desc.objects) == 6 and desc.target in desc.names
    pens = S.penetrations(model, data, scene)
    assert pens, "objects should rest on the table"
    worst = min(p[2] for p in pens)
    assert worst > -0.003, f"interpenetration {worst:.4f} m in {pens}"
    heights = S.object_heights(model, data, scene)
    assert all(-0.003 < h < 0.15 for h in heights.values()), heights
    assert all(S.on_table(model, data, scene).values())
    lin, ang = S.object_speeds(data, scene)
    assert lin.max() == 0.0 and ang.max() == 0.0


def test_initial_footprints_do_not_overlap(lib):
    for seed in range(10):
        desc = S.sample_scene(lib, "unseen", 8, seed=seed)
        xy = np.array([o.pos[:2] for o in desc.objects])
        dist = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy))
        assert dist.min() > 0.03


def test_target_is_forced_into_scene(lib):
    name = lib.split("unseen")[17].name
    desc = S.sample_scene(lib, "unseen", 6, seed=0, target=name)
    assert desc.target == name and name in desc.names
    flat = lib.split("nonprehensile_unseen")[3].name
    desc = S.sample_scene(lib, "nonprehensile_unseen", 4, seed=0, target=flat)
    assert desc.target == flat
    assert sum(lib.get(n).flat for n in desc.names) == 1


def test_bad_scene_requests(lib):
    with pytest.raises(ValueError, match="n_objects"):
        S.sample_scene(lib, "train", 0)
    with pytest.raises(ValueError, match="not among"):
        S.sample_scene(
            lib,
            "train",
            3,
            objects=[o.name for o in lib.split("train")[:3]],
            target="yellow apple x",
        )
    with pytest.raises(ValueError, match="unknown room"):
        S.build_spec(S.sample_scene(lib, "train", 2, room="kitchen"))


def test_lowest_points_rotated_box():
    spec = mujoco.MjSpec()
    b = spec.worldbody.add_body(pos=[0, 0, 1])
    b.add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.1, 0.2, 0.3], quat=[np.cos(0.3), np.sin(0.3), 0, 0]
    )
    b.add_geom(
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[0.05, 0.1, 0],
        pos=[1, 0, 0],
        quat=[np.cos(np.pi / 4), np.sin(np.pi / 4), 0, 0],
    )
    m = spec.compile()
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    low = S.lowest_points(m, d, np.arange(m.ngeom))
    assert low[0] == pytest.approx(1 - 0.2 * np.sin(0.6) - 0.3 * np.cos(0.6))
    assert low[1] == pytest.approx(1 - 0.05)
