"""The Adam / AdamW update on the GPU: one elementwise kernel over each parameter, in place
(the formulas of kernels/cpu/optim.py)."""

import math

import cupy

_ADAM = cupy.ElementwiseKernel(
    "T g, bool amsgrad, float64 lr, float64 beta1, float64 beta2, float64 eps, float64 weight_decay, "
    "bool decoupled, float64 step_size, float64 bias_correction2_sqrt",
    "T p, T m, T v, T v_max",
    """
    double gi = g, pi = p;
    if (decoupled) pi = (double)(T)(p * (T)(1.0 - lr * weight_decay));  // rounded as PyTorch's param.mul_
    else if (weight_decay != 0.0) gi = gi + weight_decay * pi;
    double mi = m + (1.0 - beta1) * (gi - m);
    double vi = beta2 * v + (1.0 - beta2) * gi * gi;
    m = (T)mi;
    v = (T)vi;
    if (amsgrad) {
        v_max = max(v_max, v);
        vi = v_max;
    }
    p = (T)(pi - step_size * (mi / (sqrt(vi) / bias_correction2_sqrt + eps)));
    """,
    "fastlayers_adam_update",
)


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
                decoupled):
    amsgrad = max_exp_avg_sq is not None
    _ADAM(grad, amsgrad, lr, beta1, beta2, eps, weight_decay, decoupled, lr / (1 - beta1**step),
          math.sqrt(1 - beta2**step), param, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else exp_avg_sq)
