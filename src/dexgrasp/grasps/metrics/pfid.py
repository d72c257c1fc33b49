"""P-FID: Frechet distance between PointNet++ features of hand+object point clouds.

As in the DexGYS evaluation, each grasp becomes one point cloud (object surface points plus
hand surface points, centred and scaled into the unit ball), a PointNet++ classifier maps it
to a feature vector, and P-FID is the Frechet distance between the Gaussian fits of the
generated and the reference feature sets.

Feature network weights:
- ``load_feature_net(path)`` takes a directory written by ``save_feature_net`` (config.json +
  model.safetensors) or a PyTorch checkpoint of the common PointNet++ classifier layout
  (e.g. the ModelNet40 ``pointnet`` weights of point-e used by DexGYS: pass ``width_mult=2``,
  ``num_classes=40``). Only those weights make numbers comparable with published P-FID.
- ``train_feature_net`` trains one here on object-category labels (our procedural objects).
  Numbers from such a network are NOT comparable with published values; the CLI says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dexgrasp.grasps.metrics.pointnet2 import PointNet2Config

# A lighter network for training here on CPU (fewer centres and neighbours than the classic
# 512/128-centre classifier); used by ``train_on_objects`` and ``--train-pfid``.
TRAIN_CONFIG = {"npoint": (256, 64), "radius": (0.2, 0.4), "nsample": (16, 32), "width_mult": 1}
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to (N, D) and (M, D) feature sets.

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``.
    """
    from scipy import linalg

    a = np.asarray(feats_a, dtype=np.float64)
    b = np.asarray(feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with equal D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each feature set needs at least 2 samples")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    if not np.isfinite(covmean).all():  # near-singular product: regularise the diagonal
        off = np.eye(len(cov_a)) * eps
        covmean = linalg.sqrtm((cov_a + off) @ (cov_b + off))
    covmean = np.real(covmean)
    diff = mu_a - mu_b
    fd = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))
    return max(fd, 0.0)  # round-off can dip just below 0 for identical sets


def grasp_cloud(object_points: np.ndarray, hand_points: np.ndarray) -> np.ndarray:
    """One P-FID input cloud: object (N, 3) and hand (M, 3) points -> (N + M, 3) float32."""
    obj = np.asarray(object_points, dtype=np.float32).reshape(-1, 3)
    hand = np.asarray(hand_points, dtype=np.float32).reshape(-1, 3)
    return np.concatenate([obj, hand], axis=0)


def extract_features(net, clouds: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Feature vectors of (B, N, 3) clouds (normalised here) -> (B, D) float64."""
    import torch

    from dexgrasp.grasps.metrics.pointnet2 import normalize_clouds

    clouds = np.asarray(clouds, dtype=np.float32)
    if clouds.ndim != 3 or clouds.shape[-1] != 3:
        raise ValueError(f"clouds must be (B, N, 3), got {clouds.shape}")
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(clouds), batch_size):
            xyz = normalize_clouds(torch.from_numpy(clouds[i : i + batch_size]))
            out.append(net.features(xyz).double().numpy())
    return np.concatenate(out, axis=0)


def pfid(net, pred_clouds: np.ndarray, ref_clouds: np.ndarray, batch_size: int = 32) -> float:
    """P-FID between generated and reference hand+object clouds, each (B, N, 3)."""
    return frechet_distance(
        extract_features(net, pred_clouds, batch_size),
        extract_features(net, ref_clouds, batch_size),
    )


def save_feature_net(net, path: str | Path, extra: dict | None = None) -> Path:
    """Write ``config.json`` (network config + ``extra``, e.g. class names) and weights."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = {"config": net.config.to_dict(), **(extra or {})}
    (path / CONFIG_NAME).write_text(json.dumps(meta, indent=2))
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path / WEIGHTS_NAME))
    return path


def load_feature_net(path: str | Path, width_mult: int = 2, num_classes: int = 40):
    """Load a feature network from a saved directory or a PyTorch checkpoint file.

    Args:
        path: directory with config.json + model.safetensors, or a ``.pt``/``.pth`` file
            holding a state dict (optionally under ``model_state_dict``).
        width_mult, num_classes: network size for checkpoint files (which carry no config).
    Raises:
        FileNotFoundError: nothing at ``path``; ValueError: weights that do not fit.
    """
    import torch

    from dexgrasp.grasps.metrics.pointnet2 import PointNet2Classifier

    path = Path(path)
    if path.is_dir():
        cfg_file, w_file = path / CONFIG_NAME, path / WEIGHTS_NAME
        for f in (cfg_file, w_file):
            if not f.is_file():
                raise FileNotFoundError(f"P-FID feature net at {path} is missing {f.name}")
        from safetensors.torch import load_file

        meta = json.loads(cfg_file.read_text())
        if "config" not in meta:
            raise ValueError(f"{cfg_file}: missing field 'config'")
        net = PointNet2Classifier(PointNet2Config(**meta["config"]))
        state = load_file(str(w_file))
    elif path.is_file():
        net = PointNet2Classifier(PointNet2Config(num_classes=num_classes, width_mult=width_mult))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "model_state_dict" in state:
            state = state["model_state_dict"]
    else:
        raise FileNotFoundError(
            f"no P-FID feature network at {path}; pass a trained directory, a PointNet++ "
            "checkpoint, or train one with `dexgrasp grasps eval --train-pfid`"
        )
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"P-FID weights at {path} do not fit the network: {err}") from err
    net.eval()
    return net


def train_feature_net(
    clouds: np.ndarray,
    labels: np.ndarray,
    config: PointNet2Config | None = None,
    epochs: int = 20,
    batch_size: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
    jitter: float = 0.01,
    progress: bool = False,
):
    """Train a PointNet++ classifier on labelled clouds; returns (net, per-epoch mean losses).

    Args:
        clouds: (B, N, 3) point clouds (any scale; normalised inside).
        labels: (B,) integer class ids in [0, num_classes).
        config: network config (``num_classes`` must cover the labels).
        jitter: std (unit-ball units) of Gaussian point noise plus a random z rotation per
            batch, as augmentation.
    """
    import torch
    from torch.nn import functional as F

    from dexgrasp.grasps.metrics.pointnet2 import PointNet2Classifier, normalize_clouds

    clouds = torch.as_tensor(np.asarray(clouds, dtype=np.float32))
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if clouds.ndim != 3 or clouds.shape[-1] != 3 or len(clouds) != len(labels):
        raise ValueError(
            f"clouds (B, N, 3) and labels (B,) mismatch: {clouds.shape}, {labels.shape}"
        )
    config = config or PointNet2Config(num_classes=int(labels.max()) + 1)
    if labels.min() < 0 or labels.max() >= config.num_classes:
        raise ValueError(
            f"labels must lie in [0, {config.num_classes}), got {labels.min()}..{labels.max()}"
        )
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = PointNet2Classifier(config)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xyz_all = normalize_clouds(clouds)
    losses = []
    epochs_iter = range(epochs)
    if progress:
        from tqdm import tqdm

        epochs_iter = tqdm(epochs_iter, desc="train P-FID net")
    for _ in epochs_iter:
        net.train()
        perm = torch.randperm(len(xyz_all), generator=gen)
        total, count = 0.0, 0
        for i in range(0, len(perm), batch_size):
            idx = perm[i : i + batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            ang = torch.rand(1, generator=gen).item() * 2 * np.pi
            c, s = float(np.cos(ang)), float(np.sin(ang))
            rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            xyz = xyz_all[idx] @ rot.T + jitter * torch.randn(xyz_all[idx].shape, generator=gen)
            loss = F.cross_entropy(net(xyz), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
        losses.append(total / max(count, 1))
    recalibrate_batchnorm(net, xyz_all, batch_size)
    return net, losses


def recalibrate_batchnorm(net, xyz, batch_size: int = 16) -> None:
    """Recompute every BatchNorm's running statistics as exact averages over ``xyz`` (B, N, 3).

    After a short training run the exponential running averages still remember their
    initial values, and eval-mode features collapse; one pass with cumulative averaging
    fixes that. Leaves the network in eval mode.
    """
    import torch

    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    net.train()
    for m in net.modules():  # batch statistics as eval mode will see them: no dropout
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    with torch.no_grad():
        for i in range(0, len(xyz), batch_size):
            chunk = xyz[i : i + batch_size]
            if len(chunk) >= 2:
                net(chunk)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    net.eval()


def train_on_objects(
    objects,
    points=None,
    max_per_category: int = 6,
    views: int = 4,
    n_points: int = 1024,
    epochs: int = 15,
    seed: int = 0,
    progress: bool = False,
):
    """Train the P-FID feature net to classify object categories; returns (net, classes, losses).

    Args:
        objects: object id -> object with ``category`` and ``sample_surface(n, seed)``.
        points: optional object id -> (N, 3) surface points to use instead of sampling.
        max_per_category: objects used per category (keeps CPU training to minutes).
        views: random ``n_points`` subsets per object.
    """
    rng = np.random.default_rng(seed)
    classes = sorted({o.category for o in objects.values()})
    if not classes:
        raise ValueError("no objects to train the P-FID feature net on")
    used: dict[str, int] = {}
    clouds, labels = [], []
    for oid in sorted(objects):
        obj = objects[oid]
        if used.get(obj.category, 0) >= max_per_category:
            continue
        used[obj.category] = used.get(obj.category, 0) + 1
        src = points.get(oid) if points is not None else None
        if src is None or len(src) == 0:
            src = obj.sample_surface(4 * n_points, seed=seed)[0]
        src = np.asarray(src, dtype=np.float32)
        for _ in range(views):
            clouds.append(src[rng.choice(len(src), n_points, replace=len(src) < n_points)])
            labels.append(classes.index(obj.category))
    cfg = PointNet2Config(num_classes=max(len(classes), 2), **TRAIN_CONFIG)
    net, losses = train_feature_net(np.stack(clouds), np.array(labels), cfg, epochs=epochs,
                                    seed=seed, progress=progress)  # fmt: skip
    return net, classes, losses
