"""A chapter reader's PyTorch habits work, and one dtype rule: a model computes in its parameters' dtype."""

import numpy as np
import pytest

import fastlayers as fl
from tests.fastlayers.gradcheck import check_backward


def test_pytorch_keyword_names():
    dense = fl.Linear(in_features=5, out_features=3)
    assert dense.weight.shape == (5, 3) and dense.in_features == 5 and dense.out_features == 3
    lazy = fl.LazyLinear(out_features=4)
    assert lazy.out_features == 4 and lazy.in_features is None


def test_lazy_layers_become_their_plain_class_and_init_functions_reach_them(rng):
    net = fl.Sequential(fl.LazyLinear(8), fl.ReLU(), fl.LazyLinear(2), fl.LazyTensorReduction(3))
    assert type(net[0]) is fl.LazyLinear
    net(rng.standard_normal((2, 4)).astype(np.float32))
    assert [type(m) for m in net] == [fl.Linear, fl.ReLU, fl.Linear, fl.TensorReduction]

    def init_constant(m):
        if type(m) == fl.Linear:  # the chapter's test, written PyTorch's way
            fl.init.constant_(m.weight, 1)
            fl.init.zeros_(m.bias)

    net.apply(init_constant)
    assert (net[0].weight.data == 1).all() and (net[2].bias.data == 0).all()


def test_init_on_a_lazy_parameter_names_it_and_says_what_to_do():
    net = fl.Sequential(fl.LazyLinear(8))
    with pytest.raises(RuntimeError, match=r"LazyLinear\.weight .*not initialized yet.*call the model once"):
        fl.init.normal_(net[0].weight, std=0.01)

    def init_normal(m):
        if isinstance(m, fl.Linear):
            fl.init.normal_(m.weight, std=0.01)

    with pytest.raises(RuntimeError, match=r"LazyLinear\.weight .*not initialized yet"):
        net.apply(init_normal)
    with pytest.raises(RuntimeError, match=r"LazyLinear\.weight .*not initialized yet"):
        fl.init.xavier_uniform_(net[0].weight)


def test_module_registration_methods_and_training_mode():
    class Block(fl.Module):
        def __init__(self):
            super().__init__()
            self.add_module("hidden", fl.Linear(3, 4))
            self.register_parameter("scale", fl.Parameter(np.ones(4, np.float32)))
            self.layers = fl.ModuleList([fl.ReLU(), fl.Linear(4, 2)])

        def forward(self, x):
            x = self.hidden(x) * self.scale
            for layer in self.layers:
                x = layer(x)
            return x

    block = Block()
    assert [n for n, _ in block.named_children()] == ["hidden", "layers"]
    assert [n for n, _ in block.named_parameters()] == ["scale", "hidden.weight", "hidden.bias",
                                                        "layers.1.weight", "layers.1.bias"]
    assert len(block.layers) == 2 and isinstance(block.layers[1], fl.Linear) and len(block.layers[:1]) == 1
    assert sum(p.numel() for p in block.parameters()) == 4 + 12 + 4 + 8 + 2
    assert block.training and block.layers[0].training
    assert block.eval() is block and not block.training and not block.layers[0].training
    block.train()
    assert block.hidden.training
    assert block(np.ones((2, 3), np.float32)).shape == (2, 2)
    with pytest.raises(TypeError, match="expected a Module"):
        block.add_module("x", np.ones(2))
    with pytest.raises(TypeError, match="expected a Parameter"):
        block.register_parameter("x", np.ones(2))
    with pytest.raises(KeyError, match="without '.'"):
        block.add_module("a.b", fl.ReLU())


def test_a_parameter_behaves_like_its_array():
    net = fl.Sequential(fl.Linear(4, 3))
    w = net[0].weight
    np.testing.assert_array_equal(net[0].weight[:2], w.data[:2])
    assert np.asarray(w) is w.data or np.shares_memory(np.asarray(w), w.data)
    assert w.shape == (4, 3) and w.ndim == 2 and w.size == 12 and w.numel() == 12 and len(w) == 4
    assert {w: 1}[w] == 1  # hashable by identity, as PyTorch's


def test_state_dict_values_data_is_the_array_not_a_memoryview():
    net = fl.Sequential(fl.Linear(4, 3))
    state = net.state_dict()
    data = state["0.bias"].data
    assert isinstance(data, np.ndarray) and not isinstance(data, memoryview)
    np.testing.assert_array_equal(data, net[0].bias.data)


@pytest.mark.parametrize("batch", [(), (5,), (2, 3), (2, 1, 3)])
def test_linear_takes_any_number_of_batch_axes(batch, rng):
    layer = fl.Linear(4, 3, activation="relu", dtype=np.float64)
    x = rng.standard_normal(batch + (4,))
    assert layer(x).shape == batch + (3,)
    check_backward(layer, x, rng)
    assert fl.TensorReduction(4, 2, dtype=np.float64)(x).shape == batch + (2,)


def test_layers_state_the_ranks_they_take():
    for layer in (fl.Linear, fl.LazyLinear, fl.Centered, fl.TensorReduction, fl.LazyTensorReduction, fl.FFTHalf):
        assert "(..., " in layer.__doc__ or "any shape" in layer.__doc__, layer.__name__
    with pytest.raises(ValueError, match=r"fft_half: x must be at least 1-D"):
        fl.FFTHalf()(np.float64(2.0))
    with pytest.raises(ValueError, match=r"LazyLinear: expected an input of shape \(\.\.\., in_features\), got a scalar"):
        fl.LazyLinear(3)(np.float32(2.0))


def test_a_rejected_first_call_leaves_a_lazy_layer_lazy():
    layer = fl.LazyLinear(3)
    with pytest.raises(TypeError, match="real numeric input"):
        layer(np.ones((2, 4), np.complex64))
    assert not layer.weight.initialized
    assert layer(np.ones((2, 5), np.float32)).shape == (2, 3)


def test_load_state_dict_refuses_a_path_and_a_non_mapping(tmp_path):
    net = fl.Sequential(fl.Linear(2, 2))
    fl.save(net.state_dict(), tmp_path / "net.params")
    with pytest.raises(TypeError, match=r"fl\.load\(path\)"):
        net.load_state_dict(str(tmp_path / "net.params"))
    with pytest.raises(TypeError, match=r"fl\.load\(path\)"):
        net.load_state_dict(tmp_path / "net.params")
    with pytest.raises(TypeError, match="expected a mapping"):
        net.load_state_dict([("0.weight", np.ones((2, 2)))])


def test_parameter_from_lists_tuples_and_foreign_arrays():
    assert fl.Parameter([1.0, 2.0]).shape == (2,)
    assert fl.Parameter(((1.0, 2.0), (3.0, 4.0))).shape == (2, 2)
    with pytest.raises(TypeError, match="expected floating-point values, got dtype int"):
        fl.Parameter([1, 2, 3])
    with pytest.raises(TypeError, match="expected an array"):
        fl.Parameter("weights")
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    p = fl.Parameter(torch.arange(4, dtype=torch.float32))
    assert isinstance(p.data, np.ndarray) and p.dtype == np.float32 and p.data.tolist() == [0, 1, 2, 3]
    with pytest.raises(TypeError, match=r"detach\(\)"):
        fl.Parameter(torch.ones(2, requires_grad=True))


def test_moving_to_cuda_without_cupy_names_the_extra(hide_module):
    hide_module("cupy")
    net = fl.Sequential(fl.Linear(2, 2))
    with pytest.raises(ImportError, match=r"pip install 'fastlayers\[gpu\]'"):
        net.to("cuda")
    assert net.device == "cpu" and isinstance(net[0].weight.data, np.ndarray)


# --- the dtype rule ---


def test_a_float32_model_computes_in_float32_whatever_it_is_fed(rng):
    net = fl.Sequential(fl.Linear(3, 4, activation="relu"), fl.Centered(), fl.Linear(4, 2))
    x64 = rng.standard_normal((5, 3))
    y = net(x64)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, net(x64.astype(np.float32)))
    net(x64)
    grad_x = net.backward(np.ones((5, 2)))  # a float64 grad_y too
    assert grad_x.dtype == np.float64  # the input's own dtype: the cast's gradient casts back
    assert all(p.grad.dtype == np.float32 for p in net.parameters())
    assert net(np.arange(6).reshape(2, 3)).dtype == np.float32  # integers compute in the model's dtype
    assert net([[1, 2, 3]]).dtype == np.float32


def test_a_float64_constant_inside_a_float32_model_leaves_float32_gradients(rng):
    class Fixed(fl.Module):
        def __init__(self):
            super().__init__()
            self.linear = fl.Linear(4, 4)
            self.rand_weight = rng.random((4, 4))  # float64, as np.random makes it

        def forward(self, X):
            return self.linear(np.maximum(self.linear(X) @ self.rand_weight + 1, 0))

    net = Fixed()
    y = net(rng.standard_normal((2, 4)).astype(np.float32))
    net.backward(np.ones_like(y))
    assert net.linear.weight.grad.dtype == np.float32 and net.linear.bias.grad.dtype == np.float32
    opt = fl.optim.SGD(net.parameters(), lr=0.1)
    net.linear.weight.grad = net.linear.weight.grad.astype(np.float64)  # even a float64 gradient set by hand...
    opt.step()
    assert net.linear.weight.dtype == np.float32  # ...never upcasts the parameter


def test_a_model_without_parameters_computes_in_its_inputs_dtype():
    assert fl.Centered()(np.ones(3, np.float32)).dtype == np.float32
    assert fl.Centered()(np.ones(3)).dtype == np.float64
    np.testing.assert_array_equal(fl.Centered()(np.array([1, 2, 3, 4, 5])), [-2, -1, 0, 1, 2])
