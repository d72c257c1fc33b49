"""dexgrasp.dexter"""
