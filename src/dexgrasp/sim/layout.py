"""Fixed geometry of the tabletop world, shared by the robot, the scenes and the expert.

World frame: x forward (away from the robot), y to the robot's left, z up. Metres.
The robot base stands at the origin on a pedestal whose top is level with the table top;
the table is in front of it; the drop zone for placing is beside the table on the
robot's right. The head camera looks down at the table from behind and above the base,
as the head camera on the paper's platform does.
"""

from __future__ import annotations

TABLE_TOP_Z = 0.75  # height of the table surface
TABLE_CENTER_XY = (0.60, 0.0)
TABLE_HALF_SIZE_XY = (0.35, 0.55)

# Where objects are spawned (object centres), inside the table top.
WORKSPACE_X = (0.42, 0.75)
WORKSPACE_Y = (-0.28, 0.28)

ROBOT_BASE_POS = (0.0, 0.0, TABLE_TOP_Z)

# Drop zone for the scripted place motion: beside the table, robot's right.
PLACE_POS = (0.35, -0.75, TABLE_TOP_Z + 0.25)

# Head camera: behind/above the robot base and 0.30 m to its left, looking at the workspace
# centre. Straight behind the base (y = 0) the arm's elbow at the home pose hides the table;
# from the left the arm enters the image from the side, as in the paper's head images.
HEAD_CAMERA_POS = (-0.25, 0.30, TABLE_TOP_Z + 0.80)
HEAD_CAMERA_LOOKAT = (0.58, 0.0, TABLE_TOP_Z)
HEAD_CAMERA_FOVY_DEG = 58.0  # vertical field of view, close to a RealSense D435 colour camera

# Success (paper Sec. 5.2): target held at least this high above the table for the hold time.
SUCCESS_LIFT_M = 0.10
DEFAULT_HOLD_TIME_S = 2.0  # the paper uses 20 s; shorter by default to keep evaluation fast
