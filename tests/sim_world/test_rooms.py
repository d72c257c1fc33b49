"""Rooms, backgrounds, lightings and textures: every option builds and looks different."""

import mujoco
import numpy as np
import pytest

from dexgrasp.sim import rooms, textures
from dexgrasp.sim import scene as S
from dexgrasp.sim.objects import ObjectLibrary


@pytest.fixture(scope="module")
def desc():
    return S.sample_scene(ObjectLibrary(0), "train", 4, seed=0)


def _head(desc, **kw) -> np.ndarray:
    d = S.SceneDescription(desc.seed, desc.split, desc.objects, desc.target, **kw)
    model = S.build_spec(d, robot=False).compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    with mujoco.Renderer(model, 72, 96) as r:
        r.update_scene(data, rooms.HEAD_CAMERA)
        return r.render().astype(float)


def test_every_condition_builds_and_differs(desc):
    base = _head(desc)
    for bg in rooms.BACKGROUNDS[1:]:
        assert np.abs(_head(desc, background=bg) - base).mean() > 3, bg
    for light in rooms.LIGHTINGS[1:]:
        assert np.abs(_head(desc, lighting=light) - base).mean() > 3, light
    assert _head(desc, lighting="dark").mean() < 0.6 * base.mean()


def test_collection_and_evaluation_rooms_differ(desc):
    a = _head(desc, room="collection")
    b = _head(desc, room="evaluation")
    assert np.abs(a - b).mean() > 10


def test_unknown_condition_names():
    spec = mujoco.MjSpec()
    for fn, bad in (
        (rooms.add_room, "kitchen"),
        (rooms.add_background, "lava"),
        (rooms.add_lighting, "strobe"),
    ):
        with pytest.raises(ValueError, match="expected one of"):
            fn(spec, bad)


def test_camera_looks_at_workspace():
    q = np.array(rooms.look_at_quat(np.array([0.0, 0, 1]), np.array([1.0, 0, 0])))
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, q)
    forward = -mat.reshape(3, 3)[:, 2]
    np.testing.assert_allclose(forward, np.array([1, 0, -1]) / np.sqrt(2), atol=1e-9)


def test_textures_are_valid_images():
    imgs = [
        textures.checker((1, 0, 0), (0, 0, 1), 4, 32),
        textures.noise((0.5, 0.5, 0.5), 0.2, seed=0, size=32),
        textures.wood(seed=0, size=32),
        textures.stripes([(1, 1, 1), (0, 0, 0)], 4, 32),
        textures.patchwork(seed=0, size=64),
        textures.calibration_board(size=64),
        textures.zebra_pad(seed=0, size=32),
        textures.poster(seed=0, size=32),
    ]
    for img in imgs:
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.std() > 1
    np.testing.assert_array_equal(textures.wood(seed=3, size=32), textures.wood(seed=3, size=32))
    with pytest.raises(ValueError, match="size"):
        textures.flat((1, 1, 1), size=2)
    with pytest.raises(ValueError, match="uint8"):
        textures.add_image_material(mujoco.MjSpec(), "m", np.zeros((4, 4), np.float32))
