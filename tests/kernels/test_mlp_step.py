"""kernels.MLPStep: a whole training step in one call, against the step written in float64 NumPy as its user
would (forward, loss, the gradients by hand, the optimizer's formulas), the gradients against central finite
differences, and bad input refused before anything is written."""

import numpy as np
import pytest

import kernels
from kernels.cpu import _gemm, _native
from tests.numerics import TOLERANCE, numerical_grad, rel_err

# (in, [(out, bias, relu)]): the digits MLP, three layers with one bias missing and a ReLU on the last one,
# one layer, and a model whose products at 37 rows take our GEMM (OUR_GEMM_MODEL: see
# test_our_gemm_takes_the_products_it_suits).
OUR_GEMM_MODEL = (100, [(80, True, True), (96, False, True), (10, True, False)])
MODELS = [(64, [(128, True, True), (10, True, False)]),
          (7, [(33, True, True), (17, False, True), (5, True, True)]),
          (9, [(4, False, False)]),
          OUR_GEMM_MODEL]


def _model(rng, dtype, spec):
    width, layers = spec
    params, relu = [], []
    for out, bias, apply_relu in layers:
        params.append((rng.standard_normal((width, out)) / np.sqrt(width)).astype(dtype))
        if bias:
            params.append((rng.standard_normal(out) * 0.1).astype(dtype))
        relu.append(apply_relu)
        width = out
    return params, relu


def _layers(params):
    """[(weight, bias or None)] from params in the model's order."""
    layers = []
    for p in params:
        if p.ndim == 2:
            layers.append([p, None])
        else:
            layers[-1][1] = p
    return layers


def _forward(params, relu, x):
    """Every layer's output, float64."""
    outputs = [x]
    for (w, b), apply_relu in zip(_layers(params), relu):
        y = outputs[-1] @ w + (b if b is not None else 0)
        outputs.append(np.maximum(y, 0) if apply_relu else y)
    return outputs


def _loss_and_grad(y, target, loss, reduction, ignore_index):
    if loss == "mse_loss":
        scale = 1 / y.size if reduction == "mean" else 1
        return ((y - target) ** 2).sum() * scale, 2 * (y - target) * scale
    used = target != ignore_index
    shifted = y - y.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.flatnonzero(used)
    scale = 1 / used.sum() if reduction == "mean" else 1
    grad = np.exp(log_softmax)
    grad[rows, target[rows]] -= 1
    grad[~used] = 0
    return -log_softmax[rows, target[rows]].sum() * scale, grad * scale


def reference_step(params, relu, x, target, loss="cross_entropy", reduction="mean", ignore_index=-100):
    """(loss, grads) in float64, as a NumPy user writes the backward."""
    params = [p.astype(np.float64) for p in params]
    outputs = _forward(params, relu, x.astype(np.float64))
    value, g = _loss_and_grad(outputs[-1], target, loss, reduction, ignore_index)
    grads = []
    for index in range(len(relu) - 1, -1, -1):
        w, b = _layers(params)[index]
        if relu[index]:
            g = g * (outputs[index + 1] > 0)
        layer_grads = [outputs[index].T @ g] + ([g.sum(axis=0)] if b is not None else [])
        grads = layer_grads + grads
        g = g @ w.T
    return value, grads


def _targets(rng, loss, n, out, dtype):
    if loss == "mse_loss":
        return rng.standard_normal((n, out)).astype(dtype)
    labels = rng.integers(0, out, n)
    labels[::5] = -100  # ignored rows
    return labels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", MODELS)
@pytest.mark.parametrize("loss, reduction", [("cross_entropy", "mean"), ("cross_entropy", "sum"), ("mse_loss", "mean"),
                                             ("mse_loss", "sum")])
def test_loss_and_gradients_match_numpy(dtype, spec, loss, reduction, rng):
    params, relu = _model(rng, dtype, spec)
    n = 37
    x = rng.standard_normal((n, spec[0])).astype(dtype)
    target = _targets(rng, loss, n, spec[1][-1][0], dtype)
    expected_loss, expected_grads = reference_step(params, relu, x, target, loss, reduction)
    step = kernels.MLPStep(params, relu, loss=loss, reduction=reduction, optimizer="sgd")
    before = [p.copy() for p in params]
    value, grads = step(x, target, step=1, lr=0.5)
    assert value.shape == () and value.dtype == dtype
    assert rel_err(value, expected_loss) < TOLERANCE[np.dtype(dtype)]
    for index, (grad, ref) in enumerate(zip(grads, expected_grads)):
        assert grad.dtype == dtype and rel_err(grad, ref) < 10 * TOLERANCE[np.dtype(dtype)], index
    for p, p0, grad in zip(params, before, grads):  # plain SGD: p -= lr grad
        assert rel_err(p, p0 - np.asarray(0.5, dtype) * grad) < TOLERANCE[np.dtype(dtype)]


@pytest.mark.parametrize("loss", ["cross_entropy", "mse_loss"])
def test_gradients_match_finite_differences(loss, rng):
    params, relu = _model(rng, np.float64, MODELS[1])
    x = rng.standard_normal((6, 7))
    target = _targets(rng, loss, 6, 5, np.float64)
    _, grads = kernels.MLPStep([p.copy() for p in params], relu, loss=loss, optimizer="sgd")(x, target, step=1,
                                                                                            lr=1e-3)
    for index, p in enumerate(params):
        def loss_of(value, index=index):
            changed = [value if i == index else q for i, q in enumerate(params)]
            return reference_step(changed, relu, x, target, loss)[0]

        assert rel_err(grads[index], numerical_grad(loss_of, p)) < 1e-6, index


def _adam_formula(p, g, m, v, step, lr, betas, eps, weight_decay, decoupled):
    b1, b2 = betas
    p = p * (1 - lr * weight_decay) if decoupled else p
    g = g if decoupled else g + weight_decay * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return p - lr / (1 - b1**step) * m / (np.sqrt(v) / np.sqrt(1 - b2**step) + eps), m, v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight_decay, decoupled", [(0.0, False), (0.05, False), (0.05, True)])
def test_adam_steps_match_the_formula(dtype, weight_decay, decoupled, rng):
    params, relu = _model(rng, dtype, MODELS[1])
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = kernels.MLPStep(params, relu, state=(m, v))
    ref = [p.astype(np.float64) for p in params]
    ref_m, ref_v = [np.zeros_like(p) for p in ref], [np.zeros_like(p) for p in ref]
    settings = dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    for t in range(1, 4):
        x = rng.standard_normal((11, 7)).astype(dtype)
        labels = rng.integers(0, 5, 11)
        _, grads = reference_step(ref, relu, x, labels)
        _, got = step(x, labels, step=t, decoupled_weight_decay=decoupled, **settings)
        for i, grad in enumerate(grads):
            assert rel_err(got[i], grad) < 10 * TOLERANCE[np.dtype(dtype)]
            ref[i], ref_m[i], ref_v[i] = _adam_formula(ref[i], grad, ref_m[i], ref_v[i], t, decoupled=decoupled,
                                                       **settings)
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    for ours, expected in zip([*params, *m, *v], [*ref, *ref_m, *ref_v]):
        assert ours.dtype == dtype and rel_err(ours, expected) < tolerance


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sgd_momentum_matches_the_formula(weight_decay, rng):
    params, relu = _model(rng, np.float64, MODELS[0])
    buffers = [np.full_like(p, np.nan) for p in params]  # step 1 must not read them
    step = kernels.MLPStep(params, relu, optimizer="sgd", state=buffers)
    ref = [p.copy() for p in params]
    ref_buf = [None] * len(ref)
    for t in range(1, 4):
        x = rng.standard_normal((16, 64))
        labels = rng.integers(0, 10, 16)
        _, grads = reference_step(ref, relu, x, labels)
        step(x, labels, step=t, lr=0.1, momentum=0.9, weight_decay=weight_decay)
        for i, grad in enumerate(grads):
            g = grad + weight_decay * ref[i]
            ref_buf[i] = g if t == 1 else 0.9 * ref_buf[i] + g
            ref[i] = ref[i] - 0.1 * ref_buf[i]
    for ours, expected in zip([*params, *buffers], [*ref, *ref_buf]):
        assert rel_err(ours, expected) < 1e-12


@pytest.mark.skipif(not _gemm.available(), reason="our GEMM runs where Numba targets AVX-512")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_our_gemm_takes_the_products_it_suits(dtype, rng):
    """OUR_GEMM_MODEL at 37 rows, which test_loss_and_gradients_match_numpy checks against NumPy, sends to our
    GEMM a forward with a bias and a ReLU, one with neither (80 and 96 columns: panels zero-padded past them,
    37 rows: a partial tile of 6), both weights' gradients (h.T @ g) and the middle layer's input gradient
    (g @ w.T); the last layer's products (10 columns) go to BLAS."""
    params, relu = _model(rng, dtype, OUR_GEMM_MODEL)
    step = kernels.MLPStep(params, relu, optimizer="sgd")
    ours = [shape for shape in step._products(37) if _gemm.suits_serial(*shape, np.dtype(dtype).itemsize)]
    assert ours == [(37, 100, 80), (100, 37, 80), (37, 80, 96), (80, 37, 96), (37, 96, 80)]
    assert step._way(37)[0] != 0


@pytest.mark.skipif(not _gemm.available(), reason="our GEMM runs where Numba targets AVX-512")
def test_products_past_gemms_threads_range_stay_on_this_thread(rng):
    """At 300 rows the digits MLP's first layer, (300, 64) @ (64, 128), is past PARALLEL_MIN_FLOPS, where a linear
    layer's call gives it to BLAS and the step to our GEMM on its own thread: against NumPy in float64."""
    params, relu = _model(rng, np.float32, MODELS[0])
    x, labels = rng.standard_normal((300, 64)).astype(np.float32), rng.integers(0, 10, 300)
    assert 300 * 64 * 128 > _gemm.PARALLEL_MIN_FLOPS and not _gemm.suits(300, 64, 128, np.float32)
    step = kernels.MLPStep(params, relu, optimizer="sgd")
    assert [shape for shape in step._products(300) if _gemm.suits_serial(*shape, 4)] == [(300, 64, 128),
                                                                                       (64, 300, 128)]
    expected_loss, expected_grads = reference_step(params, relu, x, labels)
    value, grads = step(x, labels, step=1, lr=0.1)
    assert rel_err(value, expected_loss) < TOLERANCE[np.dtype(np.float32)]
    for index, (grad, ref) in enumerate(zip(grads, expected_grads)):
        assert rel_err(grad, ref) < 10 * TOLERANCE[np.dtype(np.float32)], index


def test_a_layer_of_no_features(rng):
    """A middle layer of width 0 beside products our GEMM takes: the gradient of the weight after it has no rows."""
    params, relu = _model(rng, np.float32, (64, [(128, True, True), (0, True, False), (10, True, False)]))
    x, labels = rng.standard_normal((64, 64)).astype(np.float32), rng.integers(0, 10, 64)
    expected_loss, expected_grads = reference_step(params, relu, x, labels)
    value, grads = kernels.MLPStep(params, relu, optimizer="sgd")(x, labels, step=1, lr=0.1)
    assert rel_err(value, expected_loss) < TOLERANCE[np.dtype(np.float32)]
    for grad, ref in zip(grads, expected_grads):
        assert grad.shape == ref.shape and (ref.size == 0 or rel_err(grad, ref) < 10 * TOLERANCE[np.dtype(np.float32)])


def _failing_entry(task_function, dtype):
    """What MLPStep gets in place of our GEMM's task: one that fails (as where its copies find no memory)."""

    def _fails(out, args, task):
        return 1

    return _native.task_entry(_fails, dtype)


@pytest.mark.skipif(not _gemm.available(), reason="our GEMM runs where Numba targets AVX-512")
@pytest.mark.parametrize("loss", ["cross_entropy", "mse_loss"])
# OUR_GEMM_MODEL fails in the forward; the other in the backward (its forward's k = 16 goes to BLAS, the weight's
# gradient (16, 200) @ (200, 128) to our GEMM)
@pytest.mark.parametrize("spec, n", [(OUR_GEMM_MODEL, 37), ((16, [(128, True, True), (10, True, False)]), 200)])
def test_a_failed_gemm_task_raises_and_writes_nothing(monkeypatch, loss, spec, n, rng):
    params, relu = _model(rng, np.float32, spec)
    m, v = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    saved = [a.copy() for a in (*params, *m, *v)]
    monkeypatch.setattr(_gemm, "task_entry", _failing_entry)
    step = kernels.MLPStep(params, relu, loss=loss, state=(m, v))
    assert step._way(n)[0] != 0
    with pytest.raises(MemoryError, match="MLPStep: a task of our GEMM failed"):
        step(rng.standard_normal((n, spec[0])).astype(np.float32), _targets(rng, loss, n, 10, np.float32), step=1,
             lr=1.0)
    assert all(np.array_equal(a, b) for a, b in zip((*params, *m, *v), saved))


def test_a_bad_label_writes_nothing(rng):
    params, relu = _model(rng, np.float32, MODELS[0])
    m, v = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    saved = [a.copy() for a in (*params, *m, *v)]
    labels = rng.integers(0, 10, 8)
    labels[5] = 10
    with pytest.raises(IndexError, match="label 10 at index 5"):
        kernels.MLPStep(params, relu, state=(m, v))(rng.random((8, 64), dtype=np.float32), labels, step=1, lr=1.0)
    assert all(np.array_equal(a, b) for a, b in zip((*params, *m, *v), saved))


def test_bad_input_is_named(rng):
    params, relu = _model(rng, np.float32, MODELS[0])
    state = ([np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params])
    with pytest.raises(ValueError, match=r"params\[2\] has shape \(127, 10\)"):
        kernels.MLPStep([params[0], params[1], params[2][:127].copy(), params[3]], relu, state=state)
    with pytest.raises(ValueError, match="relu has 1 entries for 2 layers"):
        kernels.MLPStep(params, [True], state=state)
    with pytest.raises(ValueError, match=r"exp_avgs\[1\] has shape \(3,\), its parameter \(128,\)"):
        kernels.MLPStep(params, relu, state=([state[0][0], np.zeros(3, np.float32), *state[0][2:]], state[1]))
    with pytest.raises(TypeError, match="params\\[1\\] must be a writable C-contiguous NumPy array"):
        kernels.MLPStep([params[0], params[1].astype(np.float64), *params[2:]], relu, state=state)
    with pytest.raises(TypeError, match="float32 or float64 NumPy arrays"):
        kernels.MLPStep([p.astype(np.float16) for p in params], relu, optimizer="sgd")
    step = kernels.MLPStep(params, relu, state=state)
    with pytest.raises(ValueError, match=r"x has shape \(4, 63\); expected \(n >= 1, 64\)"):
        step(np.ones((4, 63), np.float32), np.zeros(4, int), step=1, lr=1e-3)
    with pytest.raises(TypeError, match="x must be a C-contiguous"):
        step(np.ones((4, 64)), np.zeros(4, int), step=1, lr=1e-3)  # float64 into a float32 model
    with pytest.raises(TypeError, match=r"integer array of shape \(4,\)"):
        step(np.ones((4, 64), np.float32), np.zeros(4), step=1, lr=1e-3)
    with pytest.raises(ValueError, match="step must be an int >= 1"):
        step(np.ones((4, 64), np.float32), np.zeros(4, int), step=0, lr=1e-3)
    with pytest.raises(ValueError, match="momentum needs its buffers"):
        kernels.MLPStep(params, relu, optimizer="sgd")(np.ones((4, 64), np.float32), np.zeros(4, int), step=1,
                                                       lr=1e-3, momentum=0.9)
