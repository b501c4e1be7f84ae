"""The generator behind every default initialization; fl.manual_seed makes them reproducible."""

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int):
    """Reseed the generator that every default initialization and fl.init function draws from."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _generator
