"""The scripted expert: grasps a named object out of clutter and lifts it.

Given the model, the current state and the target object's body, the expert

1. measures the object (an oriented bounding box from its collision geoms, `object_box.py`),
2. proposes grasps: from the top (palm down, fingers across the object's narrow side) and
   from the side (palm facing the object, fingers horizontal, thumb up), each with both
   finger directions,
3. solves IK for each grasp and its pre-grasp, rejects those the arm cannot reach or that
   would push into the table or other objects (checked kinematically along the reach and
   the approach), and ranks the rest by a cost,
4. tries the best few in a physics-only lookahead from the current state (deterministic, so
   it predicts the real outcome) and keeps the first that lifts the object,
5. writes the whole motion as 13-D absolute joint targets at 20 Hz: reach the pre-grasp
   while pre-shaping the hand, approach on a straight line, close, lift.

The plan is open-loop: ``plan`` returns ``(T, 13)`` targets (T = ``EPISODE_STEPS``) that the
caller executes through ``env.step``. Timing follows the paper's about 3.5 s per grasp.

    expert = ScriptedExpert(model)
    actions = expert.plan(data, target_body_id)   # (75, 13) float32

``plan(..., prefer=(pos, rot))`` continues a grasp already under way instead (expert takeover
of a policy, ``dexgrasp.vla.controller.takeover``): the feasible grasps are tried nearest to
that palm pose first, and when the palm is already close to the chosen grasp it goes there on a
straight line from where it is, without backing off to the pre-grasp.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import mujoco
import numpy as np

from dexgrasp.constants import ARM_DIM, CONTROL_HZ, EPISODE_STEPS
from dexgrasp.sim import layout, robot
from dexgrasp.sim.ik import (
    ArmIK,
    IKConfig,
    interpolate_rotation,
    palm_rotation,
    rotation_angle,
    solve_with_restarts,
)
from dexgrasp.sim.motion import min_jerk
from dexgrasp.sim.object_box import ObjectBox, PlanningError, object_box

# Palm-site geometry in the hand frame (see robot.py): the site is this far in front of the
# palm surface, and the thumb tip sits this far below the site along the fingers at rest.
_SITE_TO_PALM = robot.GRASP_CENTER[0] - robot.PALM_HALF[0]


@dataclass
class ExpertConfig:
    """Timing (control steps at 20 Hz) and geometry (metres) of the scripted grasp."""

    episode_steps: int = EPISODE_STEPS
    reach_steps: int = 22  # home -> pre-grasp, hand pre-shaping
    approach_steps: int = 14  # pre-grasp -> grasp, straight line
    close_steps: int = 12  # close the hand
    settle_steps: int = 2  # hold closed before lifting
    lift_height: float = 0.20  # how far the palm rises after closing
    pregrasp_distance: float = 0.10  # back-off from the grasp along the approach direction
    palm_clearance: float = 0.005  # gap between palm and object surface at the grasp
    table_clearance: float = 0.008  # top grasp: open thumb above the table (m)
    thumb_clearance: float = 0.008  # top grasp: open thumb to the object's near face (m)
    top_gap: float = 0.04  # pinch grasp from the top: palm surface above the object's top
    side_press: float = 0.01  # side grasp: palm this far into the object's near face (squeeze)
    far_face: float = 0.165  # object's far face along the fingers (hand z) ...
    near_face: float = 0.088  # ... unless its near face would come closer than this (thumb)
    side_min_height: float = 0.05  # side grasp: site height above the table
    side_max_height: float = 0.10
    side_min_object: float = 0.05  # only objects at least this tall are grasped from the side
    tall_object: float = 0.09  # objects taller than this prefer side grasps
    narrow_object: float = 0.05  # narrower objects prefer the thumb-side top grasp
    collision_margin: float = 0.015  # largest penetration into the clutter tolerated (m)
    check_margin: float = 0.03  # distances up to this are measured by the collision check
    hand_preshape: tuple[float, ...] = (1.5, 0.15, 0.05, 0.05, 0.05, 0.05)
    hand_close: tuple[float, ...] = (1.5, 1.1, 1.5, 1.5, 1.5, 1.5)
    round_max_width: float = 0.09  # top grasps across the long axis too for objects up to
    round_ratio: float = 1.3  # ... this wide whose long side is at most this x the narrow one
    # Top grasps exist with the fingers either way along the grasp axis; the wrist then
    # rolls to one of two far-apart joint configurations. One way is canonical (fingers
    # towards the robot's left of the radial direction) and the other costs this much, so
    # the choice follows the object's orientation, not small cost differences.
    off_canonical_cost: float = 1.0
    # Solve each grasp's IK from, and pull it towards, the rest posture with the base turned
    # towards the pre-grasp (instead of from the current joints and a straight-ahead rest):
    # the arm's redundant joints then depend on where the object is, not on the search path.
    aim_rest: bool = True
    # ... and for top grasps with the wrist roll (arm_joint7) here: the canonical fingers-left
    # half-circle of finger directions is exactly the range this wrist-roll branch reaches
    # (forearm roll from +2.8 to 0 rad); from the straight rest (0) some solves left it.
    top_rest_wrist_roll: float = -2.3
    # When no grasp with the aimed rest posture passes the lookahead, plan again without it
    # (from the current joints and the straight rest): a few more scenes, off the main posture.
    posture_fallback: bool = True
    lookahead: int = 10  # grasps tried in simulation before executing one (0: none)
    # Continuing a grasp under way (``plan(prefer=...)``): a palm this close to the grasp
    # (m, and rad of rotation) goes straight there instead of backing off to the pre-grasp.
    direct_distance: float = 0.12
    direct_angle: float = 0.6
    # When no grasp on the home wrist branch passes the lookahead, plan again with the wrist
    # free to flip. Off for demonstrations (they should stay on one branch); on for the
    # runtime's expert controller, which only needs the grasp to work.
    any_branch_fallback: bool = False
    lift_check: float = 0.12  # lookahead success: target risen by this much (m) ...
    verify_steps: int = 20  # ... and still held this many control steps later
    # One wrist branch and a settled elbow swivel: demonstrations a policy can learn from.
    ik: IKConfig = field(default_factory=lambda: IKConfig(wrist_pitch_min=0.1, settle_iters=25))

    def __post_init__(self) -> None:
        used = self.reach_steps + self.approach_steps + self.close_steps + self.settle_steps
        if min(self.reach_steps, self.approach_steps, self.close_steps) < 1:
            raise ValueError("ExpertConfig: reach_steps, approach_steps, close_steps must be >= 1")
        if used >= self.episode_steps:
            raise ValueError(
                f"ExpertConfig.episode_steps={self.episode_steps} leaves no time to lift "
                f"(reach+approach+close+settle = {used})"
            )
        for name in ("lift_height", "pregrasp_distance", "far_face"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ExpertConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("hand_preshape", "hand_close"):
            if len(getattr(self, name)) != 6:
                raise ValueError(f"ExpertConfig.{name} must have 6 values (hand joints)")


@dataclass
class Grasp:
    """One candidate grasp: palm-site pose at grasp and pre-grasp, arm joints for both."""

    kind: str  # "top" or "side"
    pos: np.ndarray  # (3,) palm site at the grasp
    rot: np.ndarray  # (3, 3) palm site rotation
    pre_pos: np.ndarray  # (3,) palm site at the pre-grasp
    hand_pre: np.ndarray  # (6,) hand pre-shape during reach and approach
    q_grasp: np.ndarray | None = None  # (7,)
    q_pre: np.ndarray | None = None  # (7,)
    cost: float = np.inf
    reject: str = ""  # why it is infeasible
    shallow: bool = False  # side grasp stopping short of the object (fallback variant)
    canonical: bool = True  # top grasp with the fingers the canonical way (see ExpertConfig)
    rest: np.ndarray | None = None  # (7,) IK rest posture of this grasp (None: the solver's)


def pose_distance(pos: np.ndarray, rot: np.ndarray, g: Grasp) -> float:
    """How far a palm pose is from grasp ``g``: metres plus 0.01 m per 5 degrees (also "the
    nearest grasp" of ``scripts/diagnose_controller.py``)."""
    return float(np.linalg.norm(np.asarray(pos) - g.pos)) + rotation_angle(rot, g.rot) * (
        0.01 / np.radians(5.0)
    )


class ScriptedExpert:
    """Plans a top or side grasp of one object and returns the joint targets to execute.

    ``model`` must contain the robot (``dexgrasp.sim.robot.add_robot``). The expert keeps a
    private ``MjData`` for IK and collision checks, so planning never changes the simulation.
    """

    def __init__(self, model: mujoco.MjModel, config: ExpertConfig | None = None) -> None:
        self.model = model
        self.config = config or ExpertConfig()
        self.ik = ArmIK(model, config=self.config.ik)
        self._ik_any_branch: ArmIK | None = None  # built on the first fallback
        # A copy with contact margins on the robot's geoms measures clearance, not only
        # penetration, in the kinematic collision checks.
        self._check_model = copy.deepcopy(model)
        self._thumb_flex = np.linspace(self.config.hand_preshape[1], 1.0, 18)
        self._thumb = robot.thumb_envelope(model, self.config.hand_preshape[0], self._thumb_flex)
        self._check_margin = self.config.check_margin
        self._scratch = mujoco.MjData(self._check_model)
        robot_bodies = set()
        root = model.body("robot_base").id
        for b in range(model.nbody):
            p = b
            while p not in (0, root):
                p = model.body_parentid[p]
            if p == root:
                robot_bodies.add(b)
        self._robot_body = np.zeros(model.nbody, dtype=bool)
        self._robot_body[list(robot_bodies)] = True
        hand_root = model.body(robot.HAND_BODY).id
        self._hand_body = np.array(
            [self._is_descendant(b, hand_root) for b in range(model.nbody)], dtype=bool
        )
        self._base_body = model.body("robot_base").id
        robot_geoms = self._robot_body[model.geom_bodyid]
        self._check_model.geom_margin[robot_geoms] = self._check_margin
        self._check_model.geom_gap[robot_geoms] = 0.0
        self.last_grasp: Grasp | None = None
        self.last_simulated = 0
        self.predicted_success = None
        self.last_direct = False  # whether the last trajectory went straight to its grasp

    def _is_descendant(self, body: int, root: int) -> bool:
        while body > 0:
            if body == root:
                return True
            body = self.model.body_parentid[body]
        return False

    def _along_fingers(self, half_width: float) -> float:
        """Where the object's centre goes along the fingers (hand z, m) for a half-width."""
        cfg = self.config
        return max(cfg.far_face - half_width, cfg.near_face + half_width)

    # -- grasp candidates --------------------------------------------------------------
    def candidates(self, box: ObjectBox) -> list[Grasp]:
        """Top and side grasps for ``box``, both finger directions each."""
        cfg = self.config
        table = layout.TABLE_TOP_Z
        c, ax, h = box.center, box.axes, box.half
        top_z = c[2] + h[2]
        out: list[Grasp] = []
        # Top: palm down, fingers along the narrow horizontal axis. "top" (a wrap): palm just
        # above the object, thumb pre-flexed just enough to clear the table, object between
        # the thumb and where the curling fingers come down, pulled up against the palm.
        # "top_pinch": palm ``top_gap`` above the object so the fingertips pass its top edge
        # and meet the thumb on its sides.
        variants = []
        for kind, gap in (
            ("top", cfg.palm_clearance),
            ("top_near", cfg.palm_clearance),
            ("top_pinch", cfg.top_gap),
        ):
            palm_z = top_z + gap
            room = palm_z - table - cfg.table_clearance  # free depth under the palm
            ok = np.flatnonzero(self._thumb[:, 0] <= room)
            if len(ok) == 0:
                continue
            k = ok[0]
            hand_pre = np.array(cfg.hand_preshape)
            hand_pre[1] = self._thumb_flex[k]
            near = self._thumb[k, 1] + cfg.thumb_clearance
            variants.append((kind, palm_z, near, hand_pre))
        # Fingers across the narrow axis; for roundish objects that fit the hand also
        # across the long axis (another pair of grasps around the neighbours).
        finger_axes = [(ax[:, 0], h[0])]
        if 2 * h[1] <= cfg.round_max_width and h[1] <= cfg.round_ratio * h[0]:
            finger_axes.append((ax[:, 1], h[1]))
        radial = c[:2] / max(np.linalg.norm(c[:2]), 1e-6)
        left = np.array([-radial[1], radial[0], 0.0])  # horizontal, left of the radial line
        for (axis, half_w), (kind, palm_z, near, hand_pre) in (
            (fa, v) for fa in finger_axes for v in variants
        ):
            along = max(cfg.far_face - half_w, near + half_w) if kind == "top" else near + half_w
            for sign in (1.0, -1.0):
                fingers = sign * axis
                rot = palm_rotation([0.0, 0.0, -1.0], fingers)
                pos = c - fingers * (along - robot.GRASP_CENTER[2])
                pos[2] = palm_z - _SITE_TO_PALM
                pre_pos = pos + np.array([0, 0, cfg.pregrasp_distance])
                g = Grasp(kind, pos, rot, pre_pos, hand_pre)
                g.canonical = bool(fingers @ left >= 0)
                out.append(g)
        # Side: palm faces the object horizontally (from the robot's side), fingers
        # horizontal, thumb up; approach along the radial direction or the narrow axis.
        if 2 * h[2] < cfg.side_min_object:
            return out
        approaches = []
        for yaw in (0.0, 0.5, -0.5, 1.0, -1.0):  # around the radial direction, radians
            cy, sy = np.cos(yaw), np.sin(yaw)
            approaches.append(
                np.array([cy * radial[0] - sy * radial[1], sy * radial[0] + cy * radial[1], 0.0])
            )
        for k in (0, 1):
            a = ax[:, k].copy()
            a *= np.sign(a[:2] @ radial) or 1.0
            if a[:2] @ radial > 0.5:
                approaches.append(a)
        height = np.clip(c[2] - table, cfg.side_min_height, cfg.side_max_height)
        for a in approaches:
            # Depth of the object along the approach direction.
            depth = np.abs(ax.T @ a) @ h
            side = np.cross([0.0, 0.0, 1.0], a)
            for sign in (1.0, -1.0):
                fingers = sign * side
                rot = palm_rotation(a, fingers)
                if rot[2, 1] > 0:  # hand y up means thumb down; keep the thumb on top
                    continue
                across = np.abs(ax.T @ fingers) @ h  # object half-extent along the fingers
                # The palm pushes ``side_press`` into the near face (the object is squeezed
                # against the curling fingers); the variant stopping ``palm_clearance`` short
                # of it is kept as a fallback.
                for gap, shallow in ((-cfg.side_press, False), (cfg.palm_clearance, True)):
                    pos = c - a * (depth + gap - _SITE_TO_PALM)
                    pos -= fingers * (self._along_fingers(across) - robot.GRASP_CENTER[2])
                    pos[2] = table + height
                    # Come in from behind and above so the forearm stays clear of the clutter.
                    pre_pos = pos - a * cfg.pregrasp_distance + np.array([0, 0, 0.06])
                    g = Grasp("side", pos, rot, pre_pos, np.array(cfg.hand_preshape))
                    g.shallow = shallow
                    out.append(g)
        return out

    # -- feasibility -------------------------------------------------------------------
    def _clearance(
        self, q_arm: np.ndarray, hand: np.ndarray, target_body: int, allow_target: bool
    ) -> float:
        """Smallest distance (m, < 0: penetration) between the robot and the table or objects.

        Distances beyond the check margin read as the margin. With ``allow_target`` the
        hand may touch the target (the grasp itself).
        """
        m, d = self._check_model, self._scratch
        robot.set_robot_qpos(m, d, np.concatenate([q_arm, hand]))
        mujoco.mj_fwdPosition(m, d)
        worst = self._check_margin
        for i in range(d.ncon):
            con = d.contact[i]
            b1, b2 = m.geom_bodyid[con.geom1], m.geom_bodyid[con.geom2]
            r1, r2 = self._robot_body[b1], self._robot_body[b2]
            if r1 == r2:
                continue  # robot-robot or world-object contacts
            other, mine = (b2, b1) if r1 else (b1, b2)
            if allow_target and other == target_body and self._hand_body[mine]:
                continue
            if mine == self._base_body:
                continue  # the fixed base sits on its pedestal
            worst = min(worst, con.dist)
        return worst

    def aimed_rest(self, target, top: bool = False) -> np.ndarray:
        """(7,) the IK rest posture with the base joint turned towards ``target`` (3,); for a
        top grasp (``top``) with the wrist roll at ``config.top_rest_wrist_roll``."""
        rest = self.ik.rest.copy()
        dx, dy = np.asarray(target[:2], dtype=float) - np.asarray(layout.ROBOT_BASE_POS[:2])
        rest[0] = np.arctan2(dy, dx)
        if top:
            rest[-1] = self.config.top_rest_wrist_roll
        return np.clip(rest, self.ik.lo, self.ik.hi)

    def _evaluate(self, g: Grasp, data: mujoco.MjData, target_body: int, q_now: np.ndarray) -> None:
        cfg = self.config
        pre = g.hand_pre
        g.rest = rest = self.aimed_rest(g.pre_pos, g.kind != "side") if cfg.aim_rest else None
        if rest is None:
            res_pre = solve_with_restarts(self.ik, g.pre_pos, g.rot, q_now[:ARM_DIM])
        else:
            res_pre = solve_with_restarts(
                self.ik,
                g.pre_pos,
                g.rot,
                rest,
                restarts=6,
                rest=rest,
                extra_seeds=(q_now[:ARM_DIM],),
            )
        if not res_pre.success:
            g.reject = "ik pre-grasp"
            return
        res = self.ik.solve(g.pos, g.rot, q_init=res_pre.qpos, rest=rest)
        if not res.success:
            g.reject = "ik grasp"
            return
        g.q_pre, g.q_grasp = res_pre.qpos, res.qpos
        self._scratch.qpos[:] = data.qpos  # current object poses
        arm0, hand0 = q_now[:ARM_DIM], q_now[ARM_DIM:]
        reach = min(
            self._clearance(
                arm0 + s * (g.q_pre - arm0), hand0 + s * (pre - hand0), target_body, False
            )
            for s in (0.25, 0.5, 0.75, 1.0)
        )
        approach = min(
            self._clearance(g.q_pre + s * (g.q_grasp - g.q_pre), pre, target_body, s > 0.7)
            for s in (0.35, 0.7, 1.0)
        )
        # Light contact with neighbours is tolerated here (penalised in the cost): with
        # lookahead, the physics decides whether it disturbs the grasp.
        if reach < -cfg.collision_margin or approach < -cfg.collision_margin:
            g.reject = f"collision (reach {reach:.3f} m, approach {approach:.3f} m)"
            return
        joint_travel = np.abs(res.qpos - q_now[:ARM_DIM]).sum()
        prefer_side = 2 * self._box_half[2] > cfg.tall_object
        kind_cost = 0.0 if (g.kind == "side") == prefer_side else 1.0
        narrow = 2 * self._box_half[0] < cfg.narrow_object
        kind_cost += {"top_pinch": 0.3, "top_near": 0.0 if narrow else 0.2}.get(g.kind, 0.0)
        kind_cost += 0.1 if g.shallow else 0.0
        kind_cost += 0.0 if g.canonical else cfg.off_canonical_cost
        kind_cost += 0.2 if (g.kind == "top" and narrow) else 0.0
        clearance_cost = 5 * max(0.0, 0.01 - approach) + 5 * max(0.0, 0.02 - reach)
        contact_cost = 30 * (max(0.0, -approach) + max(0.0, -reach))
        g.cost = kind_cost + 0.05 * joint_travel + clearance_cost + contact_cost

    def ranked(self, data: mujoco.MjData, target_body: int) -> list[Grasp]:
        """Feasible grasps of ``target_body`` from the current state, best first; raises
        PlanningError when there is none."""
        box = object_box(self.model, data, target_body)
        q_now = data.qpos[robot.joint_qpos_adr(self.model)]
        self._box_half = box.half
        self.last_candidates = self.candidates(box)
        for g in self.last_candidates:
            self._evaluate(g, data, target_body, q_now)
        feasible = sorted(
            (g for g in self.last_candidates if np.isfinite(g.cost)), key=lambda g: g.cost
        )
        if not feasible:
            reasons = "; ".join(f"{g.kind}: {g.reject}" for g in self.last_candidates)
            raise PlanningError(
                f"no reachable, collision-free grasp for {self.model.body(target_body).name!r} "
                f"({reasons})"
            )
        return feasible

    def choose(self, data: mujoco.MjData, target_body: int) -> Grasp:
        """Best feasible grasp by the kinematic cost (no physics); raises PlanningError."""
        return self.ranked(data, target_body)[0]

    def simulate(self, data: mujoco.MjData, target_body: int, actions: np.ndarray) -> bool:
        """Run ``actions`` from a copy of ``data`` (physics only) and report whether the target
        ends lifted by ``lift_check`` and held by the hand for ``verify_steps`` more steps."""
        cfg = self.config
        m = self.model
        d = copy.copy(data)
        n_sub = max(1, int(round(1.0 / (CONTROL_HZ * m.opt.timestep))))
        z0 = float(data.xpos[target_body][2])
        nu = actions.shape[1]
        for a in actions:
            d.ctrl[:nu] = a
            mujoco.mj_step(m, d, nstep=n_sub)
        # The palm has finished rising: a target that has not come up with it has failed,
        # so skip the hold check (saves a fifth of the physics of a failed candidate).
        if d.xpos[target_body][2] - z0 < cfg.lift_check:
            return False
        mujoco.mj_step(m, d, nstep=n_sub * cfg.verify_steps)
        if d.xpos[target_body][2] - z0 < cfg.lift_check:
            return False
        for c in d.contact[: d.ncon]:
            b1, b2 = m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]
            if (b1 == target_body and self._hand_body[b2]) or (
                b2 == target_body and self._hand_body[b1]
            ):
                return True
        return False

    # -- trajectory --------------------------------------------------------------------
    def plan(
        self,
        data: mujoco.MjData,
        target_body: int,
        prefer: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """(episode_steps, 13) float32 absolute joint targets that grasp and lift the target.

        With ``config.lookahead`` the best few feasible grasps are tried in a physics-only
        simulation from the current state (deterministic, so it predicts the real outcome)
        and the first that lifts the object is returned; otherwise the best by cost. A failed
        lookahead is repeated without the aimed rest posture (``config.posture_fallback``),
        then with the wrist free to flip (``config.any_branch_fallback``,
        ``IKConfig.wrist_pitch_min=None``).

        ``prefer``: a palm pose (position (3,), rotation (3, 3)) whose grasp to continue. The
        feasible grasps are then tried nearest to it first (``pose_distance``) instead of by
        cost, and a grasp the palm is already close to is approached directly
        (``config.direct_distance``, ``config.direct_angle``).
        """
        cfg = self.config
        # (IK, config) to plan with, in order; the ones after the first only when it fails.
        variants = [(lambda: self.ik, cfg)]
        if cfg.aim_rest and cfg.posture_fallback:
            variants.append((lambda: self.ik, replace(cfg, aim_rest=False)))
        if cfg.any_branch_fallback:
            variants.append((self._any_branch_ik, cfg))
        saved_ik = self.ik
        first: tuple | PlanningError | None = None
        for ik, config in variants:
            self.ik, self.config = ik(), config
            try:
                actions = self._plan(data, target_body, prefer)
            except PlanningError as err:
                first = err if first is None else first
                continue
            finally:
                self.ik, self.config = saved_ik, cfg
            if self.predicted_success is not False:
                return actions
            first = (actions, self.last_grasp, self.last_simulated) if first is None else first
        if isinstance(first, PlanningError):
            raise first
        actions, self.last_grasp, self.last_simulated = first
        self.predicted_success = False
        return actions

    def _any_branch_ik(self) -> ArmIK:
        """The IK with the wrist free to flip (built on first use)."""
        if self._ik_any_branch is None:
            free = replace(self.config.ik, wrist_pitch_min=None)
            self._ik_any_branch = ArmIK(self.model, config=free)
        return self._ik_any_branch

    def _plan(
        self, data: mujoco.MjData, target_body: int, prefer: tuple | None = None
    ) -> np.ndarray:
        grasps = self.ranked(data, target_body)
        direct = prefer is not None
        if direct:
            grasps.sort(key=lambda g: pose_distance(prefer[0], prefer[1], g))
        self.last_simulated = 0
        self.predicted_success = None
        if self.config.lookahead > 0:
            for g in grasps[: self.config.lookahead]:
                actions = self.trajectory(data, g, direct=direct)
                self.last_simulated += 1
                if self.simulate(data, target_body, actions):
                    self.last_grasp, self.predicted_success = g, True
                    return actions
            self.predicted_success = False
        self.last_grasp = grasps[0]
        return self.trajectory(data, grasps[0], direct=direct)

    def trajectory(self, data: mujoco.MjData, g: Grasp, direct: bool = False) -> np.ndarray:
        """(episode_steps, 13) joint targets executing grasp ``g`` from the state in ``data``.

        ``direct``: when the palm is within ``config.direct_distance`` / ``direct_angle`` of
        the grasp, skip the pre-grasp and move the palm there on a straight line (rotation
        and hand pre-shape interpolated on the way), as many approach steps as the distance
        needs; otherwise (and by default) reach the pre-grasp first.
        """
        cfg = self.config
        q0 = data.qpos[robot.joint_qpos_adr(self.model)].astype(float)
        pre_hand, close_hand = g.hand_pre, np.array(cfg.hand_close)
        steps: list[np.ndarray] = []
        if direct:  # only when the palm is close to the grasp already
            pos0, rot0 = self.ik.forward(q0[:ARM_DIM])
            gap = float(np.linalg.norm(g.pos - pos0))
            direct = gap <= cfg.direct_distance and rotation_angle(rot0, g.rot) <= cfg.direct_angle
        self.last_direct = direct
        if direct:
            # 1-2) from here straight to the grasp, IK at every step
            # (the hand is pre-shaped half-way, before the fingers reach the object)
            n = max(6, int(np.ceil(cfg.approach_steps * gap / cfg.pregrasp_distance)))
            q_arm = q0[:ARM_DIM]
            for s in min_jerk(n):
                rot = interpolate_rotation(rot0, g.rot, s)
                pos = pos0 + s * (g.pos - pos0)
                q_arm = self.ik.solve(pos, rot, q_init=q_arm, rest=g.rest).qpos
                hand = q0[ARM_DIM:] + min(1.0, 2 * s) * (pre_hand - q0[ARM_DIM:])
                steps.append(np.concatenate([q_arm, hand]))
        else:
            # 1) reach the pre-grasp in joint space while pre-shaping the hand
            for s in min_jerk(cfg.reach_steps):
                arm = q0[:ARM_DIM] + s * (g.q_pre - q0[:ARM_DIM])
                hand = q0[ARM_DIM:] + s * (pre_hand - q0[ARM_DIM:])
                steps.append(np.concatenate([arm, hand]))
            # 2) straight-line approach, IK at every step (seeded by the previous solution)
            q_arm = g.q_pre
            for s in min_jerk(cfg.approach_steps):
                pos = g.pre_pos + s * (g.pos - g.pre_pos)
                q_arm = self.ik.solve(pos, g.rot, q_init=q_arm, rest=g.rest).qpos
                steps.append(np.concatenate([q_arm, pre_hand]))
        # 3) close the hand (targets go past contact so the servos squeeze)
        for s in min_jerk(cfg.close_steps):
            steps.append(np.concatenate([q_arm, pre_hand + s * (close_hand - pre_hand)]))
        steps.extend(np.concatenate([q_arm, close_hand]) for _ in range(cfg.settle_steps))
        # 4) lift straight up
        n_lift = cfg.episode_steps - len(steps)
        lift_n = max(1, int(n_lift * 0.8))
        for s in np.concatenate([min_jerk(lift_n), np.ones(n_lift - lift_n)]):
            pos = g.pos + np.array([0.0, 0.0, s * cfg.lift_height])
            q_arm = self.ik.solve(pos, g.rot, q_init=q_arm, rest=g.rest).qpos
            steps.append(np.concatenate([q_arm, close_hand]))
        actions = np.asarray(steps, dtype=np.float32)
        lim = robot.joint_limits()
        return np.clip(actions, lim[:, 0], lim[:, 1]).astype(np.float32)


__all__ = [
    "ExpertConfig",
    "Grasp",
    "ObjectBox",
    "PlanningError",
    "ScriptedExpert",
    "object_box",
    "pose_distance",
]
