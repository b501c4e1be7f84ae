"""One training step of an MLP on the CPU, in one compiled call: the forward through every layer, the loss,
the backward, the optimizer's update.

Shapes: x (n, in_0); weights[l] (in_l, out_l), in_(l+1) = out_l; biases[l] (out_l,), or (0,) where layer l has
none (bit l of bias_mask clear); target (n,) int64 labels (cross-entropy) or (n, out_last) (MSE); grad_weights and
grad_biases as weights and biases; the optimizer's state as the parameters. All C-contiguous, one float dtype.

Why one call: a step of the digits MLP at batch 64 (Linear(64, 128, relu), Linear(128, 10), cross-entropy, Adam)
is about 1.5 MFLOP, 20-30 us of arithmetic; op by op, each of the ~10 kernel calls costs its Python, checks
and dispatch (2-14 us each), and the layer API's tape more: 110 us a step. One call pays them once.

Each part is the op's own kernel code: linear's mask-and-bias-gradient pass, cross_entropy's rows, mse_loss's
sum and gradient, Adam's 8-lane update. The products go through our GEMM's tiles on this thread where they
suit it (AVX-512, a wide enough output, below _gemm.PARALLEL_MIN_FLOPS: (64, 64) @ (64, 128) took 6.1 us there
against 10.7 us in BLAS's on one thread, measured), else through BLAS (np.dot: its own threads for large ones).
"""

import numpy as np
from numba import njit

from ..adam.cpu import _adam, _adam_lanes
from ..cpu import _gemm
from ..cpu._simd import LANES
from ..cross_entropy.cpu import _cross_entropy_serial, _grad_rows, first_bad_label
from ..linear.cpu import _bias_relu_inplace, _mask_and_bias_grad
from ..mse_loss.cpu import _mse_grad, _squared_error_sum

ADAM, SGD = 0, 1
_OWN_GEMM = _gemm.available()


@njit(cache=True)
def _suits_own(n, k, m, nr, own):
    return own and m >= nr and k >= 32 and n * k * m < _gemm.PARALLEL_MIN_FLOPS


@njit(cache=True)
def _own_product(a, a_rs, a_cs, n, k, b, b_rs, b_cs, m, bias, has_bias, apply_relu, nr, out):
    """out (n, m) = relu?(a @ b + bias?) through our GEMM's tiles on this thread; a(r, q) = a[r a_rs + q a_cs]
    and b(q, c) = b[q b_rs + c b_cs], both flat."""
    panels = (m + nr - 1) // nr
    packed = np.empty((panels, k, nr), out.dtype)
    zero = np.int64(0)
    _gemm._pack(b, b_rs, b_cs, m, packed, zero, panels, zero, k)
    padded = np.zeros(panels * nr, out.dtype)
    if has_bias:
        for c in range(m):
            padded[c] = bias[c]
    _gemm._rows(a, a_rs, a_cs, packed, padded, out, zero, n, zero, k, zero, panels, apply_relu)


@njit(cache=True)
def _layer_forward(h, w, bias, has_bias, apply_relu, nr, own):
    """relu?(h @ w + bias?): h (n, in), w (in, out) -> (n, out)."""
    n, k = h.shape
    m = w.shape[1]
    out = np.empty((n, m), h.dtype)
    if _suits_own(n, k, m, nr, own):
        _own_product(h.ravel(), np.intp(k), np.intp(1), n, k, w.ravel(), np.intp(m), np.intp(1), m, bias, has_bias,
                     apply_relu, nr, out)
    else:
        np.dot(h, w, out)
        if has_bias or apply_relu:
            _bias_relu_inplace(out, bias, has_bias, apply_relu)
    return out


@njit(cache=True)
def _weight_grad(h, g, nr, own, out):
    """out (in, out_l) = h.T @ g: h (n, in), g (n, out_l)."""
    n, k = h.shape
    m = g.shape[1]
    if _suits_own(k, n, m, nr, own):
        _own_product(h.ravel(), np.intp(1), np.intp(k), k, n, g.ravel(), np.intp(m), np.intp(1), m, g[0], False,
                     False, nr, out)
    else:
        np.dot(h.T, g, out)


@njit(cache=True)
def _input_grad(g, w, nr, own):
    """g @ w.T: g (n, out_l), w (in, out_l) -> (n, in)."""
    n, m = g.shape
    k = w.shape[0]
    out = np.empty((n, k), g.dtype)
    if _suits_own(n, m, k, nr, own):
        _own_product(g.ravel(), np.intp(m), np.intp(1), n, m, w.ravel(), np.intp(1), np.intp(m), k, g[0], False,
                     False, nr, out)
    else:
        np.dot(g, w.T, out)
    return out


@njit(cache=True)
def _forward(x, weights, biases, bias_mask, relu_mask, nr, own):
    """[x, each layer's output]."""
    outputs = [x]
    for layer in range(len(weights)):
        outputs.append(_layer_forward(outputs[layer], weights[layer], biases[layer], (bias_mask >> layer) & 1 == 1,
                                      (relu_mask >> layer) & 1 == 1, nr, own))
    return outputs


@njit(cache=True)
def _backward(outputs, g, weights, bias_mask, relu_mask, grad_weights, grad_biases, nr, own):
    """Every parameter's gradient from g = d(loss)/d(the last output), written into grad_weights, grad_biases."""
    for layer in range(len(weights) - 1, -1, -1):
        has_bias, apply_relu = (bias_mask >> layer) & 1 == 1, (relu_mask >> layer) & 1 == 1
        # g masked where the ReLU cut, into a new array (in place, LLVM's overlap check sends the loop to its scalar
        # version: 87 against 19 us at (1024, 128), measured), and its column sums (float64 partials) into the bias's
        # gradient; a layer without a bias sums into a scratch array nobody reads.
        bias_grad = grad_biases[layer] if has_bias else np.empty(g.shape[1], g.dtype)
        masked = np.empty_like(g) if apply_relu else g
        _mask_and_bias_grad(g, outputs[layer + 1], apply_relu, masked, bias_grad)
        g = masked
        _weight_grad(outputs[layer], g, nr, own, grad_weights[layer])
        if layer > 0:
            g = _input_grad(g, weights[layer], nr, own)


@njit(cache=True)
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
        _adam(param[stop:], grad[stop:], exp_avg[stop:], exp_avg_sq[stop:], exp_avg_sq[stop:], False, beta2,
              one_minus_beta1, one_minus_beta2, eps, weight_decay, decoupled, decay, step_size,
              inverse_bias_correction2_sqrt)


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
def _cross_entropy_step(x, labels, ignore_index, mean, chunk, weights, biases, bias_mask, relu_mask, grad_weights,
                        grad_biases, state_weights, state_biases, optimizer, hyper, nr, own):
    """One step with cross_entropy's loss; returns (the loss, -1), or (NaN, i) with nothing written where labels[i]
    is out of range."""
    classes = weights[len(weights) - 1].shape[1]
    bad = first_bad_label(labels, classes, ignore_index)
    if bad >= 0:
        return np.nan, bad
    outputs = _forward(x, weights, biases, bias_mask, relu_mask, nr, own)
    logits = outputs[len(outputs) - 1]
    n = logits.shape[0]
    lse = np.empty(n, np.float64)
    total, count = _cross_entropy_serial(logits, labels, ignore_index, np.empty(n, np.float64), lse, chunk)
    scale = (1.0 / count if count else np.nan) if mean else 1.0
    g = np.empty_like(logits)
    scales = np.full(1, scale)
    for i0 in range(0, n, chunk):
        _grad_rows(logits, labels, ignore_index, i0, min(n, i0 + chunk), scales, lse, g)
    _backward(outputs, g, weights, bias_mask, relu_mask, grad_weights, grad_biases, nr, own)
    _update(weights, biases, bias_mask, grad_weights, grad_biases, state_weights, state_biases, optimizer, hyper)
    return total * scale, np.int64(-1)


@njit(cache=True)
def _mse_step(x, target, mean, weights, biases, bias_mask, relu_mask, grad_weights, grad_biases, state_weights,
              state_biases, optimizer, hyper, nr, own):
    """One step with mse_loss's loss; returns the loss."""
    outputs = _forward(x, weights, biases, bias_mask, relu_mask, nr, own)
    y = outputs[len(outputs) - 1]
    scale = (1.0 / y.size if y.size else np.nan) if mean else 1.0
    total = _squared_error_sum(y.ravel(), target.ravel())
    g = np.empty_like(y)
    _mse_grad(y.ravel(), target.ravel(), np.full(1, scale, y.dtype), g.ravel())
    _backward(outputs, g, weights, bias_mask, relu_mask, grad_weights, grad_biases, nr, own)
    _update(weights, biases, bias_mask, grad_weights, grad_biases, state_weights, state_biases, optimizer, hyper)
    return total * scale
