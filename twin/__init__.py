"""Line twin of an anode-less all-solid-state cell line (SimPy), kept light to import."""

__version__ = "0.1.0"
