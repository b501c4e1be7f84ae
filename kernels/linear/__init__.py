"""linear, linear_relu and relu: the chapter's MyLinear / MyDense, y = relu?(x @ w + b).

Shapes: x (..., in) — the batch axes go through one GEMM, a view for C-contiguous
x — w (in, out), b (out,) or None, y (..., out). The CPU kernels (cpu.py) run our
GEMM with the bias and ReLU in its tiles, or BLAS's GEMM and then one Numba pass for them,
by the shape and the machine (the chapter's tiny sizes: one Numba loop nest); the GPU's
(gpu.py, linear.cu) run cuBLAS and an epilogue kernel.
"""

from functools import partial

import numpy as np

from .._dispatch import Backends, overridable, prepare
from .._op import Case, GpuCase, Op
from .._validate import check_ndim, check_same_shape

_backends = Backends(__name__)

# --- the NumPy reference ---


def reference_linear(x, w, b=None):
    y = x @ w
    return y if b is None else y + b


def reference_relu(x):
    return np.maximum(x, 0)


def reference_linear_relu(x, w, b=None):
    return reference_relu(reference_linear(x, w, b))


def reference_linear_backward(grad_y, y, x, w, b=None):
    g2, x2 = grad_y.reshape(-1, w.shape[1]), x.reshape(-1, w.shape[0])
    return (grad_y @ w.T, x2.T @ g2, None if b is None else g2.sum(axis=0))


def reference_relu_backward(grad_y, y, x):
    # np.where, not grad_y * (y > 0): a NaN or inf gradient where y <= 0 is 0, as in the kernels and
    # PyTorch's threshold_backward (the multiplication would give NaN there)
    return (np.where(y > 0, grad_y, 0),)


def reference_linear_relu_backward(grad_y, y, x, w, b=None):
    return reference_linear_backward(reference_relu_backward(grad_y, y, x)[0], y, x, w, b)


# --- checks ---

_ANY_RANK = range(1, 65)  # what "(..., features)" admits: NumPy's arrays have at most 64 axes


def _check(op, x, w, b=None):
    if x.ndim >= 1 and w.ndim == 2 and x.shape[-1] == w.shape[0] and (b is None or b.shape == (w.shape[1],)):
        return
    check_ndim(op, "x", x, _ANY_RANK, "(..., in), at least 1-D")
    check_ndim(op, "w", w, (2,), "(in, out)")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"{op}: x has {x.shape[-1]} features (shape {tuple(x.shape)}) "
            f"but w expects {w.shape[0]} (shape {tuple(w.shape)})"
        )
    if b is not None and tuple(b.shape) != (w.shape[1],):
        raise ValueError(
            f"{op}: b must have shape ({w.shape[1]},) to match w {tuple(w.shape)}, got {tuple(b.shape)}"
        )


def check_grad_y(op, grad_y, x, w):
    """grad_y must have the output's shape (..., out) for x (..., in) and w (in, ..., out)."""
    expected = tuple(x.shape[:-1]) + (w.shape[-1],)
    if tuple(grad_y.shape) != expected:
        raise ValueError(
            f"{op}: grad_y must have the output's shape {expected} for x {tuple(x.shape)} "
            f"and w {tuple(w.shape)}, got {tuple(grad_y.shape)}"
        )


def batched(x):
    """x (..., features) as a 2-D batch (rows, features): a view for C-contiguous x, which the kernels get."""
    return x if x.ndim == 2 else x.reshape(-1, x.shape[-1])


def unbatched(y2, x):
    """A 2-D result (rows, k) back in x's batch shape (..., k)."""
    return y2 if x.ndim == 2 else y2.reshape(x.shape[:-1] + y2.shape[1:])


# --- forward ---

_CHECK_FORWARD = {op: partial(_check, op) for op in ("linear", "linear_relu")}


def _linear(op, apply_relu, x, w, b):
    device, (x, w, b) = prepare(op, ("x", "w", "b"), (x, w, b), _CHECK_FORWARD[op], optional=("b",))
    if x.ndim == 2:  # the common case, without reshapes
        return _backends[device].linear(x, w, b, apply_relu)
    return unbatched(_backends[device].linear(batched(x), w, b, apply_relu), x)


@overridable
def linear(x, w, b=None):
    """x @ w + b.  x (..., in), w (in, out), b (out,) or None → (..., out)."""
    return _linear("linear", False, x, w, b)


@overridable
def linear_relu(x, w, b=None):
    """relu(x @ w + b), fused: the bias and ReLU are applied in one pass over the output."""
    return _linear("linear_relu", True, x, w, b)


@overridable
def relu(x):
    """max(x, 0) elementwise, any shape; NaN stays NaN."""
    device, (x,) = prepare("relu", ("x",), (x,))
    return _backends[device].relu(x)


# --- backward ---


def _run_linear_backward(mask, device, grad_y, y, x, w, b=None, needs=None):
    """(grad_x, grad_w, grad_b or None): the ReLU's mask y > 0 first if mask. needs[0] False (a tape's
    model input): grad_x is None, its GEMM not run."""
    need_x = needs is None or needs[0]
    if x.ndim == 2:  # the common case, without reshapes (0.4 us a call)
        grad_x, grad_w, grad_b = _backends[device].linear_backward(grad_y, x, w, y if mask else None, need_x)
        return grad_x, grad_w, (None if b is None else grad_b)
    x2 = batched(x)
    g2 = grad_y.reshape(x2.shape[0], w.shape[1])
    y2 = y.reshape(g2.shape) if mask else None
    grad_x, grad_w, grad_b = _backends[device].linear_backward(g2, x2, w, y2, need_x)
    return (None if grad_x is None else unbatched(grad_x, x)), grad_w, (None if b is None else grad_b)


def _run_linear_only_backward(device, grad_y, y, x, w, b=None, needs=None):
    return _run_linear_backward(False, device, grad_y, y, x, w, b, needs)


def _run_linear_relu_backward(device, grad_y, y, x, w, b=None, needs=None):
    return _run_linear_backward(True, device, grad_y, y, x, w, b, needs)


def _check_backward(op, mask, grad_y, y, x, w):
    _check(op, x, w)
    check_grad_y(op, grad_y, x, w)
    if mask:
        check_same_shape(op, "grad_y", grad_y, "y", y)


def _linear_backward(op, mask, grad_y, y, x, w, b):
    if mask and y is None:
        raise TypeError(f"{op}: y, the forward's output, is needed: its mask y > 0 is the ReLU's gradient")
    device, (grad_y, y, x, w) = prepare(op, ("grad_y", "y", "x", "w"), (grad_y, y, x, w),
                                        partial(_check_backward, op, mask), optional=("y",))
    return _run_linear_backward(mask, device, grad_y, y, x, w, b)


@overridable
def linear_backward(grad_y, y, x, w, b=None):
    """(grad_x (..., in), grad_w (in, out), grad_b (out,), or None without b) of y = x @ w + b.

    grad_y has y's shape; y itself is not needed (None will do).
    """
    return _linear_backward("linear_backward", False, grad_y, y, x, w, b)


@overridable
def linear_relu_backward(grad_y, y, x, w, b=None):
    """(grad_x, grad_w, grad_b or None) of y = relu(x @ w + b); y is the forward's output (its mask y > 0)."""
    return _linear_backward("linear_relu_backward", True, grad_y, y, x, w, b)


def _check_relu_backward(grad_y, y):
    check_same_shape("relu_backward", "grad_y", grad_y, "y", y)


def _run_relu_backward(device, grad_y, y, x):
    return (_backends[device].relu_backward(grad_y, y),)


@overridable
def relu_backward(grad_y, y, x):
    """(grad_x,): grad_y where y > 0, else 0; y is relu's output, any shape (x is not needed: None will do)."""
    device, (grad_y, y) = prepare("relu_backward", ("grad_y", "y"), (grad_y, y), _check_relu_backward)
    return _run_relu_backward(device, grad_y, y, x)


# --- what the tests and benchmarks run ---


def _examples(rng):
    """Small float64 problems: a batch, a single sample, batch axes of rank 2, no bias."""
    out = []
    for x_shape, n_out, bias in [((3, 5), 4, True), ((5,), 3, True), ((2, 3, 4), 2, True), ((4, 3), 2, False)]:
        x, w = rng.standard_normal(x_shape), rng.standard_normal((x_shape[-1], n_out))
        out.append(((x, w, rng.standard_normal(n_out) if bias else None), {}))
    return out


def _relu_examples(rng):
    return [((rng.standard_normal(shape),), {}) for shape in [(6,), (3, 4), (2, 3, 4)]]


F32 = np.float32


def _normal(rng, *shape):
    return rng.standard_normal(shape, dtype=F32)


def linear_inputs(n, n_in, n_out):
    def make(rng):
        x, w = _normal(rng, n, n_in), _normal(rng, n_in, n_out) / np.sqrt(n_in, dtype=F32)
        return x, w, _normal(rng, n_out)

    return make


def numpy_linear_relu(x, w, b):
    return np.maximum(x @ w + b, 0)


def numpy_linear_relu_backward(g, y, x, w, b):
    """What a NumPy user writes, the benchmark's baseline: the ReLU's mask as a product (np.where, as the
    reference has it for NaN gradients, took 8x as long over (65536, 64): 14.6 against 1.8 ms)."""
    masked = g * (y > 0)
    return masked @ w.T, x.T @ masked, masked.sum(axis=0)


def torch_linear_relu(torch, x, w, b):
    # F.linear takes the weight as (out, in): a transposed view, as a PyTorch user's layer stores it.
    return torch.relu(torch.nn.functional.linear(x, w.T, b))


_SIZES = [((2, 64, 8), True), ((4, 8, 128), True), ((65536, 64, 64), False),
          ((4096, 256, 256), True), ((4096, 1024, 1024), False)]


def _cases():
    for (n, n_in, n_out), quick in _SIZES:
        shape = f"({n}, {n_in}) @ ({n_in}, {n_out})"
        make = linear_inputs(n, n_in, n_out)
        yield Case("linear_relu", shape, make, linear_relu, numpy_linear_relu,
                   floor=("x @ w", lambda x, w, b: x @ w), quick=quick,
                   peers={"torch": torch_linear_relu, "jax": lambda jnp, x, w, b: jnp.maximum(x @ w + b, 0)})

        def make_backward(rng, make=make):
            x, w, b = make(rng)
            y = linear_relu(x, w, b)
            return _normal(rng, *y.shape), y, x, w, b

        yield Case("linear_relu_backward", shape, make_backward, linear_relu_backward, numpy_linear_relu_backward,
                   others={"our forward": lambda g, y, x, w, b: linear_relu(x, w, b)}, quick=quick)


def _gpu_cases(cp, scale):
    cases = []
    for n, k, m in [(8192, 4096, 4096), (262144, 256, 256)]:
        shape = f"({n // scale}, {k}) @ ({k}, {m})"

        def make(n=n // scale, k=k, m=m):
            return (cp.random.standard_normal((n, k), dtype=F32), cp.random.standard_normal((k, m), dtype=F32) / np.sqrt(k, dtype=F32),
                    cp.random.standard_normal(m, dtype=F32))

        cases.append(GpuCase("linear_relu", shape, make, linear_relu, "cupy.maximum(x @ w + b, 0)",
                             lambda x, w, b: cp.maximum(x @ w + b, 0), {"cupy.matmul alone": lambda x, w, b: cp.matmul(x, w)}))

        def make_backward(make=make):
            x, w, b = make()
            y = linear_relu(x, w, b)
            return cp.random.standard_normal(y.shape, dtype=F32), y, x, w, b

        cases.append(GpuCase("linear_relu_backward", shape, make_backward, linear_relu_backward, "CuPy formulas",
                             lambda g, y, x, w, b: ((g * (y > 0)) @ w.T, x.T @ (g * (y > 0)), (g * (y > 0)).sum(0)),
                             {"our forward": lambda g, y, x, w, b: linear_relu(x, w, b)}))
    return cases


def _linear_relu_cases():
    return list(_cases())


LINEAR = Op("linear", linear, linear_backward, _run_linear_only_backward,
            reference_linear, reference_linear_backward, _examples, skips_unneeded=True)
LINEAR_RELU = Op("linear_relu", linear_relu, linear_relu_backward, _run_linear_relu_backward,
                 reference_linear_relu, reference_linear_relu_backward, _examples, _linear_relu_cases, _gpu_cases,
                 skips_unneeded=True)
RELU = Op("relu", relu, relu_backward, _run_relu_backward, reference_relu, reference_relu_backward, _relu_examples)
