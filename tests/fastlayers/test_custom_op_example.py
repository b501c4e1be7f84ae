"""The README's worked example: a user's own Numba kernel pair made into a differentiable layer."""

import numba
import numpy as np

import fastlayers as fl
from tests.fastlayers.test_backward import check_backward


@numba.njit(cache=True)
def swish_kernel(x, y):  # y = x * sigmoid(x), elementwise on flat arrays
    for i in range(x.size):
        y[i] = x[i] / (1.0 + np.exp(-x[i]))


@numba.njit(cache=True)
def swish_grad_kernel(grad_y, x, grad_x):  # dy/dx = s + x s (1 - s), s = sigmoid(x)
    for i in range(x.size):
        s = 1.0 / (1.0 + np.exp(-x[i]))
        grad_x[i] = grad_y[i] * (s + x[i] * s * (1.0 - s))


def swish_forward(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.empty_like(x)
    swish_kernel(x.reshape(-1), y.reshape(-1))
    return y


def swish_backward(grad_y, y, x):  # grad_y, the forward's output, then the forward's inputs
    x = np.ascontiguousarray(x, dtype=np.float64)
    grad_y = np.ascontiguousarray(grad_y, dtype=np.float64)
    grad_x = np.empty_like(x)
    swish_grad_kernel(grad_y.reshape(-1), x.reshape(-1), grad_x.reshape(-1))
    return (grad_x,)  # one gradient per input


swish = fl.op(swish_forward, swish_backward)


class Swish(fl.Module):
    def forward(self, x):
        return swish(x)


def test_user_kernel_layer_trains_and_differentiates(rng):
    net = fl.Sequential(fl.Linear(4, 8, dtype=np.float64), Swish(), fl.Linear(8, 1, dtype=np.float64))
    check_backward(net, rng.standard_normal((5, 4)), rng)
