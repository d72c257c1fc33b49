"""dexgrasp.vla"""
