"""What fastlayers' Module machinery costs over calling the kernels by hand, at the chapter's sizes.

Groups pair a model's forward (or forward + backward) with the same kernels called by hand;
the difference of the medians, divided by the number of layers, is the per-layer overhead.
"""

import numpy as np
import pytest

from fastlayers.bench.overhead import OVERHEAD_CASES

@pytest.mark.parametrize("how", ["module", "kernels by hand"])
@pytest.mark.parametrize("which", ["forward", "forward + backward"])
@pytest.mark.parametrize("make", OVERHEAD_CASES, ids=lambda make: make.__name__)
def test_module_overhead(benchmark, make, which, how):
    name, _, _, passes = make(np.random.default_rng(0))
    module_fn, by_hand = passes[which]
    np.testing.assert_allclose(module_fn(), by_hand(), rtol=1e-6)  # the same numbers both ways, before timing
    benchmark.group = f"{name} {which}"
    benchmark(module_fn if how == "module" else by_hand)
