"""Kernels in a row against the same NumPy expressions (groups: kernel and shape). Run: pytest bench"""

import pytest

from bench.common import params, run


@pytest.mark.parametrize("case, label", params("linear_relu+center"))
def test_chain(benchmark, case, label):
    run(benchmark, case, label)
