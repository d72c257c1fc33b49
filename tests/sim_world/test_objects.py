"""Object library: split sizes, disjointness, determinism, graspable sizes, valid geometry."""

import mujoco
import numpy as np
import pytest

from dexgrasp.sim.objects import (
    COLORS,
    HEIGHT_RANGE,
    MASS_RANGE,
    SPLIT_SIZES,
    WIDTH_RANGE,
    ObjectLibrary,
    add_object_body,
    body_name_for,
)
from dexgrasp.sim.scene import lowest_points


@pytest.fixture(scope="module")
def lib():
    return ObjectLibrary(seed=0)


def test_split_sizes(lib):
    for split, n in SPLIT_SIZES.items():
        assert len(lib.split(split)) == n, split
    assert (len(lib.split("train")), len(lib.split("unseen")), len(lib.split("unseen_subset"))) == (
        36,
        360,
        103,
    )
    assert (len(lib.split("nonprehensile_train")), len(lib.split("nonprehensile_unseen"))) == (
        32,
        18,
    )


def test_splits_disjoint_and_subset(lib):
    names = {s: {o.name for o in lib.split(s)} for s in SPLIT_SIZES}
    primary = ["train", "unseen", "nonprehensile_train", "nonprehensile_unseen"]
    for i, a in enumerate(primary):
        assert len(names[a]) == SPLIT_SIZES[a], f"duplicate names in {a}"
        for b in primary[i + 1 :]:
            assert not names[a] & names[b], (a, b)
    assert names["unseen_subset"] <= names["unseen"]
    assert len(lib) == 36 + 360 + 32 + 18


def test_deterministic_from_seed():
    a, b, c = ObjectLibrary(0), ObjectLibrary(0), ObjectLibrary(1)
    assert a.split("unseen") == b.split("unseen")
    assert [o.name for o in a.split("unseen_subset")] == [o.name for o in b.split("unseen_subset")]
    assert [o.attributes() for o in a.split("train")] != [o.attributes() for o in c.split("train")]


def test_graspable_sizes_and_masses(lib):
    for o in lib.split("train") + lib.split("unseen"):
        assert WIDTH_RANGE[0] - 1e-6 <= o.width <= WIDTH_RANGE[1] + 1e-6, (o.name, o.size)
        assert HEIGHT_RANGE[0] - 1e-6 <= o.height <= HEIGHT_RANGE[1] + 1e-6, (o.name, o.size)
        assert MASS_RANGE[0] <= o.mass <= MASS_RANGE[1], (o.name, o.mass)
        assert not o.flat


def test_flat_objects_are_wide_and_low(lib):
    for o in lib.split("nonprehensile_train") + lib.split("nonprehensile_unseen"):
        assert o.flat and o.width > WIDTH_RANGE[1] and o.height < 0.06, (o.name, o.size)


def test_language_attributes(lib):
    objs = lib.split("train") + lib.split("unseen")
    assert len({o.category for o in lib.split("train")}) >= 8
    assert all(o.color_name in COLORS and o.color_name in o.name and o.noun in o.name for o in objs)
    assert any(o.is_food for o in objs) and any(o.is_drink for o in objs)
    assert not any(o.is_food and o.is_drink for o in objs)
    attrs = objs[0].attributes()
    assert {
        "name",
        "category",
        "color_name",
        "shape",
        "size",
        "mass",
        "is_food",
        "is_drink",
    } <= set(attrs)


def test_bad_queries(lib):
    with pytest.raises(ValueError, match="unknown split"):
        lib.split("validation")
    with pytest.raises(KeyError, match="no object named"):
        lib.get("invisible teapot")


def test_every_object_compiles_with_true_extents(lib):
    """All 446 objects build into MuJoCo; hull meshes are valid; bottoms are where size says."""
    spec = mujoco.MjSpec()
    objs = [
        o
        for s in ("train", "unseen", "nonprehensile_train", "nonprehensile_unseen")
        for o in lib.split(s)
    ]
    for i, o in enumerate(objs):
        add_object_body(spec, o, body_name_for(i, o), (2.0 * (i % 25), 2.0 * (i // 25), 1.0))
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    assert model.nbody == len(objs) + 1
    for i, o in enumerate(objs):
        bid = model.body(body_name_for(i, o)).id
        assert model.body_mass[bid] == pytest.approx(o.mass)
        geoms = np.flatnonzero((model.geom_bodyid == bid) & (model.geom_contype > 0))
        assert len(geoms) >= 1
        bottom = lowest_points(model, data, geoms).min()
        assert bottom == pytest.approx(1.0 - o.height / 2, abs=2e-3), o.name
    assert np.all(model.mesh_vertnum >= 4)
    trimesh = pytest.importorskip("trimesh")
    for m in range(model.nmesh):  # convex hulls are closed, consistently oriented surfaces
        v0, nv = model.mesh_vertadr[m], model.mesh_vertnum[m]
        f0, nf = model.mesh_faceadr[m], model.mesh_facenum[m]
        mesh = trimesh.Trimesh(
            model.mesh_vert[v0 : v0 + nv], model.mesh_face[f0 : f0 + nf], process=True
        )
        assert mesh.is_watertight and mesh.volume > 0, model.mesh(m).name


def test_filter_by_attributes(lib):
    bottles = lib.filter("unseen", category="bottle")
    assert bottles and all(o.category == "bottle" for o in bottles)
    food = lib.filter("train", is_food=True)
    assert food and all(o.is_food for o in food)
    assert lib.filter("train", color_name="green", category="fruit") == [
        o for o in lib.split("train") if o.color_name == "green" and o.category == "fruit"
    ]
    with pytest.raises(ValueError, match="unknown object attributes"):
        lib.filter("train", flavour="mint")
    with pytest.raises(KeyError):
        lib.get("")
