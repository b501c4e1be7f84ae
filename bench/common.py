"""Shared by the bench files: parametrize over benchmark cases, check, then time."""

import numpy as np
import pytest

from fastlayers.bench.cases import check, contenders


def params(*cases):
    """pytest params (case, contender label), one per timed callable of these cases."""
    return [pytest.param(case, label, id=f"{case.name} | {label}") for case in cases for label in contenders(case)]


def run(benchmark, case, label):
    args = case.make(np.random.default_rng(0))
    check(case, args)  # a wrong kernel is never timed
    benchmark.group = case.name
    benchmark.extra_info["contender"] = label
    benchmark(contenders(case)[label], *args)
