"""Independent, named random streams: common random numbers per source across scenarios.

Each source of randomness (a station's process times, its breakdowns, a router, a lot)
gets a Generator keyed by (seed, replication, name). Adding or removing a station
does not shift the numbers any other source sees, so two scenarios that differ in one
place are compared with the same randomness everywhere else.
"""

from __future__ import annotations

import zlib

import numpy as np


def name_key(name: str) -> int:
    """A stable 32-bit key for a source name (independent of Python's hash seed)."""
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """Factory of named Generators for one replication."""

    def __init__(self, seed: int, replication: int):
        self.seed = int(seed)
        self.replication = int(replication)

    def generator(self, name: str) -> np.random.Generator:
        seq = np.random.SeedSequence(entropy=self.seed, spawn_key=(self.replication, name_key(name)))
        return np.random.Generator(np.random.PCG64(seq))
