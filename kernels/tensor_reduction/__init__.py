"""tensor_reduction: the chapter's first exercise, y[..., k] = sum_ij w[i, j, k] x[..., i] x[..., j].

Shapes: x (..., I), at least 1-D; w (I, I, K); y (..., K). y depends only on the
symmetric part of w, so both devices pack the I(I+1)/2 pairs i <= j — pair products
of x, a panel of rows at a time, and pair weights w_ij + w_ji — and run one GEMM
with half the work of the full outer product, in a few MiB whatever the batch.
"""

import numpy as np

from .._dispatch import Backends, overridable, prepare
from .._op import Case, GpuCase, Op
from .._validate import check_ndim
from ..linear import batched, check_grad_y, unbatched

_backends = Backends(__name__)

# --- the NumPy reference ---


def reference_tensor_reduction(x, w):
    return np.einsum("ijk,...i,...j->...k", w, x, x)


def reference_tensor_reduction_backward(grad_y, y, x, w):
    grad_x = np.einsum("ijk,...j,...k->...i", w, x, grad_y) + np.einsum("ijk,...i,...k->...j", w, x, grad_y)
    x2, g2 = x.reshape(-1, w.shape[0]), grad_y.reshape(-1, w.shape[2])
    return grad_x, np.einsum("ni,nj,nk->ijk", x2, x2, g2)


# --- checks, forward and backward ---

_ANY_RANK = range(1, 65)


def _check(op, x, w):
    if x.ndim >= 1 and w.ndim == 3 and x.shape[-1] == w.shape[0] == w.shape[1]:
        return
    check_ndim(op, "x", x, _ANY_RANK, "(..., I), at least 1-D")
    check_ndim(op, "w", w, (3,), "(I, I, K)")
    if w.shape[0] != w.shape[1]:
        raise ValueError(f"{op}: w must be (I, I, K) with equal first two axes, got {tuple(w.shape)}")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"{op}: x has {x.shape[-1]} features (shape {tuple(x.shape)}) "
            f"but w expects {w.shape[0]} (shape {tuple(w.shape)})"
        )


def _check_forward(x, w):
    _check("tensor_reduction", x, w)


def _check_backward(grad_y, x, w):
    _check("tensor_reduction_backward", x, w)
    check_grad_y("tensor_reduction_backward", grad_y, x, w)


@overridable
def tensor_reduction(x, w):
    """y[..., k] = sum_ij w[i, j, k] x[..., i] x[..., j].  x (..., I), at least 1-D, w (I, I, K) → (..., K)."""
    device, (x, w) = prepare("tensor_reduction", ("x", "w"), (x, w), _check_forward)
    return unbatched(_backends[device].tensor_reduction(batched(x), w), x)


def _run_backward(device, grad_y, y, x, w):
    x2 = batched(x)
    grad_x, grad_w = _backends[device].tensor_reduction_backward(grad_y.reshape(x2.shape[0], w.shape[2]), x2, w)
    return unbatched(grad_x, x), grad_w


@overridable
def tensor_reduction_backward(grad_y, y, x, w):
    """(grad_x (..., I), grad_w (I, I, K)) of y = tensor_reduction(x, w) (y is not needed: None will do)."""
    device, (grad_y, x, w) = prepare("tensor_reduction_backward", ("grad_y", "x", "w"), (grad_y, x, w), _check_backward)
    return _run_backward(device, grad_y, y, x, w)


# --- what the tests and benchmarks run ---


def _examples(rng):
    out = []
    for x_shape, n_out in [((4, 3), 2), ((1, 5), 3), ((6,), 4), ((3, 1), 1), ((2, 2, 3), 2)]:
        n_in = x_shape[-1]
        out.append(((rng.standard_normal(x_shape), rng.standard_normal((n_in, n_in, n_out))), {}))
    return out


F32 = np.float32


def tensor_reduction_inputs(n, n_in, n_out):
    def make(rng):
        return rng.standard_normal((n, n_in), dtype=F32), rng.standard_normal((n_in, n_in, n_out), dtype=F32) / F32(n_in)

    return make


def numpy_outer_gemm(x, w):
    """The best plain-NumPy formulation: the batch's outer products, reshaped, then one GEMM."""
    n, n_in = x.shape
    return (x[:, :, None] * x[:, None, :]).reshape(n, n_in * n_in) @ w.reshape(n_in * n_in, -1)


def _numpy_outer_gemm_backward(g, y, x, w):
    n, n_in = x.shape
    outer = (x[:, :, None] * x[:, None, :]).reshape(n, n_in * n_in)
    grad_w = (outer.T @ g).reshape(w.shape)
    wsym = (w + w.transpose(1, 0, 2)).reshape(n_in * n_in, -1)
    grad_x = ((g @ wsym.T).reshape(n, n_in, n_in) @ x[:, :, None])[:, :, 0]
    return grad_x, grad_w


def _einsum(x, w):
    return np.einsum("ijk,ni,nj->nk", w, x, x)


_SIZES = [((2, 8, 4), True, True), ((256, 64, 32), True, True), ((4096, 128, 64), False, True)]


def _cases():
    cases = []
    for (n, n_in, n_out), quick, with_einsum in _SIZES:
        shape = f"x ({n}, {n_in}), W ({n_in}, {n_in}, {n_out})"
        make = tensor_reduction_inputs(n, n_in, n_out)
        cases.append(Case("tensor_reduction", shape, make, tensor_reduction, numpy_outer_gemm,
                          others={"einsum": _einsum} if with_einsum else {}, quick=quick,
                          peers={"torch": lambda torch, x, w: torch.nn.functional.bilinear(x, x, w.permute(2, 0, 1)),
                                 "jax": lambda jnp, x, w: jnp.einsum("ijk,ni,nj->nk", w, x, x)}))

        def make_backward(rng, make=make, n=n, n_out=n_out):
            x, w = make(rng)
            return rng.standard_normal((n, n_out), dtype=F32), None, x, w

        cases.append(Case("tensor_reduction_backward", shape, make_backward, tensor_reduction_backward,
                          _numpy_outer_gemm_backward, others={"our forward": lambda g, y, x, w: tensor_reduction(x, w)},
                          quick=quick))
    return cases


def _gpu_cases(cp, scale):
    n = 65536 // scale
    shape = f"x ({n}, 128), W (128, 128, 128)"

    def make():
        return cp.random.standard_normal((n, 128), dtype=F32), cp.random.standard_normal((128, 128, 128), dtype=F32) / F32(128)

    return [
        GpuCase("tensor_reduction", shape, make, tensor_reduction, "outer product + matmul", numpy_outer_gemm),
        GpuCase("tensor_reduction_backward", shape, lambda: (cp.random.standard_normal((n, 128), dtype=F32), None, *make()),
                tensor_reduction_backward, "our forward", lambda g, y, x, w: tensor_reduction(x, w)),
    ]


TENSOR_REDUCTION = Op("tensor_reduction", tensor_reduction, tensor_reduction_backward, _run_backward,
                      reference_tensor_reduction, reference_tensor_reduction_backward, _examples, _cases, _gpu_cases)
