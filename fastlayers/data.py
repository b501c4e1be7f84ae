"""Minibatches of paired arrays: fl.data.batches(X, y, batch_size=64, shuffle=True, seed=0)."""

import numpy as np


def batches(*arrays, batch_size, shuffle=False, seed=None, drop_last=False):
    """Yield tuples of minibatches, the arrays cut along their first axis in step.

    shuffle: a new order each call, reproducible from seed (NumPy's default_rng);
    drop_last: leave out a last batch shorter than batch_size. Batches are copies
    when shuffled, views otherwise.
    """
    if not arrays:
        raise TypeError("batches: expected at least one array")
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive int, got {batch_size!r}")
    n = len(arrays[0])
    lengths = [len(a) for a in arrays]
    if any(length != n for length in lengths):
        raise ValueError(f"batches: the arrays must have the same length along axis 0, got {lengths}")
    order = np.random.default_rng(seed).permutation(n) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield tuple(a[start : start + batch_size] for a in arrays)
        else:
            index = order[start : start + batch_size]
            yield tuple(a[index] for a in arrays)
