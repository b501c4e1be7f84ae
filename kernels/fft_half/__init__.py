"""fft_half: the chapter's second exercise, the first half of the Fourier coefficients.

y = fft(x, axis=-1)[..., :n // 2] for real x (..., n), at least 1-D: complex64 for
float32, complex128 for float64. The CPU's FFT is our own (cpu.py: mixed-radix
Stockham, Bluestein for large prime factors, 8 rows at a time on 8-lane vectors);
the GPU's is cuFFT, with our kernel (fft_half.cu) for the backward's half spectrum.
grad_y is dL/dRe(y) + i dL/dIm(y), PyTorch's convention for complex gradients.
"""

import math

import numpy as np

from .._dispatch import Backends, device_for, overridable, prepare, xp_for
from .._op import Case, GpuCase, Op
from .._validate import as_arrays, check_ndim

_backends = Backends(__name__)

# --- the NumPy reference ---


def reference_fft_half(x):
    n = x.shape[-1]
    return np.fft.fft(x, axis=-1)[..., : n // 2]


def reference_fft_half_backward(grad_y, y, x, n=None):
    """dL/dx for a real loss L, given grad_y = dL/dRe(y) + i dL/dIm(y) of y = fft_half(x)."""
    n = x.shape[-1] if n is None else n
    k, t = np.arange(grad_y.shape[-1]), np.arange(n)
    basis = np.exp(-2j * np.pi * (np.outer(k, t) % n) / n)  # the first n // 2 rows of the DFT matrix
    return ((grad_y.conj() @ basis).real,)


# --- forward and backward ---


@overridable
def fft_half(x):
    """fft(x, axis=-1)[..., :n // 2] for real x (..., n): complex64 for float32, complex128 for float64."""
    device, (x,) = prepare("fft_half", ("x",), (x,))
    if x.ndim == 0:
        raise ValueError("fft_half: x must be at least 1-D, (..., n), got a 0-d array")
    n = x.shape[-1]
    if n < 1:
        raise ValueError(f"fft_half: the last axis of x must hold at least one sample, got shape {tuple(x.shape)}")
    if x.ndim == 2:
        return _backends[device].fft_half(x)
    return _backends[device].fft_half(x.reshape(-1, n)).reshape(x.shape[:-1] + (n // 2,))


def _run_backward(device, grad_y, y, x, n=None):
    """grad_y C-contiguous complex of the forward's precision."""
    n = int(x.shape[-1] if n is None else n)
    rows = math.prod(grad_y.shape[:-1])
    grad_x = _backends[device].fft_half_backward(grad_y.reshape(rows, n // 2), n)
    return (grad_x.reshape(grad_y.shape[:-1] + (n,)),)


@overridable
def fft_half_backward(grad_y, y, x, n=None):
    """(grad_x,): real (..., n) of y = fft_half(x), from grad_y (..., n // 2) = dL/dRe(y) + i dL/dIm(y).

    n is x's length, x.shape[-1]; pass n instead of x (x=None) if you have no x.
    """
    op = "fft_half_backward"
    device = device_for(op, grad_y, x)
    xp = xp_for(device)
    grad_y = as_arrays(xp, op, grad_y=grad_y)["grad_y"]
    if n is None:
        if x is None:
            raise TypeError(f"{op}: pass the forward's input x, or its length n")
        n = np.shape(x)[-1]
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{op}: n must be a positive int (the forward input's length), got {n!r}")
    check_ndim(op, "grad_y", grad_y, range(1, 64), "at least 1-D, (..., n // 2)")
    if grad_y.shape[-1] != n // 2:
        raise ValueError(
            f"{op}: grad_y's last axis must hold n // 2 = {n // 2} coefficients for n = {n}, "
            f"got shape {tuple(grad_y.shape)}"
        )
    dt = np.dtype(grad_y.dtype)
    if dt.kind not in "biufc":
        raise TypeError(f"{op}: grad_y has dtype {dt}; expected a complex or real numeric array")
    # by kind and size, not equality: a big-endian >c8 or >f4 gradient is single precision too
    single = (dt.kind == "c" and dt.itemsize <= 8) or (dt.kind in "f" and dt.itemsize <= 4)
    cdtype = np.complex64 if single else np.complex128
    return _run_backward(device, xp.ascontiguousarray(grad_y, dtype=cdtype), y, x, int(n))


# --- what the tests and benchmarks run ---


def _examples(rng):
    # Odd and even lengths, small primes (direct radix) and 37 (Bluestein), batch axes of rank 0 to 2.
    shapes = [(2, 1), (3, 2), (4, 5), (2, 6), (9,), (2, 2, 12), (1, 37), (2, 64)]
    return [((rng.standard_normal(shape),), {}) for shape in shapes]


F32 = np.float32


def numpy_fft_half(x):
    return np.fft.fft(x)[:, : x.shape[1] // 2]


def _numpy_fft_half_backward(g, y, x):
    n = x.shape[-1]
    full = np.zeros(g.shape[:-1] + (n,), g.dtype)
    full[:, : g.shape[1]] = g
    return ((np.fft.ifft(full) * n).real,)


def _scipy_rfft(x):
    import scipy.fft

    return scipy.fft.rfft(x, workers=-1)


# each as its users write it; rfft returns n // 2 + 1 coefficients, a view drops the last
_FFT_PEERS = {"torch": lambda torch, x: torch.fft.rfft(x)[:, : x.shape[1] // 2],
              "jax": lambda jnp, x: jnp.fft.rfft(x)[:, : x.shape[1] // 2],
              "fftw": lambda plans, x: plans.rfft(x)[:, : x.shape[1] // 2],
              "mkl": lambda mkl_fft, x: mkl_fft.rfft(x)[:, : x.shape[1] // 2]}
_SIZES = [((16, 1000), True), ((4096, 256), True), ((1024, 1024), False), ((64, 65536), False), ((8, 4096), True),
          ((4, 2**20), False), ((1, 2**22), False), ((2, 1048573), False)]  # long rows: four-step; a prime: Bluestein


def _cases():
    cases = []
    for (rows, n), quick in _SIZES:
        shape = f"({rows}, {n})"
        cases.append(Case("fft_half", shape, lambda rng, s=(rows, n): (rng.standard_normal(s, dtype=F32),), fft_half,
                          numpy_fft_half, others={"np.fft.rfft": np.fft.rfft, "scipy rfft workers=-1": _scipy_rfft},
                          quick=quick, peers=_FFT_PEERS))

        def make_backward(rng, rows=rows, n=n):
            g = rng.standard_normal((rows, n // 2), dtype=F32) + 1j * rng.standard_normal((rows, n // 2), dtype=F32)
            return g.astype(np.complex64), None, rng.standard_normal((rows, n), dtype=F32)  # x: the forward's input

        cases.append(Case("fft_half_backward", shape, make_backward, fft_half_backward, _numpy_fft_half_backward,
                          others={"our forward": lambda g, y, x: fft_half(x)}, quick=quick))
    return cases


def _gpu_cases(cp, scale):
    rows = 16384 // scale
    normal = lambda *shape: cp.random.standard_normal(shape, dtype=F32)  # noqa: E731
    return [
        GpuCase("fft_half", f"({rows}, 4096)", lambda: (normal(rows, 4096),), fft_half, "cupy.fft.fft(x)[:, :L//2]",
                lambda x: cp.fft.fft(x)[:, : x.shape[1] // 2], {"cupy.fft.rfft alone": lambda x: cp.fft.rfft(x)}),
        GpuCase("fft_half_backward", f"({rows}, 4096)",
                lambda: ((normal(rows, 2048) + 1j * normal(rows, 2048)).astype(cp.complex64), None, normal(rows, 4096)),
                fft_half_backward, "our forward", lambda g, y, x: fft_half(x)),
    ]


FFT_HALF = Op("fft_half", fft_half, fft_half_backward, _run_backward, reference_fft_half, reference_fft_half_backward,
              _examples, _cases, _gpu_cases)
