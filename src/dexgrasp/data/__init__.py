"""dexgrasp.data"""
