"""DextER grasp conventions: the 28-D Shadow Hand grasp vector and the hand link names.

Grasp vector (DexGYS convention), 28-D:
    [0:3]   palm translation, metres, object frame
    [3:6]   palm rotation, axis-angle, radians, object frame
    [6:28]  22 Shadow Hand joint angles, radians, OpenAI hand order (SHADOW_JOINT_NAMES)
"""

from __future__ import annotations

SHADOW_JOINT_NAMES = (
    "FFJ3", "FFJ2", "FFJ1", "FFJ0",
    "MFJ3", "MFJ2", "MFJ1", "MFJ0",
    "RFJ3", "RFJ2", "RFJ1", "RFJ0",
    "LFJ4", "LFJ3", "LFJ2", "LFJ1", "LFJ0",
    "THJ4", "THJ3", "THJ2", "THJ1", "THJ0",
)  # fmt: skip
TRANSLATION_SLICE = slice(0, 3)
ROTATION_SLICE = slice(3, 6)
JOINT_SLICE = slice(6, 28)
GRASP_DIM = 6 + len(SHADOW_JOINT_NAMES)  # 28

# Hand links that can carry contacts, in DextER's naming (one token each).
LINK_NAMES = (
    "rh_palm",
    "rh_ffproximal", "rh_ffmiddle", "rh_ffdistal",
    "rh_mfproximal", "rh_mfmiddle", "rh_mfdistal",
    "rh_rfproximal", "rh_rfmiddle", "rh_rfdistal",
    "rh_lfmetacarpal", "rh_lfproximal", "rh_lfmiddle", "rh_lfdistal",
    "rh_thbase", "rh_thproximal", "rh_thmiddle", "rh_thdistal",
)  # fmt: skip
