"""Layers the cluster tests send to Dask workers: importable, so worker processes can load them by name."""

import time

import numpy as np

import fastlayers as fl


class MyLinear(fl.Module):
    """The chapter's MyLinear, in plain NumPy: max(X @ W + b, 0)."""

    def __init__(self, in_units, units, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.weight = fl.Parameter(rng.standard_normal((in_units, units)).astype(np.float32) / np.float32(np.sqrt(in_units)))
        self.bias = fl.Parameter(rng.standard_normal(units).astype(np.float32))

    def forward(self, X):
        return np.maximum(X @ self.weight + self.bias, 0)


class SquaredNorm(fl.Module):
    """One value per row: (n, d) -> (n,)."""

    def forward(self, X):
        return (X * X).sum(axis=1)


class Slow(fl.Module):
    """A Linear that takes its time on every block: a worker can be killed in the middle of a job."""

    def __init__(self, in_features, out_features, seconds):
        super().__init__()
        self.inner, self.seconds = fl.Linear(in_features, out_features), seconds

    def forward(self, X):
        time.sleep(self.seconds)
        return self.inner(X)


class RefusesLargeValues(fl.Module):
    """A user's layer with a check of its own, which raises on a worker."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.inner = fl.Linear(in_features, out_features)

    def forward(self, X):
        if np.abs(fl.detach(X)).max() > 100:
            raise ValueError("RefusesLargeValues: an input above 100 in magnitude; normalize the data first")
        return self.inner(X)


class ThreadCounts(fl.Module):
    """Each row gets (Numba's thread count, BLAS's thread count) where the block ran."""

    def forward(self, X):
        import numba
        from threadpoolctl import threadpool_info

        blas = max((lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"), default=0)
        return np.tile(np.array([numba.get_num_threads(), blas], np.float32), (len(fl.detach(X)), 1))


class CountsPickles(fl.Sequential):
    """A Sequential that counts how often it is pickled (in the process that pickles it)."""

    pickled = 0

    def __getstate__(self):
        type(self).pickled += 1
        return super().__getstate__()


def mlp(in_features=64, hidden=128, out_features=10, seed=0, dtype=np.float32):
    fl.manual_seed(seed)
    return fl.Sequential(fl.Linear(in_features, hidden, activation="relu", dtype=dtype),
                         fl.Linear(hidden, out_features, dtype=dtype))
