"""Every benchmark case: a kernel at one size, with its NumPy baselines.

One source of truth for the sizes: ``fastlayers bench`` and ``pytest bench``
both iterate over CASES. All inputs are float32 standard-normal data (never
zeros), made fresh from a seeded generator. Each case names:

- ``ours``: the fastlayers kernel;
- ``numpy``: the NumPy expression a user of the chapter would write;
- ``floor``: where one exists, the cheapest NumPy work the op cannot avoid
  (the GEMM alone; one read of x plus a copy), so "ours / floor" says how
  close to the hardware's limit the kernel is;
- ``others``: more peers (rfft, scipy, einsum, our own forward for a backward).
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import kernels
from kernels import reference

F32 = np.float32


@dataclass(frozen=True)
class Case:
    kernel: str
    shape: str
    make: Callable  # rng -> tuple of inputs
    ours: Callable
    numpy: Callable
    floor: tuple = None  # (name, callable) or None
    others: dict = field(default_factory=dict)  # name -> callable
    quick: bool = False  # part of the --quick run
    torch: Callable = None  # (torch module, *inputs as tensors) -> result: PyTorch's way, where installed
    tolerance: float = 1e-4  # relative L2 error allowed between ours and numpy (float32)

    @property
    def name(self) -> str:
        return f"{self.kernel} {self.shape}"


def _normal(rng, *shape):
    return rng.standard_normal(shape, dtype=F32)


# --- linear_relu ---


def _linear_inputs(n, n_in, n_out):
    def make(rng):
        x, w = _normal(rng, n, n_in), _normal(rng, n_in, n_out) / np.sqrt(n_in, dtype=F32)
        return x, w, _normal(rng, n_out)

    return make


def _linear_backward_inputs(n, n_in, n_out):
    def make(rng):
        x, w, b = _linear_inputs(n, n_in, n_out)(rng)
        return _normal(rng, n, n_out), x, w, b, kernels.linear_relu(x, w, b)

    return make


def _numpy_linear_relu(x, w, b):
    return np.maximum(x @ w + b, 0)


def _torch_linear_relu(torch, x, w, b):
    # F.linear takes the weight as (out, in): a transposed view, as a PyTorch user's layer stores it.
    return torch.relu(torch.nn.functional.linear(x, w.T, b))


LINEAR_SIZES = [((2, 64, 8), True), ((4, 8, 128), True), ((65536, 64, 64), False),
                ((4096, 256, 256), True), ((4096, 1024, 1024), False)]


def _linear_cases():
    for (n, n_in, n_out), quick in LINEAR_SIZES:
        shape = f"({n}, {n_in}) @ ({n_in}, {n_out})"
        yield Case("linear_relu", shape, _linear_inputs(n, n_in, n_out), kernels.linear_relu, _numpy_linear_relu,
                   floor=("x @ w", lambda x, w, b: x @ w), quick=quick, torch=_torch_linear_relu)
        make = _linear_backward_inputs(n, n_in, n_out)
        yield Case("linear_relu_backward", shape, make,
                   lambda g, x, w, b, y: kernels.linear_relu_backward(g, x, w, y),
                   lambda g, x, w, b, y: reference.linear_relu_backward(g, x, w, y),
                   others={"our forward": lambda g, x, w, b, y: kernels.linear_relu(x, w, b)}, quick=quick)


# --- center ---


def _center_inputs(shape):
    return lambda rng: (_normal(rng, *shape) + F32(3),)


def _sum_and_copy(x):
    """The memory floor of centering: one read of x (the sum), one read and one write (the copy)."""
    x.sum()
    return x.copy()


CENTER_SIZES = [((10**4,), None, True), ((10**5,), None, True), ((10**6,), None, True),
                ((10**7,), None, False), ((4096, 1024), 0, False), ((512, 1024), 0, True)]


def _center_cases():
    for shape, axis, quick in CENTER_SIZES:
        label = f"{shape}" + ("" if axis is None else f" axis={axis}")
        yield Case("center", label, _center_inputs(shape), lambda x, a=axis: kernels.center(x, a),
                   lambda x, a=axis: x - x.mean(axis=a, keepdims=True), floor=("x.sum() + x.copy()", _sum_and_copy),
                   quick=quick, torch=lambda torch, x, a=axis: x - (x.mean() if a is None else x.mean(a, keepdim=True)))
    yield Case("center_backward", "(1000000,)", _center_inputs((10**6,)), kernels.center_backward,
               reference.center_backward, floor=("x.sum() + x.copy()", _sum_and_copy), quick=True)


# --- tensor_reduction ---


def _tensor_inputs(n, n_in, n_out):
    def make(rng):
        return _normal(rng, n, n_in), _normal(rng, n_in, n_in, n_out) / F32(n_in)

    return make


def _numpy_outer_gemm(x, w):
    """The best plain-NumPy formulation: the batch's outer products, reshaped, then one GEMM."""
    n, n_in = x.shape
    return (x[:, :, None] * x[:, None, :]).reshape(n, n_in * n_in) @ w.reshape(n_in * n_in, -1)


def _numpy_outer_gemm_backward(g, x, w):
    n, n_in = x.shape
    outer = (x[:, :, None] * x[:, None, :]).reshape(n, n_in * n_in)
    grad_w = (outer.T @ g).reshape(w.shape)
    wsym = (w + w.transpose(1, 0, 2)).reshape(n_in * n_in, -1)
    grad_x = ((g @ wsym.T).reshape(n, n_in, n_in) @ x[:, :, None])[:, :, 0]
    return grad_x, grad_w


def _einsum(x, w):
    return np.einsum("ijk,ni,nj->nk", w, x, x)


TENSOR_SIZES = [((2, 8, 4), True, True), ((256, 64, 32), True, True), ((4096, 128, 64), False, True)]


def _tensor_cases():
    for (n, n_in, n_out), quick, with_einsum in TENSOR_SIZES:
        shape = f"x ({n}, {n_in}), W ({n_in}, {n_in}, {n_out})"
        make = _tensor_inputs(n, n_in, n_out)
        yield Case("tensor_reduction", shape, make, kernels.tensor_reduction, _numpy_outer_gemm,
                   others={"einsum": _einsum} if with_einsum else {}, quick=quick,
                   torch=lambda torch, x, w: torch.nn.functional.bilinear(x, x, w.permute(2, 0, 1)))

        def make_backward(rng, make=make, n=n, n_out=n_out):
            x, w = make(rng)
            return _normal(rng, n, n_out), x, w

        yield Case("tensor_reduction_backward", shape, make_backward, kernels.tensor_reduction_backward,
                   _numpy_outer_gemm_backward, others={"our forward": lambda g, x, w: kernels.tensor_reduction(x, w)},
                   quick=quick)


# --- fft_half ---


def _numpy_fft_half(x):
    return np.fft.fft(x)[:, : x.shape[1] // 2]


def _numpy_fft_half_backward(g, n):
    full = np.zeros(g.shape[:-1] + (n,), g.dtype)
    full[:, : g.shape[1]] = g
    return (np.fft.ifft(full) * n).real


def _scipy_rfft(x):
    import scipy.fft

    return scipy.fft.rfft(x, workers=-1)


FFT_SIZES = [((16, 1000), True), ((4096, 256), True), ((1024, 1024), False), ((64, 65536), False), ((8, 4096), True)]


def _fft_cases():
    for (rows, n), quick in FFT_SIZES:
        shape = f"({rows}, {n})"
        yield Case("fft_half", shape, lambda rng, s=(rows, n): (_normal(rng, *s),), kernels.fft_half, _numpy_fft_half,
                   others={"np.fft.rfft": np.fft.rfft, "scipy rfft workers=-1": _scipy_rfft}, quick=quick,
                   torch=lambda torch, x: torch.fft.rfft(x)[:, : x.shape[1] // 2])

        def make_backward(rng, rows=rows, n=n):
            g = _normal(rng, rows, n // 2) + 1j * _normal(rng, rows, n // 2)
            return g.astype(np.complex64), n, _normal(rng, rows, n)  # x: the forward's input

        yield Case("fft_half_backward", shape, make_backward, lambda g, n, x: kernels.fft_half_backward(g, n),
                   lambda g, n, x: _numpy_fft_half_backward(g, n),
                   others={"our forward": lambda g, n, x: kernels.fft_half(x)}, quick=quick)


# --- layers in a row ---


def _numpy_linear_relu_center(x, w, b):
    h = _numpy_linear_relu(x, w, b)
    return h - h.mean()


def _torch_linear_relu_center(torch, x, w, b):
    h = _torch_linear_relu(torch, x, w, b)
    return h - h.mean()


def _chain_cases():
    """A Linear then a Centered, as in the chapter: a kernel on two threads right after BLAS's GEMM."""
    yield Case("linear_relu+center", "(256, 1024) @ (1024, 1024)", _linear_inputs(256, 1024, 1024),
               lambda x, w, b: kernels.center(kernels.linear_relu(x, w, b)), _numpy_linear_relu_center,
               floor=("x @ w", lambda x, w, b: x @ w), quick=True, torch=_torch_linear_relu_center)


# --- losses ---


def _cross_entropy_inputs(n, classes):
    return lambda rng: (_normal(rng, n, classes) * F32(2), rng.integers(0, classes, n))


def _numpy_cross_entropy(logits, labels, backward=False):
    """The log-softmax formula a NumPy user writes, and its gradient (softmax - onehot) / n."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exps = np.exp(shifted)
    sums = exps.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = (np.log(sums[:, 0]) - shifted[rows, labels]).mean()
    if not backward:
        return loss
    grad = exps / sums
    grad[rows, labels] -= 1
    return loss, grad / len(labels)


def _cross_entropy_step(logits, labels):
    loss = kernels.cross_entropy(logits, labels)
    return loss, kernels.cross_entropy_backward(np.ones((), logits.dtype), loss, logits, labels)[0]


def _torch_cross_entropy_step(torch, logits, labels):
    x = logits.detach().requires_grad_()
    loss = torch.nn.functional.cross_entropy(x, labels)
    loss.backward()
    return loss, x.grad


CROSS_ENTROPY_SIZES = [((64, 10), True), ((4096, 1000), True), ((512, 50257), False)]


def _loss_cases():
    for (n, classes), quick in CROSS_ENTROPY_SIZES:
        make = _cross_entropy_inputs(n, classes)
        yield Case("cross_entropy", f"({n}, {classes})", make, kernels.cross_entropy, _numpy_cross_entropy,
                   quick=quick, torch=lambda torch, x, t: torch.nn.functional.cross_entropy(x, t))
        yield Case("cross_entropy+backward", f"({n}, {classes})", make, _cross_entropy_step,
                   lambda x, t: _numpy_cross_entropy(x, t, backward=True), quick=quick, torch=_torch_cross_entropy_step)


# --- a training epoch: the digits MLP, Linear(64, 128, relu) then Linear(128, 10), cross-entropy, Adam ---

DIGITS_SHAPE = (1437, 64)  # scikit-learn's digits, 80 % of them: the same shape of random data, no download


def _training_inputs(batch_size):
    def make(rng):
        x = rng.random(DIGITS_SHAPE, dtype=F32)
        t = rng.integers(0, 10, DIGITS_SHAPE[0])
        w1, w2 = _normal(rng, 64, 128) / F32(8), _normal(rng, 128, 10) / F32(np.sqrt(128))
        return x, t, w1, _normal(rng, 128) / F32(8), w2, _normal(rng, 10) / F32(np.sqrt(128)), batch_size

    return make


def _fastlayers_epoch(x, t, w1, b1, w2, b2, batch_size):
    """One epoch from the given weights; returns the trained weights."""
    import fastlayers as fl

    net = fl.Sequential(fl.Linear(64, 128, activation="relu"), fl.Linear(128, 10))
    for p, value in zip(net.parameters(), (w1, b1, w2, b2)):
        p.data = value.copy()
    opt = fl.optim.Adam(net.parameters(), lr=1e-3)
    for start in range(0, len(x), batch_size):
        opt.zero_grad()
        fl.backward(fl.functional.cross_entropy(net(x[start : start + batch_size]), t[start : start + batch_size]))
        opt.step()
    return tuple(p.data for p in net.parameters())


def _numpy_epoch(x, t, w1, b1, w2, b2, batch_size):
    """The same epoch as a NumPy user writes it: forward, the gradients by hand, Adam's formulas."""
    params = [w1.copy(), b1.copy(), w2.copy(), b2.copy()]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    for step, start in enumerate(range(0, len(x), batch_size), 1):
        xb, tb = x[start : start + batch_size], t[start : start + batch_size]
        w1, b1, w2, b2 = params
        h = np.maximum(xb @ w1 + b1, 0)
        _, g = _numpy_cross_entropy(h @ w2 + b2, tb, backward=True)
        gh = (g @ w2.T) * (h > 0)
        grads = [xb.T @ gh, gh.sum(axis=0), h.T @ g, g.sum(axis=0)]
        for p, grad, (m, v) in zip(params, grads, moments):
            m += 0.1 * (grad - m)
            v *= 0.999
            v += 0.001 * grad * grad
            p -= (1e-3 / (1 - 0.9**step)) * m / (np.sqrt(v) / np.sqrt(1 - 0.999**step) + 1e-8)
    return tuple(params)


def _torch_epoch(torch, x, t, w1, b1, w2, b2, batch_size):
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    with torch.no_grad():
        for p, value in zip(net.parameters(), (w1.T, b1, w2.T, b2)):  # PyTorch stores weights (out, in)
            p.copy_(value)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for start in range(0, len(x), batch_size):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[start : start + batch_size]), t[start : start + batch_size]).backward()
        opt.step()
    return tuple(net.parameters())


def _training_cases():
    for batch_size in (64, 1024):
        yield Case("train epoch", f"digits MLP, batch {batch_size}", _training_inputs(batch_size), _fastlayers_epoch,
                   _numpy_epoch, quick=True, torch=_torch_epoch, tolerance=1e-4)


CASES = [*_linear_cases(), *_center_cases(), *_tensor_cases(), *_fft_cases(), *_chain_cases(), *_loss_cases(),
         *_training_cases()]

# Peak memory, not time: the whole batch's outer product would be 4 GiB here.
MEMORY_CASES = [Case("tensor_reduction", "x (65536, 128), W (128, 128, 64)", _tensor_inputs(65536, 128, 64),
                     kernels.tensor_reduction, _numpy_outer_gemm)]


def _rel_err(got, expected) -> float:
    got, expected = np.asarray(got, np.complex128), np.asarray(expected, np.complex128)
    if got.shape != expected.shape:
        raise AssertionError(f"shape {got.shape} differs from NumPy's {expected.shape}")
    denom = np.linalg.norm(expected)
    return float(np.linalg.norm(got - expected) / (denom if denom > 0 else 1.0))


def check(case: Case, args) -> float:
    """Relative error of ours against the NumPy baseline; raises if above the case's tolerance."""
    ours, theirs = case.ours(*args), case.numpy(*args)
    pairs = zip(ours, theirs) if isinstance(ours, tuple) else [(ours, theirs)]
    err = max(_rel_err(a, b) for a, b in pairs)
    if not err <= case.tolerance:
        raise AssertionError(f"{case.name}: relative error {err:.2e} against NumPy exceeds {case.tolerance:.0e}")
    return err


def contenders(case: Case) -> dict:
    """{label: callable} for everything timed in this case, ours first."""
    out = {"fastlayers": case.ours, "numpy": case.numpy}
    if case.floor:
        out[f"floor: {case.floor[0]}"] = case.floor[1]
    out.update(case.others)
    return out
