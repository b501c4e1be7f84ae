"""linear kernels against NumPy, per size (groups: kernel and shape). Run: pytest bench"""

import pytest

from bench.common import params, run


@pytest.mark.parametrize("case, label", params("linear_relu", "linear_relu_backward"))
def test_linear(benchmark, case, label):
    run(benchmark, case, label)
