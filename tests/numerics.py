"""Comparison helpers: relative L2 error and central finite differences, in float64."""

import numpy as np

# Relative L2 error bounds for forwards against the float64 reference.
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
GRADIENT_TOLERANCE = 1e-6  # backward vs central finite differences, float64


def rel_err(got, expected) -> float:
    got = np.asarray(got, dtype=np.result_type(got, np.float64))
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != reference {expected.shape}"
    denom = np.linalg.norm(expected)
    return float(np.linalg.norm(got - expected) / (denom if denom > 0 else 1.0))


def numerical_grad(loss, x, eps=1e-6):
    """d loss / d x by central differences; loss takes an array like x and returns a float."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        up = loss(x)
        flat[i] = saved - eps
        down = loss(x)
        flat[i] = saved
        gflat[i] = (up - down) / (2 * eps)
    return grad
