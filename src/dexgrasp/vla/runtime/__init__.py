"""dexgrasp.vla.runtime"""
