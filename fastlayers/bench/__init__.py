"""The benchmark cases and the ``fastlayers bench`` report.

``cases`` is the one list of kernels, sizes and NumPy baselines; the report
(``fastlayers bench``) and the pytest-benchmark files in bench/ both read it.
"""
