"""How the twin reaches equipment: ports, in-process simulated ports, OPC UA client ports."""
