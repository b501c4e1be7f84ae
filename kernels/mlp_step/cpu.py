"""One training step of an MLP on the CPU, in one compiled call: the forward through every layer, the loss,
the backward, the optimizer's update.

Shapes: x (n, in_0); weights[l] (in_l, out_l), in_(l+1) = out_l; biases[l] (out_l,), or (0,) where layer l has
none (bit l of bias_mask clear); target (n,) int64 labels (cross-entropy) or (n, out_last) (MSE); grad_weights and
grad_biases as weights and biases; the optimizer's state as the parameters. All C-contiguous, one float dtype.

Why one call: a step of the digits MLP at batch 64 (Linear(64, 128, relu), Linear(128, 10), cross-entropy, Adam)
is about 1.5 MFLOP, 20-30 us of arithmetic; op by op, each of the ~10 kernel calls pays its Python, checks and
dispatch (2-14 us each), and the layer API's tape more: 130 us a step against 52 us so (measured, README).

The products our AVX-512 GEMM takes on one thread (kernels.cpu._gemm.suits_serial: from 2^18 to 2^24
multiply-adds, m and k wide enough for its tiles) go through its task, called on this thread (product_here:
gemm's C callback), the rest to BLAS (np.dot; its own threads for large ones). At batch 64 the digits MLP's two
large products, (64, 64) @ (64, 128) and its weight's gradient, take ours: 6.1-6.8 us each against OpenBLAS's
10.8-11.3 us on one thread and 7.3-7.6 us on two, and with them off BLAS the rest of BLAS's products are too
small for its threads, so a step never waits for them or, with a core busy, for their spinning (MLPStep then
skips ThreadedOrSerial's timing). The compiled step alone, timed beside the one before (all products BLAS's),
2026-11-24: 42-50 -> 35-39 us a step; at batch 1024 see suits_serial. Its cost is the first call: the step
links product_here (0.6-0.7 s more), and where no linear layer has yet compiled our GEMM's task in this process
or the disk cache, MLPStep compiles it (2.5-2.7 s). The ReLU's mask with the bias's gradient and Adam's 8-lane
update are linear's and adam's own kernels; mse_loss's sum and gradient too. Cross-entropy has rows of its
own here (_cross_entropy_rows): through cross_entropy's row kernels (vectorized exponentials, float32 blocks
for wide rows) the step's first call compiled 3.3 s longer.

This file's helpers are inlined into the two step functions (inline='always'): each njit function that calls
another links the callee's code into its own and optimizes it again, so a helper of its own compiled once on
its own and once more in every caller above it. Inlined, the step's first call (a fresh process, an empty
NUMBA_CACHE_DIR) took 2.81-2.83 s against 3.41-3.47 s, at the same speed after (batch 64 and 1024, side by
side).
"""

import math

import numpy as np
from numba import njit

from ..adam.cpu import _adam, _adam_lanes
from ..cpu._gemm import product_here
from ..cpu._simd import LANES
from ..cross_entropy.cpu import first_bad_label
from ..linear.cpu import _bias_relu_inplace, _mask_and_bias_grad
from ..mse_loss.cpu import _mse_grad, _squared_error_sum

ADAM, SGD = 0, 1
FAILED = np.int64(-2)  # the steps' second result where our GEMM's task failed


@njit(cache=True, inline='always')
def _product(a, b, a_elements, a_rs, a_cs, b_elements, b_rs, b_cs, bias, has_bias, apply_relu, out, gemm):
    """out = relu?(a @ b + bias?): a (n, k) and b (k, m), views of C-contiguous arrays (transposes too), given
    again as their elements in memory order and strides (product_here's a, a_rs, a_cs, b, b_rs, b_cs); bias (m,)
    or the (0,) stand-in. Through our GEMM's task where product_here takes it, else np.dot and linear's
    bias-and-ReLU pass. Returns whether our GEMM's task failed."""
    done = product_here(a_elements, a_rs, a_cs, b_elements, b_rs, b_cs, bias, apply_relu, out, gemm)
    if done < 0:
        np.dot(a, b, out)
        if has_bias or apply_relu:
            _bias_relu_inplace(out, bias, has_bias, apply_relu)
    return done > 0


@njit(cache=True, inline='always')
def _layer_forward(h, w, bias, has_bias, apply_relu, gemm):
    """(relu?(h @ w + bias?), failed): h (n, in), w (in, out) -> (n, out), bias (out,) or the (0,) stand-in;
    failed: whether our GEMM's task failed."""
    n, k = h.shape
    m = w.shape[1]
    out = np.empty((n, m), h.dtype)
    failed = _product(h, w, h.ravel(), np.int64(k), np.int64(1), w.ravel(), np.int64(m), np.int64(1), bias, has_bias,
                      apply_relu, out, gemm)
    return out, failed


@njit(cache=True, inline='always')
def _forward(x, weights, biases, bias_mask, relu_mask, gemm):
    """([x, each layer's output], failed)."""
    outputs = [x]
    for layer in range(len(weights)):
        out, failed = _layer_forward(outputs[layer], weights[layer], biases[layer], (bias_mask >> layer) & 1 == 1,
                                     (relu_mask >> layer) & 1 == 1, gemm)
        if failed:
            return outputs, True
        outputs.append(out)
    return outputs, False


@njit(cache=True, inline='always')
def _backward(outputs, g, weights, bias_mask, relu_mask, grad_weights, grad_biases, gemm):
    """Every parameter's gradient from g = d(loss)/d(the last output), written into grad_weights, grad_biases.
    Returns True where our GEMM's task failed."""
    none, no_relu = g[0, :0], np.bool_(False)  # no bias, no ReLU; not a literal False (kernels/cpu/__init__)
    for layer in range(len(weights) - 1, -1, -1):
        has_bias, apply_relu = (bias_mask >> layer) & 1 == 1, (relu_mask >> layer) & 1 == 1
        # g masked where the ReLU cut, into a new array (in place, LLVM's overlap check sends the loop to its scalar
        # version: 87 against 19 us at (1024, 128), measured), and its column sums (float64 partials) into the bias's
        # gradient; a layer without a bias sums into a scratch array nobody reads.
        bias_grad = grad_biases[layer] if has_bias else np.empty(g.shape[1], g.dtype)
        masked = np.empty_like(g) if apply_relu else g
        _mask_and_bias_grad(g, outputs[layer + 1], apply_relu, masked, bias_grad)
        g = masked
        h, w = outputs[layer], weights[layer]
        n, width = h.shape
        m = g.shape[1]
        if _product(h.T, g, h.ravel(), np.int64(1), np.int64(width), g.ravel(), np.int64(m), np.int64(1), none,
                    no_relu, no_relu, grad_weights[layer], gemm):
            return True
        if layer > 0:
            g_in = np.empty((n, width), g.dtype)
            if _product(g, w.T, g.ravel(), np.int64(m), np.int64(1), w.ravel(), np.int64(1), np.int64(m), none,
                        no_relu, no_relu, g_in, gemm):
                return True
            g = g_in
    return False


@njit(cache=True, inline='always')
def _adam_update(param, grad, exp_avg, exp_avg_sq, hyper):
    """adam's kernels (kernels/adam/cpu.py) on one flat parameter, as _adam_group runs them without amsgrad."""
    real = param.dtype.type
    beta2, one_minus_beta1, one_minus_beta2, eps = real(hyper[0]), real(hyper[1]), real(hyper[2]), real(hyper[3])
    weight_decay, decoupled, decay = real(hyper[4]), hyper[5] != 0, real(hyper[6])
    step_size, inverse_bias_correction2_sqrt = real(hyper[7]), real(hyper[8])
    stop = param.size - param.size % LANES
    if stop:
        _adam_lanes(param, grad, exp_avg, exp_avg_sq, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay,
                    decoupled, decay, step_size, inverse_bias_correction2_sqrt, stop)
    if stop < param.size:
        no_amsgrad = np.bool_(False)  # not a literal False: _adam would be compiled for it too (kernels/cpu/__init__)
        _adam(param[stop:], grad[stop:], exp_avg[stop:], exp_avg_sq[stop:], exp_avg_sq[stop:], no_amsgrad, beta2,
              one_minus_beta1, one_minus_beta2, eps, weight_decay, decoupled, decay, step_size,
              inverse_bias_correction2_sqrt)


@njit(cache=True, inline='always')
def _sgd_update(param, grad, buf, hyper):
    """fastlayers.optim.SGD's update, element by element: g = grad + weight_decay p; with momentum, buf = g at
    the first step, else momentum buf + g, and g = buf; p -= lr g."""
    real = param.dtype.type
    lr, momentum, weight_decay, first = real(hyper[0]), real(hyper[1]), real(hyper[2]), hyper[3] != 0
    for i in range(param.size):
        g = grad[i] + weight_decay * param[i] if weight_decay != 0 else grad[i]
        if momentum != 0:
            g = g if first else momentum * buf[i] + g
            buf[i] = g
        param[i] -= lr * g


@njit(cache=True, inline='always')
def _update(weights, biases, bias_mask, grad_weights, grad_biases, state_weights, state_biases, optimizer, hyper):
    """Every parameter's update. state_*: Adam's (exp_avg, exp_avg_sq) pairs, SGD's (buf, buf)."""
    for layer in range(len(weights)):
        w, gw = weights[layer].ravel(), grad_weights[layer].ravel()
        first, second = state_weights[layer]
        if optimizer == ADAM:
            _adam_update(w, gw, first.ravel(), second.ravel(), hyper)
        else:
            _sgd_update(w, gw, first.ravel(), hyper)
        if (bias_mask >> layer) & 1 == 1:
            first, second = state_biases[layer]
            if optimizer == ADAM:
                _adam_update(biases[layer], grad_biases[layer], first, second, hyper)
            else:
                _sgd_update(biases[layer], grad_biases[layer], first, hyper)


@njit(cache=True, inline='always')
def _cross_entropy_rows(logits, labels, ignore_index, mean, g):
    """The loss, and g = its gradient w.r.t. logits (n, classes): each row's logsumexp in float64 (the max
    subtracted first), loss += logsumexp - row[label], g = (softmax - onehot) * scale, scale 1 / (rows not
    ignored) for the mean, 1 for the sum. Ignored rows add nothing and get g = 0; NaN or +inf in a row gives a NaN
    loss, as cross_entropy's."""
    n, classes = logits.shape
    count = 0
    for i in range(n):
        count += labels[i] != ignore_index
    scale = (1.0 / count if count else np.nan) if mean else 1.0
    total = 0.0
    for i in range(n):
        row, out, label = logits[i], g[i], labels[i]
        if label == ignore_index:
            for j in range(classes):
                out[j] = 0
            continue
        shift = -np.inf
        for j in range(classes):
            shift = max(shift, np.float64(row[j]))
        if math.isnan(shift) or shift == np.inf:
            shift = np.nan
        s = 0.0
        for j in range(classes):  # each exponential once: kept in out, scaled below (64 x 10: 7.0 -> 3.7 us)
            e = math.exp(np.float64(row[j]) - shift)
            out[j] = e
            s += e
        total += shift + math.log(s) - np.float64(row[label])
        ratio = scale / s
        for j in range(classes):
            out[j] = out[j] * ratio
        out[label] -= scale
    return total * scale


@njit(cache=True)
def _cross_entropy_step(x, labels, ignore_index, mean, weights, biases, bias_mask, relu_mask, grad_weights,
                        grad_biases, state_weights, state_biases, optimizer, hyper, gemm):
    """One step with the cross-entropy loss; returns (the loss, -1), or (NaN, i) with nothing written where
    labels[i] is out of range, or (NaN, FAILED) with no parameter written where our GEMM's task failed. gemm:
    its task's entry, or 0 (BLAS's products only)."""
    bad = first_bad_label(labels, weights[len(weights) - 1].shape[1], ignore_index)
    if bad >= 0:
        return np.nan, bad
    outputs, failed = _forward(x, weights, biases, bias_mask, relu_mask, gemm)
    if failed:
        return np.nan, FAILED
    logits = outputs[len(outputs) - 1]
    g = np.empty_like(logits)
    loss = _cross_entropy_rows(logits, labels, ignore_index, mean, g)
    if _backward(outputs, g, weights, bias_mask, relu_mask, grad_weights, grad_biases, gemm):
        return np.nan, FAILED
    _update(weights, biases, bias_mask, grad_weights, grad_biases, state_weights, state_biases, optimizer, hyper)
    return loss, np.int64(-1)


@njit(cache=True)
def _mse_step(x, target, mean, weights, biases, bias_mask, relu_mask, grad_weights, grad_biases, state_weights,
              state_biases, optimizer, hyper, gemm):
    """One step with mse_loss's loss; returns (the loss, -1), or (NaN, FAILED) with no parameter written where our
    GEMM's task failed."""
    outputs, failed = _forward(x, weights, biases, bias_mask, relu_mask, gemm)
    if failed:
        return np.nan, FAILED
    y = outputs[len(outputs) - 1]
    scale = (1.0 / y.size if y.size else np.nan) if mean else 1.0
    total = _squared_error_sum(y.ravel(), target.ravel())
    g = np.empty_like(y)
    _mse_grad(y.ravel(), target.ravel(), np.full(1, scale, y.dtype), g.ravel())
    if _backward(outputs, g, weights, bias_mask, relu_mask, grad_weights, grad_biases, gemm):
        return np.nan, FAILED
    _update(weights, biases, bias_mask, grad_weights, grad_biases, state_weights, state_biases, optimizer, hyper)
    return total * scale, np.int64(-1)
