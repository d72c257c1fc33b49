"""dexgrasp.viz"""
