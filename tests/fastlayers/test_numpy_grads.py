"""Every NumPy operation fastlayers differentiates, against central finite differences in float64:
written as a user writes it inside forward(), on fresh random inputs, broadcasting included."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastlayers as fl
import kernels
from tests.fastlayers.gradcheck import check_backward


class Function(fl.Module):
    """A parameterless layer whose forward is fn(*inputs)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def positive(shape):
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def normal(shape):
    return lambda rng: rng.standard_normal(shape)


def distinct(shape):
    """Values at least 0.05 apart: max / min / maximum are differentiable there."""
    return lambda rng: rng.permutation(np.arange(int(np.prod(shape)))).reshape(shape) * 0.1 + rng.uniform(0, 0.05, shape)


def _setitem(x, y):
    z = x * 1.0
    z[1:, ::2] = y
    return z


def _inplace(x, y):
    z = x * 2
    z += y
    z *= x
    z -= 1
    z /= y + 3
    z **= 2
    return z


CASES = {
    # arithmetic, broadcasting both ways
    "add": (lambda x, y: x + y, [normal((3, 4)), normal((4,))]),
    "subtract": (lambda x, y: x - y, [normal((3, 1)), normal((1, 4))]),
    "multiply": (lambda x, y: x * y, [normal((3, 4)), normal((3, 1))]),
    "divide": (lambda x, y: x / y, [normal((3, 4)), positive((4,))]),
    "scalar ops": (lambda x: (2 - x) * 3 / (x + 4) + 1 / (x * x + 1), [normal((3, 4))]),
    "power": (lambda x, y: x ** y, [positive((3, 4)), normal((3, 4))]),
    "power int": (lambda x: x ** 3, [normal((5,))]),
    "rpower": (lambda x: 2.0 ** x, [normal((5,))]),
    "negative": (lambda x: -x, [normal((3, 4))]),
    "abs": (lambda x: abs(x) + np.abs(x) + np.absolute(x), [distinct((3, 4))]),
    "matmul": (lambda x, y: x @ y, [normal((3, 4)), normal((4, 2))]),
    "matmul batched": (lambda x, y: np.matmul(x, y), [normal((2, 3, 4)), normal((4, 5))]),
    "matmul vector left": (lambda x, y: x @ y, [normal((4,)), normal((2, 4, 3))]),
    "matmul vector right": (lambda x, y: x @ y, [normal((3, 4)), normal((4,))]),
    "matmul vectors": (lambda x, y: x @ y, [normal((4,)), normal((4,))]),
    "dot": (lambda x, y: np.dot(x, y) + x.dot(y), [normal((3, 4)), normal((4, 2))]),
    "outer": (lambda x, y: np.outer(x, y), [normal((3,)), normal((4,))]),
    "einsum": (lambda x, y: np.einsum("ij,jk->ik", x, y), [normal((3, 4)), normal((4, 2))]),
    "einsum batched": (lambda x, y: np.einsum("bij,bjk->bik", x, y), [normal((2, 3, 4)), normal((2, 4, 2))]),
    "einsum implicit": (lambda x, y: np.einsum("ij,j", x, y), [normal((3, 4)), normal((4,))]),
    "einsum ellipsis": (lambda x, y: np.einsum("...i,...i->...", x, y), [normal((2, 3, 4)), normal((3, 4))]),
    "einsum summed index": (lambda x, w: np.einsum("ni,ijk->nk", x, w), [normal((2, 3)), normal((3, 3, 2))]),
    "einsum sum out": (lambda x: np.einsum("ij->i", x), [normal((3, 4))]),
    # elementwise functions
    "exp": (np.exp, [normal((3, 4))]),
    "log": (np.log, [positive((3, 4))]),
    "log1p": (np.log1p, [positive((3, 4))]),
    "sqrt": (np.sqrt, [positive((3, 4))]),
    "square": (np.square, [normal((3, 4))]),
    "tanh": (np.tanh, [normal((3, 4))]),
    "sin cos": (lambda x: np.sin(x) * np.cos(x), [normal((3, 4))]),
    "more": (lambda x: np.expm1(x) + np.log2(x) + np.log10(x) + np.reciprocal(x) + np.arctan(x)
             + np.sinh(x) + np.cosh(x) + np.tan(x / 4) + np.exp2(x) + np.logaddexp(x, 2 * x), [positive((3, 4))]),
    "maximum": (np.maximum, [distinct((3, 4)), distinct((4,))]),
    "minimum": (np.minimum, [distinct((3, 4)), distinct((3, 1))]),
    "relu": (lambda x: np.maximum(x, 0), [normal((3, 4))]),
    "where": (lambda x, y: np.where(x > 0, x, y), [normal((3, 4)), normal((4,))]),
    "clip": (lambda x: np.clip(x, -0.5, 0.5) + x.clip(min=-1.0), [distinct((3, 4))]),
    "clip tracked bounds": (lambda x, lo, hi: np.clip(x, lo, hi), [normal((3, 4)), normal((4,)) , positive((3, 1))]),
    # reductions
    "sum": (lambda x: x.sum() + np.sum(x), [normal((3, 4))]),
    "sum axis": (lambda x: x.sum(axis=1, keepdims=True) * np.sum(x, axis=0), [normal((3, 4))]),
    "sum axes": (lambda x: np.sum(x, axis=(0, 2)), [normal((2, 3, 4))]),
    "add.reduce": (lambda x: np.add.reduce(x, axis=1), [normal((3, 4))]),
    "mean": (lambda x: x - x.mean() + np.mean(x, axis=0), [normal((3, 4))]),
    "var std": (lambda x: x.var() + np.std(x, axis=1, keepdims=True) + np.var(x, axis=0, ddof=1, keepdims=True), [normal((3, 4))]),
    "max min": (lambda x: x.max() + np.min(x, axis=0) + np.max(x, axis=1, keepdims=True), [distinct((3, 4))]),
    "amax amin": (lambda x: np.amax(x, axis=0) - np.amin(x), [distinct((3, 4))]),
    "cumsum": (lambda x: np.cumsum(x, axis=1) + x.cumsum().reshape(x.shape), [normal((3, 4))]),
    # shapes
    "reshape": (lambda x: x.reshape(4, 3) @ np.reshape(x, (3, 4)) + x.reshape(-1)[:4], [normal((3, 4))]),
    "transpose": (lambda x: x.T + np.transpose(x) + x.transpose(1, 0), [normal((3, 4))]),
    "transpose axes": (lambda x: np.transpose(x, (2, 0, 1)), [normal((2, 3, 4))]),
    "swapaxes moveaxis": (lambda x: np.swapaxes(x, 0, 2) + np.moveaxis(x, 0, -1).swapaxes(0, 1), [normal((2, 2, 2))]),
    "expand_dims squeeze": (lambda x: np.squeeze(np.expand_dims(x, 1) * np.ones((1, 2, 1))[:, :1]), [normal((3, 4))]),
    "ravel flatten": (lambda x: np.ravel(x) + x.flatten(), [normal((3, 4))]),
    "flip": (lambda x: np.flip(x, 0) * x, [normal((3, 4))]),
    "broadcast_to": (lambda x: np.broadcast_to(x, (2, 3, 4)), [normal((3, 1))]),
    "concatenate": (lambda x, y: np.concatenate([x, y, x], axis=1), [normal((3, 2)), normal((3, 4))]),
    "concatenate flat": (lambda x, y: np.concatenate([x, y], axis=None), [normal((3, 2)), normal((4,))]),
    "stack": (lambda x, y: np.stack([x, y], axis=-1), [normal((3, 2)), normal((3, 2))]),
    "hstack vstack": (lambda x, y: np.vstack([x, y]) + np.hstack([y[:, :1], x[:, 1:]]), [normal((1, 2)), normal((1, 2))]),
    "atleast_2d": (lambda x: np.atleast_2d(x) * 2, [normal((4,))]),
    "astype copy": (lambda x: x.astype(np.float32).astype(np.float64) * 0 + x.copy() + np.copy(x), [normal((3, 4))]),
    # selection
    "basic indexing": (lambda x: x[1, :3] + x[:, 2] + x[::2, 1:3].sum() + x[..., None][0, 0], [normal((3, 4))]),
    "fancy indexing repeats": (lambda x: x[[0, 2, 0]] * x[np.array([1, 1, 0]), [3, 0, 0]][:, None], [normal((3, 4))]),
    "boolean mask": (lambda x: x[x > 0].sum() + x[:, [True, False, True, False]], [normal((3, 4))]),
    "take": (lambda x: np.take(x, [2, 0, 2], axis=1) + x.take([1, 1, 0]), [normal((3, 4))]),
    "setitem": (_setitem, [normal((3, 4)), normal((2,))]),
    "in-place operators": (_inplace, [positive((3, 4)), positive((4,))]),
    "iteration": (lambda x: sum(row * i for i, row in enumerate(x)), [normal((3, 4))]),
    # complex values and Fourier transforms (a real loss of a complex output: dL/dRe + i dL/dIm)
    "fft": (lambda x: np.fft.fft(x), [normal((3, 8))]),
    "fft complex input": (lambda x, y: np.fft.fft(x + 1j * y, axis=0, norm="ortho"), [normal((4, 3)), normal((4, 3))]),
    "fft padded": (lambda x: np.fft.fft(x, n=10, norm="forward"), [normal((2, 7))]),
    "fft cut": (lambda x: np.fft.fft(x, n=5), [normal((2, 7))]),
    "rfft": (lambda x: np.fft.rfft(x), [normal((3, 9))]),
    "rfft even padded": (lambda x: np.fft.rfft(x, n=8, axis=0), [normal((6, 2))]),
    "ifft": (lambda x: np.fft.ifft(np.fft.fft(x) * 2j), [normal((2, 6))]),
    "complex abs real imag": (lambda x: np.abs(np.fft.fft(x)) + np.fft.fft(x).real * np.imag(np.fft.fft(x).conj()),
                              [normal((2, 6))]),
    # fastlayers' own kernels
    "kernels": (lambda x, w: kernels.fft_half(kernels.center(kernels.linear_relu(x, w), axis=1)),
                [normal((3, 4)), normal((4, 6))]),
    "kernels tensor_reduction": (lambda x, w: kernels.tensor_reduction(kernels.relu(x), w), [normal((3, 4)), normal((4, 4, 2))]),
}


@pytest.mark.parametrize("name", CASES)
def test_numpy_operation_gradient(name, rng):
    fn, makers = CASES[name]
    check_backward(Function(fn), tuple(make(rng) for make in makers), rng)


# Random chains of supported operations: each keeps the array's rank, so any order composes.
STEPS = {
    "tanh": np.tanh,
    "sin": np.sin,
    "half square": lambda x: 0.5 * x * x,
    "center": lambda x: x - x.mean(),
    "center rows": lambda x: x - x.mean(axis=-1, keepdims=True),
    "transpose": lambda x: x.T,
    "flip": lambda x: np.flip(x, 0),
    "scale by column sum": lambda x: x * np.tanh(x.sum(axis=0, keepdims=True)),
    "softplus": lambda x: np.logaddexp(x, 0),
    "normalize": lambda x: x / np.sqrt((x * x).sum() + 1),
    "gram": lambda x: x @ x.T / 4,
    "relu shifted": lambda x: np.maximum(x + 0.25, 0) - np.minimum(x, -0.25),
    "concat halves": lambda x: np.concatenate([x[:, ::2], x[:, 1::2] * 2], axis=1),
    "where": lambda x: np.where(x > 0, np.exp(-x), 2 - np.exp(x)),  # continuous, as finite differences need: exact
    # zeros come up (rows centered, then scaled by their sum)
}


@given(steps=st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=5),
       shape=st.tuples(st.integers(2, 4), st.integers(2, 4)), seed=st.integers(0, 2**32 - 1))
def test_random_chains_of_operations(steps, shape, seed):
    rng = np.random.default_rng(seed)

    def chain(x):
        for step in steps:
            x = STEPS[step](x)
        return x

    check_backward(Function(chain), rng.standard_normal(shape), rng, tolerance=1e-5)
