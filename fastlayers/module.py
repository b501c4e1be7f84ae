"""Module and Sequential: registration by assignment, parameter access, state dicts, backward."""

from collections.abc import Mapping

import numpy as np

from .autograd import Tape, cast_inputs, output_of, track_inputs
from .parameter import Parameter, _host, cupy_or_raise, device_name, to_device
from .tensor import continued
from .tensor import state as _state

# Bumped whenever any module registers or drops a parameter or submodule: the
# cached parameter lists of every module then rebuild on their next use.
_structure_version = 0


def _structure_changed():
    global _structure_version
    _structure_version += 1


class Module:
    """Base class of every layer and model.

    Subclasses set Parameters and Modules as attributes (registered in
    assignment order) and define ``forward``. Calling the module runs forward;
    a top-level call records it so that ``backward(grad_y)`` can follow.
    """

    def __init__(self):
        d = self.__dict__
        d["_parameters"] = {}
        d["_modules"] = {}
        d["_tape"] = None
        d["_tape_state"] = "never run"
        d["_params_cache"] = (-1, ())
        d["_device"] = "cpu"
        d["training"] = True

    def __setattr__(self, name, value):
        try:
            params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        except KeyError:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            ) from None
        if isinstance(value, Parameter):
            modules.pop(name, None)
            params[name] = value
            value._label = f"{type(self).__name__}.{name}"
            _structure_changed()
        elif isinstance(value, Module):
            params.pop(name, None)
            modules[name] = value
            _structure_changed()
        elif name in params or name in modules:
            params.pop(name, None)
            modules.pop(name, None)
            _structure_changed()
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if self._parameters.pop(name, None) is not None or self._modules.pop(name, None) is not None:
            _structure_changed()
        object.__delattr__(self, name)

    def __getstate__(self):
        """For pickling (Dask ships models to its workers): everything but the last forward's recording."""
        d = dict(self.__dict__)
        d["_tape"], d["_tape_state"], d["_params_cache"] = None, "never run", (-1, ())
        return d

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # --- running ---

    def __call__(self, *args):
        s = _state
        if s.tape is not None:  # inside an outer module's forward: it records
            return self.forward(*args)
        d = self.__dict__
        d["_tape"], d["_tape_state"] = None, "failed"  # a forward that raises leaves nothing to backward through
        dtype = self._compute_dtype()
        if not s.grad_enabled:
            out = self.forward(*cast_inputs(args, dtype))
            d["_tape_state"] = "no_grad"
            return out
        tape, args = continued(args)  # a model's output as input: the recording goes on (net2(net1(x)))
        tape = Tape() if tape is None else tape
        s.tape = tape
        try:
            args, inputs = track_inputs(tape, args, dtype)
            out, output = output_of(tape, self.forward(*args))
        finally:
            s.tape = None
        d["_tape"], d["_tape_state"] = (tape, inputs, output, out), "recorded"
        return out

    def _compute_dtype(self):
        """The dtype inputs are cast to: the parameters' (the first one's), or None for a model without any.

        This is Keras's rule: a float32 model computes in float32 whatever it is fed,
        and integer or bool inputs compute in the model's float dtype.
        """
        params = self._named_parameter_list()
        if not params:
            return None
        p = params[0][1]
        return p.data.dtype if p.data is not None else p._dtype

    def backward(self, grad_y):
        """Gradient of the last forward's input(s) for grad_y = dL/dy; accumulates every parameter's .grad.

        Returns one array for a one-input forward, a tuple otherwise (None for an
        input the output does not depend on). The recorded forward is consumed.
        """
        recording = self._tape
        if recording is None or recording[0].consumed:
            why = {
                "never run": "no forward has been run",
                "no_grad": "the last forward ran under fl.no_grad(), which records nothing",
                "recorded": "the last forward was already used by a backward(); run the forward again",
                "failed": "the last forward raised, so nothing was recorded; run the forward again",
            }[self._tape_state]
            raise RuntimeError(f"{type(self).__name__}.backward: {why}")
        tape, inputs, output, result = recording
        if output is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward: the forward's output was not computed from its input or "
                "parameters by tracked ops (fl.detach, or a constant?), so no gradient can reach them"
            )
        grad_y = _as_output_grad(type(self).__name__, grad_y, result)
        grads = tape.backward(output, grad_y, inputs)  # raises before any .grad changes; the recording then stays
        self.__dict__["_tape"] = None
        return grads[0] if len(grads) == 1 else grads

    # --- training mode ---

    def train(self, mode=True):
        """Set .training on this module and every submodule (no built-in layer uses it; yours may)."""
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    # --- parameters and submodules ---

    def _named_parameter_list(self):
        """[(dotted name, Parameter)], cached until the structure of any module changes."""
        version, named = self._params_cache
        if version != _structure_version:
            named, seen = [], set()
            for mod_name, module in self._named_modules():
                for name, p in module._parameters.items():
                    if id(p) not in seen:
                        seen.add(id(p))
                        named.append(((f"{mod_name}.{name}" if mod_name else name), p))
            named = tuple(named)
            self.__dict__["_params_cache"] = (_structure_version, named)
        return named

    def named_parameters(self):
        """(dotted name, Parameter) for every parameter, a shared one once, in registration order."""
        return iter(self._named_parameter_list())

    def parameters(self):
        return (p for _, p in self._named_parameter_list())

    def _named_modules(self, prefix="", seen=None):
        seen = set() if seen is None else seen
        if id(self) in seen:
            return
        seen.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            yield from child._named_modules(f"{prefix}.{name}" if prefix else name, seen)

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def add_module(self, name, module):
        """Register module under name (as assigning self.name = module does); None registers nothing."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: expected a Module, got {type(module).__name__}")
        _check_name("add_module", name)
        setattr(self, name, module)

    def register_parameter(self, name, param):
        """Register param under name (as assigning self.name = param does); None registers nothing."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: expected a Parameter, got {type(param).__name__}")
        _check_name("register_parameter", name)
        setattr(self, name, param)

    def named_modules(self):
        yield from self._named_modules()

    def modules(self):
        for _, m in self._named_modules():
            yield m

    def children(self):
        for _, child in self.named_children():
            yield child

    def apply(self, fn):
        """fn(module) for every submodule, children first, then self; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, device):
        """Move every parameter and gradient to "cpu" (NumPy) or "cuda" (CuPy); returns self.

        Lazy layers materialize on the device their model was moved to.
        """
        device = device_name(device)
        if device == "cuda":
            cupy_or_raise()  # before anything moves
        for module in self.modules():
            module.__dict__["_device"] = device
        for _, p in self._named_parameter_list():
            if p.data is not None:
                p.data = to_device(p.data, device)
            if p.grad is not None:
                p.grad = to_device(p.grad, device)
        return self

    @property
    def device(self) -> str:
        return self._device

    def zero_grad(self):
        for _, p in self._named_parameter_list():
            p.grad = None

    # --- state ---

    def state_dict(self):
        """{dotted name: host array} of every parameter (a shared one once).

        The arrays are StateArrays: NumPy arrays whose ``.data`` is the array itself, as
        a PyTorch reader of ``state_dict()[name].data`` expects (NumPy's own ``.data`` is a
        memoryview of the buffer).
        """
        out = {}
        for name, p in self.named_parameters():
            if not p.initialized:
                raise RuntimeError(
                    f"state_dict: parameter '{name}' is not initialized yet (its lazy layer has never been "
                    "called); run the model once or load a checkpoint first"
                )
            out[name] = _host(p.data).view(StateArray)
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the parameters, by name; all checked before anything changes.

        Missing or unexpected keys (with strict), a shape or dtype that does not
        fit: a KeyError/ValueError naming the key, and the model is left as it was.
        Loading materializes lazy parameters (a lazy layer then becomes its plain class).
        """
        if isinstance(state_dict, (str, bytes)) or hasattr(state_dict, "__fspath__"):
            raise TypeError(
                f"load_state_dict: got a path ({state_dict!r}); read the checkpoint with fl.load(path) and pass "
                "what it returns: model.load_state_dict(fl.load(path))"
            )
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of {{name: array}}, got {type(state_dict).__name__}")
        params = dict(self.named_parameters())
        owners = {id(p): m for _, m in self._named_modules() for p in m._parameters.values()}
        if strict:
            missing = [k for k in params if k not in state_dict]
            unexpected = [k for k in state_dict if k not in params]
            if missing or unexpected:
                raise KeyError(
                    f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
                    " (strict=False loads the keys that match)"
                )
        staged = []
        for name, p in params.items():
            if name not in state_dict:
                continue
            value = _host(state_dict[name])
            if not p.matches(value.shape):
                raise ValueError(
                    f"load_state_dict: '{name}' has shape {tuple(value.shape)} in the checkpoint, "
                    f"the model expects {p.shape}"
                )
            if value.dtype != p.dtype:
                raise ValueError(
                    f"load_state_dict: '{name}' is {value.dtype} in the checkpoint, the model's is {p.dtype}; "
                    "cast the checkpoint's arrays first"
                )
            staged.append((p, np.array(value, copy=True)))
        for p, value in staged:  # nothing can fail from here on
            p.data = to_device(value, owners[id(p)].device)
        for module in self.modules():
            module._become_materialized()
        return self

    def _become_materialized(self):
        """A lazy layer whose parameters all have data becomes its plain class (PyTorch's cls_to_become)."""
        cls = getattr(type(self), "cls_to_become", None)
        if cls is not None and all(p.initialized for p in self._parameters.values()):
            self.__class__ = cls

    # --- printing ---

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + (")" if not lines else "\n" + "\n".join(lines) + "\n)")


def _shape(a):
    shape = getattr(a, "shape", None)
    return tuple(shape) if shape is not None else tuple(np.shape(a))


def _as_output_grad(module, grad_y, out):
    """grad_y as an array of the output's shape, in its dtype when both are real floats (out None: untracked)."""
    if type(grad_y) is not np.ndarray and not hasattr(grad_y, "__cuda_array_interface__"):
        grad_y = np.asarray(grad_y)
    if out is not None:
        if grad_y.shape != np.shape(out):
            raise ValueError(
                f"{module}.backward: grad_y has shape {_shape(grad_y)}, the output has shape {_shape(out)}"
            )
        dtype = getattr(out, "dtype", None)
        if dtype is not None and grad_y.dtype != dtype and grad_y.dtype.kind == dtype.kind == "f":
            grad_y = grad_y.astype(dtype)
    return grad_y


def _check_name(method, name):
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"{method}: the name must be a non-empty string without '.', got {name!r}")


class StateArray(np.ndarray):
    """A state_dict's array: a NumPy array whose ``.data`` is itself (PyTorch's ``tensor.data``), not a memoryview."""

    @property
    def data(self):
        return self.view(np.ndarray)


class ModuleList(Module):
    """Submodules in a list, registered as "0", "1", ...; it has no forward: a model iterates over it."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def _of(self, modules):
        return ModuleList(modules)

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return self._of(modules[index])
        return modules[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied in order; registered as "0", "1", ..."""

    def __init__(self, *layers):
        super().__init__(layers)

    def _of(self, modules):
        return Sequential(*modules)

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x
