"""A whole model on the GPU: forward, backward and SGD there, host arrays in its checkpoints."""

import numpy as np

import fastlayers as fl


def _model():
    fl.manual_seed(0)
    return fl.Sequential(fl.LazyLinear(16, activation="relu", dtype=np.float64), fl.Centered(axis=0),
                         fl.LazyTensorReduction(3, dtype=np.float64), fl.LazyLinear(2, dtype=np.float64))


def test_training_step_on_the_gpu_matches_the_cpu(cupy, rng):
    x = rng.standard_normal((8, 5))
    g = rng.standard_normal((8, 2))
    cpu_net = _model()
    cpu_net(x)  # materialized on the host from seed 0 ...
    gpu_net = _model().to("cuda")
    gpu_net.load_state_dict(cpu_net.state_dict())  # ... and the same weights on the device
    cpu_opt = fl.optim.SGD(cpu_net.parameters(), lr=0.1, momentum=0.9)
    gpu_opt = fl.optim.SGD(gpu_net.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        y_cpu, y_gpu = cpu_net(x), gpu_net(cupy.asarray(x))
        assert isinstance(y_gpu, cupy.ndarray)
        np.testing.assert_allclose(y_gpu.get(), y_cpu, rtol=1e-10, atol=1e-12)
        gx_cpu, gx_gpu = cpu_net.backward(g), gpu_net.backward(cupy.asarray(g))
        np.testing.assert_allclose(gx_gpu.get(), gx_cpu, rtol=1e-9, atol=1e-12)
        cpu_opt.step(), gpu_opt.step()
        cpu_opt.zero_grad(), gpu_opt.zero_grad()
    for (name, p), (_, q) in zip(cpu_net.named_parameters(), gpu_net.named_parameters()):
        assert isinstance(q.data, cupy.ndarray)
        np.testing.assert_allclose(q.data.get(), p.data, rtol=1e-9, atol=1e-12, err_msg=name)


def test_checkpoints_hold_host_arrays_and_load_into_a_gpu_model(cupy, tmp_path, rng):
    x = rng.standard_normal((4, 5))
    net = _model().to("cuda")
    y = net(cupy.asarray(x)).get()
    state = net.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    fl.save(state, tmp_path / "net.safetensors")
    fresh = _model().to("cuda")  # lazy, never called
    fresh.load_state_dict(fl.load(tmp_path / "net.safetensors"))
    assert all(isinstance(p.data, cupy.ndarray) for p in fresh.parameters())
    np.testing.assert_array_equal(fresh(cupy.asarray(x)).get(), y)
    back = fresh.to("cpu")
    np.testing.assert_allclose(back(x), y, rtol=1e-12)


def test_a_layer_written_in_numpy_trains_on_cupy_arrays(cupy, rng):
    """NumPy's functions on tracked CuPy arrays dispatch to CuPy, and their gradients stay on the device."""

    class Mine(fl.Module):
        def __init__(self):
            super().__init__()
            self.w = fl.Parameter(np.linspace(-1, 1, 12).reshape(4, 3))

        def forward(self, X):
            X = np.tanh(X - X.mean(axis=0)) @ self.w
            return np.concatenate([np.maximum(X, 0), np.abs(np.fft.rfft(X, axis=0))], axis=0).sum(axis=1)

    x, cpu_net = rng.standard_normal((6, 4)), Mine()
    gpu_net = Mine().to("cuda")
    y_cpu, y_gpu = cpu_net(x), gpu_net(cupy.asarray(x))
    assert isinstance(y_gpu, cupy.ndarray)
    np.testing.assert_allclose(y_gpu.get(), y_cpu, rtol=1e-10)
    g = rng.standard_normal(y_cpu.shape)
    gx_cpu, gx_gpu = cpu_net.backward(g), gpu_net.backward(cupy.asarray(g))
    assert isinstance(gx_gpu, cupy.ndarray) and isinstance(gpu_net.w.grad, cupy.ndarray)
    np.testing.assert_allclose(gx_gpu.get(), gx_cpu, rtol=1e-9)
    np.testing.assert_allclose(gpu_net.w.grad.get(), cpu_net.w.grad, rtol=1e-9)
