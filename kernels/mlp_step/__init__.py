"""MLPStep: one training step of an MLP — forward, loss, backward, Adam's or SGD's update — in one compiled call
on the CPU (an optimizer's kernel, not an op: it has no gradient). cpu.py beside this file; fastlayers.TrainStep
is its layer-API face.

The model: layers l = 0 .. L-1, y_(l+1) = relu?(y_l @ weights[l] + biases[l]?), y_0 = x. params lists them in
the model's order, each weight (in, out) followed by its bias (out,) where the layer has one, as
``list(net.parameters())`` of a fastlayers Sequential of Linear layers. The results match the same step taken
op by op (kernels.linear_relu, cross_entropy, their backwards, adam_update_many) to float rounding.

Its products are our GEMM's on the calling thread where it suits them (cpu.py), else BLAS's, on BLAS's threads
or on the calling thread alone: where one of them is large enough for BLAS's threads, the calls are timed, and
each takes the way that was faster lately for its model's shapes and batch size (kernels._blas_threads: on a
quiet machine the threads win, with a core taken by another process one thread does).
"""

import math

import numpy as np

from .._blas_threads import ThreadedOrSerial
from .._dispatch import FLOAT_DTYPES
from ..cpu import _alloc

_LOSSES = ("cross_entropy", "mse_loss")
_OPTIMIZERS = ("adam", "sgd")
BLAS_THREADS = ThreadedOrSerial()  # every MLPStep's calls: the products on BLAS's threads or on ours alone


class MLPStep:
    """A training step over one model's parameter and optimizer-state arrays, checked once here (as an FFT plan
    is made once): each call then checks only its inputs. Arrays replaced since (a loaded checkpoint, a new
    optimizer) need a new MLPStep.

    params: the model's weights and biases (see above); relu[l]: whether layer l ends in a ReLU. loss
    "cross_entropy" (reduction "mean" or "sum", ignore_index as kernels.cross_entropy's) or "mse_loss".
    optimizer "adam" (Adam, or AdamW, as adam_update_many; no amsgrad) with state = (exp_avgs, exp_avg_sqs), one
    of each per parameter; or "sgd" (fastlayers.optim.SGD's: momentum, weight_decay) with state = its momentum
    buffers, one per parameter (None without momentum). Parameters and state are updated in place.
    """

    def __init__(self, params, relu, *, loss="cross_entropy", reduction="mean", ignore_index=-100,
                 optimizer="adam", state=None):
        if loss not in _LOSSES:
            raise ValueError(f"MLPStep: loss must be one of {_LOSSES}, got {loss!r}")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"MLPStep: reduction must be 'mean' or 'sum', got {reduction!r}")
        if optimizer not in _OPTIMIZERS:
            raise ValueError(f"MLPStep: optimizer must be one of {_OPTIMIZERS}, got {optimizer!r}")
        params = list(params)
        dtype = params[0].dtype if params and type(params[0]) is np.ndarray else None
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"MLPStep: params must be float32 or float64 NumPy arrays (the CPU's kernel; "
                            f"fastlayers.TrainStep takes a GPU model op by op), got "
                            f"{type(params[0]).__name__ if params else 'none'}")
        self.params, self.dtype = params, dtype
        self.weights, self.biases, self.bias_mask = _layers(params, dtype)
        self.relu_mask = _mask(relu, len(self.weights))
        self.in_features, self.out_features = self.weights[0].shape[0], self.weights[-1].shape[1]
        if optimizer == "adam":
            exp_avgs, exp_avg_sqs = _pair(state, 'state=(exp_avgs, exp_avg_sqs) for optimizer="adam"')
            firsts = self._split(_checked_like(exp_avgs, params, "exp_avgs"))
            seconds = self._split(_checked_like(exp_avg_sqs, params, "exp_avg_sqs"))
        elif state is not None:
            firsts = seconds = self._split(_checked_like(state, params, "state (the momentum buffers)"))
        else:
            firsts = seconds = (self.weights, self.biases)  # read by nothing without momentum
        self.state_weights, self.state_biases = tuple(zip(firsts[0], seconds[0])), tuple(zip(firsts[1], seconds[1]))
        self.loss, self.mean, self.ignore_index = loss, reduction == "mean", int(ignore_index)
        self.optimizer, self.momentum_buffers = optimizer, state is not None
        from ..cpu import _gemm
        from . import cpu

        self._cpu, self._gemm = cpu, _gemm
        self._ways = {}  # batch size -> _way's answer
        # what its calls' costs depend on, besides the batch size: MLPSteps made anew for the same model (a new
        # optimizer, a loaded checkpoint) go on from what the earlier ones measured
        self._shapes = (dtype.char, tuple(w.shape for w in self.weights), self.bias_mask, self.relu_mask, loss,
                        optimizer)

    def __call__(self, x, target, *, step, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, momentum=0.0):
        """(loss before the update as a 0-d array, each parameter's gradient in params' order).

        x (n, in_0), C-contiguous, of the parameters' dtype. target: labels (n,) of an integer dtype
        (cross_entropy: a label equal to ignore_index adds nothing), or the wanted output (n, out_last) (mse_loss).
        step counts from 1 (Adam's bias correction; SGD's buffers start as the gradient at step 1). Everything is
        checked before anything is written: a label out of range is an IndexError naming the first.
        """
        dtype, cpu = self.dtype, self._cpu
        if type(x) is not np.ndarray or x.dtype != dtype or x.ndim != 2 or not x.flags.c_contiguous:
            raise TypeError(f"MLPStep: x must be a C-contiguous (n, {self.in_features}) {dtype} NumPy array, got "
                            f"{type(x).__name__} {getattr(x, 'dtype', '')} {getattr(x, 'shape', '')}")
        if x.shape[1] != self.in_features or x.shape[0] == 0:
            raise ValueError(f"MLPStep: x has shape {x.shape}; expected (n >= 1, {self.in_features}), the first "
                             f"layer's features")
        if not isinstance(step, (int, np.integer)) or step < 1:
            raise ValueError(f"MLPStep: step must be an int >= 1, got {step!r}")
        if self.optimizer == "adam":
            beta1, beta2 = betas
            hyper = np.array((beta2, 1 - beta1, 1 - beta2, eps, weight_decay, bool(decoupled_weight_decay),
                              1 - lr * weight_decay, lr / (1 - beta1**step), 1 / math.sqrt(1 - beta2**step)))
            code = cpu.ADAM
        else:
            if momentum and not self.momentum_buffers:
                raise ValueError("MLPStep: SGD with momentum needs its buffers as state")
            hyper, code = np.array((lr, momentum, weight_decay, step == 1), np.float64), cpu.SGD
        grads = [_alloc.empty(p.shape, dtype) for p in self.params]
        grad_weights, grad_biases = self._split(grads)
        gemm, blas_threads = self._way(x.shape[0])
        common = (self.weights, self.biases, self.bias_mask, self.relu_mask, grad_weights, grad_biases,
                  self.state_weights, self.state_biases, code, hyper, gemm)
        if self.loss == "cross_entropy":
            labels = _labels(target, x.shape[0])
            fn, args = cpu._cross_entropy_step, (x, labels, self.ignore_index, self.mean, *common)
        else:
            target = _target(target, (x.shape[0], self.out_features), dtype)
            fn, args = cpu._mse_step, (x, target, self.mean, *common)
        if blas_threads:
            total, bad = BLAS_THREADS((self._shapes, x.shape[0]), fn, *args)
        else:
            total, bad = fn(*args)
        if bad == cpu.FAILED:
            raise MemoryError("MLPStep: a task of our GEMM failed (out of memory for its edge tiles' copies); "
                              "nothing was updated")
        if bad >= 0:
            raise IndexError(f"MLPStep: label {labels[bad]} at index {bad} is outside [0, {self.out_features}) "
                             f"and is not ignore_index ({self.ignore_index})")
        return np.asarray(total, dtype), grads

    def _way(self, n):
        """(gemm, blas_threads) for a batch of n rows: gemm, the entry of our GEMM's task where one of the step's
        products takes it (kernels.cpu._gemm.suits_serial, the rule the compiled step applies to each
        product; compiled here at the first such batch), else 0; blas_threads, whether one of BLAS's products is
        large enough for OpenBLAS to run it on its threads (else the step runs without ThreadedOrSerial's
        timing: nothing for it to choose)."""
        way = self._ways.get(n)
        if way is None:
            gemm, itemsize, available = self._gemm, self.dtype.itemsize, self._gemm.available()
            ours = threaded = False
            for rows, k, m in self._products(n):
                if available and gemm.suits_serial(rows, k, m, itemsize):
                    ours = True
                elif rows * k * m > gemm.BLAS_THREADS_MIN_FLOPS:
                    threaded = True
            if len(self._ways) >= 64:  # batch sizes that keep changing: start over rather than grow
                self._ways.clear()
            way = self._ways[n] = (gemm.task_entry(gemm._task_entry, self.dtype) if ours else 0, threaded)
        return way

    def _products(self, n):
        """(rows, k, m) of each product of a step at batch n: each layer's forward, its weight's gradient (h.T @ g)
        and, past the first, its input's gradient (g @ w.T)."""
        for layer, w in enumerate(self.weights):
            width, out = w.shape
            yield n, width, out
            yield width, n, out
            if layer > 0:
                yield n, out, width

    def _split(self, arrays):
        """(per-layer arrays for the weights, for the biases) from a list in params' order; a layer without a bias
        gets a 0-size stand-in."""
        it = iter(arrays)
        firsts, seconds = [], []
        for layer in range(len(self.weights)):
            firsts.append(next(it))
            seconds.append(next(it) if self.bias_mask >> layer & 1 else _NO_BIAS[self.dtype])
        return tuple(firsts), tuple(seconds)


def _writable(a, dtype, what):
    if type(a) is not np.ndarray or a.dtype != dtype or not a.flags.c_contiguous or not a.flags.writeable:
        raise TypeError(f"MLPStep: {what} must be a writable C-contiguous NumPy array of the first parameter's dtype {dtype}, "
                        f"got {type(a).__name__} {getattr(a, 'dtype', '')}")


def _layers(params, dtype):
    """(weights, biases, bias_mask) from params: each 2-D array starts a layer; a 1-D one after it is its bias.
    A layer without a bias gets a 0-size stand-in."""
    weights, biases, bias_mask = [], [], 0
    width = None
    for index, p in enumerate(params):
        _writable(p, dtype, f"params[{index}]")
        if p.ndim == 2:
            if width is not None and p.shape[0] != width:
                raise ValueError(f"MLPStep: params[{index}] has shape {p.shape}; the layer's input has {width} "
                                 f"features")
            weights.append(p)
            biases.append(_NO_BIAS[dtype])
            width = p.shape[1]
        elif p.ndim == 1 and weights and biases[-1] is _NO_BIAS[dtype] and p.shape[0] == width:
            biases[-1] = p
            bias_mask |= 1 << (len(weights) - 1)
        else:
            raise ValueError(f"MLPStep: params[{index}] has shape {p.shape}; expected a weight (in, out) or "
                             f"the bias ({width},) of the weight before it")
    if not weights:
        raise ValueError("MLPStep: params holds no weight")
    if len(weights) > 62:
        raise ValueError(f"MLPStep: at most 62 layers, got {len(weights)}")
    return tuple(weights), tuple(biases), bias_mask


_NO_BIAS = {dtype: np.empty(0, dtype) for dtype in FLOAT_DTYPES}


def _mask(relu, layers):
    flags = list(relu)
    if len(flags) != layers:
        raise ValueError(f"MLPStep: relu has {len(flags)} entries for {layers} layers")
    return sum(1 << layer for layer, flag in enumerate(flags) if flag)


def _checked_like(arrays, params, what):
    if not isinstance(arrays, (list, tuple)) or len(arrays) != len(params):
        raise ValueError(f"MLPStep: {what} must be a list of {len(params)} arrays, one per parameter, got "
                         f"{type(arrays).__name__}" + (f" of {len(arrays)}" if isinstance(arrays, (list, tuple))
                                                        else ""))
    for index, (a, p) in enumerate(zip(arrays, params)):
        _writable(a, p.dtype, f"{what}[{index}]")
        if a.shape != p.shape:
            raise ValueError(f"MLPStep: {what}[{index}] has shape {a.shape}, its parameter {p.shape}")
    return arrays


def _pair(state, what):
    if not isinstance(state, (list, tuple)) or len(state) != 2:
        raise ValueError(f"MLPStep: expected {what}, got {type(state).__name__}")
    return state


def _labels(target, n):
    if type(target) is not np.ndarray or target.dtype.kind not in "iu" or target.shape != (n,):
        raise TypeError(f"MLPStep: cross_entropy's target must be an integer array of shape ({n},), got "
                        f"{type(target).__name__} {getattr(target, 'dtype', '')} {getattr(target, 'shape', '')}")
    return np.ascontiguousarray(target, np.int64)


def _target(target, shape, dtype):
    if type(target) is not np.ndarray or target.dtype.kind != "f" or target.shape != shape:
        raise TypeError(f"MLPStep: mse_loss's target must be a float array of the output's shape {shape}, got "
                        f"{type(target).__name__} {getattr(target, 'dtype', '')} {getattr(target, 'shape', '')}")
    return np.ascontiguousarray(target, dtype)
