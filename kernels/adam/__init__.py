"""adam_update: one Adam (or AdamW) step on a parameter (adam_update_many: on several), in place, in one pass
(an optimizer's kernel, not an op: it has no gradient). PyTorch's formulas; cpu.py and gpu.py beside this file."""

import numpy as np

from .._dispatch import FLOAT_DTYPES, Backends, device_for, xp_for

_backends = Backends(__name__)


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, decoupled_weight_decay=False):
    """One Adam (or, decoupled_weight_decay, AdamW) step on param, in place, as torch.optim.Adam / AdamW.

    param, grad and the moments exp_avg, exp_avg_sq (and max_exp_avg_sq, for amsgrad) have one shape and
    dtype, on one device; param and the moments are updated in place, in one pass. step counts from 1.
    """
    _update([(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)], step, lr, betas, eps, weight_decay,
            decoupled_weight_decay)


def adam_update_many(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs=None, *, step, lr, betas=(0.9, 0.999),
                     eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False):
    """adam_update on several parameters at one step count in one call (PyTorch's foreach Adam).

    Sequences of equal length: params[i] with grads[i], exp_avgs[i], exp_avg_sqs[i] (and max_exp_avg_sqs[i])
    as adam_update has them; every array of one float dtype, on one device. Every array is checked before
    any is written. On the CPU up to eight parameters go through one compiled call: an MLP's four
    (64 x 128, 128, 128 x 10, 10, float32) took 23 us as four adam_update calls, 12.6 us as one (measured).
    """
    _update(_groups(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs), step, lr, betas, eps, weight_decay,
            decoupled_weight_decay)


class AdamStep:
    """adam_update_many over one set of parameters and their moments, checked once here (as kernels.MLPStep
    checks a training step's arrays once): each call then checks only its gradients. For arrays that last, as an
    optimizer's do; arrays replaced since (a parameter's data assigned anew, a loaded checkpoint) need a new
    AdamStep. An MLP's four parameters (64 x 128, 128, 128 x 10, 10, float32): 7.0 us a call, against 14.2 us
    through adam_update_many (timeit, one process, 2026-11-24).

    params, exp_avgs, exp_avg_sqs (and max_exp_avg_sqs, for amsgrad): as adam_update_many takes them, checked
    as it checks them. Calling it with grads (one per parameter) and the step's settings updates them in place.
    """

    def __init__(self, params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs=None):
        groups = _groups(params, params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)  # each param stands in for its grad
        self.sequences = tuple(None if seq is None else tuple(seq)  # as given now, whatever happens to the lists
                               for seq in (params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs))
        if not groups:
            raise ValueError("AdamStep: got no parameters")
        self.device, groups = ("cpu", groups) if _fit_cpu(groups) else _check(groups)
        self.dtype, self.shapes = groups[0][0].dtype, [group[0].shape for group in groups]
        self._backend = _backends[self.device]
        self._prepared = self._backend.prepare([(p, m, v, v_max) for p, _, m, v, v_max in groups])

    def __call__(self, grads, *, step, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False):
        _check_step(step)
        if not self._fit(grads):  # anything unusual gets adam_update_many's checks and messages
            params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs = self.sequences
            grads = [group[1] for group in _check(_groups(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs))[1]]
        beta1, beta2 = betas
        self._backend.update(self._prepared, grads, int(step), lr, beta1, beta2, eps, weight_decay,
                             decoupled_weight_decay)

    def _fit(self, grads) -> bool:
        """Whether grads are C-contiguous NumPy arrays, one per parameter, each of its parameter's shape and dtype."""
        if self.device != "cpu" or type(grads) not in (list, tuple) or len(grads) != len(self.shapes):
            return False
        dtype = self.dtype
        for grad, shape in zip(grads, self.shapes):
            if (type(grad) is not np.ndarray or grad.dtype != dtype or grad.shape != shape
                    or not grad.flags.c_contiguous):
                return False
        return True


def _check_step(step):
    if not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"adam_update: step must be an int >= 1, got {step!r}")


def _update(groups, step, lr, betas, eps, weight_decay, decoupled):
    _check_step(step)
    if not groups:
        return
    if _fit_cpu(groups):
        device = "cpu"  # the common case, an optimizer's own buffers: a few attribute reads
    else:
        device, groups = _check(groups)
    backend = _backends[device]
    beta1, beta2 = betas
    backend.update(backend.prepare([(p, m, v, v_max) for p, _, m, v, v_max in groups]), [group[1] for group in groups],
                   int(step), lr, beta1, beta2, eps, weight_decay, decoupled)


def _fit_cpu(groups) -> bool:
    """Whether every array is a C-contiguous NumPy array of the first one's float dtype, of its group's shape:
    _dispatch.ready_for_cpu's test and the shapes in one pass (an MLP's four parameters: 2.3 us, against 3.4 us
    for ready_for_cpu over all twenty arrays and then a pass over the shapes; measured)."""
    dtype = groups[0][0].dtype if type(groups[0][0]) is np.ndarray else None
    if dtype not in FLOAT_DTYPES:
        return False
    for group in groups:
        shape = group[0].shape
        for a in group:
            if a is not None and (type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape
                                  or not a.flags.c_contiguous):
                return False
    return True


def _groups(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs):
    """[(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq or None)] from the sequences, of equal length."""
    sequences = {"params": params, "grads": grads, "exp_avgs": exp_avgs, "exp_avg_sqs": exp_avg_sqs}
    if max_exp_avg_sqs is not None:
        sequences["max_exp_avg_sqs"] = max_exp_avg_sqs
    lengths = {}
    for name, seq in sequences.items():
        if not isinstance(seq, (list, tuple)):
            raise TypeError(f"adam_update_many: {name} must be a list or tuple of arrays, got {type(seq).__name__}")
        lengths[name] = len(seq)
    if len(set(lengths.values())) > 1:
        raise ValueError(f"adam_update_many: the sequences differ in length: {lengths}")
    if max_exp_avg_sqs is not None and any(a is None for a in max_exp_avg_sqs):
        raise TypeError("adam_update_many: max_exp_avg_sqs holds None; give every parameter's (amsgrad) or none")
    maxes = max_exp_avg_sqs if max_exp_avg_sqs is not None else (None,) * len(params)
    return list(zip(params, grads, exp_avgs, exp_avg_sqs, maxes))


def _check(groups):
    """(device, groups with each grad C-contiguous) for arrays that fit adam_update, or the error saying which
    does not; every group on one device, in one dtype."""
    op = "adam_update"
    names = ("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    device = device_for(op, *(a for group in groups for a in group))
    xp = xp_for(device)
    dtype = groups[0][0].dtype if hasattr(groups[0][0], "dtype") else None
    if device == "cpu" and dtype is not None and np.dtype(dtype) not in FLOAT_DTYPES:
        raise TypeError(f"{op}: the CPU kernels update float32 or float64 parameters, got {dtype}")
    checked = []
    for index, arrays in enumerate(groups):
        param = arrays[0]
        where = "" if len(groups) == 1 else f" (parameter {index})"
        for name, a in zip(names, arrays):
            if a is None and name == "max_exp_avg_sq":
                continue
            if not isinstance(a, xp.ndarray):
                raise TypeError(f"{op}: {name} must be an array, got {type(a).__name__}{where}")
            if tuple(a.shape) != tuple(param.shape):
                raise ValueError(f"{op}: {name} has shape {tuple(a.shape)}, param has {tuple(param.shape)}{where}")
            if a.dtype != dtype or np.dtype(a.dtype).kind != "f":
                raise TypeError(f"{op}: every array must have the first param's float dtype {dtype}; {name} is "
                                f"{a.dtype}{where}")
            if name != "grad" and not a.flags.c_contiguous:
                raise ValueError(f"{op}: {name} must be C-contiguous (param and the moments are written in place)"
                                 f"{where}")
        checked.append((param, xp.ascontiguousarray(arrays[1]), *arrays[2:]))
    return device, checked
