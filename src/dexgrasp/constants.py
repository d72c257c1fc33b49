"""Names and sizes shared by every layer: observation keys, joint order, control rates.

Keys follow the LeRobot convention so datasets and policies interoperate.
"""

from __future__ import annotations

# Observation / action keys (LeRobot naming).
OBS_HEAD = "observation.images.head"  # (H, W, 3) uint8, head (third-person) camera
OBS_WRIST = "observation.images.wrist"  # (H, W, 3) uint8, wrist camera
OBS_MASK = "observation.mask"  # (H, W) uint8 {0, 1}, target object in the head camera
OBS_STATE = "observation.state"  # (13,) float32, measured joint positions, radians
ACTION = "action"  # (13,) float32, absolute joint position targets, radians
TASK = "task"  # str, grasping instruction

IMAGE_KEYS = (OBS_HEAD, OBS_WRIST)

# Robot (DexGraspVLA): 7-DoF arm + 6-DoF hand, in this order.
ARM_JOINT_NAMES = tuple(f"arm_joint{i}" for i in range(1, 8))
HAND_JOINT_NAMES = (
    "thumb_rotation",
    "thumb_flexion",
    "index",
    "middle",
    "ring",
    "little",
)
JOINT_NAMES = ARM_JOINT_NAMES + HAND_JOINT_NAMES
ARM_DIM = len(ARM_JOINT_NAMES)  # 7
HAND_DIM = len(HAND_JOINT_NAMES)  # 6
STATE_DIM = ACTION_DIM = len(JOINT_NAMES)  # 13

CONTROL_HZ = 20  # control frequency of the robot and the controller
ACTION_HORIZON = 64  # H: actions predicted per chunk
N_ACTION_STEPS = 6  # H_a: actions executed per chunk (receding horizon)
EPISODE_STEPS = 75  # length of an expert demonstration (3.75 s at 20 Hz)

# Training precision settings (resolved against the hardware by dexgrasp.precision).
MIXED_PRECISION_MODES = ("auto", "no", "bf16")

# DextER decoding options (dexgrasp.dexter.generate.generate_grasps)
DEXTER_FIT_CONTACTS = ("given", "all")  # contact fitting after decoding
# scores that pick among candidates
DEXTER_RANKS = ("mean", "sum", "grasp", "contacts", "touch", "consistent")
# The decoding docs/dexter.md measured best for a trained model (sessions 22-26: 16 sampled
# answers ranked by ``touch``; T = 0.5 beat 0.3 on all 1,073 unseen records with the shipped
# model); ``dexgrasp generate`` uses it unless told otherwise
# (``dexter.generate.recommended_rank`` picks the rank). The Python API keeps plain sampling
# (T = 1, one answer) as its default.
DEXTER_RECOMMENDED_TEMPERATURE = 0.5
DEXTER_RECOMMENDED_CANDIDATES = 16
