"""Grasp synthesis, the synth/render commands and the renderer."""

import numpy as np
import pytest

from dexgrasp.grasps.hand import shadow_hand
from dexgrasp.grasps.objects import make_object
from dexgrasp.grasps.simulate import HandObjectSim
from dexgrasp.grasps.synthesis import GRASP_TYPES, SynthConfig, synthesize_object


def test_preshapes_respect_joint_limits():
    lo, hi = shadow_hand().joint_limits
    assert {"medium_wrap", "power_sphere", "tip_pinch", "tripod", "lateral", "hook"} <= set(
        GRASP_TYPES
    )
    for t in GRASP_TYPES.values():
        for q in (t.open, t.closed):
            assert q.shape == (22,) and np.all(q >= lo - 1e-9) and np.all(q <= hi + 1e-9), t.name


def test_synthesised_grasps_replay_in_a_fresh_simulation():
    obj = make_object("can", 0)
    cfg = SynthConfig(attempts_per_grasp=15, types=("medium_wrap", "power_sphere"))
    found = synthesize_object(obj, 2, seed=0, config=cfg)
    assert len(found) >= 1
    fresh = HandObjectSim.from_object(obj)
    for g in found:
        assert g.grasp.dtype == np.float32 and g.grasp.shape == (28,)
        assert g.part in obj.parts and g.grasp_type in cfg.types
        assert "thumb" in g.fingers and len(g.contact_links) >= 3
        result = fresh.test_grasp(g.grasp)
        assert result.success and result.penetration < 0.01


def test_synth_config_names_bad_field():
    with pytest.raises(ValueError, match="types"):
        SynthConfig(types=("telekinesis",))
    with pytest.raises(ValueError, match="attempts_per_grasp"):
        SynthConfig(attempts_per_grasp=0)


def test_synth_and_render_commands(tmp_path, capsys):
    from dexgrasp.cli import main
    from dexgrasp.grasps.dataset import GraspDataset

    out = tmp_path / "ds"
    args = ["grasps", "synth", "--out", str(out), "--objects", "1", "--grasps-per-object", "1",
            "--types", "medium_wrap,power_sphere", "--attempts-per-grasp", "30", "--no-mesh"]  # fmt: skip
    assert main(args) == 0
    ds = GraspDataset.open(out)
    assert len(ds) == 1 and ds.objects["mug_0000"].points.shape == (10_000, 3)
    rec = ds[0]
    assert rec.contacts and rec.grasp_type in ("medium_wrap", "power_sphere")
    png = tmp_path / "g.png"
    assert main(["grasps", "render", "--data", str(out), "--index", "0", "--out", str(png),
                 "--views", "1", "--size", "96"]) == 0  # fmt: skip
    assert png.stat().st_size > 1000
    assert main(args) == 0  # resuming skips the finished object
    assert "1 grasps over 1 objects" in capsys.readouterr().out


def test_render_draws_contact_spheres():
    from dexgrasp.grasps.render import render_grasp

    obj = make_object("apple", 0)
    g = shadow_hand().default_grasp()
    g[:3] = [0.0, 0.2, 0.0]
    plain = render_grasp(obj, g, None, width=64, height=64)
    marked = render_grasp(obj, g, {"rh_thdistal": np.array([[0.0, 0.0, 0.07]])}, width=64, height=64,
                          sphere_radius=0.015)  # fmt: skip
    assert plain.shape == (64, 64, 3) and plain.dtype == np.uint8
    red = (marked[..., 0] > 150) & (marked[..., 1] < 80)
    assert red.sum() > 10 and red.sum() > ((plain[..., 0] > 150) & (plain[..., 1] < 80)).sum()
