"""Kernels in a row against the same NumPy expressions (groups: kernel and shape). Run: pytest bench"""

import pytest

from bench.common import params, run
from fastlayers.bench.cases import CHAIN_CASES


@pytest.mark.parametrize("case, label", params(*CHAIN_CASES))
def test_chain(benchmark, case, label):
    run(benchmark, case, label)
