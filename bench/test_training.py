"""A training epoch of the digits MLP (Linear(64, 128, relu), Linear(128, 10), cross-entropy, Adam) at batch 64
and 1024: fastlayers against the same epoch in NumPy (and PyTorch's, in fastlayers bench's report)."""

import pytest

from bench.common import params, run
from fastlayers.bench.cases import TRAINING_CASES


@pytest.mark.parametrize("case, label", params(*TRAINING_CASES))
def test_training_epoch(benchmark, case, label):
    run(benchmark, case, label)
