"""center kernels against NumPy, per size (groups: kernel and shape). Run: pytest bench"""

import pytest

from bench.common import params, run


@pytest.mark.parametrize("case, label", params("center", "center_backward"))
def test_center(benchmark, case, label):
    run(benchmark, case, label)
