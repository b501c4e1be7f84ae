"""module.backward against central finite differences in float64: every layer, Sequential,
the chapter's MLP block, a shared layer, and a user-defined op."""

import numpy as np
import pytest

import fastlayers as fl
import kernels
from tests.fastlayers.gradcheck import check_backward
from tests.numerics import TOLERANCE, rel_err

F64 = np.float64


@pytest.mark.parametrize("make, x_shape", [
    (lambda: fl.Linear(5, 3, dtype=F64), (4, 5)),
    (lambda: fl.Linear(5, 3, activation="relu", dtype=F64), (4, 5)),
    (lambda: fl.Linear(5, 3, bias=False, dtype=F64), (5,)),
    (lambda: fl.LazyLinear(3, activation="relu", dtype=F64), (4, 6)),
    (lambda: fl.ReLU(), (3, 4)),
    (lambda: fl.Centered(), (3, 4)),
    (lambda: fl.Centered(axis=0), (3, 4)),
    (lambda: fl.TensorReduction(4, 3, dtype=F64), (5, 4)),
    (lambda: fl.LazyTensorReduction(2, dtype=F64), (3, 5)),
    (lambda: fl.FFTHalf(), (2, 9)),
    (lambda: fl.FFTHalf(), (3, 8)),
], ids=["linear", "linear-relu", "linear-nobias-1d", "lazy-linear", "relu", "centered", "centered-axis0",
        "tensor-reduction", "lazy-tensor-reduction", "fft-odd", "fft-even"])
def test_layer_backward(make, x_shape, rng):
    check_backward(make(), rng.standard_normal(x_shape), rng)


def test_sequential_backward(rng):
    net = fl.Sequential(fl.Linear(6, 8, activation="relu", dtype=F64), fl.Centered(axis=0),
                        fl.TensorReduction(8, 3, dtype=F64), fl.Linear(3, 2, dtype=F64))
    check_backward(net, rng.standard_normal((5, 6)), rng)


class MLP(fl.Module):
    """The chapter's MLP block."""

    def __init__(self):
        super().__init__()
        self.hidden = fl.LazyLinear(16, dtype=F64)
        self.out = fl.LazyLinear(4, dtype=F64)

    def forward(self, X):
        return self.out(fl.functional.relu(self.hidden(X)))


def test_mlp_block_backward(rng):
    check_backward(MLP(), rng.standard_normal((3, 7)), rng)


def test_shared_layer_gradients_add_up(rng):
    shared = fl.Linear(6, 6, activation="relu", dtype=F64)
    net = fl.Sequential(fl.Linear(4, 6, dtype=F64), shared, shared, fl.Linear(6, 2, dtype=F64))
    assert net[1].weight is net[2].weight
    assert len(list(net.parameters())) == 6  # the shared weight and bias listed once
    check_backward(net, rng.standard_normal((3, 4)), rng)


class Scale(fl.Module):
    """A user's own layer on a user's own kernel pair, made differentiable with fl.op."""

    def __init__(self, n):
        super().__init__()
        self.weight = fl.Parameter(np.linspace(0.5, 1.5, n))

    scale = staticmethod(fl.op(lambda x, w: x * w, lambda g, y, x, w: (g * w, (g * x).sum(axis=0))))

    def forward(self, x):
        return self.scale(x, self.weight)


def test_user_defined_op_backward(rng):
    net = fl.Sequential(Scale(5), fl.Linear(5, 2, dtype=F64))
    check_backward(net, rng.standard_normal((3, 5)), rng)


def test_a_parameter_used_twice_in_one_forward(rng):
    class Twice(fl.Module):
        def __init__(self):
            super().__init__()
            self.lin = fl.Linear(4, 4, dtype=F64)

        def forward(self, x):
            return self.lin(fl.functional.relu(self.lin(x)))

    check_backward(Twice(), rng.standard_normal((2, 4)), rng)


def test_grads_accumulate_across_backwards_until_zero_grad(rng):
    net = fl.Linear(3, 2, dtype=F64)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    net(x)
    net.backward(g)
    first = net.weight.grad.copy()
    net(x)
    net.backward(g)
    np.testing.assert_allclose(net.weight.grad, 2 * first)
    net.zero_grad()
    assert net.weight.grad is None


def test_backward_errors():
    net = fl.Linear(3, 2)
    with pytest.raises(RuntimeError, match="no forward has been run"):
        net.backward(np.ones((1, 2)))
    y = net(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"grad_y has shape \(2, 2\), the output has shape \(1, 2\)"):
        net.backward(np.ones((2, 2)))
    net.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="already used by a backward"):
        net.backward(np.ones_like(y))
    with fl.no_grad():
        net(np.ones((1, 3)))
    with pytest.raises(RuntimeError, match="no_grad"):
        net.backward(np.ones_like(y))


def test_no_grad_records_nothing_and_keeps_no_activations():
    net = fl.Sequential(fl.Linear(3, 4), fl.ReLU())
    x = np.ones((2, 3), np.float32)
    with fl.no_grad():
        net(x)
    assert net._tape is None
    net(x)
    assert len(net._tape[0].nodes) == 2  # recorded outside no_grad: one node per op
    with fl.no_grad():
        net(x)
    assert net._tape is None  # the earlier activations are released


def test_kernels_by_hand_match_the_module(rng):
    """The module computes exactly what the kernels compute when called by hand."""
    net = fl.Sequential(fl.Linear(8, 16, activation="relu"), fl.Linear(16, 4))
    x = rng.standard_normal((5, 8)).astype(np.float32)
    h = kernels.linear_relu(x, net[0].weight.data, net[0].bias.data)
    np.testing.assert_array_equal(net(x), kernels.linear(h, net[1].weight.data, net[1].bias.data))


def test_a_failing_backward_changes_no_gradient(rng):
    def broken_backward(grad_y, y, x):
        raise ArithmeticError("the user's gradient kernel failed")

    broken = fl.op(lambda x: x + 0.0, broken_backward)

    class Net(fl.Module):
        def __init__(self):
            super().__init__()
            self.first = fl.Linear(3, 3, dtype=F64)
            self.second = fl.Linear(3, 2, dtype=F64)

        def forward(self, x):
            return self.second(broken(self.first(x)))

    net = Net()
    y = net(rng.standard_normal((4, 3)))
    with pytest.raises(ArithmeticError):
        net.backward(np.ones_like(y))
    assert all(p.grad is None for p in net.parameters())  # second's gradients were put back


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_takes_every_path_to_the_same_gradients(dtype, rng):
    """Arrays that fit the CPU kernels skip kernels.api's checks; anything else (a list input, a
    float64 grad into a float32 model, a single sample) goes through them: the same numbers, to the
    dtype's tolerance (a list or a float64 grad computes in float64), by relative L2 error."""
    fl.manual_seed(0)
    net = fl.Sequential(fl.Linear(4, 3, activation="relu", dtype=dtype), fl.Centered(axis=-1),
                        fl.Linear(3, 2, dtype=dtype))
    x = rng.standard_normal((5, 4)).astype(dtype)
    g = rng.standard_normal((5, 2))
    results = []
    for x_in, g_in in [(x, g.astype(dtype)), (x.tolist(), g), (x, g.tolist())]:
        net.zero_grad()
        net(x_in)
        results.append((np.asarray(net.backward(g_in)), net[0].weight.grad.copy()))
    tolerance = TOLERANCE[np.dtype(dtype)]
    for grad_x, grad_w in results[1:]:
        assert rel_err(grad_x, results[0][0]) <= tolerance
        assert rel_err(grad_w, results[0][1]) <= tolerance
    net.zero_grad()
    net(x[0])
    assert rel_err(net.backward(g[0].astype(dtype)), results[0][0][0]) <= tolerance


def _spy_need_x(monkeypatch):
    """Records need_x of every CPU linear backward."""
    from kernels.linear import cpu

    seen, real = [], cpu.linear_backward

    def spy(grad_y, x, w, y, need_x=True):
        seen.append(need_x)
        return real(grad_y, x, w, y, need_x)

    monkeypatch.setattr(cpu, "linear_backward", spy)
    return seen


@pytest.mark.parametrize("batch", [3, 300], ids=["tiny kernel", "gemm"])
def test_the_first_layer_skips_the_gradient_of_the_models_input(batch, monkeypatch, rng):
    """A model's input needs no gradient unless asked for (PyTorch's needs_input_grad): the first Linear's
    backward does not compute grad_x; every parameter's gradient is unchanged, and net.backward, which
    returns the input's gradient, still gets it."""
    fl.manual_seed(0)
    net = fl.Sequential(fl.Linear(6, 40, activation="relu", dtype=F64), fl.Linear(40, 5, dtype=F64))
    x, labels = rng.standard_normal((batch, 6)), rng.integers(0, 5, batch)
    seen = _spy_need_x(monkeypatch)
    fl.backward(fl.functional.cross_entropy(net(x), labels))
    assert seen == [True, False]  # the walk is reversed: the second layer, then the first
    w1, b1, w2, b2 = (p.data for p in net.parameters())
    h = kernels.linear_relu(x, w1, b1)
    g = kernels.cross_entropy_backward(np.float64(1), None, kernels.linear(h, w2, b2), labels)[0]
    gh, gw2, gb2 = kernels.linear_backward(g, None, h, w2, b2)
    _, gw1, gb1 = kernels.linear_relu_backward(gh, h, x, w1, b1)
    for p, expected in zip(net.parameters(), (gw1, gb1, gw2, gb2)):
        np.testing.assert_allclose(p.grad, expected, rtol=1e-12)
    seen.clear()
    net(x)
    grad_x = net.backward(np.ones((batch, 5)))  # net.backward returns x's gradient: asked for, so computed
    assert seen == [True, True]
    np.testing.assert_allclose(grad_x, kernels.linear_relu_backward(
        kernels.linear_backward(np.ones((batch, 5)), None, h, w2, b2)[0], h, x, w1, b1)[0], rtol=1e-12)


def test_an_input_transformed_before_the_first_layer_still_gets_its_gradient_through(monkeypatch, rng):
    class Scaled(fl.Module):
        def __init__(self):
            super().__init__()
            self.linear = fl.Linear(4, 3, dtype=F64)

        def forward(self, x):
            return self.linear(x * 2.0)

    net = Scaled()
    x = rng.standard_normal((5, 4))
    seen = _spy_need_x(monkeypatch)
    fl.backward(fl.functional.mse_loss(net(x), np.zeros((5, 3))))
    assert seen == [True]  # the Linear's input is x * 2, a node's output: its gradient is computed and passed on
    check_backward(Scaled(), x, rng)
