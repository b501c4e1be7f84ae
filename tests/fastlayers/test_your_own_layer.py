"""The chapter's own layers, written the chapter's way in plain NumPy, train: every gradient against
central finite differences in float64, and SGD lowers the loss."""

import numpy as np
import pytest

import fastlayers as fl
import kernels
from tests.fastlayers.gradcheck import check_backward

F64 = np.float64


class CenteredLayer(fl.Module):
    def forward(self, X):
        return X - X.mean()


class MyLinear(fl.Module):
    def __init__(self, in_units, units):
        super().__init__()
        rng = np.random.default_rng(in_units * 100 + units)
        self.weight = fl.Parameter(rng.standard_normal((in_units, units)))
        self.bias = fl.Parameter(rng.standard_normal(units))

    def forward(self, X):
        return np.maximum(X @ self.weight + self.bias, 0)


class FixedHiddenMLP(fl.Module):
    def __init__(self, width=20):
        super().__init__()
        self.rand_weight = np.random.default_rng(width).random((width, width))  # a constant: not a Parameter
        self.linear = fl.LazyLinear(width, dtype=F64)

    def forward(self, X):
        X = self.linear(X)
        X = np.maximum(X @ self.rand_weight + 1, 0)
        X = self.linear(X)  # the same layer again: its parameters are shared
        while np.abs(X).sum() > 1:  # data-dependent control flow on a tracked array
            X /= 2
        return X.sum()


class NestMLP(fl.Module):
    def __init__(self):
        super().__init__()
        self.net = fl.Sequential(fl.LazyLinear(8, dtype=F64), fl.ReLU(), fl.LazyLinear(6, dtype=F64), fl.ReLU())
        self.linear = fl.LazyLinear(5, dtype=F64)

    def forward(self, X):
        return self.linear(self.net(X))


def train_mse(net, x, target, opt, steps):
    """SGD steps on mean((net(x) - target)^2), the gradient by hand; the loss before each step."""
    losses = []
    for _ in range(steps):
        y = net(x)
        losses.append(float(np.mean((y - target) ** 2)))
        opt.zero_grad()
        net.backward(2 * (y - target) / y.size)
        opt.step()
    return losses


def between_linears(layer, width):
    return fl.Sequential(fl.Linear(4, width, dtype=F64), layer, fl.Linear(width, 3, dtype=F64))


@pytest.mark.parametrize("make", [
    lambda: between_linears(CenteredLayer(), 6),
    lambda: between_linears(MyLinear(6, 6), 6),
    lambda: fl.Sequential(fl.Linear(4, 20, dtype=F64), FixedHiddenMLP()),
    lambda: between_linears(NestMLP(), 6)[:2],
    lambda: fl.Sequential(fl.Linear(4, 6, dtype=F64), NestMLP(), CenteredLayer(), MyLinear(5, 5),
                          fl.LazyLinear(7, dtype=F64), FixedHiddenMLP(7)),  # the chapter's chimera
], ids=["CenteredLayer", "MyLinear", "FixedHiddenMLP", "NestMLP", "chimera"])
def test_chapter_layers_get_every_gradient(make, rng):
    net = make()
    check_backward(net, rng.standard_normal((3, 4)), rng)


def test_centered_layer_between_linears_gives_the_first_layer_a_gradient(rng):
    """The issue's report: X - X.mean() between two Linears left the first weight's .grad at None."""
    net = between_linears(CenteredLayer(), 6)
    y = net(rng.standard_normal((5, 4)))
    net.backward(np.ones_like(y) + rng.standard_normal(y.shape))
    assert net[0].weight.grad is not None and np.abs(net[0].weight.grad).sum() > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_trains_a_chapter_model(dtype, rng):
    """A few SGD steps on a model of the chapter's own layers lower an MSE loss, in float32 and float64."""

    class Net(fl.Module):
        def __init__(self):
            super().__init__()
            self.first = fl.Linear(6, 16, dtype=dtype)
            self.center = CenteredLayer()
            self.mine = MyLinear(16, 8)
            self.out = fl.Linear(8, 2, dtype=dtype)

        def forward(self, X):
            return self.out(self.mine(self.center(self.first(X))))

    net = Net()
    for p in net.mine.parameters():
        p.data = (p.data * 0.25).astype(dtype)
    x = rng.standard_normal((64, 6)).astype(dtype)
    target = np.stack([np.sin(x[:, 0]), x[:, 1] * x[:, 2]], axis=1).astype(dtype)
    losses = train_mse(net, x, target, fl.optim.SGD(net.parameters(), lr=0.05, momentum=0.9), steps=40)
    assert losses[-1] < 0.5 * losses[0], losses[::8]
    assert all(p.dtype == dtype and p.grad.dtype == dtype for p in net.parameters())


def test_kernels_functions_inside_a_forward_are_differentiable(rng):
    """kernels' own functions on tracked arrays record their differentiable op."""

    class KernelLayer(fl.Module):
        def __init__(self):
            super().__init__()
            self.w = fl.Parameter(rng.standard_normal((4, 5)))
            self.b = fl.Parameter(rng.standard_normal(5))
            self.t = fl.Parameter(rng.standard_normal((5, 5, 3)))

        def forward(self, X):
            h = kernels.center(kernels.linear_relu(X, self.w, self.b), axis=0)
            z = kernels.tensor_reduction(h, self.t) + kernels.linear(h, self.w.T @ np.ones((4, 3)))
            return np.abs(kernels.fft_half(kernels.relu(z) + z))

    check_backward(KernelLayer(), rng.standard_normal((6, 4)), rng)


def test_a_layers_own_kernel_through_fl_op_inside_numpy_code(rng):
    """fl.op and plain NumPy mix in one forward."""
    cube = fl.op(lambda x: x ** 3, lambda g, y, x: (3 * g * x ** 2,))

    class Mixed(fl.Module):
        def forward(self, X):
            return np.tanh(cube(X - X.mean(axis=1, keepdims=True)) / 4).sum(axis=1)

    check_backward(fl.Sequential(fl.Linear(3, 4, dtype=F64), Mixed()), rng.standard_normal((5, 3)), rng)


def test_the_readme_example_trains(rng):
    """README, "Writing your own layer": the chapter's CenteredLayer and MyLinear (float32, as there)."""

    class ReadmeMyLinear(fl.Module):
        def __init__(self, in_units, units):
            super().__init__()
            self.weight = fl.Parameter(rng.standard_normal((in_units, units)).astype(np.float32))
            self.bias = fl.Parameter(rng.standard_normal(units).astype(np.float32))

        def forward(self, X):
            return np.maximum(X @ self.weight + self.bias, 0)

    X = rng.standard_normal((128, 20)).astype(np.float32)
    target = np.tanh(X[:, :1] - X[:, 1:2])
    net = fl.Sequential(fl.Linear(20, 64), CenteredLayer(), ReadmeMyLinear(64, 8), fl.Linear(8, 1))
    losses = train_mse(net, X, target, fl.optim.SGD(net.parameters(), lr=0.01), steps=100)
    assert net[0].weight.grad is not None
    assert losses[-1] < 0.5 * losses[0], losses[::20]
