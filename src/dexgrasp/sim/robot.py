"""The simulated robot: a 7-DoF arm with a 6-DoF linkage hand, built procedurally in MjSpec.

It mirrors the DexGraspVLA platform (a 7-DoF arm and the PsiBot G0-R hand): 13 position
actuators named after :data:`dexgrasp.constants.JOINT_NAMES`, driven at 20 Hz with absolute
joint targets in radians.

Arm: an S-R-S (spherical shoulder, revolute elbow, spherical wrist) chain with joint axes
z-y-z-y-z-y-z; all joints zero = arm pointing straight up. Hand: palm 9 cm wide, four
three-link fingers and a two-link thumb. Every finger is one actuated joint (the MCP) with
the other links slaved to it by joint equality constraints, like a linkage hand. The thumb
has a rotation joint (swings it from beside the palm to opposite the fingers) and a flexion
joint (two links, coupled).

Hand frame (body ``hand``): +z along the fingers, +x out of the palm (the palm normal),
thumb on the -y side. The ``palm`` site sits at the grasp centre in front of the palm with
the same axes. The ``wrist`` camera on the back of the wrist looks at the grasp centre.

Usage::

    spec = mujoco.MjSpec()
    ...  # floor, table, objects
    add_robot(spec)
    model = spec.compile()
"""

from __future__ import annotations

import functools

import mujoco
import numpy as np

from dexgrasp.constants import ARM_DIM, ARM_JOINT_NAMES, HAND_JOINT_NAMES, JOINT_NAMES
from dexgrasp.sim import layout

# ---------------------------------------------------------------------------------------------
# Dimensions (metres)
SHOULDER_HEIGHT = 0.30  # base -> shoulder (joint 2)
UPPER_ARM = 0.45  # shoulder -> elbow (joint 4)
FOREARM = 0.42  # elbow -> wrist (joint 6)
WRIST_TO_FLANGE = 0.07  # wrist centre -> hand mount
PALM_HALF = (0.014, 0.045, 0.05)  # palm box half-sizes along hand x (thickness), y, z
PALM_BASE_Z = 0.012  # connector between flange and palm
FINGER_RADIUS = 0.0095
# (y offset, proximal, middle, distal) for index, middle, ring, little
FINGERS = {
    "index": (-0.030, 0.044, 0.027, 0.022),
    "middle": (-0.010, 0.048, 0.030, 0.023),
    "ring": (0.010, 0.045, 0.028, 0.022),
    "little": (0.030, 0.038, 0.023, 0.020),
}
FINGER_COUPLING = (0.65, 0.45)  # PIP = 0.65 * MCP, DIP = 0.45 * MCP (rigid linkage)
THUMB_LINKS = (0.045, 0.035)  # proximal, distal
THUMB_BASE_Z = 0.04  # thumb rotation axis above the palm's lower edge
THUMB_COUPLING = 0.6  # distal = 0.6 * flexion
GRASP_CENTER = (0.045, 0.0, 0.10)  # palm site in the hand frame

# Joint limits (radians), in JOINT_NAMES order.
_LIMITS = np.array(
    [
        [-2.90, 2.90],  # arm_joint1 base yaw
        [-2.00, 2.00],  # arm_joint2 shoulder pitch
        [-2.90, 2.90],  # arm_joint3 upper-arm roll
        [-2.80, 2.80],  # arm_joint4 elbow
        [-2.90, 2.90],  # arm_joint5 forearm roll
        [-2.60, 2.60],  # arm_joint6 wrist pitch
        [-3.05, 3.05],  # arm_joint7 wrist roll
        [0.00, 1.60],  # thumb_rotation
        [0.00, 1.10],  # thumb_flexion
        [0.00, 1.50],  # index
        [0.00, 1.50],  # middle
        [0.00, 1.50],  # ring
        [0.00, 1.50],  # little
    ]
)
# Position-servo gains (N m / rad), velocity gains (N m s / rad) and torque limits (N m).
ARM_KP = np.array([2000.0, 2000.0, 1200.0, 1200.0, 400.0, 400.0, 200.0])
ARM_FORCE = np.array([300.0, 300.0, 200.0, 200.0, 60.0, 60.0, 30.0])
ARM_DAMPRATIO = 1.0
# Hand, in HAND_JOINT_NAMES order. The thumb's flexion is as strong as the four fingers
# together, so a pinch is balanced and does not push the object past the thumb.
HAND_KP = np.array([8.0, 10.0, 5.0, 5.0, 5.0, 5.0])
HAND_KV = np.array([0.2, 0.2, 0.12, 0.12, 0.12, 0.12])
HAND_FORCE = np.array([2.5, 4.0, 1.2, 1.2, 1.2, 1.2])

# Hand targets (thumb_rotation, thumb_flexion, index, middle, ring, little).
HAND_OPEN = np.array([1.30, 0.0, 0.0, 0.0, 0.0, 0.0])
HAND_CLOSED = np.array([1.30, 1.10, 1.50, 1.50, 1.50, 1.50])

ROBOT_COLOR = (0.82, 0.84, 0.87, 1.0)
JOINT_COLOR = (0.25, 0.27, 0.30, 1.0)
HAND_COLOR = (0.20, 0.22, 0.25, 1.0)
PAD_COLOR = (0.10, 0.10, 0.10, 1.0)
# Fingertip and pad contacts: torsional friction (condim 4) and a stiff-but-damped solref.
PAD_FRICTION = (1.5, 0.02, 0.0001)
PAD_SOLREF = (0.005, 1.0)
PAD_SOLIMP = (0.95, 0.99, 0.001, 0.5, 2.0)

WRIST_CAMERA = "wrist"
PALM_SITE = "palm"
HAND_BODY = "hand"
PEDESTAL_GEOM = "robot_pedestal"


def joint_limits() -> np.ndarray:
    """(13, 2) lower/upper limits of the actuated joints in JOINT_NAMES order, radians."""
    return _LIMITS.copy()


def _quat_from_matrix(mat: np.ndarray) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.asarray(mat, dtype=float).reshape(9))
    return quat


def _hinge(
    body: mujoco.MjsBody, name: str, axis, lo: float, hi: float, damping: float, armature: float
):
    return body.add_joint(
        name=name,
        type=mujoco.mjtJoint.mjJNT_HINGE,
        axis=list(axis),
        range=[lo, hi],
        limited=mujoco.mjtLimited.mjLIMITED_TRUE,
        damping=damping,
        armature=armature,
    )


def _capsule(body: mujoco.MjsBody, p0, p1, radius: float, rgba, name: str = "", **kw):
    return body.add_geom(
        name=name,
        type=mujoco.mjtGeom.mjGEOM_CAPSULE,
        fromto=[*p0, *p1],
        size=[radius, 0, 0],
        rgba=list(rgba),
        **kw,
    )


def _pad_kw() -> dict:
    return dict(
        condim=4,
        friction=list(PAD_FRICTION),
        solref=list(PAD_SOLREF),
        solimp=list(PAD_SOLIMP),
        priority=1,
    )


def _add_arm(base: mujoco.MjsBody) -> mujoco.MjsBody:
    """Seven links from the base to the flange; returns the flange body (after joint 7)."""
    lim = _LIMITS
    # Joint 1 at the base (yaw), the shoulder housing rises to the shoulder height.
    l1 = base.add_body(name="arm_link1", pos=[0, 0, 0.02])
    _hinge(l1, "arm_joint1", (0, 0, 1), *lim[0], damping=5.0, armature=0.5)
    _capsule(l1, (0, 0, 0.07), (0, 0, SHOULDER_HEIGHT - 0.08), 0.065, ROBOT_COLOR)
    l2 = l1.add_body(name="arm_link2", pos=[0, 0, SHOULDER_HEIGHT - 0.02])
    _hinge(l2, "arm_joint2", (0, 1, 0), *lim[1], damping=5.0, armature=0.5)
    _capsule(l2, (0, -0.06, 0), (0, 0.06, 0), 0.06, JOINT_COLOR)
    l3 = l2.add_body(name="arm_link3", pos=[0, 0, 0])
    _hinge(l3, "arm_joint3", (0, 0, 1), *lim[2], damping=3.0, armature=0.3)
    _capsule(l3, (0, 0, 0.08), (0, 0, UPPER_ARM - 0.07), 0.05, ROBOT_COLOR)
    l4 = l3.add_body(name="arm_link4", pos=[0, 0, UPPER_ARM])
    _hinge(l4, "arm_joint4", (0, 1, 0), *lim[3], damping=3.0, armature=0.3)
    _capsule(l4, (0, -0.05, 0), (0, 0.05, 0), 0.05, JOINT_COLOR)
    l5 = l4.add_body(name="arm_link5", pos=[0, 0, 0])
    _hinge(l5, "arm_joint5", (0, 0, 1), *lim[4], damping=1.0, armature=0.1)
    _capsule(l5, (0, 0, 0.07), (0, 0, FOREARM - 0.06), 0.042, ROBOT_COLOR)
    l6 = l5.add_body(name="arm_link6", pos=[0, 0, FOREARM])
    _hinge(l6, "arm_joint6", (0, 1, 0), *lim[5], damping=1.0, armature=0.1)
    _capsule(l6, (0, -0.04, 0), (0, 0.04, 0), 0.04, JOINT_COLOR)
    l7 = l6.add_body(name="arm_link7", pos=[0, 0, 0])
    _hinge(l7, "arm_joint7", (0, 0, 1), *lim[6], damping=0.5, armature=0.05)
    _capsule(l7, (0, 0, 0.03), (0, 0, WRIST_TO_FLANGE - 0.01), 0.035, ROBOT_COLOR)
    return l7


def _add_finger(hand: mujoco.MjsBody, name: str, y: float, lengths) -> None:
    """Three-link finger rooted at the top of the palm, flexing towards the palm normal (+x)."""
    lo, hi = _LIMITS[JOINT_NAMES.index(name)]
    proximal, middle, distal = lengths
    top = PALM_BASE_Z + 2 * PALM_HALF[2]
    r = FINGER_RADIUS * (0.9 if name == "little" else 1.0)
    b1 = hand.add_body(name=f"{name}_proximal", pos=[0.0, y, top])
    _hinge(b1, name, (0, 1, 0), lo, hi, damping=0.02, armature=0.001)
    _capsule(b1, (0, 0, 0), (0, 0, proximal), r, HAND_COLOR, **_pad_kw())
    b2 = b1.add_body(name=f"{name}_middle", pos=[0, 0, proximal])
    _hinge(b2, f"{name}_pip", (0, 1, 0), lo, hi * FINGER_COUPLING[0], 0.02, 0.001)
    _capsule(b2, (0, 0, 0), (0, 0, middle), r * 0.95, HAND_COLOR, **_pad_kw())
    b3 = b2.add_body(name=f"{name}_distal", pos=[0, 0, middle])
    _hinge(b3, f"{name}_dip", (0, 1, 0), lo, hi * FINGER_COUPLING[1], 0.02, 0.001)
    _capsule(b3, (0, 0, 0), (0, 0, distal), r * 0.9, PAD_COLOR, name=f"{name}_tip", **_pad_kw())


def _add_thumb(hand: mujoco.MjsBody) -> None:
    """Two-DoF thumb at the lower -y corner of the palm front.

    thumb_rotation (about the palm's long axis) swings the thumb from lying beside the palm
    (0) to pointing out of the palm front, opposite the fingers (1.6). thumb_flexion curls
    both thumb links towards the fingers.
    """
    rot_lo, rot_hi = _LIMITS[JOINT_NAMES.index("thumb_rotation")]
    flex_lo, flex_hi = _LIMITS[JOINT_NAMES.index("thumb_flexion")]
    base = hand.add_body(
        name="thumb_base", pos=[PALM_HALF[0] * 0.5, -0.026, PALM_BASE_Z + THUMB_BASE_Z]
    )
    _hinge(base, "thumb_rotation", (0, 0, 1), rot_lo, rot_hi, damping=0.02, armature=0.001)
    _capsule(base, (0, 0, 0), (0, -0.02, 0.0), 0.012, HAND_COLOR)
    tilt = 0.15  # thumb rises towards the fingers by this angle at zero flexion, radians
    direction = np.array([0.0, -np.cos(tilt), np.sin(tilt)])
    b1 = base.add_body(name="thumb_proximal", pos=[0, -0.02, 0.0])
    _hinge(b1, "thumb_flexion", (-1, 0, 0), flex_lo, flex_hi, damping=0.02, armature=0.001)
    _capsule(b1, (0, 0, 0), tuple(direction * THUMB_LINKS[0]), 0.011, HAND_COLOR, **_pad_kw())
    b2 = b1.add_body(name="thumb_distal", pos=list(direction * THUMB_LINKS[0]))
    _hinge(b2, "thumb_ip", (-1, 0, 0), flex_lo, flex_hi * THUMB_COUPLING, 0.02, 0.001)
    _capsule(
        b2,
        (0, 0, 0),
        tuple(direction * THUMB_LINKS[1]),
        0.0105,
        PAD_COLOR,
        name="thumb_tip",
        **_pad_kw(),
    )


def _add_hand(flange: mujoco.MjsBody) -> mujoco.MjsBody:
    hand = flange.add_body(name=HAND_BODY, pos=[0, 0, WRIST_TO_FLANGE])
    palm_centre = [0, 0, PALM_BASE_Z + PALM_HALF[2]]
    hand.add_geom(
        name="palm",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        pos=palm_centre,
        size=list(PALM_HALF),
        rgba=list(HAND_COLOR),
        **_pad_kw(),
    )
    _capsule(hand, (0, 0, 0), (0, 0, PALM_BASE_Z), 0.03, JOINT_COLOR)
    for name, (y, *lengths) in FINGERS.items():
        _add_finger(hand, name, y, lengths)
    _add_thumb(hand)
    hand.add_site(
        name=PALM_SITE,
        pos=list(GRASP_CENTER),
        size=[0.008, 0, 0],
        rgba=[1, 0, 0, 0.0],
        group=4,
    )
    # Wrist camera: on a bracket in front of the wrist, palm side, looking along the fingers
    # past the grasp centre. MuJoCo cameras look along their -z axis with +y up in the image.
    cam_pos = np.array([0.06, 0.02, -0.01])
    forward = np.array([0.04, 0.0, 0.20]) - cam_pos  # a point in front of the fingertips
    forward /= np.linalg.norm(forward)
    up = np.array([-1.0, 0.0, 0.0])  # back of the hand is "up" in the image
    up -= forward * (up @ forward)
    up /= np.linalg.norm(up)
    x_axis = np.cross(up, -forward)
    mat = np.stack([x_axis, up, -forward], axis=1)
    hand.add_camera(
        name=WRIST_CAMERA, pos=list(cam_pos), quat=list(_quat_from_matrix(mat)), fovy=80.0
    )
    hand.add_geom(  # camera housing, visual only
        type=mujoco.mjtGeom.mjGEOM_BOX,
        pos=[0.06, 0.02, -0.025],
        size=[0.012, 0.012, 0.012],
        rgba=list(JOINT_COLOR),
        contype=0,
        conaffinity=0,
    )
    return hand


def _add_coupling(spec: mujoco.MjSpec) -> None:
    """Slave the passive finger links to their actuated joint (rigid linkage, like the G0-R)."""
    for name in FINGERS:
        for suffix, ratio in zip(("pip", "dip"), FINGER_COUPLING):
            spec.add_equality(
                name=f"{name}_{suffix}_coupling",
                type=mujoco.mjtEq.mjEQ_JOINT,
                name1=f"{name}_{suffix}",
                name2=name,
                data=[0.0, ratio] + [0.0] * 10,
                solref=[0.005, 1.0],
            )
    spec.add_equality(
        name="thumb_ip_coupling",
        type=mujoco.mjtEq.mjEQ_JOINT,
        name1="thumb_ip",
        name2="thumb_flexion",
        data=[0.0, THUMB_COUPLING] + [0.0] * 10,
        solref=[0.005, 1.0],
    )


def _add_actuators(spec: mujoco.MjSpec) -> None:
    for i, name in enumerate(JOINT_NAMES):
        act = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        if i < ARM_DIM:
            act.set_to_position(kp=float(ARM_KP[i]), dampratio=ARM_DAMPRATIO)
            force = ARM_FORCE[i]
        else:
            k = i - ARM_DIM
            act.set_to_position(kp=float(HAND_KP[k]), kv=float(HAND_KV[k]))
            force = HAND_FORCE[k]
        act.ctrlrange = list(_LIMITS[i])
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-force, force]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE


def add_robot(spec: mujoco.MjSpec, *, pedestal: bool = True) -> None:
    """Add the robot (pedestal, arm, hand, actuators, coupling, wrist camera) to ``spec``.

    The base stands at ``layout.ROBOT_BASE_POS``. Also sets the contact options the hand
    needs (elliptic friction cones, impratio 10, implicitfast integrator), which are global.
    Arm bodies use gravity compensation so that the position servos track without sag.
    """
    spec.compiler.degree = False  # all angles below are radians
    opt = spec.option
    opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    opt.impratio = max(float(opt.impratio), 10.0)
    opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    world = spec.worldbody
    bx, by, bz = layout.ROBOT_BASE_POS
    if pedestal:
        world.add_geom(
            name=PEDESTAL_GEOM,
            type=mujoco.mjtGeom.mjGEOM_BOX,
            pos=[bx - 0.02, by, bz / 2],
            size=[0.13, 0.13, bz / 2],
            rgba=[0.35, 0.37, 0.40, 1.0],
        )
    base = world.add_body(name="robot_base", pos=[bx, by, bz])
    base.add_geom(
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[0.09, 0.02, 0],
        pos=[0, 0, 0.02],
        rgba=list(JOINT_COLOR),
    )
    flange = _add_arm(base)
    _add_hand(flange)
    for body in base.find_all(mujoco.mjtObj.mjOBJ_BODY):
        body.gravcomp = 1.0
    _add_coupling(spec)
    _add_actuators(spec)
    # Links two apart in the chain overlap at sharp elbow/wrist bends; real arms have offsets
    # there. Collisions between them are not modelled.
    links = [f"arm_link{i}" for i in range(1, 8)] + [HAND_BODY]
    for a, b in zip(links[:-2], links[2:]):
        spec.add_exclude(bodyname1=a, bodyname2=b)
    spec.add_exclude(bodyname1="arm_link5", bodyname2=HAND_BODY)


# ---------------------------------------------------------------------------------------------
# Named poses. Arm joints are solved once by IK (see dexgrasp.sim.ik) and stored here.
# Home: arm folded, hand open and raised above the near edge of the table.
_HOME_ARM = np.array([0.0, -0.35, 0.0, 2.10, 0.0, 0.95, 0.0])
HOME_QPOS: np.ndarray = np.concatenate([_HOME_ARM, HAND_OPEN])
HOME_QPOS.setflags(write=False)
# Comfortable mid-range posture that the IK's nullspace is pulled towards.
IK_REST_ARM: np.ndarray = np.array([0.0, -0.35, 0.0, 2.10, 0.0, 0.95, 0.0])
IK_REST_ARM.setflags(write=False)


@functools.cache
def _place_arm() -> tuple[float, ...]:
    from dexgrasp.sim.ik import solve_place_arm

    return tuple(solve_place_arm())


def place_qpos() -> np.ndarray:
    """(13,) joint targets that hold the hand above ``layout.PLACE_POS`` (hand unchanged: open)."""
    return np.concatenate([np.array(_place_arm()), HAND_OPEN])


def robot_model() -> mujoco.MjModel:
    """A compiled model with only a floor and the robot (for IK, tests and inspection)."""
    spec = mujoco.MjSpec()
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1])
    add_robot(spec)
    return spec.compile()


def joint_qpos_adr(model: mujoco.MjModel) -> np.ndarray:
    """(13,) qpos addresses of the actuated joints in JOINT_NAMES order."""
    return np.array([model.jnt_qposadr[model.joint(n).id] for n in JOINT_NAMES])


def joint_dof_adr(model: mujoco.MjModel) -> np.ndarray:
    """(13,) dof addresses of the actuated joints in JOINT_NAMES order."""
    return np.array([model.jnt_dofadr[model.joint(n).id] for n in JOINT_NAMES])


def coupled_qpos(hand: np.ndarray) -> dict[str, float]:
    """Positions of the passive (coupled) finger joints for hand targets (6,), radians."""
    hand = np.asarray(hand, dtype=float)
    out = {"thumb_ip": THUMB_COUPLING * hand[1]}
    for k, name in enumerate(FINGERS):
        out[f"{name}_pip"] = FINGER_COUPLING[0] * hand[2 + k]
        out[f"{name}_dip"] = FINGER_COUPLING[1] * hand[2 + k]
    return out


def set_robot_qpos(model: mujoco.MjModel, data: mujoco.MjData, qpos13: np.ndarray) -> None:
    """Write 13 joint positions (and consistent coupled joints) into ``data.qpos``; zero their
    velocities. Does not call mj_forward."""
    qpos13 = np.asarray(qpos13, dtype=float)
    if qpos13.shape != (len(JOINT_NAMES),):
        raise ValueError(f"qpos13 must have shape (13,), got {qpos13.shape}")
    data.qpos[joint_qpos_adr(model)] = qpos13
    data.qvel[joint_dof_adr(model)] = 0.0
    for name, value in coupled_qpos(qpos13[ARM_DIM:]).items():
        jid = model.joint(name).id
        data.qpos[model.jnt_qposadr[jid]] = value
        data.qvel[model.jnt_dofadr[jid]] = 0.0


# The hand counts as closed (a grasp attempted) when the four fingers' flexion targets average
# above this (rad; open 0, closed 1.5).
CLOSED_FLEXION = 0.75


def hand_is_closed(q: np.ndarray) -> bool:
    """Whether joint targets (or positions) ``q`` (13,) close the hand: the four fingers'
    mean flexion above ``CLOSED_FLEXION``."""
    return float(np.mean(q[ARM_DIM + 2 : ARM_DIM + 6])) > CLOSED_FLEXION


def thumb_envelope(model: mujoco.MjModel, rotation: float, flexions: np.ndarray) -> np.ndarray:
    """(F, 2) for each thumb flexion: how deep the thumb reaches below the palm surface and
    how far it reaches along the fingers (hand z), metres, at thumb ``rotation``."""
    d = mujoco.MjData(model)
    hand = model.body(HAND_BODY).id
    geoms = [
        g for g in range(model.ngeom) if model.body(model.geom_bodyid[g]).name.startswith("thumb")
    ]
    out = []
    for f in flexions:
        q = np.array(HOME_QPOS, dtype=float)
        q[ARM_DIM], q[ARM_DIM + 1] = rotation, f
        set_robot_qpos(model, d, q)
        mujoco.mj_kinematics(model, d)
        rot, org = d.xmat[hand].reshape(3, 3), d.xpos[hand]
        depth = far = -np.inf
        for g in geoms:
            gm = d.geom_xmat[g].reshape(3, 3)
            r, half = model.geom_size[g, 0], model.geom_size[g, 1]
            for sgn in (-1.0, 1.0):
                p = rot.T @ (d.geom_xpos[g] + sgn * half * gm[:, 2] - org)
                depth, far = max(depth, p[0] + r), max(far, p[2] + r)
        out.append((depth - PALM_HALF[0], far))
    return np.array(out)


__all__ = [
    "ARM_JOINT_NAMES",
    "HAND_CLOSED",
    "HAND_JOINT_NAMES",
    "HAND_OPEN",
    "HOME_QPOS",
    "PALM_SITE",
    "WRIST_CAMERA",
    "add_robot",
    "hand_is_closed",
    "joint_limits",
    "place_qpos",
    "robot_model",
    "set_robot_qpos",
    "thumb_envelope",
]
