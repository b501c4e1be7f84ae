"""module.backward against central finite differences in float64, for every input and parameter."""

import numpy as np

import fastlayers as fl
from tests.numerics import GRADIENT_TOLERANCE, numerical_grad, rel_err

# Central differences of a float64 loss carry ~1e-10 of rounding noise: a gradient whose finite-difference
# estimate is below this in norm is zero to their resolution, and is compared in absolute terms.
_FD_RESOLUTION = 1e-8


def grad_err(got, expected) -> float:
    """Relative L2 error, or the absolute error where the expected gradient is zero to the differences' resolution."""
    if np.linalg.norm(expected) < _FD_RESOLUTION:
        return float(np.linalg.norm(np.asarray(got) - expected)) / _FD_RESOLUTION * GRADIENT_TOLERANCE
    return rel_err(got, expected)


def random_grad(rng, y):
    """A random dL/dy for the output y (complex for a complex y: dL/dRe(y) + i dL/dIm(y))."""
    g = rng.standard_normal(np.shape(y))
    return g + 1j * rng.standard_normal(np.shape(y)) if np.iscomplexobj(y) else g


def check_backward(net, x, rng, tolerance=GRADIENT_TOLERANCE):
    """net.backward(g) against finite differences of L = sum(Re(net(x)) Re(g) + Im(net(x)) Im(g)).

    x is one input or a tuple of inputs; every input's gradient and every
    parameter's .grad are checked. Returns the forward's output.
    """
    xs = x if isinstance(x, tuple) else (x,)
    y = net(*xs)
    grad_y = random_grad(rng, y)
    net.zero_grad()
    grads = net.backward(grad_y)
    grads = grads if isinstance(grads, tuple) else (grads,)

    def loss(*inputs):
        with fl.no_grad():
            out = net(*inputs)
        return float(np.sum(np.real(out) * grad_y.real + np.imag(out) * np.imag(grad_y)))

    for i, (xi, gi) in enumerate(zip(xs, grads)):
        expected = numerical_grad(lambda v: loss(*xs[:i], v, *xs[i + 1:]), xi)
        assert gi is not None, f"input {i} got no gradient"
        assert grad_err(gi, expected) <= tolerance, f"input {i}"
    for name, p in net.named_parameters():
        original = p.data

        def loss_of_p(v, p=p):
            p.data = v
            return loss(*xs)

        expected = numerical_grad(loss_of_p, original)
        p.data = original
        assert p.grad is not None, f"{name} got no gradient"
        assert grad_err(p.grad, expected) <= tolerance, name
    return y
