"""The tape: how ``module.backward(grad_y)`` finds its way back through a forward.

A top-level ``module(x)`` opens a tape; every differentiable op run during its
forward (the built-in functional ops, and any op made with ``fl.op``) appends
one node: its backward function, its inputs and its output. Arrays are plain
NumPy/CuPy arrays; the tape identifies them by object identity, which is safe
because it keeps every array it names alive. ``backward`` walks the nodes in
reverse, hands each node the gradient of its output, adds up the gradients of
its inputs, and accumulates ``.grad`` on the Parameters it meets. Arrays made by
untracked code (plain NumPy arithmetic) are constants to the tape.
"""

import threading
from contextlib import contextmanager

from .parameter import Parameter


class _State(threading.local):
    tape = None  # the tape being recorded, during a top-level forward
    grad_enabled = True


state = _State()


class Tape:
    __slots__ = ("inputs", "nodes", "output")

    def __init__(self, inputs):
        self.inputs = inputs
        self.nodes = []  # (backward, inputs, arrays, output, options): one per op run
        self.output = None

    def backward(self, grad_y):
        """Gradients of the recorded inputs; Parameters get theirs added to .grad.

        A backward that fails part way (a user's op raising, say) puts back every
        .grad it had changed, so it leaves them as they were.
        """
        out = self.output
        grads = {id(out): grad_y}
        changed = []  # (param, its .grad before): the undo log
        try:
            for backward, inputs, arrays, output, options in reversed(self.nodes):
                grad_out = grads.pop(id(output), None)
                if grad_out is None:  # this output does not reach y
                    continue
                in_grads = backward(grad_out, output, *arrays, **options) if options else backward(grad_out, output, *arrays)
                for inp, grad in zip(inputs, in_grads):
                    if grad is None or inp is None:
                        continue
                    if isinstance(inp, Parameter):
                        changed.append((inp, inp.grad))
                        inp.grad = grad if inp.grad is None else inp.grad + grad
                    else:
                        key = id(inp)
                        grads[key] = grad if key not in grads else grads[key] + grad
        except BaseException:
            for p, before in reversed(changed):
                p.grad = before
            raise
        if id(out) in grads and not any(x is out for x in self.inputs):
            # No op produced the output, so nothing above ran and nothing was changed.
            raise RuntimeError(
                "backward: the forward's output was not made by a tracked op (plain NumPy arithmetic?), "
                "so no gradient can reach the parameters; compute it with fl.functional ops or an fl.op"
            )
        inputs = self.inputs
        if len(inputs) == 1:
            return (grads.get(id(inputs[0])),)
        return tuple([grads.get(id(x)) for x in inputs])


@contextmanager
def no_grad():
    """Within this block nothing is recorded and no activation is kept for a backward."""
    previous = state.grad_enabled
    state.grad_enabled = False
    try:
        yield
    finally:
        state.grad_enabled = previous


def _data(a):
    if not isinstance(a, Parameter):
        return a
    if a.data is None:
        raise RuntimeError(f"an op got an uninitialized {a!r}: call its lazy layer (or load a checkpoint) first")
    return a.data


def op(forward, backward):
    """Make a differentiable op from a forward kernel and its gradient kernel.

    forward(*inputs, **options) -> y
    backward(grad_y, y, *inputs, **options) -> one gradient per input (None where there is none)

    Inputs may be arrays or Parameters (the kernels see ``.data``); options are
    anything else (an axis, an activation name) and are passed to both.
    """

    def apply(*inputs, **options):
        arrays = [a.data if isinstance(a, Parameter) else a for a in inputs]
        if any(a is None for a in arrays):  # an absent input (bias=None) or a lazy Parameter without data
            arrays = [_data(a) for a in inputs]  # the latter raises
        y = forward(*arrays, **options)
        tape = state.tape
        if tape is not None:
            tape.nodes.append((backward, inputs, arrays, y, options))
        return y

    apply.__name__ = getattr(forward, "__name__", "op")
    apply.__doc__ = forward.__doc__
    return apply
