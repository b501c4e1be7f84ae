"""Every example of the chapter ("Custom Layers", with its neighbours on blocks, parameters,
lazy init and file I/O), ported to fastlayers."""

import numpy as np
import pytest

import fastlayers as fl
from fastlayers import functional as F
from kernels import reference
from tests.numerics import rel_err


@pytest.mark.parametrize("x", [np.array([1, 2, 3, 4, 5]), np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32)])
def test_centered_layer(x):
    y = fl.Centered()(x)
    np.testing.assert_array_equal(y, [-2.0, -1.0, 0.0, 1.0, 2.0])


def test_centered_after_linear_has_zero_mean(rng):
    net = fl.Sequential(fl.Linear(8, 128), fl.Centered())
    y = net(rng.random((4, 8), dtype=np.float32))
    assert y.shape == (4, 128)
    assert abs(float(y.mean())) < 1e-6


def test_my_linear_parameter_access():
    fl.manual_seed(0)
    linear = fl.Linear(5, 3, activation="relu")
    assert linear.weight.shape == (5, 3) and linear.bias.shape == (3,)
    assert [n for n, _ in linear.named_parameters()] == ["weight", "bias"]
    x = np.random.default_rng(1).random((2, 5), dtype=np.float32)
    expected = reference.linear_relu(x.astype(np.float64), linear.weight.data.astype(np.float64), linear.bias.data)
    assert rel_err(linear(x), expected) <= 1e-6


def test_dense_stack_on_a_batch(rng):
    net = fl.Sequential(fl.Linear(64, 8, activation="relu"), fl.Linear(8, 1, activation="relu"))
    x = rng.random((2, 64), dtype=np.float32)
    y = net(x)
    assert y.shape == (2, 1) and y.dtype == np.float32
    h = reference.linear_relu(x, net[0].weight.data, net[0].bias.data)
    assert rel_err(y, reference.linear_relu(h, net[1].weight.data, net[1].bias.data)) <= 1e-6
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert net[0].weight is dict(net.named_parameters())["0.weight"]


def test_lazy_sequential_infers_shapes(rng):
    net = fl.Sequential(fl.LazyLinear(256), fl.ReLU(), fl.LazyLinear(10))
    assert not net[0].weight.initialized
    y = net(rng.random((2, 20), dtype=np.float32))
    assert y.shape == (2, 10)
    assert net[0].weight.shape == (20, 256) and net[2].weight.shape == (256, 10)
    assert all(p.initialized for p in net.parameters())


class MLP(fl.Module):
    def __init__(self):
        super().__init__()
        self.hidden = fl.LazyLinear(256)
        self.out = fl.LazyLinear(10)

    def forward(self, X):
        return self.out(F.relu(self.hidden(X)))


def test_mlp_block(rng):
    net = MLP()
    x = rng.random((2, 20), dtype=np.float32)
    y = net(x)
    assert y.shape == (2, 10)
    h = np.maximum(x @ net.hidden.weight.data + net.hidden.bias.data, 0)
    assert rel_err(y, h @ net.out.weight.data + net.out.bias.data) <= 1e-6
    assert [n for n, _ in net.named_parameters()] == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert list(net.children()) == [net.hidden, net.out]


def test_tensor_reduction_layer(rng):
    layer = fl.TensorReduction(6, 3)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    expected = reference.tensor_reduction(x.astype(np.float64), layer.weight.data.astype(np.float64))
    assert rel_err(layer(x), expected) <= 1e-5
    lazy = fl.LazyTensorReduction(3)
    assert lazy(x).shape == (4, 3) and lazy.weight.shape == (6, 6, 3)


def test_fft_half_layer(rng):
    x = rng.standard_normal((3, 10))
    y = fl.FFTHalf()(x)
    assert y.shape == (3, 5) and y.dtype == np.complex128
    assert rel_err(y, np.fft.fft(x)[:, :5]) <= 1e-12


def test_parameter_sharing(rng):
    shared = fl.Linear(8, 8, activation="relu")
    net = fl.Sequential(fl.LazyLinear(8, activation="relu"), shared, fl.ReLU(), shared, fl.LazyLinear(1))
    net(rng.random((2, 4), dtype=np.float32))
    assert net[1].weight is net[3].weight
    net[1].weight.data[0, 0] = 100.0
    assert net[3].weight.data[0, 0] == 100.0


def test_init_functions_and_apply():
    fl.manual_seed(0)
    net = fl.Sequential(fl.Linear(4, 8, activation="relu"), fl.Linear(8, 1))

    def init_normal(m):
        if type(m) is fl.Linear:
            fl.init.normal_(m.weight, mean=0, std=0.01)
            fl.init.zeros_(m.bias)

    net.apply(init_normal)
    assert net[0].bias.data.tolist() == [0.0] * 8
    assert 0 < np.abs(net[0].weight.data).max() < 0.1
    fl.init.constant_(net[1].weight, 1)
    assert (net[1].weight.data == 1).all()
    fl.init.xavier_uniform_(net[0].weight)
    assert np.abs(net[0].weight.data).max() <= np.sqrt(6 / 12)
    fl.init.kaiming_uniform_(net[0].weight, nonlinearity="relu")
    assert np.abs(net[0].weight.data).max() <= np.sqrt(6 / 4)
    fl.init.uniform_(net[0].weight, -10, 10)
    assert np.abs(net[0].weight.data).max() > 1
    assert net[0].weight.dtype == np.float32  # in place: the dtype stays


def test_manual_seed_makes_initialization_reproducible():
    fl.manual_seed(42)
    a = fl.Sequential(fl.Linear(3, 4), fl.TensorReduction(4, 2))
    fl.manual_seed(42)
    b = fl.Sequential(fl.Linear(3, 4), fl.TensorReduction(4, 2))
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_save_load_same_outputs(tmp_path, rng):
    net = MLP()
    x = rng.random((2, 20), dtype=np.float32)
    y = net(x)
    fl.save(net.state_dict(), tmp_path / "mlp.params")
    clone = MLP()
    clone.load_state_dict(fl.load(tmp_path / "mlp.params"))  # a lazy model, never called
    np.testing.assert_array_equal(clone(x), y)


def test_float64_model_computes_in_float64(rng):
    net = fl.Sequential(fl.Linear(3, 4, activation="relu", dtype=np.float64), fl.Centered())
    assert net(rng.random((2, 3))).dtype == np.float64
