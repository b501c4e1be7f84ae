"""fft_half kernels against NumPy, per size (groups: kernel and shape). Run: pytest bench"""

import pytest

from bench.common import params, run


@pytest.mark.parametrize("case, label", params("fft_half", "fft_half_backward"))
def test_fft_half(benchmark, case, label):
    run(benchmark, case, label)
