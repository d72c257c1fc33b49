"""dexgrasp.eval"""
