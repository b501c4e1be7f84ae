"""Module and Sequential: registration by assignment, parameter access, state dicts, backward."""

import numpy as np

from .autograd import Tape
from .autograd import state as _state
from .parameter import Parameter, _host, device_name, to_device

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

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # --- running ---

    def __call__(self, *args):
        s = _state
        if s.tape is not None:  # inside an outer module's forward: it records
            return self.forward(*args)
        d = self.__dict__
        if not s.grad_enabled:
            d["_tape"], d["_tape_state"] = None, "no_grad"
            return self.forward(*args)
        tape = Tape(args)
        s.tape = tape
        try:
            tape.output = self.forward(*args)
        finally:
            s.tape = None
        d["_tape"], d["_tape_state"] = tape, "recorded"
        return tape.output

    def backward(self, grad_y):
        """Gradient of the last forward's input(s) for grad_y = dL/dy; accumulates every parameter's .grad.

        Returns one array for a one-input forward, a tuple otherwise (None for an
        input the output does not depend on). The recorded forward is consumed.
        """
        tape = self._tape
        if tape is None:
            why = {
                "never run": "no forward has been run",
                "no_grad": "the last forward ran under fl.no_grad(), which records nothing",
                "consumed": "the last forward was already used by a backward(); run the forward again",
            }[self._tape_state]
            raise RuntimeError(f"{type(self).__name__}.backward: {why}")
        out_shape = _shape(tape.output)
        if (grad_y.shape if type(grad_y) is np.ndarray else _shape(grad_y)) != out_shape:
            raise ValueError(
                f"{type(self).__name__}.backward: grad_y has shape {_shape(grad_y)}, the output has shape {out_shape}"
            )
        grads = tape.backward(grad_y)  # raises before any .grad changes; the recording then stays
        self.__dict__["_tape"], self.__dict__["_tape_state"] = None, "consumed"
        return grads[0] if len(grads) == 1 else grads

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

    def named_modules(self):
        yield from self._named_modules()

    def modules(self):
        for _, m in self._named_modules():
            yield m

    def children(self):
        seen = set()
        for child in self._modules.values():
            if id(child) not in seen:
                seen.add(id(child))
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
        """{dotted name: host array} of every parameter (a shared one once)."""
        out = {}
        for name, p in self.named_parameters():
            if not p.initialized:
                raise RuntimeError(
                    f"state_dict: parameter '{name}' is not initialized yet (its lazy layer has never been "
                    "called); run the model once or load a checkpoint first"
                )
            out[name] = _host(p.data)
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the parameters, by name; all checked before anything changes.

        Missing or unexpected keys (with strict), a shape or dtype that does not
        fit: a KeyError/ValueError naming the key, and the model is left as it was.
        Loading materializes lazy parameters.
        """
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
        return self

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


class Sequential(Module):
    """Modules applied in order; registered as "0", "1", ..."""

    def __init__(self, *layers):
        super().__init__()
        for layer in layers:
            self.append(layer)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x

    def __getitem__(self, index):
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())
