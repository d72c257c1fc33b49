"""Grasp metrics (DextER / DexGYS / DexGraspBench protocols), one module per concept.

==============  ==========================================================================
``simulation``  simulated success: disturbance-force and gravity tests, any-of-6 / all-of-6
``q1``          Q1 force-closure quality from contacts (linearised friction cones, Qhull)
``penetration`` max penetration of hand points into an object SDF or watertight mesh
``chamfer``     Chamfer distance between hand surface samples
``contact``     contact maps and contact distance; contact-link IoU/P/R/F1; position accuracy
``diversity``   std of palm translation (cm), rotation (deg), joints (deg)
``pfid``        P-FID with a PointNet++ feature network (``pointnet2``; needs torch)
``evaluate``    all of the above over a set of grasps (``dexgrasp grasps eval``)
==============  ==========================================================================

Only numpy/scipy are imported here; torch loads with ``pfid`` / ``pointnet2``.
"""

from dexgrasp.grasps.metrics.chamfer import chamfer_distance
from dexgrasp.grasps.metrics.contact import (
    contact_distance,
    contact_map,
    contact_quality,
    link_set_scores,
    position_hits,
)
from dexgrasp.grasps.metrics.diversity import diversity
from dexgrasp.grasps.metrics.penetration import (
    max_penetration,
    mesh_penetration,
    mesh_sdf,
)
from dexgrasp.grasps.metrics.q1 import q1_metric, wrench_space_q1

__all__ = [
    "chamfer_distance",
    "contact_distance",
    "contact_map",
    "contact_quality",
    "diversity",
    "link_set_scores",
    "max_penetration",
    "mesh_penetration",
    "mesh_sdf",
    "position_hits",
    "q1_metric",
    "wrench_space_q1",
]
