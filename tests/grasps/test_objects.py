"""Procedural objects: categories, parts, determinism, watertight meshes, splits."""

import numpy as np
import pytest

from dexgrasp.grasps.objects import (
    CATEGORIES,
    GraspObject,
    Primitive,
    make_object,
    object_from_json,
    object_library,
)


def test_at_least_20_categories_with_named_parts():
    assert len(CATEGORIES) >= 20
    parts = {p for c in CATEGORIES for p in make_object(c, 0).parts}
    assert {"handle", "body", "rim", "lid", "cap", "neck", "blade"} <= parts


def test_objects_are_deterministic():
    a, b = make_object("mug", 2, seed=5), make_object("mug", 2, seed=5)
    assert a.to_dict() == b.to_dict()
    pa, na, la = a.sample_surface(2000, seed=1)
    pb, nb, lb = b.sample_surface(2000, seed=1)
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(la, lb)
    assert make_object("mug", 3, seed=5).to_dict() != a.to_dict()


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_meshes_are_watertight_and_samples_lie_on_the_surface(category):
    obj = make_object(category, 1)
    mesh = obj.mesh()
    assert mesh.is_watertight and mesh.volume > 0
    pts, normals, labels = obj.sample_surface(10_000)
    assert pts.shape == (10_000, 3) and pts.dtype == np.float32
    assert labels.min() >= 0 and labels.max() < len(obj.parts)
    assert np.abs(obj.sdf(pts.astype(np.float64))).max() < 1e-4  # on the union's outer surface
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    lo, hi = obj.bounds()
    assert np.all(hi - lo < 0.35) and np.all(hi - lo > 0.005)


def test_splits_hold_out_every_fifth_instance():
    assert [make_object("can", i).split for i in range(10)] == (["train"] * 4 + ["unseen"]) * 2
    lib = object_library(2 * len(CATEGORIES))
    assert [o.category for o in lib[: len(CATEGORIES)]] == list(CATEGORIES)
    assert len({o.object_id for o in lib}) == len(lib)


def test_json_round_trip_and_mjcf():
    obj = make_object("teapot", 0)
    back = object_from_json(__import__("json").dumps(obj.to_dict()))
    assert back.to_dict() == obj.to_dict()
    assert back.mjcf() == obj.mjcf()
    assert obj.mjcf().count("<geom") == len(obj.primitives)
    record = {"object_id": obj.object_id, "mesh": "objects/x.stl", "spec": obj.to_dict()}
    from_dataset = object_from_json(__import__("json").dumps(record))  # a dataset object file
    assert from_dataset.to_dict() == obj.to_dict()


def test_bad_inputs_name_the_field():
    with pytest.raises(ValueError, match="category"):
        make_object("spaceship", 0)
    with pytest.raises(ValueError, match="size"):
        Primitive("box", (0.1, 0.1))
    with pytest.raises(ValueError, match="kind"):
        Primitive("torus", (0.1,))
    with pytest.raises(ValueError, match="primitives"):
        GraspObject.from_dict({"object_id": "x", "category": "mug"})
    with pytest.raises(ValueError, match="object json"):
        object_from_json("{not json")
