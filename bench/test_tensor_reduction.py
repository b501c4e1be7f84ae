"""tensor_reduction kernels against NumPy, per size (groups: kernel and shape). Run: pytest bench"""

import pytest

from bench.common import params, run


@pytest.mark.parametrize("case, label", params("tensor_reduction", "tensor_reduction_backward"))
def test_tensor_reduction(benchmark, case, label):
    run(benchmark, case, label)
