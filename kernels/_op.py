"""Op: everything about one differentiable op, in one place.

Each op's folder, ``kernels/<op>/``, reads top to bottom as its NumPy reference,
its checks, its public forward and backward (running ``cpu.py`` or ``gpu.py``
beside them), the inputs its tests and benchmarks use, and the ``Op`` that
names all of them. ``kernels/_ops.py`` lists the ops, one line each; from that
list come kernels' public names, ``kernels.reference``, fastlayers' functional
ops, the benchmark cases (CPU and GPU) and the parametrized tests.
"""

from dataclasses import dataclass, field
from typing import Callable

from ._dispatch import ready_for_cpu


@dataclass(frozen=True)
class Case:
    """A benchmark: one op at one size, with its NumPy baselines (all inputs float32 standard normal, never zeros).

    ``numpy`` is the expression a user of the chapter would write; ``floor``, where one
    exists, the cheapest NumPy work the op cannot avoid (the GEMM alone; one read of x
    plus a copy), so "ours / floor" says how close to the hardware's limit we are;
    ``others``, more NumPy-side contenders (rfft, scipy, einsum, our own forward for a backward);
    ``peers``, the same op as PyTorch, JAX, FFTW or MKL users write it, where installed.
    """

    kernel: str
    shape: str
    make: Callable  # rng -> tuple of inputs
    ours: Callable
    numpy: Callable
    floor: tuple = None  # (name, callable) or None
    others: dict = field(default_factory=dict)  # name -> callable
    quick: bool = False  # part of the --quick run
    peers: dict = field(default_factory=dict)  # "torch" | "jax" | "fftw" | "mkl" -> fn(module, *inputs): see fastlayers/bench/peers.py
    tolerance: float = 1e-4  # relative L2 error allowed between ours and numpy (float32)

    @property
    def name(self) -> str:
        return f"{self.kernel} {self.shape}"


@dataclass(frozen=True)
class GpuCase:
    """A GPU benchmark: ours against a CuPy baseline, timed with CUDA events."""

    kernel: str
    shape: str
    make: Callable  # () -> tuple of CuPy inputs
    ours: Callable
    baseline_name: str
    baseline: Callable
    others: dict = field(default_factory=dict)  # name -> callable


def _no_cases(*args):
    return []


@dataclass(frozen=True, eq=False)
class Op:
    name: str
    forward: Callable  # kernels.<name>(*inputs, **options): checked, NumPy or CuPy arrays
    backward: Callable  # kernels.<name>_backward(grad_y, y, *inputs, **options) -> one gradient per input
    run_backward: Callable  # (device, grad_y, y, *inputs, **options) on arrays the forward already checked
    reference: Callable  # the NumPy formula, as the chapter writes it
    reference_backward: Callable  # its gradient in NumPy, same signature as backward
    examples: Callable  # rng -> [(inputs, options)]: small float64 problems for the tests
    cases: Callable = _no_cases  # () -> [Case]: the CPU report's and pytest-benchmark's sizes
    gpu_cases: Callable = _no_cases  # (cupy, scale) -> [GpuCase]: the GPU report's, batches divided by scale
    skips_unneeded: bool = False  # run_backward takes needs=(bool per input) and skips the gradients not needed
    index_inputs: tuple = ()  # positions of integer inputs (class labels), which run_backward checks itself

    def fast_backward(self, grad_y, y, *inputs, needs=None, **options):
        """The backward for a tape, which holds the arrays its forward ran on: when grad_y has y's shape and
        it and the inputs are C-contiguous NumPy arrays of one float dtype, the kernels run without the checked
        backward's second round of checks (0.5-2 us a call at the chapter's sizes, measured); anything else
        goes through the checked backward. One route to each gradient, either way. y is the forward's own
        result (cross_entropy's is a Loss, an ndarray subclass); index_inputs are left to run_backward, which
        checks them (a label changed since the forward would index outside the gradient): cross_entropy's
        backward at (64, 10) took 7.1 us through the checked route, 6.0 us so (its labels' check included).

        needs: from the tape, whether each input's gradient is used (a model's input's is not, unless asked
        for): an op that skips_unneeded then gives None for the others without computing them (PyTorch's
        needs_input_grad: the first Linear of a model spares the GEMM of grad_x).
        """
        floats = inputs if not self.index_inputs else [a for i, a in enumerate(inputs) if i not in self.index_inputs]
        if grad_y.shape == y.shape and ready_for_cpu((grad_y, *floats)):
            if needs is not None and self.skips_unneeded:
                return self.run_backward("cpu", grad_y, y, *inputs, needs=needs, **options)
            return self.run_backward("cpu", grad_y, y, *inputs, **options)
        return self.backward(grad_y, y, *inputs, **options)

    fast_backward.accepts_needs = True  # the tape passes needs= to backwards marked so
