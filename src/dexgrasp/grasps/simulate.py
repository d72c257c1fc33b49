"""Hand + object simulation core: place a grasp, squeeze, disturb, measure (MuJoCo, no torch).

One :class:`HandObjectSim` per object (the model is compiled once); grasps are set through
the mocap palm and the joint positions, so testing many grasps of one object is cheap.

The success test (DexGraspBench-style, :func:`HandObjectSim.test_grasp`):

1. **place**: palm at the grasp pose (mocap, kinematic), object at the origin of its frame;
   fingers start at a *pre-grasp* (each contact opened by ``pregrasp_depth`` along its
   normal, through the contact Jacobians) unless ``pregrasp_depth == 0``;
2. **grasp -> squeeze**: finger position targets ramp to the grasp and then to a *squeeze*
   pose (each contact pushed ``squeeze_depth`` into the object, same Jacobian rule);
3. **disturb**: from the squeezed state, an external force of ``force`` newtons is applied to
   the object's centre of mass along each of the 6 axis directions (or gravity along 6
   directions with ``mode="gravity"``), ``disturb_steps`` steps each, restarting from the same
   state. A direction passes when the object moves < 5 cm and turns < 15 degrees, measured from
   its pose after the squeeze (the squeeze itself may shift a well-held object a little).

The grasp fails outright when the hand penetrates the object by more than ``max_penetration``
(1 cm) at the grasp pose. ``success`` = all 6 directions pass; ``any_success`` also reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dexgrasp.grasps.conventions import GRASP_DIM, LINK_NAMES
from dexgrasp.grasps.hand import (
    BODY_TO_LINK,
    EXTRA_BODY_TO_LINK,
    MJCF_JOINT_NAMES,
    PALM_BODY,
    axis_angle_to_mat,
    hand_xml,
    mat_to_quat,
)

DIRECTIONS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)


@dataclass(frozen=True)
class SimConfig:
    """Settings of the simulated grasp test (SI units: s, m, N, rad)."""

    timestep: float = 0.002
    pregrasp_depth: float = 0.01  # m, fingers opened this much along contact normals first
    squeeze_depth: float = 0.01  # m, then pushed this much into the object
    close_steps: int = 60  # pre-grasp -> squeeze ramp
    settle_steps: int = 60  # hold before disturbing
    disturb_steps: int = 100  # per direction
    force: float | None = None  # N; None -> object mass * 9.81 (gravity-equivalent)
    mode: str = "force"  # "force" (external force) | "gravity" (gravity along the direction)
    max_translation: float = 0.05  # m
    max_rotation_deg: float = 15.0
    max_penetration: float = 0.01  # m
    max_joint_delta: float = 0.4  # rad, cap on the squeeze / pre-grasp offset of one joint

    def __post_init__(self) -> None:
        if not self.timestep > 0:
            raise ValueError(f"timestep: must be > 0, got {self.timestep}")
        for name in ("close_steps", "settle_steps", "disturb_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if self.mode not in ("force", "gravity"):
            raise ValueError(f"mode: expected 'force' or 'gravity', got {self.mode!r}")
        if self.force is not None and self.force < 0:
            raise ValueError(f"force: must be >= 0, got {self.force}")
        if self.pregrasp_depth < 0 or self.squeeze_depth < 0:
            raise ValueError("pregrasp_depth/squeeze_depth: must be >= 0")


@dataclass
class GraspTestResult:
    """Outcome of :meth:`HandObjectSim.test_grasp`."""

    success: bool  # all 6 directions held and penetration within the limit
    any_success: bool  # at least one direction held (DexGraspNet-style any-of-6)
    per_direction: np.ndarray  # (6,) bool
    translation: np.ndarray  # (6,) m, object displacement per direction
    rotation_deg: np.ndarray  # (6,) degrees
    penetration: float  # m, max hand-object penetration at the grasp pose
    contact_links: tuple[str, ...] = field(default_factory=tuple)  # links touching at the grasp


@dataclass(frozen=True)
class Contact:
    """One hand-object contact: world position, normal pointing from hand into object."""

    link: str
    pos: np.ndarray  # (3,) m
    normal: np.ndarray  # (3,) unit
    dist: float  # m, negative = penetration
    body: int  # hand body id


class HandObjectSim:
    """MuJoCo model of the free-floating Shadow Hand and one object.

    ``object_mjcf`` is a ``<body name="object">`` with a free joint (``GraspObject.mjcf()``);
    ``object_assets`` any meshes it needs. ``mass`` (kg) sets the default disturbance force.
    """

    def __init__(self, object_mjcf: str, object_assets: str = "", mass: float = 0.1,
                 config: SimConfig | None = None) -> None:  # fmt: skip
        import mujoco

        self.cfg = config or SimConfig()
        self.mass = float(mass)
        self.xml = hand_xml(object_assets, object_mjcf, timestep=self.cfg.timestep)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._mj = mujoco
        self.obj_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "object")
        if self.obj_body < 0:
            raise ValueError("object_mjcf: needs a body named 'object'")
        jnt = m.body_jntadr[self.obj_body]
        if jnt < 0 or m.jnt_type[jnt] != mujoco.mjtJoint.mjJNT_FREE:
            raise ValueError("object_mjcf: the object body needs a free joint")
        self.obj_qadr, self.obj_dadr = m.jnt_qposadr[jnt], m.jnt_dofadr[jnt]
        jids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in MJCF_JOINT_NAMES]
        self.hand_qadr = m.jnt_qposadr[jids]
        self.hand_dadr = m.jnt_dofadr[jids]
        self.lower, self.upper = m.jnt_range[jids, 0].copy(), m.jnt_range[jids, 1].copy()
        self.act_of_col = -np.ones(len(jids), dtype=int)  # column -> actuator (-1: J0, coupled)
        for a in range(m.nu):
            j = int(m.actuator_trnid[a, 0])
            if j in jids:
                self.act_of_col[jids.index(j)] = a
        self.palm_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, PALM_BODY)
        self.mocap = m.body_mocapid[self.palm_body]
        hand_bodies = set(range(self.palm_body, self.palm_body + 64)) & set(range(m.nbody))
        self.link_of_body = {}
        for b in hand_bodies:
            name = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b)
            link = BODY_TO_LINK.get(name) or EXTRA_BODY_TO_LINK.get(name)
            if link:
                self.link_of_body[b] = link
        self.obj_geoms = {g for g in range(m.ngeom) if self._is_object_body(m.geom_bodyid[g])}
        self.hand_geoms = {g for g in range(m.ngeom) if m.geom_bodyid[g] in self.link_of_body}

    def _is_object_body(self, b: int) -> bool:
        while b > 0:
            if b == self.obj_body:
                return True
            b = self.model.body_parentid[b]
        return False

    @classmethod
    def from_object(cls, obj, config: SimConfig | None = None) -> HandObjectSim:
        """Build from a :class:`dexgrasp.grasps.objects.GraspObject`."""
        return cls(obj.mjcf(), mass=obj.mass, config=config)

    # ---- state -------------------------------------------------------------------------------
    def set_grasp(self, grasp: np.ndarray) -> None:
        """Place the hand at a (28,) grasp (object frame = world), object at rest at the origin."""
        g = np.asarray(grasp, dtype=np.float64)
        if g.shape != (GRASP_DIM,) or not np.all(np.isfinite(g)):
            raise ValueError(f"grasp: expected finite ({GRASP_DIM},), got shape {g.shape}")
        mj, m, d = self._mj, self.model, self.data
        mj.mj_resetData(m, d)
        d.mocap_pos[self.mocap] = g[0:3]
        d.mocap_quat[self.mocap] = mat_to_quat(axis_angle_to_mat(g[3:6]))
        d.qpos[self.hand_qadr] = g[6:]
        d.qpos[self.obj_qadr : self.obj_qadr + 7] = [0, 0, 0, 1, 0, 0, 0]
        self.set_targets(g[6:])
        mj.mj_forward(m, d)

    def set_targets(self, q: np.ndarray) -> None:
        """Position targets (22,) rad for the actuated joints (J0 targets are ignored)."""
        a = self.act_of_col >= 0
        self.data.ctrl[self.act_of_col[a]] = np.clip(q[a], self.lower[a], self.upper[a])

    def hand_q(self) -> np.ndarray:
        return self.data.qpos[self.hand_qadr].copy()

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Object position (3,) m and rotation (3, 3) in the world (= initial object frame)."""
        b = self.obj_body
        return self.data.xpos[b].copy(), self.data.xmat[b].reshape(3, 3).copy()

    def pin_object(self, pinned: bool) -> None:
        """Make the object 10^4 times heavier (pinned) or restore it; for closing fingers."""
        b = self.obj_body
        if not hasattr(self, "_mass0"):
            self._mass0 = (self.model.body_mass[b], self.model.body_inertia[b].copy())
        scale = 1e4 if pinned else 1.0
        self.model.body_mass[b] = self._mass0[0] * scale
        self.model.body_inertia[b] = self._mass0[1] * scale

    def hold_object(self) -> None:
        """Pin the object at the origin (used while fingers close during synthesis)."""
        self.data.qpos[self.obj_qadr : self.obj_qadr + 7] = [0, 0, 0, 1, 0, 0, 0]
        self.data.qvel[self.obj_dadr : self.obj_dadr + 6] = 0

    def step(self, n: int = 1, hold: bool = False) -> None:
        mj, m, d = self._mj, self.model, self.data
        for _ in range(n):
            if hold:
                self.hold_object()
            mj.mj_step(m, d)
        if hold:
            self.hold_object()
            mj.mj_forward(m, d)

    # ---- contacts ----------------------------------------------------------------------------
    def contacts(self, max_dist: float = 0.0) -> list[Contact]:
        """Hand-object contacts with distance <= ``max_dist`` m at the current positions.

        With ``max_dist > 0`` the object geoms' collision margin is raised just for this query
        (positions are recomputed), so near-contacts are found without changing the physics.
        """
        m, d = self.model, self.data
        if max_dist > 0:
            geoms = np.fromiter(self.obj_geoms, dtype=int)
            margin = m.geom_margin[geoms].copy()
            m.geom_margin[geoms] = max_dist
            self._mj.mj_fwdPosition(m, d)
            try:
                return self._read_contacts(max_dist)
            finally:
                m.geom_margin[geoms] = margin
                self._mj.mj_fwdPosition(m, d)
        return self._read_contacts(max_dist)

    def _read_contacts(self, max_dist: float) -> list[Contact]:
        m, d = self.model, self.data
        out = []
        for i in range(d.ncon):
            c = d.contact[i]
            g1, g2 = int(c.geom[0]), int(c.geom[1])
            if g1 in self.hand_geoms and g2 in self.obj_geoms:
                hand_g, sign = g1, 1.0  # MuJoCo's normal points from geom1 to geom2
            elif g2 in self.hand_geoms and g1 in self.obj_geoms:
                hand_g, sign = g2, -1.0
            else:
                continue
            if c.dist > max_dist:
                continue
            body = int(m.geom_bodyid[hand_g])
            normal = sign * np.array(c.frame[:3])
            out.append(
                Contact(self.link_of_body[body], np.array(c.pos), normal, float(c.dist), body)
            )
        return out

    def penetration(self) -> float:
        """Max hand-object penetration depth (m, >= 0) at the current state."""
        depths = [-c.dist for c in self.contacts(max_dist=0.0)]
        return max(depths, default=0.0)

    def contact_offset(self, depth: float, contacts: list[Contact] | None = None) -> np.ndarray:
        """(22,) joint offset moving every contact ``depth`` m along its normal (into the object).

        Least-norm per contact through the translational Jacobian, averaged per link, capped at
        ``max_joint_delta`` rad per joint. Negative ``depth`` opens the hand.
        """
        mj, m, d = self._mj, self.model, self.data
        contacts = self.contacts(max_dist=0.002) if contacts is None else contacts
        per_link: dict[str, list[np.ndarray]] = {}
        jacp = np.zeros((3, m.nv))
        for c in contacts:
            mj.mj_jac(m, d, jacp, None, c.pos, c.body)
            jn = jacp[:, self.hand_dadr].T @ c.normal  # (22,) m/rad
            nn = float(jn @ jn)
            if nn < 1e-10:
                continue
            per_link.setdefault(c.link, []).append(jn * depth / nn)
        if not per_link:
            return np.zeros(len(self.hand_qadr))
        dq = np.sum([np.mean(v, axis=0) for v in per_link.values()], axis=0)
        cap = self.cfg.max_joint_delta
        return np.clip(dq, -cap, cap)

    # ---- the success test --------------------------------------------------------------------
    def test_grasp(self, grasp: np.ndarray, config: SimConfig | None = None,
                   stop_on_fail: bool = False) -> GraspTestResult:  # fmt: skip
        """Run the place -> squeeze -> disturb test on one (28,) grasp (see module docstring).

        ``stop_on_fail`` skips the remaining directions after the first failure (faster when
        only ``success`` matters; ``per_direction`` is then False for the skipped ones).
        """
        cfg = config or self.cfg
        mj, m, d = self._mj, self.model, self.data
        g = np.asarray(grasp, dtype=np.float64)
        self.set_grasp(g)
        contacts = self.contacts(max_dist=0.002)
        links = tuple(sorted({c.link for c in contacts}, key=LINK_NAMES.index))
        pen = self.penetration()
        if pen > cfg.max_penetration:
            z = np.zeros(6)
            return GraspTestResult(False, False, np.zeros(6, bool), z, z, pen, links)
        q_grasp = g[6:]
        q_squeeze = np.clip(q_grasp + self.contact_offset(cfg.squeeze_depth, contacts),
                            self.lower, self.upper)  # fmt: skip
        if cfg.pregrasp_depth > 0:
            q_pre = np.clip(q_grasp + self.contact_offset(-cfg.pregrasp_depth, contacts),
                            self.lower, self.upper)  # fmt: skip
            d.qpos[self.hand_qadr] = q_pre
            mj.mj_forward(m, d)
        else:
            q_pre = q_grasp
        n = max(cfg.close_steps, 1)
        for i in range(n):
            t = (i + 1) / n
            target = q_pre + (q_squeeze - q_pre) * min(1.0, 2 * t) if t <= 0.5 else q_squeeze
            self.set_targets(target)
            mj.mj_step(m, d)
        self.step(cfg.settle_steps)
        start = mj.MjData(m)
        mj.mj_copyData(start, m, d)
        pos0, mat0 = self.object_pose()  # displacements are measured from the squeezed pose
        force = self.mass * 9.81 if cfg.force is None else cfg.force
        ok, trans, rot = np.zeros(6, bool), np.zeros(6), np.zeros(6)
        gravity0 = m.opt.gravity.copy()
        for k, direction in enumerate(DIRECTIONS):
            mj.mj_copyData(d, m, start)
            if cfg.mode == "force":
                d.xfrc_applied[self.obj_body, :3] = direction * force
            else:
                m.opt.gravity[:] = direction * 9.81
            for _ in range(cfg.disturb_steps):
                mj.mj_step(m, d)
            d.xfrc_applied[self.obj_body] = 0
            m.opt.gravity[:] = gravity0
            pos, mat = self.object_pose()
            trans[k] = np.linalg.norm(pos - pos0)
            rot[k] = np.degrees(np.arccos(np.clip((np.trace(mat0.T @ mat) - 1) / 2, -1, 1)))
            ok[k] = trans[k] < cfg.max_translation and rot[k] < cfg.max_rotation_deg
            if not np.all(np.isfinite(d.qpos)):
                ok[k] = False
            if stop_on_fail and not ok[k]:
                break
        return GraspTestResult(bool(ok.all()), bool(ok.any()), ok, trans, rot, pen, links)
