"""The OpenAI Shadow Hand as a free-floating hand: model, grasp vector, kinematics, surface points.

The MJCF and meshes are read from the installed ``gymnasium-robotics`` package (assets under
Apache-2.0), never copied. What is changed (see ``docs/shadow_hand.md``):

* the fixed mount, the forearm and the wrist (WRJ1, WRJ0) are removed; the palm body becomes a
  **mocap body** (kinematic, 6-DoF pose set from the grasp vector);
* wrist tendons, wrist actuators and all sensors are dropped; the 20 finger actuators, the
  finger tendons (including the J1/J0 coupling tendons) and the hand-internal contact pairs
  are kept unchanged.

Palm frame (the frame the 28-D grasp vector places in the object frame) is the MuJoCo body
frame of ``robot0:palm``: origin at the wrist end of the palm (where WRJ0 was), ``+z`` from the
wrist towards the fingertips, ``-y`` the palmar direction (the side the palm faces and the
fingers curl to), ``+x`` towards the thumb / first finger (radial side). Units: metres.

Grasp vector (``conventions``): ``[0:3]`` palm origin in the object frame (m), ``[3:6]`` palm
rotation as axis-angle (rad), ``[6:28]`` the 22 joints in ``SHADOW_JOINT_NAMES`` order. In this
model each J0 (distal) is coupled to J1 (middle) by a tendon (J0 ~= 1.14 J1); both stay explicit
dimensions and simulation keeps them consistent.
"""

from __future__ import annotations

import functools
import importlib.util
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexgrasp.grasps.conventions import GRASP_DIM, LINK_NAMES, SHADOW_JOINT_NAMES

PREFIX = "robot0:"
PALM_BODY = PREFIX + "palm"
MJCF_JOINT_NAMES = tuple(PREFIX + name for name in SHADOW_JOINT_NAMES)
# DextER link name -> MuJoCo body name (``rh_ffdistal`` -> ``robot0:ffdistal``).
LINK_TO_BODY = {name: PREFIX + name.removeprefix("rh_") for name in LINK_NAMES}
BODY_TO_LINK = {body: link for link, body in LINK_TO_BODY.items()}
# Bodies without their own link token carry contacts for their parent link.
EXTRA_BODY_TO_LINK = {
    PREFIX + "ffknuckle": "rh_ffproximal",
    PREFIX + "mfknuckle": "rh_mfproximal",
    PREFIX + "rfknuckle": "rh_rfproximal",
    PREFIX + "lfknuckle": "rh_lfproximal",
    PREFIX + "thhub": "rh_thmiddle",
}
FINGER_OF_LINK = {
    link: ("palm" if "palm" in link else {"ff": "index", "mf": "middle", "rf": "ring",
                                           "lf": "little", "th": "thumb"}[link[3:5]])
    for link in LINK_NAMES
}  # fmt: skip


def gymnasium_robotics_assets() -> Path:
    """Path of ``gymnasium_robotics/envs/assets`` without importing the package (slow, noisy)."""
    spec = importlib.util.find_spec("gymnasium_robotics")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the Shadow Hand model ships with gymnasium-robotics: pip install 'dexgrasp[dexter]'"
        )
    assets = Path(next(iter(spec.submodule_search_locations))) / "envs" / "assets"
    if not (assets / "hand" / "robot.xml").is_file():
        raise FileNotFoundError(f"no Shadow Hand model at {assets / 'hand' / 'robot.xml'}")
    return assets


def _strip_user(elem: ET.Element) -> None:
    for node in elem.iter():
        node.attrib.pop("user", None)


@functools.cache
def hand_mjcf_parts() -> tuple[str, str, str]:
    """MJCF fragments of the free-floating hand: ``(default_and_physics, assets, palm_body)``.

    ``default_and_physics`` holds ``<default>``, ``<contact>``, ``<tendon>``, ``<actuator>``;
    ``assets`` holds meshes and materials (absolute mesh paths); ``palm_body`` is the mocap
    ``robot0:palm`` body with all fingers. Compose them with :func:`hand_xml`.
    """
    assets = gymnasium_robotics_assets()
    shared = ET.parse(assets / "hand" / "shared.xml").getroot()
    shared_asset = ET.parse(assets / "hand" / "shared_asset.xml").getroot()
    robot = ET.parse(assets / "hand" / "robot.xml").getroot()
    for root in (shared, shared_asset, robot):
        _strip_user(root)

    physics = []
    for tag in ("default", "contact", "tendon", "actuator"):
        section = shared.find(tag)
        if section is None:
            raise ValueError(f"shared.xml: missing <{tag}>")
        for child in list(section):  # drop everything that referred to the removed wrist
            if "WRJ" in ET.tostring(child, encoding="unicode"):
                section.remove(child)
        physics.append(ET.tostring(section, encoding="unicode"))

    mesh_dir = assets / "stls" / "hand"
    asset_items = []
    for child in shared_asset:
        if child.tag == "mesh":
            child.set("file", str(mesh_dir / child.get("file", "")))
            asset_items.append(ET.tostring(child, encoding="unicode"))
        elif child.tag == "material" and child.get("name", "").startswith(PREFIX):
            child.attrib.pop("texture", None)
            asset_items.append(ET.tostring(child, encoding="unicode"))

    palm = next((b for b in robot.iter("body") if b.get("name") == PALM_BODY), None)
    if palm is None:
        raise ValueError(f"robot.xml: no body {PALM_BODY}")
    for joint in palm.findall("joint"):  # WRJ0 lived on the palm
        palm.remove(joint)
    palm.set("pos", "0 0 0")
    palm.set("mocap", "true")
    palm.set("childclass", PREFIX + "asset_class")
    return "\n".join(physics), "\n".join(asset_items), ET.tostring(palm, encoding="unicode")


def hand_xml(
    object_assets: str = "",
    object_bodies: str = "",
    timestep: float = 0.002,
    gravity: tuple[float, float, float] = (0.0, 0.0, 0.0),
    extra_worldbody: str = "",
) -> str:
    """A complete MJCF of the hand, optionally with object assets/bodies spliced in.

    Gravity is off by default (grasp tests apply their own forces).
    """
    physics, assets, palm = hand_mjcf_parts()
    g = " ".join(f"{v:g}" for v in gravity)
    return f"""<mujoco model="shadow_hand_free">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep:g}" gravity="{g}" cone="elliptic" impratio="5" integrator="implicitfast"/>
  <size memory="20M"/>
  <visual><global offwidth="1280" offheight="960"/><quality shadowsize="0"/></visual>
  {physics}
  <asset>
    {assets}
    {object_assets}
  </asset>
  <worldbody>
    <light name="key" directional="true" pos="0 0 2" dir="0 0 -1" diffuse="0.7 0.7 0.7" castshadow="false"/>
    <light name="fill" directional="true" pos="1 1 1" dir="-1 -1 -1" diffuse="0.3 0.3 0.3" castshadow="false"/>
    {palm}
    {object_bodies}
    {extra_worldbody}
  </worldbody>
</mujoco>"""


def hand_spec(object_bodies: str = "", object_assets: str = "", **kwargs):
    """``mujoco.MjSpec`` of the hand (+ optional object MJCF) for users who edit models in code.

    ``kwargs`` go to :func:`hand_xml` (``timestep``, ``gravity``, ``extra_worldbody``).
    """
    import mujoco

    return mujoco.MjSpec.from_string(hand_xml(object_assets, object_bodies, **kwargs))


@dataclass(frozen=True)
class _Chain:
    """Kinematic tree of the hand in MuJoCo body order (body 0 = world, 1 = palm)."""

    parent: np.ndarray  # (nb,) int
    pos: np.ndarray  # (nb, 3) body offset in the parent frame, m
    quat: np.ndarray  # (nb, 4) body rotation in the parent frame, wxyz
    joint_axis: np.ndarray  # (nb, 3) hinge axis in the body frame (zeros: no joint)
    joint_col: np.ndarray  # (nb,) column of the hinge in the 22-joint vector (-1: none)
    names: tuple[str, ...]


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz unit quaternions -> (..., 3, 3) rotation matrices."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def axis_angle_to_mat(v: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle (rad) -> (..., 3, 3) rotation matrices (Rodrigues)."""
    v = np.asarray(v, dtype=np.float64)
    theta = np.linalg.norm(v, axis=-1, keepdims=True)
    axis = v / np.maximum(theta, 1e-12)
    x, y, z = np.moveaxis(axis, -1, 0)
    zero = np.zeros_like(x)
    k = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1),
                  np.stack([-y, x, zero], -1)], -2)  # fmt: skip
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1 - c) * (k @ k)


def mat_to_axis_angle(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle (rad), angle in [0, pi]."""
    from scipy.spatial.transform import Rotation

    m = np.asarray(m, dtype=np.float64)
    flat = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_rotvec()
    return flat.reshape(m.shape[:-2] + (3,))


def mat_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) wxyz quaternions."""
    from scipy.spatial.transform import Rotation

    m = np.asarray(m, dtype=np.float64)
    xyzw = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_quat()
    return np.roll(xyzw, 1, axis=-1).reshape(m.shape[:-2] + (4,))


class ShadowHand:
    """The free-floating OpenAI Shadow Hand: limits, forward kinematics, surface points.

    >>> hand = ShadowHand()
    >>> g = hand.default_grasp()                 # (28,) open hand at the object origin
    >>> poses = hand.forward_kinematics(g[None])  # {"rh_ffdistal": (1, 4, 4), ...}
    >>> pts = hand.surface_points(g[None])        # (1, N, 3) in the object frame
    """

    def __init__(self, points_per_link: int = 128, seed: int = 0) -> None:
        import mujoco

        self.xml = hand_xml()
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        m = self.model
        jids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in MJCF_JOINT_NAMES]
        if min(jids) < 0:
            raise ValueError("the hand model lacks some of SHADOW_JOINT_NAMES")
        self.joint_ids = np.asarray(jids)
        self.qpos_adr = m.jnt_qposadr[self.joint_ids]
        self.lower = m.jnt_range[self.joint_ids, 0].copy()  # (22,) rad
        self.upper = m.jnt_range[self.joint_ids, 1].copy()  # (22,) rad
        self.actuator_joint = {
            int(m.actuator_trnid[a, 0]): a for a in range(m.nu)
        }  # joint id -> actuator id (J0 joints have none: tendon-coupled)
        col_of_joint = {int(j): i for i, j in enumerate(self.joint_ids)}
        names = tuple(mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) or "world"
                      for b in range(m.nbody))  # fmt: skip
        axis = np.zeros((m.nbody, 3))
        col = -np.ones(m.nbody, dtype=int)
        for b in range(m.nbody):
            if m.body_jntnum[b] > 1:
                raise ValueError(f"body {names[b]} has {m.body_jntnum[b]} joints; expected <= 1")
            if m.body_jntnum[b] == 1:
                j = m.body_jntadr[b]
                if np.any(m.jnt_pos[j] != 0):
                    raise ValueError(f"joint of {names[b]} is not at the body origin")
                axis[b] = m.jnt_axis[j]
                col[b] = col_of_joint[j]
        self.chain = _Chain(m.body_parentid.copy(), m.body_pos.copy(), m.body_quat.copy(),
                            axis, col, names)  # fmt: skip
        self.body_index = {n: i for i, n in enumerate(names)}
        self.link_body_ids = np.array([self.body_index[LINK_TO_BODY[n]] for n in LINK_NAMES])
        self._link_points, self._link_point_ids = self._sample_link_points(points_per_link, seed)

    # ---- grasp vector helpers -------------------------------------------------------------
    @property
    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)``, each (22,) radians, from the MJCF."""
        return self.lower, self.upper

    def default_grasp(self) -> np.ndarray:
        """(28,) float64: identity palm pose at the origin, all joints at 0 clipped to limits."""
        g = np.zeros(GRASP_DIM)
        g[6:] = np.clip(0.0, self.lower, self.upper)
        return g

    def clip_joints(self, grasp: np.ndarray) -> np.ndarray:
        """Copy of (..., 28) grasps with joints clipped to the MJCF limits."""
        out = np.array(grasp, dtype=np.float64, copy=True)
        out[..., 6:] = np.clip(out[..., 6:], self.lower, self.upper)
        return out

    # ---- kinematics ----------------------------------------------------------------------
    def body_poses(self, grasps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Poses of every body of the hand model for (B, 28) grasps.

        Returns ``(pos (B, nbody, 3) m, rot (B, nbody, 3, 3))`` in the object frame; body order
        is MuJoCo's (``self.chain.names``), body 0 is the world.
        """
        g = np.atleast_2d(np.asarray(grasps, dtype=np.float64))
        if g.shape[-1] != GRASP_DIM:
            raise ValueError(f"grasps: expected (B, {GRASP_DIM}), got {g.shape}")
        c = self.chain
        nb, bsz = len(c.names), g.shape[0]
        pos = np.zeros((bsz, nb, 3))
        rot = np.broadcast_to(np.eye(3), (bsz, nb, 3, 3)).copy()
        local_rot = quat_to_mat(c.quat)  # (nb, 3, 3)
        for b in range(1, nb):
            p = c.parent[b]
            if b == 1 or p == 0:  # the palm (mocap root) takes the grasp pose
                pos[:, b] = g[:, 0:3]
                rot[:, b] = axis_angle_to_mat(g[:, 3:6])
                continue
            r = rot[:, p] @ local_rot[b]
            pos[:, b] = pos[:, p] + np.einsum("bij,j->bi", rot[:, p], c.pos[b])
            if c.joint_col[b] >= 0:
                r = r @ axis_angle_to_mat(c.joint_axis[b] * g[:, 6 + c.joint_col[b], None])
            rot[:, b] = r
        return pos, rot

    def forward_kinematics(self, grasps: np.ndarray) -> dict[str, np.ndarray]:
        """Link poses for (B, 28) grasps: ``{link_name: (B, 4, 4)}`` homogeneous, object frame."""
        pos, rot = self.body_poses(grasps)
        out = {}
        for name, b in zip(LINK_NAMES, self.link_body_ids):
            t = np.zeros((pos.shape[0], 4, 4))
            t[:, :3, :3] = rot[:, b]
            t[:, :3, 3] = pos[:, b]
            t[:, 3, 3] = 1.0
            out[name] = t
        return out

    # ---- surface points ------------------------------------------------------------------
    def _sample_link_points(self, per_link: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Fixed points on the visual meshes (collision geoms where a link has no mesh)."""
        import trimesh

        m = self.model
        rng = np.random.default_rng(seed)
        pts, ids = [], []
        for li, body in enumerate(self.link_body_ids):
            meshes = []
            for gid in range(m.ngeom):
                if m.geom_bodyid[gid] != body:
                    continue
                tm = _geom_trimesh(m, gid, trimesh)
                if tm is not None:
                    meshes.append((m.geom_type[gid] == 7, tm))  # 7 = mjGEOM_MESH
            vis = [tm for is_mesh, tm in meshes if is_mesh]
            use = vis or [tm for _, tm in meshes]
            if not use:
                continue
            mesh = trimesh.util.concatenate(use)
            area_weights = mesh.area_faces / mesh.area_faces.sum()
            face = rng.choice(len(mesh.faces), size=per_link, p=area_weights)
            uv = rng.random((per_link, 2))
            flip = uv.sum(1) > 1
            uv[flip] = 1 - uv[flip]
            tri = mesh.triangles[face]
            p = (
                tri[:, 0]
                + uv[:, :1] * (tri[:, 1] - tri[:, 0])
                + uv[:, 1:] * (tri[:, 2] - tri[:, 0])
            )
            pts.append(p)
            ids.append(np.full(per_link, li))
        return np.concatenate(pts).astype(np.float64), np.concatenate(ids)

    @property
    def surface_point_links(self) -> np.ndarray:
        """(N,) int: index into ``LINK_NAMES`` of each surface point (fixed for a seed)."""
        return self._link_point_ids

    def surface_points(self, grasps: np.ndarray) -> np.ndarray:
        """Hand surface points for (B, 28) grasps -> (B, N, 3) float64, object frame, metres.

        The per-link sample is fixed at construction (same seed, same points), so Chamfer
        distances between grasps are comparable.
        """
        pos, rot = self.body_poses(grasps)
        b = self.link_body_ids[self._link_point_ids]  # (N,)
        return np.einsum("bnij,nj->bni", rot[:, b], self._link_points) + pos[:, b]


def _geom_trimesh(m, gid: int, trimesh):
    """The geom ``gid`` of model ``m`` as a trimesh in its body frame (None for tiny boxes)."""
    gtype, size = int(m.geom_type[gid]), m.geom_size[gid]
    if gtype == 7:  # mesh
        mid = m.geom_dataid[gid]
        va, vn = m.mesh_vertadr[mid], m.mesh_vertnum[mid]
        fa, fn = m.mesh_faceadr[mid], m.mesh_facenum[mid]
        tm = trimesh.Trimesh(m.mesh_vert[va : va + vn].copy(), m.mesh_face[fa : fa + fn].copy(),
                             process=False)  # fmt: skip
    elif gtype == 3:  # capsule
        tm = trimesh.creation.capsule(height=2 * size[1], radius=size[0], count=[12, 12])
    elif gtype == 6:  # box
        if size.max() < 0.002:
            return None
        tm = trimesh.creation.box(extents=2 * size[:3])
    else:
        return None
    t = np.eye(4)
    t[:3, :3] = quat_to_mat(m.geom_quat[gid])
    t[:3, 3] = m.geom_pos[gid]
    tm.apply_transform(t)
    return tm


@functools.cache
def shadow_hand() -> ShadowHand:
    """A shared :class:`ShadowHand` (128 points per link, seed 0)."""
    return ShadowHand()
