"""Offline training and evaluation: corpus, labels, the training loop, evaluation and benchmarks.

Data: `corpus`, `imports`, `mutations`, `rewrites`, `sandbox`, `humaneval`, `datasets`; graphs for
training: `featurize`; the loop: `train` (`yantra-train`) and `confidence`; measurement: `metrics`,
`baselines`, `evaluate` (`yantra-eval`), `report`, and `benchmarks/`. It stands on model/ alone; the
daemon never imports it.
"""
