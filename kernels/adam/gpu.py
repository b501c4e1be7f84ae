"""The Adam / AdamW update on the GPU: one elementwise kernel over each parameter, in place
(the formulas of kernels/adam/cpu.py), computed in double and stored in the parameter's dtype."""

import math

import cupy

_PARAMS = ("T g, float64 lr, float64 beta1, float64 beta2, float64 eps, float64 weight_decay, bool decoupled, "
           "float64 step_size, float64 bias_correction2_sqrt")
_MOMENTS = """
    double gi = g, pi = p;
    if (decoupled) pi = (double)(T)(p * (T)(1.0 - lr * weight_decay));  // rounded as PyTorch's param.mul_
    else if (weight_decay != 0.0) gi = gi + weight_decay * pi;
    double mi = m + (1.0 - beta1) * (gi - m);
    double vi = beta2 * v + (1.0 - beta2) * gi * gi;
    m = (T)mi;
    v = (T)vi;
"""
_STEP = "p = (T)(pi - step_size * (mi / (sqrt(vi) / bias_correction2_sqrt + eps)));"

# Two kernels rather than one with a flag: without amsgrad there is no running maximum to pass, and
# passing exp_avg_sq twice would make two outputs of one array.
_ADAM = cupy.ElementwiseKernel(_PARAMS, "T p, T m, T v", _MOMENTS + _STEP, "fastlayers_adam_update")
_ADAM_AMSGRAD = cupy.ElementwiseKernel(
    _PARAMS, "T p, T m, T v, T v_max", _MOMENTS + "v_max = max(v_max, v);\n    vi = v_max;\n" + _STEP,
    "fastlayers_adam_amsgrad_update",
)


def prepare(groups):
    """groups: [(param, exp_avg, exp_avg_sq, max_exp_avg_sq or None)], as update() takes them."""
    return groups


def update(prepared, grads, step, lr, beta1, beta2, eps, weight_decay, decoupled):
    """prepare()'s params and moments updated in place for grads, one per parameter; one kernel launch each."""
    scalars = (lr, beta1, beta2, eps, weight_decay, bool(decoupled), lr / (1 - beta1**step),
               math.sqrt(1 - beta2**step))
    for (param, exp_avg, exp_avg_sq, max_exp_avg_sq), grad in zip(prepared, grads):
        if max_exp_avg_sq is None:
            _ADAM(grad, *scalars, param, exp_avg, exp_avg_sq)
        else:
            _ADAM_AMSGRAD(grad, *scalars, param, exp_avg, exp_avg_sq, max_exp_avg_sq)
