"""Training the bug-site scorer: labels at the rewritten site, a fit that learns and repeats, the combiner."""

from __future__ import annotations

import ast
import random

import numpy as np
import pytest
import torch

from model.sites import SITE_KINDS, SITE_TYPES, SiteModel, find_sites
from training.datasets import BugSample
from training.mutations import BUG_KINDS, mutants, normalise_source
from training.sites import (
    BLENDS,
    CALL_SHIFTS,
    NO_BUG_SLOPE,
    NO_SITES,
    SiteFit,
    blend,
    fit_site_model,
    function_scores,
    lower_type_bias,
    max_site_logits,
    site_data,
    sites_per_sample,
    train_site_scorer,
)

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
    return BugSample.of_mutant(m, "train", "pkg")


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


@pytest.mark.parametrize("hidden_width", [0, 8])
def test_the_fit_learns_to_score_the_rewritten_site_above_the_others_and_repeats_exactly(hidden_width):
    _, data = toy_data()
    scorer = train_site_scorer(data, epochs=3, batch_size=64, seed=3, hidden_width=hidden_width, learning_rate=0.1)
    again = train_site_scorer(data, epochs=3, batch_size=64, seed=3, hidden_width=hidden_width, learning_rate=0.1)
    assert np.array_equal(scorer.weight, again.weight) and np.array_equal(scorer.type_bias, again.type_bias)
    assert (scorer.hidden is None) == (hidden_width == 0)
    if scorer.hidden is not None:
        assert np.array_equal(scorer.hidden.embedding, again.hidden.embedding)
    logits = scorer.logits_of(data.ids, data.lengths, data.types)
    assert logits[data.labels > 0].min() > np.median(logits[data.labels == 0])


def test_the_per_function_fit_puts_each_bug_first_in_its_function_and_repeats_exactly():
    _, data = toy_data()
    fit = dict(epochs=3, batch_size=8, seed=3, hidden_width=8, learning_rate=0.1, per_function=True)
    scorer, again = train_site_scorer(data, **fit), train_site_scorer(data, **fit)
    assert np.array_equal(scorer.weight, again.weight) and np.array_equal(scorer.hidden.embedding,
                                                                          again.hidden.embedding)
    logits = scorer.logits_of(data.ids, data.lengths, data.types)
    for sample in np.unique(data.owners[data.labels > 0]):
        own = data.owners == sample
        assert np.argmax(logits[own]) == np.argmax(data.labels[own])
    best = max_site_logits(scorer, data, len(data.first_site))
    buggy_samples = np.isin(np.arange(len(best)), data.owners[data.labels > 0])
    assert best[~buggy_samples].max() < best[buggy_samples].min()


def test_the_per_function_loss_is_a_softmax_over_a_functions_sites_and_no_bug():
    from training.sites import _function_loss

    logits = torch.tensor([1.0, 2.0, 0.5])  # sample 0: two sites, the bug at the second; sample 1: clean
    loss = _function_loss(logits, torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0, 0, 1]), 8.0, no_bug_slope=0.0)
    expected = (np.log(np.exp(1) + np.exp(2) + 1) - 2 + np.log(np.exp(0.5) + 1)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_the_no_bug_logit_grows_with_the_log_of_a_functions_sites():
    from training.sites import _function_loss

    logits = torch.tensor([1.0, 2.0, 0.5, -1.0])  # two samples of two sites; the bug in the first, at its second
    loss = _function_loss(logits, torch.tensor([0.0, 1.0, 0.0, 0.0]), torch.tensor([0, 0, 1, 1]), 8.0,
                          no_bug_slope=0.5)
    no_bug = 0.5 * np.log(2)
    buggy = np.log(np.exp(1) + np.exp(2) + np.exp(no_bug)) - 2
    clean = np.log(np.exp(0.5) + np.exp(-1) + np.exp(no_bug)) - no_bug
    assert loss.item() == pytest.approx((buggy + clean) / 2, rel=1e-6)


def test_per_function_batches_take_every_site_of_a_sample_together_once_an_epoch():
    from training.sites import _function_batches

    _, data = toy_data()
    sites_of = np.bincount(data.owners)
    seen = []
    for chosen, owners in _function_batches(data, 7, torch.Generator().manual_seed(0)):
        samples = data.owners[chosen]
        pairs = set(zip(owners.tolist(), samples.tolist(), strict=True))
        assert len(pairs) == len({o for o, _ in pairs}) == len({s for _, s in pairs})  # one to one
        assert all(np.sum(samples == s) == sites_of[s] for _, s in pairs)
        seen.extend(chosen.tolist())
    assert sorted(seen) == list(range(len(data)))


def test_per_function_batches_leave_out_a_bug_that_is_at_none_of_its_sites():
    from training.sites import _function_batches

    unplaced = BugSample(CLEAN, True, "off_by_one", 0, 0, "", "train", "pkg")  # at no site
    data = site_data([clean(), unplaced, buggy("swapped_arguments")])
    assert data.buggy.tolist() == [False, True, True] and not data.labels[data.owners == 1].any()
    taken = np.concatenate([chosen for chosen, _ in _function_batches(data, 2, torch.Generator())])
    assert set(data.owners[taken].tolist()) == {0, 2}


def test_the_per_function_loss_works_in_double_precision_too():
    from training.sites import _function_loss

    loss = _function_loss(torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64),
                          torch.tensor([0, 0]), 1.0)
    no_bug = np.exp(NO_BUG_SLOPE * np.log(2))
    assert loss.dtype == torch.float64 and loss.item() == pytest.approx(np.log(np.exp(1) + np.exp(2) + no_bug) - 2)


def test_the_numpy_scorer_gives_the_logits_torch_trained_on():
    from training.sites import SiteScorerNet, _bags

    _, data = toy_data()
    net = SiteScorerNet(8, 16, torch.Generator().manual_seed(1))
    with torch.no_grad():
        net.linear.weight.normal_(generator=torch.Generator().manual_seed(2))
    everything = np.arange(len(data))
    with torch.no_grad():
        expected = net(*_bags(data, everything), torch.from_numpy(data.types)).numpy()
    assert np.allclose(net.scorer().logits_of(data.ids, data.lengths, data.types), expected, atol=1e-4)


def test_a_blend_scores_the_linear_scorer_plus_a_share_of_the_hidden_one_and_stores_float16():
    _, data = toy_data()
    linear = train_site_scorer(data, epochs=1, batch_size=64, hidden_width=0)
    hidden = train_site_scorer(data, epochs=1, batch_size=64, hidden_width=4, seed=1)
    mixed = blend(linear, hidden, 2.0)
    expected = linear.logits_of(data.ids, data.lengths, data.types) + 2.0 * hidden.logits_of(
        data.ids, data.lengths, data.types)
    assert np.allclose(mixed.logits_of(data.ids, data.lengths, data.types), expected, atol=1e-4)
    assert blend(linear, hidden, 0.0) is linear
    assert SiteFit(mixed, 0.5, {}).tensors()["embedding"].dtype == np.float16


def test_a_sample_without_sites_scores_zero_and_the_others_by_their_strongest_site():
    samples, data = toy_data()
    scorer = train_site_scorer(data, epochs=2, batch_size=64, hidden_width=4)
    best = max_site_logits(scorer, site_data([*samples[:2], BugSample("x = 'a'", False, None, 0, 0, "",
                                                                      "train", "pkg")]), 3)
    assert best[2] == NO_SITES and best[0] > NO_SITES


def test_the_combiner_and_threshold_come_from_validation_code():
    samples, _ = toy_data()
    validation = [clean("validation")] * 10 + [buggy("swapped_arguments", 1)] * 10
    head = np.full(len(validation), 0.3)
    fit = fit_site_model(samples, validation, head, false_alarm_rate=0.1, epochs=2, hidden_width=4)
    assert len(fit.model.combiner) == 4 and 0.0 <= fit.threshold <= 1.0
    share = fit.metadata()["hidden_share"]
    assert fit.metadata()["call_shift"] in CALL_SHIFTS
    assert fit.metadata()["version"] and share in BLENDS and (fit.model.hidden is None) == (share == 0)
    hidden = {"embedding", "type_embedding", "out_weight", "out_bias"}
    assert set(fit.tensors()) == {"weight", "type_bias"} | (hidden if share else set())
    data = site_data(validation)
    scores = function_scores(fit.model, max_site_logits(fit.model, data, len(validation)), head,
                             sites_per_sample(data, len(validation)))
    assert scores[10:].mean() > scores[:10].mean()


def test_lowering_a_site_types_bias_moves_that_types_logits_alone():
    _, data = toy_data()
    scorer = train_site_scorer(data, epochs=1, batch_size=64, hidden_width=4)
    lowered = lower_type_bias(scorer, "call", 2.5)
    before, after = (s.logits_of(data.ids, data.lengths, data.types) for s in (scorer, lowered))
    calls = data.types == SITE_TYPES.index("call")
    assert calls.any() and (~calls).any()
    assert after[calls] == pytest.approx(before[calls] - 2.5) and np.array_equal(after[~calls], before[~calls])


def test_sites_per_sample_are_each_samples_own_and_zero_without_sites():
    samples = [BugSample("def f(a, b):\n    return g(a, b) + 1\n", False, None, 0, 0, "", "train", "pkg"),
               BugSample("x = 'a'\n", False, None, 0, 0, "", "train", "pkg"),
               BugSample("def h(x):\n    return x < 2\n", False, None, 0, 0, "", "train", "pkg"),
               BugSample("pass\n", False, None, 0, 0, "", "train", "pkg")]
    counts = sites_per_sample(site_data(samples), len(samples))
    assert counts.tolist() == [len(find_sites(ast.parse(s.source))) for s in samples]
    assert counts[1] == counts[3] == 0 and counts[0] > counts[2] > 0


def test_a_functions_score_is_the_daemons_top_site_probability_under_a_count_weight():
    sources = [CLEAN, "def f(a, b):\n    return g(a, b) + 1\n", "def h(x):\n    return x < 2\n"]
    data = site_data([BugSample(source, False, None, 0, 0, "", "train", "pkg") for source in sources])
    _, toy = toy_data()
    trained = train_site_scorer(toy, epochs=1, batch_size=64, hidden_width=4)
    model = SiteModel(trained.weight, trained.type_bias, (0.8, 0.3, -0.2, -0.6), trained.hidden)
    head = np.array([0.2, 0.5, 0.9])
    scores = function_scores(model, max_site_logits(model, data, 3), head, sites_per_sample(data, 3))
    for source, head_probability, score in zip(sources, head, scores, strict=True):
        served = model.probabilities(find_sites(ast.parse(source), source), float(head_probability))
        assert served.max() == pytest.approx(score, rel=1e-6)


def test_a_rewrite_that_makes_a_literal_negative_is_labelled_at_that_literals_site():
    made = [m for seed in range(20) for m in mutants("def f(a):\n    return a[0]\n", rng=random.Random(seed),
                                                     kinds=["off_by_one"]) if "-1" in m.source]
    assert made, "no `a[0]` -> `a[-1]` rewrite drawn"
    data = site_data([BugSample.of_mutant(made[0], "train", "pkg")])
    assert data.labels.sum() == 1 and SITE_TYPES[int(data.types[int(np.argmax(data.labels))])] == "constant"


def test_of_nested_sites_that_start_at_one_place_the_innermost_is_labelled_when_the_rewrite_is_not_told():
    source = "def f(s, a, b, c, d):\n    return s.replace(b, a).replace(c, d)\n"
    sample = BugSample(source, True, "swapped_arguments", 2, 12, "", "train", "pkg")
    data = site_data([sample])
    calls = [i for i, t in enumerate(data.types.tolist()) if SITE_TYPES[t] == "call"]
    assert len(calls) == 2 and data.labels.sum() == 1
    assert data.labels[calls[-1]] == 1  # s.replace(b, a), inside the outer call, comes after it


@pytest.mark.parametrize(("description", "labelled"), [
    ("`a + b - c` -> `a + b + c`", 0),  # the outer operator: the enclosing site, first in find_sites' order
    ("`a - b` -> `a + b`", 1),  # the inner one
])
def test_of_nested_sites_at_one_place_the_one_that_reads_as_the_rewrite_is_labelled(description, labelled):
    source = "def f(a, b, c):\n    return a + b + c\n"
    data = site_data([BugSample(source, True, "wrong_binary_operator", 2, 12, description, "train", "pkg")])
    binary = [i for i, t in enumerate(data.types.tolist()) if SITE_TYPES[t] == "binary"]
    assert len(binary) == 2 and data.labels.sum() == 1 and data.labels[binary[labelled]] == 1


@pytest.mark.parametrize(("source", "description", "labelled"), [
    # the comparison's operands swapped: it now starts where its left operand `n + 1` does
    ("def f(i, n):\n    return n + 1 < i\n", "`i < n + 1` -> `n + 1 < i`", "compare"),
    # the inner sum's operands swapped: the comparison starts there too, but reads otherwise
    ("def f(i, n):\n    return 1 + i < n\n", "`i + 1` -> `1 + i`", "binary"),
])
def test_of_sites_of_two_types_at_one_place_the_one_that_reads_as_the_rewrite_is_labelled(source, description,
                                                                                         labelled):
    data = site_data([BugSample(source, True, "swapped_operands", 2, 12, description, "train", "pkg")])
    at_place = [SITE_TYPES[t] for t, place in zip(data.types.tolist(), data.places.tolist(), strict=True)
                if place == [2, 12]]
    assert {"binary", "compare"} <= set(at_place) and data.labels.sum() == 1
    assert SITE_TYPES[int(data.types[int(np.argmax(data.labels))])] == labelled


def test_a_negated_condition_keeps_its_label_on_the_comparison_inside_the_condition():
    source = "def f(a, b):\n    if a >= b:\n        return a\n"
    data = site_data([BugSample(source, True, "negated_condition", 2, 8, "`a < b` -> `a >= b`", "train", "pkg")])
    assert data.labels.sum() == 1 and SITE_TYPES[int(data.types[int(np.argmax(data.labels))])] == "compare"


def test_nested_sites_after_wider_characters_are_found_by_their_character_column():
    source = "def f(a, b, c):\n    return ('\u00fc\U0001f600', a + b + c)\n"  # 2 characters, 6 bytes
    description = "`a + b - c` -> `a + b + c`"
    data = site_data([BugSample(source, True, "wrong_binary_operator", 2, 19, description, "train", "pkg")])
    binary = [i for i, t in enumerate(data.types.tolist()) if SITE_TYPES[t] == "binary"]
    assert len(binary) == 2 and data.labels[binary[0]] == 1  # the outer `+`, not the innermost fallback


def test_a_mutant_of_an_outer_operator_is_labelled_there():
    made = [m for seed in range(40) for m in mutants("def f(a, b, c):\n    return a * b * c\n",
                                                     rng=random.Random(seed), kinds=["wrong_binary_operator"])]
    outer = [m for m in made if m.description.startswith("`a * b * c`")]
    assert outer, "no rewrite of the outer `*` drawn"
    data = site_data([BugSample.of_mutant(outer[0], "train", "pkg")])
    binary = [i for i, t in enumerate(data.types.tolist()) if SITE_TYPES[t] == "binary"]
    assert data.labels.sum() == 1 and data.labels[binary[0]] == 1
