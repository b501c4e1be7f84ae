"""Module, Sequential and Parameter: registration, access, printing."""

import numpy as np
import pytest

import fastlayers as fl


def test_registration_in_assignment_order_and_reassignment():
    class Block(fl.Module):
        def __init__(self):
            super().__init__()
            self.b = fl.Linear(2, 3)
            self.scale = fl.Parameter(np.ones(3, np.float32))
            self.a = fl.ReLU()

    block = Block()
    # As in PyTorch: a module's own parameters, then each submodule's, all in assignment order.
    assert [n for n, _ in block.named_parameters()] == ["scale", "b.weight", "b.bias"]
    assert list(block.children()) == [block.b, block.a]
    block.b = None  # replacing a submodule by a plain value unregisters it
    assert [n for n, _ in block.named_parameters()] == ["scale"]


def test_forgetting_super_init_is_a_clear_error():
    class Broken(fl.Module):
        def __init__(self):
            self.w = fl.Parameter(np.ones(2))

    with pytest.raises(RuntimeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_nested_names_modules_and_apply_order():
    inner = fl.Sequential(fl.Linear(2, 2), fl.ReLU())
    net = fl.Sequential(inner, fl.Linear(2, 1))
    assert [n for n, _ in net.named_parameters()] == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"]
    assert [type(m).__name__ for m in net.modules()] == ["Sequential", "Sequential", "Linear", "ReLU", "Linear"]
    visited = []
    net.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Linear", "ReLU", "Sequential", "Linear", "Sequential"]


def test_sequential_indexing_len_iteration_append():
    net = fl.Sequential(fl.Linear(2, 3), fl.ReLU())
    net.append(fl.Linear(3, 1))
    assert len(net) == 3
    assert isinstance(net[-1], fl.Linear) and net[-1].out_features == 1
    assert [type(m) for m in net] == [fl.Linear, fl.ReLU, fl.Linear]
    assert isinstance(net[:2], fl.Sequential) and len(net[:2]) == 2
    with pytest.raises(TypeError, match="expected a Module"):
        net.append(np.ones(3))


def test_repr_prints_the_tree():
    net = fl.Sequential(fl.Linear(8, 128), fl.Centered(), fl.Sequential(fl.LazyLinear(4, activation="relu")))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=8, out_features=128, bias=True)\n"
        "  (1): Centered(axis=None)\n"
        "  (2): Sequential(\n"
        "    (0): LazyLinear(in_features=None, out_features=4, activation='relu', bias=True)\n"
        "  )\n"
        ")"
    )


def test_parameter_attributes_and_repr():
    p = fl.Parameter(np.array([[1.0, 2.0]], np.float32))
    assert p.shape == (1, 2) and p.dtype == np.float32 and p.grad is None and p.initialized
    assert "shape=(1, 2)" in repr(p) and "1." in repr(p) and "2." in repr(p)
    p.data = np.zeros((3,), np.float64)  # a new array may be assigned, as in PyTorch
    assert p.shape == (3,) and p.dtype == np.float64
    lazy = fl.LazyLinear(4).weight
    assert not lazy.initialized and lazy.shape == ("in_features", 4)
    assert "uninitialized" in repr(lazy)


def test_linear_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        fl.Linear(2, 3, activation="tanh")


def test_input_gradients_for_several_inputs(rng):
    class Bilinear(fl.Module):
        def __init__(self):
            super().__init__()
            self.lin = fl.Linear(3, 3, dtype=np.float64)

        def forward(self, a, b):
            return fl.functional.tensor_reduction(self.lin(a), b)  # b is w here: an input too

    net = Bilinear()
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 3, 2))
    y = net(a, b)
    grad_a, grad_b = net.backward(np.ones_like(y))
    assert grad_a.shape == a.shape and grad_b.shape == b.shape

    class IgnoresB(Bilinear):
        def forward(self, a, b):
            return self.lin(a)

    net = IgnoresB()
    y = net(a, b)
    grad_a, grad_b = net.backward(np.ones_like(y))
    assert grad_a.shape == a.shape and grad_b is None  # y does not depend on b


def test_a_detached_output_is_a_clear_error(rng):
    class Detached(fl.Module):
        def __init__(self):
            super().__init__()
            self.lin = fl.Linear(3, 3)

        def forward(self, x):
            return fl.detach(self.lin(x)) * 2  # asked for a constant: no gradient can reach lin

    net = Detached()
    y = net(rng.standard_normal((2, 3)))
    with pytest.raises(RuntimeError, match="not computed from its input or parameters by tracked ops"):
        net.backward(np.ones_like(y))


def test_to_cpu_and_unknown_devices():
    net = fl.Sequential(fl.Linear(2, 3), fl.LazyLinear(1))
    assert net.to("cpu") is net and net.device == "cpu"
    assert isinstance(net[0].weight.data, np.ndarray)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        net.to("tpu")
