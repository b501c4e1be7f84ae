"""What tracking promises besides gradients: anything it cannot differentiate fails loudly in the forward,
values work as in PyTorch, and nothing is tracked outside a recorded forward."""

import numpy as np
import pytest

import fastlayers as fl

NOT_DIFFERENTIABLE = "on a tracked array is not differentiable in fastlayers; compute it inside an fl.op"


class Function(fl.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@pytest.mark.parametrize("fn, name", [
    (np.arcsinh, "np.arcsinh"),  # a ufunc with no rule
    (np.sort, "np.sort"),  # a function with no rule
    (np.linalg.norm, "np.linalg.norm"),
    (lambda x: np.add(x, 1, out=np.empty(x.shape)), "np.add with out="),
    (lambda x: np.remainder(x, 2), "np.remainder"),
])
def test_an_unsupported_operation_raises_in_the_forward(fn, name, rng):
    net = fl.Sequential(fl.Linear(3, 4), Function(fn))
    with pytest.raises(TypeError, match=f"{name} {NOT_DIFFERENTIABLE}"):
        net(rng.standard_normal((2, 3)))
    with pytest.raises(RuntimeError, match="the last forward raised"):  # nothing half-recorded is kept
        net.backward(np.ones((2, 4)))


@pytest.mark.parametrize("convert", [np.asarray, np.array, np.ascontiguousarray])
def test_turning_a_tracked_array_into_a_plain_one_raises(convert, rng):
    net = fl.Sequential(fl.Linear(3, 4), Function(lambda x: convert(x)))
    with pytest.raises(TypeError, match="np.asarray .* on a tracked array is not differentiable|not differentiable"):
        net(rng.standard_normal((2, 3)))


def test_float_of_many_values_raises_and_of_one_value_is_a_constant(rng):
    with pytest.raises(TypeError, match="only (length-1|0-dimensional) arrays"):
        Function(lambda x: x * float(x))(rng.standard_normal((2, 3)))

    seen = []

    def fn(x):
        seen.append((float(x.sum()), x.max().item(), bool(x.sum() > -1e9), int(x[0, 0] > 1e9)))
        return x * 2

    x = rng.standard_normal((2, 3))
    Function(fn)(x)
    assert seen == [(pytest.approx(float(x.sum())), x.max(), True, 0)]


def test_a_tracked_array_kept_for_a_later_forward_raises(rng):
    class Remembers(fl.Module):
        def __init__(self):
            super().__init__()
            self.lin = fl.Linear(3, 3)
            self.previous = None

        def forward(self, x):
            y = self.lin(x)
            out = y if self.previous is None else y + self.previous
            self.previous = y  # a tracked array outliving its forward
            return out

    net = Remembers()
    net(rng.standard_normal((2, 3)))
    with pytest.raises(RuntimeError, match="a tracked array from another forward"):
        net(rng.standard_normal((2, 3)))


def test_a_detached_value_may_be_kept(rng):
    class Remembers(fl.Module):
        def __init__(self):
            super().__init__()
            self.lin = fl.Linear(3, 3, dtype=np.float64)
            self.previous = 0.0

        def forward(self, x):
            y = self.lin(x) + self.previous
            self.previous = fl.detach(y)
            return y

    net = Remembers()
    x = rng.standard_normal((2, 3))
    first = net(x)
    assert type(net.previous) is np.ndarray
    np.testing.assert_allclose(net(x), 2 * first)  # lin(x) + the first output, kept as a constant


def test_comparisons_give_plain_booleans_and_control_flow_runs(rng):
    kinds = []

    def fn(x):
        kinds.append((type(x > 0), (x > 0).dtype, type(np.isnan(x)), type(np.sign(x)), type(np.argmax(x))))
        while np.abs(x).sum() > 1:
            x = x / 2
        return x

    y = Function(fn)(rng.standard_normal((2, 3)) * 10)
    assert np.abs(y).sum() <= 1
    assert kinds == [(np.ndarray, np.bool_, np.ndarray, np.ndarray, np.intp)]


def test_no_grad_inside_a_forward_computes_constants(rng):
    def fn(x):
        with fl.no_grad():
            scale = np.sort(np.asarray(x), axis=None)[-1]  # no rule, no gradient: allowed here
        return x / scale

    net = fl.Sequential(fl.Linear(3, 4, dtype=np.float64), Function(fn))
    y = net(rng.standard_normal((2, 3)))
    net.backward(np.ones_like(y))
    assert net[0].weight.grad is not None


def test_nothing_is_tracked_outside_a_recorded_forward(rng):
    net = fl.Sequential(fl.Linear(3, 4), Function(lambda x: np.tanh(x - x.mean())))
    x = rng.standard_normal((2, 3)).astype(np.float32)
    assert type(net(x)) is np.ndarray
    with fl.no_grad():
        assert type(net(x)) is np.ndarray
    w = net[0].weight
    for plain in (w + 1, w[:2], w.T, np.asarray(w), np.tanh(w), w @ np.ones(4), w.sum(), np.sum(w)):
        assert isinstance(plain, (np.ndarray, np.floating)) and not isinstance(plain, fl.Tensor)
    np.testing.assert_array_equal(w[:2], w.data[:2])


def test_in_place_on_a_parameter_inside_a_forward_raises(rng):
    class Bad(fl.Module):
        def __init__(self):
            super().__init__()
            self.w = fl.Parameter(np.ones(3))

        def forward(self, x):
            self.w += 1
            return x * self.w

    with pytest.raises(RuntimeError, match="in-place arithmetic on Bad.w inside a recorded forward"):
        Bad()(np.ones(3))
    p = fl.Parameter(np.ones(3))
    p += 1  # outside a forward: in place, as on its array
    np.testing.assert_array_equal(p.data, [2, 2, 2])


def test_in_place_operators_never_write_the_callers_input(rng):
    def fn(x):
        x += 1
        x[0] = 0
        return x

    x = rng.standard_normal((2, 3))
    before = x.copy()
    y = Function(fn)(x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(y[1], before[1] + 1)
