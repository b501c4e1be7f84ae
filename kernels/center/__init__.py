"""center: the chapter's CenteredLayer, y = x - x.mean(axis, keepdims=True).

x of any shape; axis None (all of it), an int or a tuple of ints. Both devices view
x as (outer, reduced, inner) (layout.py) and make two passes: float64 sums, then the
subtraction of the mean split into two numbers of x's dtype, so float32 data is
rounded once. The gradient is grad_y centered: the Jacobian I - 11^T/m is symmetric.
"""

import numpy as np

from .._dispatch import Backends, overridable, prepare
from .._op import Case, GpuCase, Op
from .._validate import normalize_axes

_backends = Backends(__name__)

# --- the NumPy reference ---


def reference_center(x, axis=None):
    return x - x.mean(axis=axis, keepdims=True)


def reference_center_backward(grad_y, y, x, axis=None):
    return (grad_y - grad_y.mean(axis=axis, keepdims=True),)


# --- forward and backward ---


def _axes(op, axis, ndim):
    return None if axis is None else normalize_axes(op, axis, ndim)


@overridable
def center(x, axis=None):
    """x - x.mean(axis, keepdims=True); axis None (all), an int or a tuple of ints."""
    device, (x,) = prepare("center", ("x",), (x,))
    return _backends[device].center(x, _axes("center", axis, x.ndim))


def _run_backward(device, grad_y, y, x, axis=None):
    return (_backends[device].center_backward(grad_y, _axes("center_backward", axis, grad_y.ndim)),)


@overridable
def center_backward(grad_y, y, x, axis=None):
    """(grad_x,): grad_y minus its mean over the same axes (y and x are not needed: None will do)."""
    device, (grad_y,) = prepare("center_backward", ("grad_y",), (grad_y,))
    return _run_backward(device, grad_y, y, x, axis)


# --- what the tests and benchmarks run ---


def _examples(rng):
    cases = [((7,), None), ((3, 4), 0), ((3, 4), -1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (1, 2)), ((2, 3), None)]
    return [((rng.standard_normal(shape) + 3,), {"axis": axis}) for shape, axis in cases]


F32 = np.float32


def _inputs(shape):
    return lambda rng: (rng.standard_normal(shape, dtype=F32) + F32(3),)


def sum_and_copy(x):
    """The memory floor of centering: one read of x (the sum), one read and one write (the copy)."""
    x.sum()
    return x.copy()


_SIZES = [((10**4,), None, True), ((10**5,), None, True), ((10**6,), None, True),
          ((10**7,), None, False), ((4096, 1024), 0, False), ((512, 1024), 0, True)]


def _cases():
    cases = []
    for shape, axis, quick in _SIZES:
        label = f"{shape}" + ("" if axis is None else f" axis={axis}")
        cases.append(Case("center", label, _inputs(shape), lambda x, a=axis: center(x, a),
                          lambda x, a=axis: x - x.mean(axis=a, keepdims=True), floor=("x.sum() + x.copy()", sum_and_copy),
                          quick=quick,
                          peers={"torch": lambda torch, x, a=axis: x - (x.mean() if a is None else x.mean(a, keepdim=True)),
                                 "jax": lambda jnp, x, a=axis: x - x.mean(axis=a, keepdims=True)}))

    def make_backward(rng):
        (x,) = _inputs((10**6,))(rng)
        return x, None, None  # grad_y, and the y and x center_backward does not need

    cases.append(Case("center_backward", "(1000000,)", make_backward, center_backward, reference_center_backward,
                      floor=("x.sum() + x.copy()", lambda g, y, x: sum_and_copy(g)), quick=True))
    return cases


def device_copy(x):
    """x's bytes copied device to device by the copy engine: the device's copy bandwidth."""
    out = type(x)(x.shape, x.dtype)
    out.data.copy_from_device_async(x.data, x.nbytes)
    return out


COPY = "copy (device memcpy)"  # the GPU report turns this peer into a fraction of the copy bandwidth


def _gpu_cases(cp, scale):
    size = 2**28 // scale
    normal = lambda: cp.random.standard_normal(size, dtype=F32)  # noqa: E731
    return [
        GpuCase("center", f"({size},)", lambda: (normal() + 3,), center, "x - x.mean()", lambda x: x - x.mean(),
                {COPY: device_copy}),
        GpuCase("center_backward", f"({size},)", lambda: (normal(), None, None), center_backward, "g - g.mean()",
                lambda g, y, x: (g - g.mean(),), {"our forward": lambda g, y, x: center(g)}),
    ]


CENTER = Op("center", center, center_backward, _run_backward, reference_center, reference_center_backward, _examples,
            _cases, _gpu_cases)
