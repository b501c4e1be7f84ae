"""What the Module machinery costs over calling the kernels by hand, at the chapter's sizes.

Each case is a model and the same computation written with kernels (or NumPy)
alone; both run forward (returning y), and forward + backward (returning
grad_x). A case returns (name, count, unit, passes): the difference is reported
per unit, a layer or a recorded NumPy op. Shared by ``pytest bench`` and the report.
"""

import numpy as np

import fastlayers as fl
import kernels


def _training_step(net, x, grad_y):
    def step():  # a training step's order: clear the gradients, forward, backward
        net.zero_grad()
        net(x)
        return net.backward(grad_y)

    return step


def dense_stack(rng):
    """The chapter's Sequential(Linear(64, 8, relu), Linear(8, 1, relu)) on a (2, 64) batch."""
    net = fl.Sequential(fl.Linear(64, 8, activation="relu"), fl.Linear(8, 1, activation="relu"))
    x = rng.standard_normal((2, 64), dtype=np.float32)
    grad_y = rng.standard_normal((2, 1), dtype=np.float32)
    (w1, b1), (w2, b2) = [(layer.weight.data, layer.bias.data) for layer in net]

    def by_hand_forward():
        return kernels.linear_relu(kernels.linear_relu(x, w1, b1), w2, b2)

    def by_hand_step():
        h = kernels.linear_relu(x, w1, b1)
        y = kernels.linear_relu(h, w2, b2)
        grad_h, grad_w2, grad_b2 = kernels.linear_relu_backward(grad_y, y, h, w2, b2)
        grad_x, grad_w1, grad_b1 = kernels.linear_relu_backward(grad_h, h, x, w1, b1)
        return grad_x

    return "Sequential(Linear(64, 8, relu), Linear(8, 1, relu)), x (2, 64)", len(net), "layer", {
        "forward": (lambda: net(x), by_hand_forward),
        "forward + backward": (_training_step(net, x, grad_y), by_hand_step),
    }


def centered_linear(rng):
    """The chapter's Sequential(Linear(8, 128), Centered()) on a (4, 8) batch."""
    net = fl.Sequential(fl.Linear(8, 128), fl.Centered())
    x = rng.standard_normal((4, 8), dtype=np.float32)
    grad_y = rng.standard_normal((4, 128), dtype=np.float32)
    w, b = net[0].weight.data, net[0].bias.data

    def by_hand_step():
        y = kernels.center(kernels.linear(x, w, b))
        (grad_h,) = kernels.center_backward(grad_y, y, None)
        grad_x, grad_w, grad_b = kernels.linear_backward(grad_h, None, x, w, b)
        return grad_x

    return "Sequential(Linear(8, 128), Centered()), x (4, 8)", len(net), "layer", {
        "forward": (lambda: net(x), lambda: kernels.center(kernels.linear(x, w, b))),
        "forward + backward": (_training_step(net, x, grad_y), by_hand_step),
    }


class MyLinear(fl.Module):
    """The chapter's MyLinear in plain NumPy: three recorded NumPy ops (matmul, add, maximum)."""

    def __init__(self, weight, bias):
        super().__init__()
        self.weight, self.bias = fl.Parameter(weight), fl.Parameter(bias)

    def forward(self, X):
        return np.maximum(X @ self.weight + self.bias, 0)


def numpy_layer(rng):
    """The chapter's MyLinear(8, 128), written in NumPy, on a (4, 8) batch, against the same NumPy untracked."""
    w, b = rng.standard_normal((8, 128), dtype=np.float32), rng.standard_normal(128, dtype=np.float32)
    net = MyLinear(w, b)
    x = rng.standard_normal((4, 8), dtype=np.float32)
    grad_y = rng.standard_normal((4, 128), dtype=np.float32)

    def by_hand_step():
        z = x @ w + b
        g = grad_y * (z > 0)
        g.sum(axis=0), x.T @ g  # the bias and weight gradients
        return g @ w.T

    return "MyLinear(8, 128) in NumPy, x (4, 8)", 3, "recorded NumPy op", {
        "forward": (lambda: net(x), lambda: np.maximum(x @ w + b, 0)),
        "forward + backward": (_training_step(net, x, grad_y), by_hand_step),
    }


OVERHEAD_CASES = [dense_stack, centered_linear, numpy_layer]
