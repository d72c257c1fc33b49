"""dexgrasp.grasps"""
