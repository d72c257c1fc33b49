"""dexgrasp: language-driven dexterous grasping (DexGraspVLA and DextER) with a MuJoCo benchmark."""

__version__ = "0.1.0"
