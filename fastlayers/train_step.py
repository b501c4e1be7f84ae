"""TrainStep: a whole training step — zero_grad, forward, loss, backward, optimizer.step() — as one call.

    step = fl.TrainStep(net, fl.functional.cross_entropy, opt)
    for xb, yb in batches:
        loss = step(xb, yb)

is the loop ``opt.zero_grad(); loss = loss_fn(net(xb), yb); fl.backward(loss); opt.step()``. Where the model
is a Sequential of Linear layers (activation None or "relu", or a ReLU after a Linear) on the CPU, the loss
cross-entropy or MSE (a function of fastlayers.functional or its Loss module, reduction "mean" or "sum"), the
optimizer SGD, Adam or AdamW (no amsgrad) over exactly the model's parameters, the step is one compiled call
(kernels.MLPStep): the same result to float rounding, without the tape and the ~10 kernel calls' Python. Anything
else takes the loop above, call by call: ``step.compiled`` says which the last call took, ``step.why_eager``
why. Either way every parameter's .grad holds its gradient afterwards and the optimizer's state (its step
count, moments, momentum buffers) is the one the loop would have left, so the two can be mixed.
"""

import numpy as np

import kernels

from . import functional as F
from .autograd import backward
from .layers import CrossEntropyLoss, Linear, MSELoss, ReLU
from .module import Sequential
from .optim import SGD, Adam, AdamW

_FLOAT = (np.dtype(np.float32), np.dtype(np.float64))


class TrainStep:
    def __init__(self, model, loss_fn, optimizer):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.compiled, self.why_eager = False, "not called yet"
        self._key = None  # what self._plan was made from: every array it holds, by identity
        self._plan = None

    def __call__(self, x, target):
        """The loss of (x, target) before the update (a 0-d array); the model and optimizer are updated."""
        plan = self._current_plan()
        x_in = self._compiled_input(x, plan) if plan is not None else None
        if x_in is None or not self._fits_target(target, plan):
            return self._eager(x, target)
        opt, params = self.optimizer, plan.params
        if isinstance(opt, Adam):
            step = opt.state[id(params[0])]["step"] + 1
            loss, grads = plan.kernel(x_in, target, step=step, lr=opt.lr, betas=opt.betas, eps=opt.eps,
                                      weight_decay=opt.weight_decay,
                                      decoupled_weight_decay=opt.decoupled_weight_decay)
            for p in params:
                opt.state[id(p)]["step"] = step
        else:
            loss, grads = plan.kernel(x_in, target, step=1 if plan.first_sgd_step else 2, lr=opt.lr,
                                      momentum=opt.momentum, weight_decay=opt.weight_decay)
            if plan.first_sgd_step:  # the buffers hold the first gradients now: SGD's state from here on
                for p, buf in zip(params, plan.buffers):
                    opt.state[id(p)] = buf
                plan.first_sgd_step = False
                self._key = self._plan_key(params)
        for p, grad in zip(params, grads):
            p.grad = grad
        self.compiled, self.why_eager = True, None
        return loss

    # --- the compiled path ---

    def _current_plan(self):
        """The kernels.MLPStep for the model as it is now, made again when any array it holds was replaced; None
        (and why_eager set) where the step does not fit it."""
        plan = self._plan
        if plan is not None and _same(self._key, self._plan_key(plan.params)) and self._same_model(plan):
            return plan
        self._plan = self._key = None
        why, layers = self._layers()
        if why is None:
            why = self._check_optimizer(layers)
        if why is not None:
            self.why_eager = why
            return None
        self._plan = _Plan(self, layers)
        self._key = self._plan_key(self._plan.params)
        return self._plan

    def _same_model(self, plan):
        return (_same(tuple(self.model._modules.values()), plan.modules)
                and _same(self.optimizer.params, plan.opt_params))

    def _plan_key(self, params):
        """Every array the plan holds (parameters, optimizer state), to compare by identity."""
        state = self.optimizer.state
        key = []
        for p in params:
            key.append(p.data)
            entry = state.get(id(p))
            if isinstance(entry, dict):
                key += (entry["exp_avg"], entry["exp_avg_sq"])
            else:
                key.append(entry)
        return key

    def _layers(self):
        """(why not, None) or (None, [(Linear, relu)]) for a Sequential of Linear layers and ReLUs."""
        model = self.model
        if type(model) is not Sequential:
            return f"the model is a {type(model).__name__}, not a Sequential of Linear layers", None
        layers = []
        for module in model._modules.values():
            if type(module) is Linear and module.weight.initialized:
                layers.append([module, module.activation == "relu"])
            elif type(module) is ReLU and layers and not layers[-1][1]:
                layers[-1][1] = True
            else:
                what = "an uninitialized lazy layer" if isinstance(module, Linear) else type(module).__name__
                return f"the Sequential holds {what}; the compiled step takes Linear layers and ReLUs after them", None
        if not layers:
            return "the Sequential is empty", None
        first = layers[0][0].weight.data
        if type(first) is not np.ndarray or first.dtype not in _FLOAT:
            return "the parameters are not float32 or float64 NumPy arrays", None
        return None, layers

    def _check_optimizer(self, layers):
        opt = self.optimizer
        params = _parameters(layers)
        if type(opt) not in (SGD, Adam, AdamW):
            return f"the optimizer is a {type(opt).__name__}; the compiled step takes SGD, Adam and AdamW"
        if getattr(opt, "amsgrad", False):
            return "Adam with amsgrad"
        if len(opt.params) != len(params) or {id(p) for p in opt.params} != {id(p) for p in params}:
            return "the optimizer's parameters are not exactly the model's"
        if self._loss_kind() is None:
            return "the loss is not cross_entropy or mse_loss (a function of fastlayers.functional or its module)"
        states = [opt.state.get(id(p)) for p in params]
        if isinstance(opt, Adam):
            present = [s for s in states if s is not None]
            if present and (len(present) < len(states) or len({s["step"] for s in present}) > 1
                            or any(s["exp_avg"].shape != p.data.shape for s, p in zip(states, params))):
                return "the parameters' Adam states differ (some missing, step counts or shapes)"
        elif opt.momentum and None in states and any(s is not None for s in states):
            return "some parameters have SGD momentum buffers and some not"
        return None

    def _loss_kind(self):
        """(loss, reduction, ignore_index) or None."""
        fn = self.loss_fn
        if fn is F.cross_entropy:
            return "cross_entropy", "mean", -100
        if fn is F.mse_loss:
            return "mse_loss", "mean", -100
        if type(fn) is CrossEntropyLoss and fn.reduction in ("mean", "sum"):
            return "cross_entropy", fn.reduction, fn.ignore_index
        if type(fn) is MSELoss and fn.reduction in ("mean", "sum"):
            return "mse_loss", fn.reduction, -100
        return None

    def _compiled_input(self, x, plan):
        """x as the compiled step takes it ((n, in) C-contiguous in the parameters' dtype: a NumPy array cast as
        the model's own call casts it), or None for anything else."""
        if type(x) is not np.ndarray or x.ndim != 2 or x.dtype.kind not in "biuf" or x.shape[0] == 0:
            self.why_eager = "x is not a 2-D NumPy array of numbers (n >= 1)"
            return None
        return np.ascontiguousarray(x, plan.dtype)

    def _fits_target(self, target, plan):
        if type(target) is not np.ndarray:
            self.why_eager = "the target is not a NumPy array"
            return False
        if plan.loss == "cross_entropy":
            fits = target.dtype.kind in "iu"
        else:
            fits = target.dtype == plan.dtype
        if not fits:
            self.why_eager = f"the target's dtype {target.dtype} is not the compiled step's"
        return fits

    # --- call by call ---

    def _eager(self, x, target):
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), target)
        backward(loss)
        self.optimizer.step()
        self.compiled = False
        return loss


def _parameters(layers):
    """The Linear layers' parameters in the model's order: each weight, then its bias where it has one."""
    return [p for module, _ in layers for p in (module.weight, module.bias) if p is not None]


def _same(a, b):
    """Whether two sequences hold the same objects (identity: == on arrays compares values)."""
    return a is not None and b is not None and len(a) == len(b) and all(u is v for u, v in zip(a, b))


class _Plan:
    """A kernels.MLPStep over the model's and optimizer's arrays as they are now, with what TrainStep needs
    around it."""

    def __init__(self, step, layers):
        model, opt = step.model, step.optimizer
        self.modules, self.opt_params = tuple(model._modules.values()), list(opt.params)
        self.params = _parameters(layers)
        self.dtype = self.params[0].data.dtype
        self.loss, reduction, ignore_index = step._loss_kind()
        data = [p.data for p in self.params]
        self.first_sgd_step, self.buffers = False, None
        if isinstance(opt, Adam):
            states = [opt.state_of(p) for p in self.params]
            optimizer, state = "adam", ([s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states])
        else:
            optimizer, state = "sgd", None
            if opt.momentum:
                self.buffers = [opt.state.get(id(p)) for p in self.params]
                if self.buffers[0] is None:  # SGD's first step: the buffers will start as the gradients
                    self.first_sgd_step, self.buffers = True, [np.zeros_like(a) for a in data]
                state = self.buffers
        self.kernel = kernels.MLPStep(data, [relu for _, relu in layers], loss=self.loss, reduction=reduction,
                                      ignore_index=ignore_index, optimizer=optimizer, state=state)
