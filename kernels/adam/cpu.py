"""The Adam / AdamW update on the CPU: one pass over each parameter (Numba), in place.

PyTorch's formulas (torch.optim.Adam, single-tensor path), element by element:
    Adam:  g += weight_decay * p          AdamW: p *= 1 - lr * weight_decay
    m += (1 - beta1) * (g - m)            (lerp, as PyTorch's)
    v = beta2 * v + (1 - beta2) * g^2
    v_max = max(v_max, v)                 (amsgrad: the denominator uses v_max)
    p -= step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),  step_size = lr / (1 - beta1^t)
where NumPy would make six temporaries the size of the parameter. The division by sqrt(1 - beta2^t) is a
multiplication by its inverse; the results match PyTorch's to 2e-8 relative after 20 steps.
"""

import math
from functools import lru_cache

import numpy as np
from numba import njit

from ..cpu._inner import inner
from ..cpu._simd import LANES, load, sqrt, store


@inner
def _adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad, beta2, one_minus_beta1, one_minus_beta2, eps,
          weight_decay, decoupled, decay, step_size, inverse_bias_correction2_sqrt):
    # One element at a time: amsgrad, and the last elements after _adam_lanes. Every scalar comes in param's
    # dtype, so float32 parameters update in float32, as PyTorch's do. One flat loop: with the body in a helper
    # function (even one Numba inlines) it ran 10x slower again (measured).
    for i in range(param.size):
        g = grad[i]
        p = param[i]
        if decoupled:
            p = p * decay  # rounded as PyTorch's param.mul_(1 - lr * weight_decay)
        elif weight_decay != 0:
            g = g + weight_decay * p
        m = exp_avg[i] + one_minus_beta1 * (g - exp_avg[i])
        v = beta2 * exp_avg_sq[i] + one_minus_beta2 * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        if amsgrad:
            v = max(max_exp_avg_sq[i], v)
            max_exp_avg_sq[i] = v
        param[i] = p - step_size * (m / (math.sqrt(v) * inverse_bias_correction2_sqrt + eps))


@inner
def _adam_lanes(param, grad, exp_avg, exp_avg_sq, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay,
                decoupled, decay, step_size, inverse_bias_correction2_sqrt, stop):
    """_adam's update of elements [0, stop), stop a multiple of LANES, on explicit 8-lane vectors: LLVM left
    the scalar loop scalar. A whole update of 8192 float32 values took 18-20 us with it, 5.0 us with this
    one, most of that the call's own cost (10 values: 4.6 us; measured)."""
    for i in range(0, stop, LANES):
        g = load(grad, i)
        p = load(param, i)
        if decoupled:
            p = p * decay
        elif weight_decay != 0:
            g = g + weight_decay * p
        m = load(exp_avg, i)
        m = m + one_minus_beta1 * (g - m)
        v = beta2 * load(exp_avg_sq, i) + one_minus_beta2 * (g * g)
        store(exp_avg, i, m)
        store(exp_avg_sq, i, v)
        store(param, i, p - step_size * (m / (sqrt(v) * inverse_bias_correction2_sqrt + eps)))


_GROUP = 8  # the most parameters per compiled call


def _group_size(count: int) -> int:
    """Tuples of 1, 2, 4 or 8 parameters: at most four compiled signatures per dtype, whatever the model, and
    little padding (each zero-size pad is an argument the call must type: seven of them cost 3 us, measured)."""
    return 1 << (min(count, _GROUP) - 1).bit_length()


@njit(cache=True)
def _adam_group(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, amsgrad, beta2, one_minus_beta1,
                one_minus_beta2, eps, weight_decay, decoupled, decay, step_size, inverse_bias_correction2_sqrt):
    """Each params[k] updated as adam_update_many says: its first elements on 8-lane vectors (_adam_lanes),
    the rest, and amsgrad's running max, one at a time (_adam). Zero-size arrays pad a group: they do nothing."""
    for k in range(len(params)):
        param, grad, exp_avg, exp_avg_sq = params[k], grads[k], exp_avgs[k], exp_avg_sqs[k]
        stop = 0 if amsgrad else param.size - param.size % LANES
        if stop:
            _adam_lanes(param, grad, exp_avg, exp_avg_sq, beta2, one_minus_beta1, one_minus_beta2, eps,
                        weight_decay, decoupled, decay, step_size, inverse_bias_correction2_sqrt, stop)
        if stop < param.size:
            _adam(param[stop:], grad[stop:], exp_avg[stop:], exp_avg_sq[stop:], max_exp_avg_sqs[k][stop:], amsgrad,
                  beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay, decoupled, decay, step_size,
                  inverse_bias_correction2_sqrt)


_PADS = {np.dtype(np.float32): np.empty(0, np.float32), np.dtype(np.float64): np.empty(0, np.float64)}


def prepare(groups):
    """What update() runs on, made once for arrays an optimizer keeps: groups [(param, exp_avg, exp_avg_sq,
    max_exp_avg_sq or None)], every array C-contiguous, of one float dtype, each of its param's shape
    (max_exp_avg_sq: all arrays, amsgrad, or all None), as flat views in chunks of up to _GROUP parameters."""
    amsgrad = groups[0][3] is not None
    dtype = groups[0][0].dtype
    chunks = []
    for k0 in range(0, len(groups), _GROUP):
        size = _group_size(len(groups) - k0)
        chunk = groups[k0 : k0 + size]
        padding = (_PADS[dtype],) * (size - len(chunk))
        flat = [[a.reshape(-1) for a in (p, m, v, v_max if amsgrad else v)] for p, m, v, v_max in chunk]
        chunks.append((*(tuple(column) + padding for column in zip(*flat)), len(chunk), padding))
    return amsgrad, dtype, chunks


@lru_cache(maxsize=64)
def _scalars(dtype, lr, beta1, beta2, eps, weight_decay, decoupled):
    """The update's scalars that do not change with the step, in the parameters' dtype (nine NumPy scalars made
    at every call cost 1.5 us, measured)."""
    real = dtype.type
    return (real(beta2), real(1 - beta1), real(1 - beta2), real(eps), real(weight_decay), bool(decoupled),
            real(1 - lr * weight_decay))


def update(prepared, grads, step, lr, beta1, beta2, eps, weight_decay, decoupled):
    """prepare()'s params and moments updated in place for grads, one per parameter, each C-contiguous, of its
    param's shape and dtype."""
    amsgrad, dtype, chunks = prepared
    real = dtype.type
    try:
        fixed = _scalars(dtype, lr, beta1, beta2, eps, weight_decay, decoupled)
    except TypeError:  # a setting that cannot be a key (a 0-d array)
        fixed = _scalars.__wrapped__(dtype, lr, beta1, beta2, eps, weight_decay, decoupled)
    scalars = (*fixed, real(lr / (1 - beta1**step)), real(1 / math.sqrt(1 - beta2**step)))
    k0 = 0
    for params, exp_avgs, exp_avg_sqs, maxes, count, padding in chunks:
        flat = tuple([g if g.ndim == 1 else g.reshape(-1) for g in grads[k0 : k0 + count]])
        _adam_group(params, flat + padding, exp_avgs, exp_avg_sqs, maxes, amsgrad, *scalars)
        k0 += count
