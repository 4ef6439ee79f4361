"""ZigBee Smart Energy certificate-based key establishment (CBKE, suites 2 and 1)."""
