"""Optimizers that update Parameters in place from their .grad."""


class SGD:
    """Stochastic gradient descent with momentum and weight decay, as PyTorch's SGD (no dampening).

    g = grad + weight_decay * p;  buf = momentum * buf + g (buf = g at the first step);  p -= lr * buf.
    Parameters without a gradient (or lazy ones not yet initialized) are skipped.
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        if not lr > 0:
            raise ValueError(f"SGD: lr must be > 0, got {lr}")
        if not momentum >= 0 or not weight_decay >= 0:
            raise ValueError(f"SGD: momentum and weight_decay must be >= 0, got {momentum} and {weight_decay}")
        self.params = list(params)
        if not self.params:
            raise ValueError("SGD: got an empty parameter list")
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self._buffers = {}  # id(param) -> momentum buffer

    def step(self):
        for p in self.params:
            if p.grad is None or not p.initialized:
                continue
            g = p.grad if not self.weight_decay else p.grad + self.weight_decay * p.data
            if self.momentum:
                buf = self._buffers.get(id(p))
                if buf is None or buf.shape != g.shape:
                    buf = self._buffers[id(p)] = g.copy()
                else:
                    buf *= self.momentum
                    buf += g
                g = buf
            p.data -= self.lr * g

    def zero_grad(self):
        for p in self.params:
            p.grad = None
