"""Studies on top of the run facade: sweeps over scenario settings (and, with the optional
extras, optimisation and sensitivity), each running replication tasks with common random
numbers over an executor and writing through the one output writer."""
