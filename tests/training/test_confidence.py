"""The confidence head's logistic regression, its regularisation choice and the grouped cross-validation."""

from types import SimpleNamespace

import numpy as np

from model.config import ModelConfig
from model.engine import GraphSAGEEngine, init_weights
from model.vocabulary import BUG_KINDS
from training.confidence import choose_l2, cross_validated_confidence
from training.logistic import fit_logistic


def test_logistic_regression_recovers_a_separating_direction_on_raw_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)) * np.array([1, 10, 0.1, 1, 1]) + 3
    y = (x[:, 1] > 3).astype(float)
    weight, bias = fit_logistic(x, y, l2=0.1)
    predicted = (x @ weight + bias) > 0
    assert (predicted == (y > 0)).mean() > 0.95


def test_strong_regularisation_is_chosen_when_the_labels_are_noise():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 50))
    y = rng.integers(0, 2, size=200).astype(float)
    groups = [f"p{i // 4}" for i in range(200)]
    assert choose_l2(x, y, groups) >= 100.0


def test_cross_validated_confidence_gives_one_probability_per_sample_out_of_fold():
    config = ModelConfig(hidden_dims=(16, 8), embedding_dim=8, num_imports=2, num_bug_kinds=len(BUG_KINDS))
    engine = GraphSAGEEngine(config, init_weights(config, seed=0))
    samples = [SimpleNamespace(problem_id=f"p{i // 3}", passed=i % 3 == 0,
                               source=f"def f{i}(x):\n    return x + {i}\n") for i in range(30)]
    probs = cross_validated_confidence(engine, samples, folds=5, seed=0)
    assert probs.shape == (30,)
    assert ((probs >= 0) & (probs <= 1)).all()
