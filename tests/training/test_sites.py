"""Training the bug-site scorer: labels at the rewritten site, a fit that learns and repeats, the combiner."""

from __future__ import annotations

import random

import numpy as np
import pytest

from model.sites import SITE_KINDS, SITE_TYPES
from training.datasets import BugSample
from training.mutations import BUG_KINDS, mutants, normalise_source
from training.sites import NO_SITES, fit_site_model, function_scores, max_site_logits, site_data, train_site_weights

CLEAN = normalise_source('''
def window(values, start, size):
    """Sum of a window."""
    total = 0
    for i in range(start, start + size):
        if i < len(values) and values[i] is not None and i - start >= 0:
            total += values[i] * 2
    return max(total, 0)
''')


def buggy(kind: str, seed: int = 0) -> BugSample:
    found = mutants(CLEAN, rng=random.Random(seed), kinds=[kind])
    assert found, kind
    m = found[0]
    return BugSample(m.source, True, m.kind, m.line, m.column, m.description, "train", "pkg")


def clean(split: str = "train") -> BugSample:
    return BugSample(CLEAN, False, None, 0, 0, "", split, "pkg")


@pytest.mark.parametrize("kind", BUG_KINDS)
def test_each_injected_bug_is_labelled_at_exactly_one_site_of_a_type_that_holds_its_kind(kind):
    data = site_data([buggy(kind)])
    assert data.labels.sum() == 1
    site_type = SITE_TYPES[int(data.types[int(np.argmax(data.labels))])]
    assert kind in SITE_KINDS[site_type]


def test_clean_code_has_no_positive_site_and_code_that_does_not_parse_has_no_site():
    data = site_data([clean(), BugSample("def (:", False, None, 0, 0, "", "train", "pkg")])
    assert len(data) > 0 and data.labels.sum() == 0
    assert data.first_site.tolist()[1] == -1 and set(data.owners.tolist()) == {0}


def toy_data():
    samples = [clean()] * 20 + [buggy("swapped_arguments", seed) for seed in range(3)] * 20
    return samples, site_data(samples)


def test_the_fit_learns_to_score_the_rewritten_site_above_the_others_and_repeats_exactly():
    _, data = toy_data()
    weight, bias = train_site_weights(data, epochs=3, batch_size=64, seed=3)
    again = train_site_weights(data, epochs=3, batch_size=64, seed=3)
    assert np.array_equal(weight, again[0]) and np.array_equal(bias, again[1])
    logits = bias[data.types] + np.add.reduceat(weight[data.ids].astype(np.float64), data.starts)
    assert logits[data.labels > 0].min() > np.median(logits[data.labels == 0])


def test_a_sample_without_sites_scores_zero_and_the_others_by_their_strongest_site():
    samples, data = toy_data()
    weight, bias = train_site_weights(data, epochs=2, batch_size=64)
    best = max_site_logits(weight, bias, site_data([*samples[:2], BugSample("x = 'a'", False, None, 0, 0, "",
                                                                             "train", "pkg")]), 3)
    assert best[2] == NO_SITES and best[0] > NO_SITES


def test_the_combiner_and_threshold_come_from_validation_code():
    samples, _ = toy_data()
    validation = [clean("validation")] * 10 + [buggy("swapped_arguments", 1)] * 10
    head = np.full(len(validation), 0.3)
    fit = fit_site_model(samples, validation, head, false_alarm_rate=0.1, epochs=2)
    assert len(fit.model.combiner) == 3 and 0.0 <= fit.threshold <= 1.0
    assert fit.metadata()["version"] and set(fit.tensors()) == {"weight", "type_bias"}
    scores = function_scores(fit.model, max_site_logits(fit.model.weight, fit.model.type_bias,
                                                        site_data(validation), len(validation)), head)
    assert scores[10:].mean() > scores[:10].mean()


def test_of_nested_sites_that_start_at_one_place_the_innermost_is_labelled():
    source = "def f(s, a, b, c, d):\n    return s.replace(b, a).replace(c, d)\n"
    sample = BugSample(source, True, "swapped_arguments", 2, 12, "", "train", "pkg")
    data = site_data([sample])
    calls = [i for i, t in enumerate(data.types.tolist()) if SITE_TYPES[t] == "call"]
    assert len(calls) == 2 and data.labels.sum() == 1
    assert data.labels[calls[-1]] == 1  # s.replace(b, a), inside the outer call, comes after it
