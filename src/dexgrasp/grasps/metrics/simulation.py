"""Simulated success: the MuJoCo disturbance test and the gravity test over many grasps.

Both tests run the hand+object simulation core (:mod:`dexgrasp.grasps.simulate`): the palm
is placed at the grasp, the fingers close from a pre-grasp through the grasp to a squeeze,
then the object is pushed along 6 axis directions (``force``: an external force of
mass x 9.81 N by default, DexGraspBench-style) or pulled by gravity along 6 directions
(``gravity``, DexGraspNet-style). A direction holds when the object moves < 5 cm and turns
< 15 degrees; a grasp that penetrates the object by > 1 cm fails outright. We report, per
test, the fraction of grasps that hold in all 6 directions (``all6``, the DexGraspBench
criterion) and in at least one (``any6``, the DexGraspNet criterion).

Grasps of one object share one compiled model, so group grasps by object when you can.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

TESTS = ("force", "gravity")


@dataclass
class SimulatedSuccess:
    """Per-grasp outcomes of one test (rows follow the input order)."""

    test: str
    all6: np.ndarray  # (N,) bool
    any6: np.ndarray  # (N,) bool
    per_direction: np.ndarray  # (N, 6) bool
    penetration: np.ndarray  # (N,) m
    seconds: float  # wall time of the test

    def summary(self) -> dict[str, float]:
        n = len(self.all6)
        return {
            f"sim_{self.test}_all6": float(self.all6.mean()) if n else 0.0,
            f"sim_{self.test}_any6": float(self.any6.mean()) if n else 0.0,
            f"sim_{self.test}_grasps_per_s": n / self.seconds if self.seconds > 0 else 0.0,
        }


def simulated_success(
    grasps: np.ndarray,
    object_ids: Sequence[str],
    objects: Mapping[str, object],
    tests: Iterable[str] = TESTS,
    config=None,
    progress: bool = False,
) -> dict[str, SimulatedSuccess]:
    """Run the simulated success tests on (N, 28) grasps.

    Args:
        grasps: (N, 28) grasps, each in the frame of its object.
        object_ids: (N,) object id of each grasp.
        objects: object id -> :class:`~dexgrasp.grasps.objects.GraspObject` (anything with
            ``mjcf()`` and ``mass``; ``mjcf_assets()`` too when its body needs meshes).
        tests: subset of ``("force", "gravity")``.
        config: a :class:`~dexgrasp.grasps.simulate.SimConfig` (its ``mode`` is overridden).
    Returns:
        test name -> :class:`SimulatedSuccess`.
    """
    from dexgrasp.grasps.simulate import HandObjectSim, SimConfig

    g = np.asarray(grasps, dtype=np.float64)
    if g.ndim != 2 or g.shape[1] != 28:
        raise ValueError(f"grasps must be (N, 28), got {g.shape}")
    if len(object_ids) != len(g):
        raise ValueError(f"{len(object_ids)} object ids for {len(g)} grasps")
    tests = tuple(tests)
    for t in tests:
        if t not in TESTS:
            raise ValueError(f"unknown simulated test {t!r}; choose from {TESTS}")
    missing = sorted({o for o in object_ids if o not in objects})
    if missing:
        raise KeyError(f"no object geometry for {missing[:5]}{'...' if len(missing) > 5 else ''}")
    base = config or SimConfig()
    order: dict[str, list[int]] = {}
    for i, oid in enumerate(object_ids):
        order.setdefault(oid, []).append(i)
    out = {}
    for test in tests:
        cfg = replace(base, mode=test)
        all6, any6 = np.zeros(len(g), bool), np.zeros(len(g), bool)
        per_dir, pen = np.zeros((len(g), 6), bool), np.zeros(len(g))
        t0 = time.perf_counter()
        items = order.items()
        if progress:
            from tqdm import tqdm

            items = tqdm(items, desc=f"sim {test}", unit="object")
        for oid, rows in items:
            obj = objects[oid]
            assets = obj.mjcf_assets() if hasattr(obj, "mjcf_assets") else ""
            sim = HandObjectSim(obj.mjcf(), assets, mass=obj.mass, config=cfg)
            for i in rows:
                r = sim.test_grasp(g[i])
                all6[i], any6[i] = r.success, r.any_success
                per_dir[i], pen[i] = r.per_direction, r.penetration
        out[test] = SimulatedSuccess(test, all6, any6, per_dir, pen, time.perf_counter() - t0)
    return out


def perturb_grasps(
    grasps: np.ndarray,
    joint_std: float = 0.2,
    trans_std: float = 0.01,
    rot_std: float = 0.1,
    seed: int = 0,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """Gaussian noise on joints (rad), palm translation (m) and palm rotation (rad, random axis).

    Returns a perturbed copy of (N, 28) grasps; joints are clipped to ``[lower, upper]`` when given.
    """
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    g = np.array(grasps, dtype=np.float64, copy=True)
    n = len(g)
    g[:, 0:3] += rng.normal(0.0, trans_std, size=(n, 3))
    noise = Rotation.from_rotvec(rng.normal(0.0, rot_std, size=(n, 3)))
    g[:, 3:6] = (noise * Rotation.from_rotvec(g[:, 3:6])).as_rotvec()
    g[:, 6:] += rng.normal(0.0, joint_std, size=(n, 22))
    if lower is not None and upper is not None:
        g[:, 6:] = np.clip(g[:, 6:], lower, upper)
    return g
