"""dexgrasp.vla.controller"""
