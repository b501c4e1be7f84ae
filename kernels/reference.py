"""NumPy references: each op written as a NumPy user would write it — the chapter's own formulas.

Tests and benchmarks compare the kernels with them (tests in float64); they are
deliberately plain, not fast. Each comes from its op's folder (kernels/<op>/):
``reference.center(x, axis)``, ``reference.center_backward(grad_y, y, x, axis)``...
"""

from ._ops import OPS
from .cross_entropy import log_softmax  # noqa: F401  (the formula inside cross_entropy's reference)

for _op in OPS:
    globals()[_op.name] = _op.reference
    globals()[f"{_op.name}_backward"] = _op.reference_backward
del _op
