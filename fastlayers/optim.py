"""Optimizers that update Parameters in place from their .grad, with PyTorch's formulas.

Parameters without a gradient (or lazy ones not yet initialized) are skipped, so an
optimizer may be built before a lazy model's first call. Updates are in place: a
step never changes a parameter's dtype.
"""

import kernels


class Optimizer:
    def __init__(self, params, lr):
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: lr must be > 0, got {lr}")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        self.lr = lr
        self.state = {}  # id(param) -> its buffers

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def _with_grads(self):
        return [p for p in self.params if p.grad is not None and p.initialized]


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and weight decay, as PyTorch's SGD (no dampening).

    g = grad + weight_decay * p;  buf = momentum * buf + g (buf = g at the first step);  p -= lr * buf.
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr)
        if not momentum >= 0 or not weight_decay >= 0:
            raise ValueError(f"SGD: momentum and weight_decay must be >= 0, got {momentum} and {weight_decay}")
        self.momentum, self.weight_decay = momentum, weight_decay

    def step(self):
        for p in self._with_grads():
            g = p.grad if not self.weight_decay else p.grad + self.weight_decay * p.data
            if self.momentum:
                buf = self.state.get(id(p))
                if buf is None or buf.shape != g.shape:
                    buf = self.state[id(p)] = g.astype(p.data.dtype)
                else:
                    buf *= self.momentum
                    buf += g
                g = buf
            p.data -= self.lr * g


class Adam(Optimizer):
    """Adam, as torch.optim.Adam: betas, eps, weight_decay (added to the gradient), amsgrad.

    Each parameter's update is one pass of kernels.AdamStep (adam_update_many's arrays checked once: Numba on
    the CPU, up to eight parameters a call; an elementwise kernel each on the GPU) rather than NumPy's six
    temporaries.
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, lr)
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        if not eps >= 0 or not weight_decay >= 0:
            raise ValueError(f"{type(self).__name__}: eps and weight_decay must be >= 0, got {eps} and {weight_decay}")
        self.betas, self.eps, self.weight_decay, self.amsgrad = (beta1, beta2), eps, weight_decay, amsgrad
        self._kernels = {}  # the ids of the arrays of the parameters updated together -> their kernels.AdamStep

    def state_of(self, p):
        """p's state (step count, moments), made (zeros, step 0) where it has none or one of another shape."""
        state = self.state.get(id(p))
        if state is None or state["exp_avg"].shape != p.data.shape:
            state = self.state[id(p)] = {"step": 0, "exp_avg": _zeros_like(p.data), "exp_avg_sq": _zeros_like(p.data),
                                         "max_exp_avg_sq": _zeros_like(p.data) if self.amsgrad else None}
        return state

    def step(self):
        groups = {}  # parameters updated in one call: one array type, dtype and step
        for p in self._with_grads():
            state = self.state_of(p)
            state["step"] += 1
            groups.setdefault((type(p.data), p.data.dtype, state["step"]), []).append((p, state))
        kept = {}
        for (_, _, step), members in groups.items():
            self._kernel(members, kept)([p.grad for p, _ in members], step=step, lr=self.lr, betas=self.betas,
                                        eps=self.eps, weight_decay=self.weight_decay,
                                        decoupled_weight_decay=self.decoupled_weight_decay)
        self._kernels = kept  # only this step's: arrays replaced since are let go

    def _kernel(self, members, kept):
        """The kernels.AdamStep for these (parameter, state) pairs' arrays, made again where any array was replaced
        (a parameter's data assigned, a state loaded), and put in kept. Each AdamStep holds its arrays: no id in a
        key is reused while the key is kept."""
        key = tuple([id(a) for p, s in members for a in (p.data, s["exp_avg"], s["exp_avg_sq"], s["max_exp_avg_sq"])])
        kernel = self._kernels.get(key)
        if kernel is None:
            kernel = kernels.AdamStep(
                [p.data for p, _ in members], [s["exp_avg"] for _, s in members], [s["exp_avg_sq"] for _, s in members],
                [s["max_exp_avg_sq"] for _, s in members] if self.amsgrad else None)
        kept[key] = kernel
        return kernel


class AdamW(Adam):
    """AdamW, as torch.optim.AdamW: the weight decay shrinks the parameter (p *= 1 - lr * weight_decay)
    instead of joining the gradient; weight_decay defaults to 0.01."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


def _zeros_like(a):
    """Zeros of a's shape, dtype and kind (NumPy or CuPy)."""
    out = a.copy()
    out.fill(0)
    return out
