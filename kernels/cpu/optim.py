"""The Adam / AdamW update on the CPU: one pass over each parameter (Numba), in place.

PyTorch's formulas (torch.optim.Adam, single-tensor path), element by element:
    Adam:  g += weight_decay * p          AdamW: p *= 1 - lr * weight_decay
    m += (1 - beta1) * (g - m)            (lerp, as PyTorch's)
    v = beta2 * v + (1 - beta2) * g^2
    v_max = max(v_max, v)                 (amsgrad: the denominator uses v_max)
    p -= step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),  step_size = lr / (1 - beta1^t)
where NumPy would make six temporaries the size of the parameter.
"""

import math

from numba import njit, prange

_PARALLEL_MIN_ELEMENTS = 1 << 18  # below this one thread (waking the team costs more, as for center)


@njit(cache=True)
def _adam_element(i, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad, lr, beta1, beta2, eps,
                  weight_decay, decoupled, decay, step_size, bias_correction2_sqrt):
    g = grad[i]
    p = param[i]
    if decoupled:
        p = p * decay  # in param's dtype, rounded as PyTorch's param.mul_(1 - lr * weight_decay)
    elif weight_decay != 0.0:
        g = g + weight_decay * p
    m = exp_avg[i] + (1.0 - beta1) * (g - exp_avg[i])
    v = beta2 * exp_avg_sq[i] + (1.0 - beta2) * g * g
    exp_avg[i] = m
    exp_avg_sq[i] = v
    if amsgrad:
        v = max(max_exp_avg_sq[i], exp_avg_sq[i])
        max_exp_avg_sq[i] = v
    param[i] = p - step_size * (m / (math.sqrt(v) / bias_correction2_sqrt + eps))


@njit(cache=True)
def _adam_serial(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad, lr, beta1, beta2, eps, weight_decay,
                 decoupled, decay, step_size, bias_correction2_sqrt):
    for i in range(param.size):
        _adam_element(i, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad, lr, beta1, beta2, eps,
                      weight_decay, decoupled, decay, step_size, bias_correction2_sqrt)


@njit(cache=True, parallel=True)
def _adam_parallel(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad, lr, beta1, beta2, eps, weight_decay,
                   decoupled, decay, step_size, bias_correction2_sqrt):
    for i in prange(param.size):
        _adam_element(i, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad, lr, beta1, beta2, eps,
                      weight_decay, decoupled, decay, step_size, bias_correction2_sqrt)


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
                decoupled):
    """Every array C-contiguous, of one shape and float dtype; param and the moments are written in place."""
    amsgrad = max_exp_avg_sq is not None
    kernel = _adam_parallel if param.size >= _PARALLEL_MIN_ELEMENTS else _adam_serial
    kernel(param.reshape(-1), grad.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
           (max_exp_avg_sq if amsgrad else exp_avg_sq).reshape(-1), amsgrad, float(lr), float(beta1), float(beta2),
           float(eps), float(weight_decay), bool(decoupled), param.dtype.type(1 - lr * weight_decay),
           float(lr / (1 - beta1**step)),
           float(math.sqrt(1 - beta2**step)))
