"""dexgrasp.sim"""
