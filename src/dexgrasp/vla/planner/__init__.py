"""dexgrasp.vla.planner"""
