"""P-FID: Frechet distance known answers, PointNet++ shapes, training, save/load."""

import numpy as np
import pytest
import torch

from dexgrasp.grasps.metrics.pfid import (
    extract_features,
    frechet_distance,
    load_feature_net,
    pfid,
    save_feature_net,
    train_feature_net,
)
from dexgrasp.grasps.metrics.pointnet2 import PointNet2Classifier, PointNet2Config

TINY = dict(npoint=(32, 8), radius=(0.3, 0.6), nsample=(8, 8))


def test_frechet_distance_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # Same covariance (identity), means 2 apart: FD = |mu_a - mu_b|^2 = 4.
    b = rng.normal(size=(4000, 3)) + [2.0, 0.0, 0.0]
    assert frechet_distance(a, b) == pytest.approx(4.0, abs=0.15)
    # Scaled covariance: tr(I + 4I - 2*2I) = 3 (per dim (1 - 2)^2).
    c = rng.normal(size=(4000, 3)) * 2.0
    assert frechet_distance(a, c) == pytest.approx(3.0, abs=0.3)
    with pytest.raises(ValueError, match="equal D"):
        frechet_distance(a, a[:, :2])


def _clouds(n_per_class, n_points=64, seed=0):
    rng = np.random.default_rng(seed)
    sphere = rng.normal(size=(n_per_class, n_points, 3))
    sphere /= np.linalg.norm(sphere, axis=-1, keepdims=True)
    rod = rng.uniform(-1, 1, size=(n_per_class, n_points, 3)) * [0.1, 0.1, 1.0]
    clouds = np.concatenate([sphere, rod]).astype(np.float32)
    labels = np.repeat([0, 1], n_per_class)
    return clouds, labels


def test_pointnet2_shapes_and_config_validation():
    torch.manual_seed(0)
    net = PointNet2Classifier(PointNet2Config(num_classes=3, **TINY)).eval()
    x = torch.randn(2, 64, 3)
    assert net(x).shape == (2, 3)
    assert net.features(x).shape == (2, 256)
    with pytest.raises(ValueError, match="num_classes"):
        PointNet2Config(num_classes=1)
    with pytest.raises(ValueError, match="radius"):
        PointNet2Config(radius=(0.2,))


def test_train_separates_classes_and_pfid_orders(tmp_path):
    torch.set_num_threads(1)
    clouds, labels = _clouds(12)
    cfg = PointNet2Config(num_classes=2, **TINY)
    net, losses = train_feature_net(clouds, labels, cfg, epochs=8, batch_size=8, seed=0)
    assert losses[-1] < losses[0]
    # Same-distribution sets are closer than different-distribution sets.
    more, _ = _clouds(12, seed=1)
    same = pfid(net, more[:12], clouds[:12])
    diff = pfid(net, more[12:], clouds[:12])
    assert same < diff
    # Save / load round trip gives identical features.
    save_feature_net(net, tmp_path / "pfid", extra={"classes": ["sphere", "rod"]})
    net2 = load_feature_net(tmp_path / "pfid")
    np.testing.assert_allclose(
        extract_features(net, clouds[:4]), extract_features(net2, clouds[:4]), atol=1e-6
    )


def test_load_checkpoint_file_and_errors(tmp_path):
    cfg = PointNet2Config(num_classes=40, width_mult=1)
    net = PointNet2Classifier(cfg)
    torch.save({"model_state_dict": net.state_dict()}, tmp_path / "pointnet.pt")
    loaded = load_feature_net(tmp_path / "pointnet.pt", width_mult=1, num_classes=40)
    assert loaded.fc3.out_features == 40
    with pytest.raises(ValueError, match="do not fit"):
        load_feature_net(tmp_path / "pointnet.pt", width_mult=2, num_classes=40)
    with pytest.raises(FileNotFoundError, match="no P-FID feature network"):
        load_feature_net(tmp_path / "missing")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_feature_net(tmp_path / "half")
