"""ZigBee-level helpers for the rig (install codes, ...)."""
