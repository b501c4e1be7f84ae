"""Every benchmark case: an op at one size, with its NumPy baselines.

One source of truth for the sizes: each op's folder lists its own cases (``kernels/<op>/``,
``Op.cases``); here they are gathered, with the cases that are not one op — two layers in a
row, a training epoch. ``fastlayers bench`` and ``pytest bench`` both iterate over CASES.
All inputs are standard-normal data (never zeros), made fresh from a seeded generator.
"""

from functools import lru_cache

import numpy as np

import kernels
from kernels import Case
from kernels.cross_entropy import jax_cross_entropy, numpy_cross_entropy
from kernels.linear import linear_inputs, numpy_linear_relu, torch_linear_relu
from kernels.tensor_reduction import numpy_outer_gemm, tensor_reduction_inputs

F32 = np.float32


def _normal(rng, *shape):
    return rng.standard_normal(shape, dtype=F32)


# --- layers in a row ---


def _numpy_linear_relu_center(x, w, b):
    h = numpy_linear_relu(x, w, b)
    return h - h.mean()


def _torch_linear_relu_center(torch, x, w, b):
    h = torch_linear_relu(torch, x, w, b)
    return h - h.mean()


def _jax_linear_relu_center(jnp, x, w, b):
    h = jnp.maximum(x @ w + b, 0)
    return h - h.mean()


def _chain_cases():
    """A Linear then a Centered, as in the chapter: a kernel on two threads right after BLAS's GEMM."""
    yield Case("linear_relu+center", "(256, 1024) @ (1024, 1024)", linear_inputs(256, 1024, 1024),
               lambda x, w, b: kernels.center(kernels.linear_relu(x, w, b)), _numpy_linear_relu_center,
               floor=("x @ w", lambda x, w, b: x @ w), quick=True,
               peers={"torch": _torch_linear_relu_center, "jax": _jax_linear_relu_center})


# --- a training epoch: the digits MLP, Linear(64, 128, relu) then Linear(128, 10), cross-entropy, Adam ---

DIGITS_SHAPE = (1437, 64)  # scikit-learn's digits, 80 % of them: the same shape of random data, no download


def _training_inputs(batch_size):
    def make(rng):
        x = rng.random(DIGITS_SHAPE, dtype=F32)
        t = rng.integers(0, 10, DIGITS_SHAPE[0])
        w1, w2 = _normal(rng, 64, 128) / F32(8), _normal(rng, 128, 10) / F32(np.sqrt(128))
        return x, t, w1, _normal(rng, 128) / F32(8), w2, _normal(rng, 10) / F32(np.sqrt(128)), batch_size

    return make


# Each framework's model is built once, as its user builds it once and trains it for many epochs; an epoch
# starts by copying the given weights into it and making a new optimizer (fresh Adam moments). Building the
# model inside the epoch cost fastlayers 34 us (up to 100 us between other work) and PyTorch 69 us, work NumPy's
# epoch never does.


@lru_cache(maxsize=None)
def _fastlayers_model():
    import fastlayers as fl

    return fl.Sequential(fl.Linear(64, 128, activation="relu"), fl.Linear(128, 10))


def _fastlayers_start(weights):
    """(the bench's model holding copies of weights, a fresh Adam over it): where both epochs below start."""
    import fastlayers as fl

    net = _fastlayers_model()
    for p, value in zip(net.parameters(), weights):
        p.data = value.copy()
    return net, fl.optim.Adam(net.parameters(), lr=1e-3)


def _fastlayers_epoch(x, t, w1, b1, w2, b2, batch_size):
    """One epoch from the given weights with fl.TrainStep (each step one compiled call); returns the trained
    weights."""
    import fastlayers as fl

    net, opt = _fastlayers_start((w1, b1, w2, b2))
    step = fl.TrainStep(net, fl.functional.cross_entropy, opt)
    for start in range(0, len(x), batch_size):
        step(x[start : start + batch_size], t[start : start + batch_size])
    if not step.compiled:
        raise AssertionError(f"fl.TrainStep did not compile the digits MLP's step: {step.why_eager}")
    return tuple(p.data for p in net.parameters())


def _fastlayers_epoch_op_by_op(x, t, w1, b1, w2, b2, batch_size):
    """The same epoch as the loop TrainStep replaces: zero_grad, forward, loss, fl.backward, step."""
    import fastlayers as fl

    net, opt = _fastlayers_start((w1, b1, w2, b2))
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
        _, g = numpy_cross_entropy(h @ w2 + b2, tb, backward=True)
        gh = (g @ w2.T) * (h > 0)
        grads = [xb.T @ gh, gh.sum(axis=0), h.T @ g, g.sum(axis=0)]
        for p, grad, (m, v) in zip(params, grads, moments):
            m += 0.1 * (grad - m)
            v *= 0.999
            v += 0.001 * grad * grad
            p -= (1e-3 / (1 - 0.9**step)) * m / (np.sqrt(v) / np.sqrt(1 - 0.999**step) + 1e-8)
    return tuple(params)


@lru_cache(maxsize=None)
def _torch_model(torch):
    return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def _torch_epoch(torch, x, t, w1, b1, w2, b2, batch_size):
    net = _torch_model(torch)
    with torch.no_grad():
        for p, value in zip(net.parameters(), (w1.T, b1, w2.T, b2)):  # PyTorch stores weights (out, in)
            p.copy_(value)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for start in range(0, len(x), batch_size):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[start : start + batch_size]), t[start : start + batch_size]).backward()
        opt.step()
    w1, b1, w2, b2 = (p.detach().clone() for p in net.parameters())  # the next epoch writes over the model's
    return w1.T, b1, w2.T, b2  # back to (in, out), as NumPy's epoch has them


def _jax_epoch(jnp, x, t, w1, b1, w2, b2, batch_size):
    """The epoch as a JAX user writes it: the loss, jax.grad, Adam's formulas; the peer compiles the whole epoch."""
    import jax

    def loss(params, xb, tb):
        w1, b1, w2, b2 = params
        return jax_cross_entropy(jnp, jnp.maximum(xb @ w1 + b1, 0) @ w2 + b2, tb)

    params = (w1, b1, w2, b2)
    moments = [(jnp.zeros_like(p), jnp.zeros_like(p)) for p in params]
    for step, start in enumerate(range(0, len(x), batch_size), 1):
        grads = jax.grad(loss)(params, x[start : start + batch_size], t[start : start + batch_size])
        moments = [(m + 0.1 * (g - m), 0.999 * v + 0.001 * g * g) for g, (m, v) in zip(grads, moments)]
        params = tuple(p - (1e-3 / (1 - 0.9**step)) * m / (jnp.sqrt(v) / jnp.sqrt(1 - 0.999**step) + 1e-8)
                       for p, (m, v) in zip(params, moments))
    return params


def _training_cases():
    for batch_size in (64, 1024):
        yield Case("train epoch", f"digits MLP, batch {batch_size}", _training_inputs(batch_size), _fastlayers_epoch,
                   _numpy_epoch, quick=True, peers={"torch": _torch_epoch, "jax": _jax_epoch}, tolerance=1e-4)
    yield Case("train epoch", "digits MLP, batch 64, op by op", _training_inputs(64), _fastlayers_epoch_op_by_op,
               _numpy_epoch, tolerance=1e-4)


CHAIN_CASES = list(_chain_cases())
TRAINING_CASES = list(_training_cases())
CASES = [*(case for op in kernels.OPS for case in op.cases()), *CHAIN_CASES, *TRAINING_CASES]

# Peak memory, not time: the whole batch's outer product would be 4 GiB here.
MEMORY_CASES = [Case("tensor_reduction", "x (65536, 128), W (128, 128, 64)", tensor_reduction_inputs(65536, 128, 64),
                     kernels.tensor_reduction, numpy_outer_gemm)]


def _rel_err(got, expected) -> float:
    got, expected = np.asarray(got, np.complex128), np.asarray(expected, np.complex128)
    if got.shape != expected.shape:
        raise AssertionError(f"shape {got.shape} differs from NumPy's {expected.shape}")
    denom = np.linalg.norm(expected)
    return float(np.linalg.norm(got - expected) / (denom if denom > 0 else 1.0))


def check_against_numpy(case: Case, args, result, who="ours") -> float:
    """Relative error of a result for args against the NumPy baseline; raises if above the case's tolerance."""
    theirs = case.numpy(*args)
    pairs = zip(result, theirs) if isinstance(result, tuple) else [(result, theirs)]
    err = max(_rel_err(a, b) for a, b in pairs)
    if not err <= case.tolerance:
        raise AssertionError(f"{case.name}: {who}: relative error {err:.2e} against NumPy exceeds {case.tolerance:.0e}")
    return err


def check(case: Case, args) -> float:
    """Relative error of ours against the NumPy baseline; raises if above the case's tolerance."""
    return check_against_numpy(case, args, case.ours(*args))


def contenders(case: Case) -> dict:
    """{label: callable} for everything timed in this case, ours first."""
    out = {"fastlayers": case.ours, "numpy": case.numpy}
    if case.floor:
        out[f"floor: {case.floor[0]}"] = case.floor[1]
    out.update(case.others)
    return out
