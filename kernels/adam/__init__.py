"""adam_update: one Adam (or AdamW) step on a parameter, in place, in one pass (an optimizer's kernel, not an op:
it has no gradient). PyTorch's formulas; cpu.py and gpu.py beside this file."""

import numpy as np

from .._dispatch import Backends, device_for, ready_for_cpu, xp_for

_backends = Backends(__name__)


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, decoupled_weight_decay=False):
    """One Adam (or, decoupled_weight_decay, AdamW) step on param, in place, as torch.optim.Adam / AdamW.

    param, grad and the moments exp_avg, exp_avg_sq (and max_exp_avg_sq, for amsgrad) have one shape and
    dtype, on one device; param and the moments are updated in place, in one pass. step counts from 1.
    """
    arrays = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)
    shape = param.shape
    if ready_for_cpu(arrays) and all(a is None or a.shape == shape for a in arrays):
        device = "cpu"  # the common case, an optimizer's own buffers: a few attribute reads
    else:
        device, grad = _check(arrays)
    if not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"adam_update: step must be an int >= 1, got {step!r}")
    beta1, beta2 = betas
    _backends[device].adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, int(step), lr, beta1, beta2, eps,
                                  weight_decay, decoupled_weight_decay)


def _check(arrays):
    """(device, grad C-contiguous) for arrays that fit adam_update, or the error saying which does not."""
    op = "adam_update"
    names = ("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    param = arrays[0]
    device = device_for(op, *arrays)
    xp = xp_for(device)
    for name, a in zip(names, arrays):
        if a is None:
            continue
        if not isinstance(a, xp.ndarray):
            raise TypeError(f"{op}: {name} must be an array, got {type(a).__name__}")
        if tuple(a.shape) != tuple(param.shape):
            raise ValueError(f"{op}: {name} has shape {tuple(a.shape)}, param has {tuple(param.shape)}")
        if a.dtype != param.dtype or np.dtype(a.dtype).kind != "f":
            raise TypeError(f"{op}: every array must have param's float dtype {param.dtype}; {name} is {a.dtype}")
        if name != "grad" and not a.flags.c_contiguous:
            raise ValueError(f"{op}: {name} must be C-contiguous (param and the moments are written in place)")
    return device, xp.ascontiguousarray(arrays[1])
