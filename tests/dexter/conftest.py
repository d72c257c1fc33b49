"""Fixtures for DextER tests: a tiny model and synthetic grasp data built in memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexgrasp.dexter.config import TINY_ARCH, DexterConfig
from dexgrasp.dexter.data import GraspSample
from dexgrasp.dexter.point_encoder import PointEncoderConfig
from dexgrasp.grasps.conventions import GRASP_DIM, LINK_NAMES

torch.set_num_threads(1)


def micro_config(**overrides) -> DexterConfig:
    """A very small model for fast tests."""
    arch = dict(
        TINY_ARCH,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    pe = PointEncoderConfig(num_points=256, num_groups=8, group_size=16, dim=32, depth=1, heads=2)
    return DexterConfig(llm_arch=arch, point_encoder=pe, **overrides)


def synthetic_data(n_objects: int = 3, per_object: int = 4, n_points: int = 512, seed: int = 0):
    """Ellipsoid point clouds with grasps and contacts that depend on the object."""
    rng = np.random.default_rng(seed)
    objects, samples = {}, []
    for o in range(n_objects):
        radii = rng.uniform(0.02, 0.08, 3)
        d = rng.normal(size=(n_points, 3))
        pts = d / np.linalg.norm(d, axis=1, keepdims=True) * radii
        oid = f"obj{o}"
        objects[oid] = pts.astype(np.float32)
        for g in range(per_object):
            grasp = rng.normal(scale=0.3, size=GRASP_DIM)
            grasp[:3] = radii * (1.5 + 0.1 * g)
            links = rng.choice(LINK_NAMES, size=3, replace=False)
            contacts = {
                str(k): pts[rng.integers(n_points, size=1 + (i == 0))] for i, k in enumerate(links)
            }
            samples.append(
                GraspSample(
                    oid, grasp, contacts, [f"grasp object {o} with hand pose {g}", "hold it"]
                )
            )
    return objects, samples


@pytest.fixture(name="micro_config")
def micro_config_fixture():
    return micro_config


@pytest.fixture
def data():
    return synthetic_data()


@pytest.fixture
def model(data):
    from dexgrasp.dexter.data import fit_tokenizer
    from dexgrasp.dexter.model import DexterModel

    torch.manual_seed(0)
    m = DexterModel.build(micro_config())
    fit_tokenizer(m.tokenizer, data[1])
    return m
