"""Offline training and evaluation: corpus, labels, the training loop, evaluation and benchmarks.

Data: `corpus`, `imports`, `mutations`, `rewrites`, `sandbox`, `humaneval`, `datasets`; graphs for
training: `featurize`; the loop: `train` (`yantra-train`), the confidence head (`confidence`), the bug-site
scorers (`sites`), the confidence scorer (`confidence_sites`) and the fit they share (`logistic`);
measurement: `metrics`, `baselines`,
`stdlib_tests`, `projects`, `evaluate` (`yantra-eval`), `report`, `site_probe` and `benchmarks/`.
It stands on model/ alone; the daemon never imports it.
"""
