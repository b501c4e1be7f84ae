"""Every op's benchmark cases (kernels/<op>/, Op.cases) against NumPy, per size; groups: op and shape.
Run: pytest bench (--benchmark-save / --benchmark-compare track regressions)."""

import pytest

import kernels
from bench.common import params, run


@pytest.mark.parametrize("case, label", params(*(case for op in kernels.OPS for case in op.cases())))
def test_op(benchmark, case, label):
    run(benchmark, case, label)
