"""The tape: how ``module.backward(grad_y)`` finds its way back through a forward.

A top-level ``module(x)`` opens a tape and tracks its input (``fastlayers/tensor.py``).
Every differentiable op run during the forward — the built-in layers, the
``fl.functional`` ops, any op made with ``fl.op``, and NumPy's own functions on
tracked arrays — appends one node: its backward, its inputs (tape keys or
Parameters), their arrays, and its output. ``backward`` walks the nodes in
reverse, hands each node the gradient of its output, adds up the gradients of its
inputs (so a value or Parameter used twice gets the sum), and accumulates ``.grad``
on the Parameters it meets, in each Parameter's own dtype.
"""

import weakref
from contextlib import contextmanager

import numpy as np

from .parameter import is_cupy
from .tensor import RESULTS, Tensor, record, state, value


class Tape:
    """The nodes of one recording, shared by every module call and op that continues it."""

    __slots__ = ("nodes", "count", "leaves", "results", "consumed", "ref", "__weakref__")

    def __init__(self):
        self.nodes = []  # (backward, refs, arrays, output key, output array, options): one per op run
        self.count = 0  # the last key handed out
        self.leaves = set()  # keys of the model inputs tracked here (no node made them): their gradients are not
        # needed unless asked for
        self.results = {}  # id(array) -> (array, key): what top-level calls returned from this recording
        self.consumed = False  # a backward has run through it
        self.ref = None  # a weak reference to itself, for RESULTS: made at the first result handed out

    def __del__(self):
        for key in self.results:
            RESULTS.pop(key, None)

    def new_tensor(self, array):
        self.count += 1
        t = Tensor.__new__(Tensor)
        t.data, t.key, t.tape = array, self.count, self
        return t

    def tensor(self, array, key):
        t = Tensor.__new__(Tensor)
        t.data, t.key, t.tape = array, key, self
        return t

    def hand_out(self, tensor):
        """tensor's array, returned to the caller as a plain array that still continues this recording."""
        array = tensor.data
        self.results[id(array)] = (array, tensor.key)
        if self.ref is None:
            self.ref = weakref.ref(self)
        RESULTS[id(array)] = self.ref
        return array

    def backward(self, output, grad_y, inputs=()):
        """Gradients of the keys in inputs for grad_y = dL/d(the value of key output); Parameters get
        theirs added to .grad. The recording is consumed.

        A backward that fails part way (a user's op raising, say) puts back every
        .grad it had changed, and leaves the recording as it was.
        """
        if self.consumed:
            raise RuntimeError("backward: this recording was already used by a backward(); run the forward again")
        grads = {output: grad_y}
        wanted = set(inputs)  # their gradients stay in grads when the walk goes on past them
        changed = []  # (param, its .grad before): the undo log
        unneeded = self.leaves.difference(wanted)  # model inputs whose gradient nobody asked for
        try:
            for backward, refs, arrays, key, y, options in reversed(self.nodes):
                grad_out = grads.get(key) if key in wanted else grads.pop(key, None)
                if grad_out is None:  # this output does not reach y
                    continue
                if unneeded and getattr(backward, "accepts_needs", False):  # kernels' ops skip what is unneeded
                    needs = tuple([ref is not None and (type(ref) is not int or ref not in unneeded) for ref in refs])
                    in_grads = backward(grad_out, y, *arrays, needs=needs, **options)
                else:
                    in_grads = (backward(grad_out, y, *arrays, **options) if options
                                else backward(grad_out, y, *arrays))
                for ref, grad in zip(refs, in_grads):
                    if grad is None or ref is None:
                        continue
                    if type(ref) is int:
                        grads[ref] = grad if ref not in grads else grads[ref] + grad
                    else:
                        data = ref.data
                        if grad.shape != data.shape or grad.dtype != data.dtype:
                            grad = _parameter_grad(ref, grad, backward)
                        changed.append((ref, ref.grad))
                        ref.grad = grad if ref.grad is None else ref.grad + grad
        except BaseException:
            for p, before in reversed(changed):
                p.grad = before
            raise
        self.consumed = True
        return tuple([None if key is None else grads.get(key) for key in inputs])


def _parameter_grad(p, grad, backward):
    """grad as p's gradient: p's shape, and p's dtype (a float64 gradient never lands on a float32 parameter)."""
    data = p.data
    if grad.shape != data.shape:
        raise ValueError(
            f"backward: {getattr(backward, '__name__', 'an op')} gave a gradient of shape {tuple(grad.shape)} "
            f"for a parameter of shape {tuple(data.shape)}"
        )
    return grad if grad.dtype == data.dtype else grad.astype(data.dtype)


@contextmanager
def no_grad():
    """Within this block nothing is recorded and no activation is kept for a backward.

    Inside a forward, NumPy on tracked arrays computes plain constants here.
    """
    previous = state.grad_enabled
    state.grad_enabled = False
    try:
        yield
    finally:
        state.grad_enabled = previous


def detach(a):
    """a's plain array, as a constant: no gradient flows back through it (PyTorch's x.detach())."""
    return a.data if isinstance(a, Tensor) else value(a)  # a Tensor's value even outside its forward


def op(forward, backward):
    """Make a differentiable op from a forward kernel and its gradient kernel.

    forward(*inputs, **options) -> y
    backward(grad_y, y, *inputs, **options) -> one gradient per input (None where there is none)

    Inputs may be arrays, tracked arrays or Parameters (the kernels see the plain
    arrays); options are anything else (an axis, an activation name) and are
    passed to both.
    """

    def apply(*inputs, **options):
        return record(forward, inputs, backward, options)

    apply.__name__ = getattr(forward, "__name__", "op")
    apply.__doc__ = forward.__doc__
    return apply


def track_inputs(tape, args, dtype):
    """(the forward's arguments with every array tracked, their keys): each cast to dtype (the model's)
    where it is a real array of another dtype; the cast is recorded, so an input's gradient comes back
    in its own dtype."""
    if len(args) == 1 and type(args[0]) is np.ndarray and (dtype is None or args[0].dtype == dtype):
        t = tape.new_tensor(args[0])  # the common case, quickly
        tape.leaves.add(t.key)
        return (t,), (t.key,)
    out, keys = [], []
    for a in args:
        if isinstance(a, (list, np.generic)):
            a = np.asarray(a)
        if type(a) is np.ndarray or is_cupy(a):
            a = tape.new_tensor(a)
            tape.leaves.add(a.key)
        if type(a) is Tensor:  # a new array, or one a recording this call continues returned
            keys.append(a.key)
            if _needs_cast(a, dtype):
                a = a.astype(dtype)
        else:
            keys.append(None)
        out.append(a)
    return out, tuple(keys)


def cast_inputs(args, dtype):
    """The same casts as track_inputs, untracked (under fl.no_grad())."""
    if dtype is None:
        return args
    return [a.astype(dtype) if (type(a) is np.ndarray or is_cupy(a)) and _needs_cast(a, dtype)
            else (np.asarray(a, dtype) if isinstance(a, list) else a) for a in args]


def _needs_cast(a, dtype) -> bool:
    """Whether a model input a is cast to the model's dtype: a real (or integer, or bool) array of another."""
    return dtype is not None and a.dtype != dtype and a.dtype.kind in "biuf"


def output_of(tape, out):
    """(the forward's result as the caller gets it: plain arrays, its key on the tape or None)."""
    if isinstance(out, Tensor):
        if out.tape is not tape:
            out._as_input(tape)  # raises: a tracked array from another forward
        return tape.hand_out(out), out.key
    if isinstance(out, (tuple, list)):  # handed back as plain arrays; backward takes a single output
        return type(out)(detach(o) for o in out), None
    return out, None


def backward(loss, grad=None):
    """Backward from loss — the tracked result of a loss op on a model's output, or any array a recorded
    forward returned — through every recording it continues; accumulates every parameter's .grad.

    grad = dL/dloss defaults to 1 for a single value (PyTorch's loss.backward()).
    """
    if isinstance(loss, Tensor):
        tape, key, value = loss.tape, loss.key, loss.data
    else:
        ref = RESULTS.get(id(loss))
        tape = ref() if ref is not None else None
        array, key = tape.results.get(id(loss), (None, None)) if tape is not None else (None, None)
        if array is not loss:
            raise RuntimeError(
                "fl.backward: this is not the output of a recorded forward or of an op on one (computed under "
                "fl.no_grad(), or with plain NumPy outside a forward?)"
            )
        value = loss
    if grad is None:
        if np.size(value) != 1:
            raise ValueError(
                f"fl.backward: the loss has shape {np.shape(value)}; pass grad (dL/dloss) for a loss that is not a "
                "single value, or reduce it first (reduction='mean')"
            )
        # A plain array even for a loss that is an ndarray subclass (cross_entropy's Loss): its backward then
        # takes the kernels' fast path for plain C-contiguous arrays (a Loss seed cost 4 us more per step).
        grad = np.ones(value.shape, value.dtype) if isinstance(value, np.ndarray) else np.ones_like(value)
    tape.backward(key, grad)


Tensor.backward = lambda self, grad=None: backward(self, grad)
