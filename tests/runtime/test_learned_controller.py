"""The runtime driving a (tiny, random) learned controller loaded from a checkpoint dir."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mujoco")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from dexgrasp.vla.controller.configuration import ControllerConfig, EncoderConfig
    from dexgrasp.vla.controller.modeling import DexGraspVLAController
    from dexgrasp.vla.controller.normalize import Normalizer

    enc = {"kind": "conv", "feature_dim": 16, "patch_size": 8, "depth": 2}
    cfg = ControllerConfig(
        image_size=32,
        head_encoder=EncoderConfig(**enc),
        wrist_encoder=EncoderConfig(**enc),
        mask_vit_dim=16,
        mask_vit_depth=1,
        mask_vit_heads=2,
        hidden_dim=16,
        dit_layers=1,
        dit_heads=2,
        horizon=8,
        n_action_steps=4,
        num_inference_steps=2,
    )
    rng = np.random.default_rng(0)
    from dexgrasp.sim import robot

    home = np.asarray(robot.HOME_QPOS, np.float32)
    data = home + rng.normal(0, 0.01, (50, 13)).astype(np.float32)
    torch.manual_seed(0)
    model = DexGraspVLAController(cfg, normalizer=Normalizer.from_arrays(data, data))
    out = tmp_path_factory.mktemp("ckpt") / "controller"
    model.save_pretrained(out)
    return out


def test_runtime_runs_a_learned_controller(checkpoint, tmp_path):
    from dexgrasp.vla.runtime import RuntimeConfig, run_in_sim
    from dexgrasp.vla.runtime.controllers import LearnedController

    calls = []
    original = LearnedController.act

    def spy(self, observation):
        calls.append({k: np.shape(v) for k, v in observation.items()})
        return original(self, observation)

    LearnedController.act = spy
    try:
        result, _, summary = run_in_sim(
            "clear the table",
            controller=str(checkpoint),
            scene_seed=1,
            n_objects=1,
            out=tmp_path / "run",
            video=False,
            config=RuntimeConfig(attempt_steps=6, check_every=3, max_attempts=1),
            env_kwargs={"head_camera_pos": (-0.25, 0.30, 1.55)},
        )
    finally:
        LearnedController.act = original
    assert summary["controller"] == str(checkpoint)
    assert len(result.attempts) == 1 and result.attempts[0].outcome == "not_grasped"
    assert len(calls) == 6
    shapes = calls[0]
    assert shapes["observation.images.head"] == (224, 224, 3)  # small controllers: 224 px
    assert shapes["observation.mask"] == (224, 224)
    assert shapes["observation.state"] == (13,)


def test_bad_controller_path_is_a_clear_error(tmp_path):
    from dexgrasp.vla.runtime.factory import make_controller

    with pytest.raises(FileNotFoundError, match="checkpoint directory"):
        make_controller(str(tmp_path / "nope"), robot=None)


def test_shipped_controller_spec(tmp_path, monkeypatch):
    from dexgrasp.vla.runtime import factory

    assert factory.resolve_controller(None) == factory.DEFAULT_CONTROLLER
    assert (factory.SHIPPED_CONTROLLER / "config.json").is_file()  # the package ships one
    assert factory.resolve_controller("shipped") == str(factory.SHIPPED_CONTROLLER)
    monkeypatch.setattr(factory, "SHIPPED_CONTROLLER", tmp_path / "controller_small")
    with pytest.raises(FileNotFoundError, match="no packaged checkpoint"):
        factory.resolve_controller("shipped")
    assert factory.resolve_controller("expert") == "expert"
    assert factory.resolve_controller("some/dir") == "some/dir"


def test_shipped_controller_loads_and_acts():
    """The packaged checkpoint loads on its own (fp16 weights, statistics) and returns a
    finite (64, 13) joint chunk for a 224 px observation."""
    import numpy as np
    import torch

    from dexgrasp.constants import OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
    from dexgrasp.vla.controller.modeling import DexGraspVLAController
    from dexgrasp.vla.runtime.factory import SHIPPED_CONTROLLER

    torch.manual_seed(0)
    model = DexGraspVLAController.from_pretrained(SHIPPED_CONTROLLER).eval()
    rng = np.random.default_rng(0)
    image = lambda: torch.from_numpy(rng.integers(0, 255, (1, 224, 224, 3), np.uint8))  # noqa: E731
    mask = torch.zeros(1, 224, 224, dtype=torch.bool)
    mask[:, 100:130, 90:120] = True
    obs = {OBS_HEAD: image(), OBS_WRIST: image(), OBS_MASK: mask, OBS_STATE: torch.zeros(1, 13)}
    chunk = model.predict_action_chunk(obs)
    assert chunk.shape == (1, 64, 13) and torch.isfinite(chunk).all()
