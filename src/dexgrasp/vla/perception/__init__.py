"""dexgrasp.vla.perception"""
