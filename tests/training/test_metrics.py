"""Metrics: each checked against values worked out by hand, plus the invariants that tie them together."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training import metrics
from training.metrics import (
    auroc,
    expected_calibration_error,
    false_alarm_threshold,
    first_is_needed,
    grouped_bootstrap_auroc,
    grouped_folds,
    map_at_r,
    recall_at_k,
    reliability_bins,
    roc_curve,
    shown_at_threshold,
)


def test_the_public_names_are_pinned():
    assert sorted(metrics.__all__) == [
        "ReliabilityBins", "auroc", "expected_calibration_error", "false_alarm_threshold", "first_is_needed",
        "grouped_bootstrap_auroc",
        "grouped_folds", "map_at_r", "metadata_threshold", "recall_at_k", "reliability_bins", "roc_curve",
        "shown_at_threshold",
    ]


# --- AUROC and ROC -------------------------------------------------------------------------------


def test_a_bootstrap_over_groups_is_wide_where_groups_disagree_and_narrow_where_they_agree():
    rng = np.random.default_rng(0)
    labels = np.tile([0, 1], 200)
    groups = np.repeat([f"p{i}" for i in range(20)], 20)
    agree = labels + rng.normal(0, 1.0, labels.size)  # every package alike: AUROC about 0.76
    split = np.where(np.repeat(np.arange(20) % 2 == 0, 20), labels, 1 - labels) + rng.normal(0, 0.3, labels.size)
    alike, apart = grouped_bootstrap_auroc(labels, agree, groups), grouped_bootstrap_auroc(labels, split, groups)
    assert alike is not None and apart is not None
    assert alike["low"] < auroc(labels, agree) < alike["high"] and alike["resamples"] == 1000
    assert apart["se"] > 3 * alike["se"]  # half the packages ranked backwards: it hinges on which are drawn
    assert grouped_bootstrap_auroc(labels, agree, groups) == alike  # seeded
    assert grouped_bootstrap_auroc(labels, agree, ["one"] * labels.size) is None  # one group: nothing to redraw


def test_a_bootstrap_skips_draws_without_both_classes_and_refuses_what_it_cannot_measure():
    labels = np.array([0, 0, 0, 1, 0, 0])
    groups = [("p", 1), ("p", 1), None, None, 3, 3]  # any hashable names a group; only None's holds a positive
    result = grouped_bootstrap_auroc(labels, np.arange(6.0), groups, resamples=300)
    assert result is not None and 150 < result["resamples"] < 300  # a draw without None's group is skipped
    assert grouped_bootstrap_auroc(labels, np.array([0, 0, 0, np.nan, 0, 0]), groups) is None  # as auroc would
    with pytest.raises(ValueError, match="as long"):
        grouped_bootstrap_auroc(labels, np.arange(6.0), groups[:4])


def test_auroc_counts_the_pairs_a_positive_wins():
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs won
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_auroc_counts_a_tie_as_half_a_win():
    # the positive beats 0.2 and ties 0.5: (1 + 0.5) / 2
    assert auroc([0, 0, 1], [0.2, 0.5, 0.5]) == pytest.approx(0.75)
    assert auroc([1, 0], [0.3, 0.3]) == pytest.approx(0.5)


def test_auroc_of_a_perfect_and_a_reversed_ranking():
    assert auroc([0, 1, 0, 1], [1, 2, 1.5, 3]) == 1.0
    assert auroc([0, 0, 1, 1], [1, 2, 3, 4]) == 1.0
    assert auroc([1, 1, 0, 0], [1, 2, 3, 4]) == 0.0


def test_auroc_refuses_a_single_class():
    with pytest.raises(ValueError, match="both classes"):
        auroc([1, 1, 1], [0.1, 0.2, 0.3])


def test_auroc_refuses_labels_and_scores_of_different_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        auroc([0, 1], [0.1, 0.2, 0.3])


def test_the_roc_curve_steps_through_each_distinct_score():
    fpr, tpr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])


def test_tied_scores_enter_the_roc_curve_together():
    fpr, tpr = roc_curve([0, 1, 1, 0], [0.5, 0.5, 0.9, 0.1])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=40))
def test_the_area_under_the_roc_curve_is_the_auroc(pairs):
    labels = np.array([p[0] for p in pairs])
    scores = np.array([p[1] for p in pairs], dtype=float)
    if labels.all() or not labels.any():
        return
    fpr, tpr = roc_curve(labels, scores)
    area = float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(auroc(labels, scores))


# --- calibration ---------------------------------------------------------------------------------


def test_expected_calibration_error_weighs_each_bins_gap_by_its_share():
    # bin [0, .5): probs .3 .2 (mean .25), both positive -> gap .75; bin [.5, 1]: .9 .8 (mean .85),
    # one positive -> gap .35; each bin holds half: (.75 + .35) / 2
    assert expected_calibration_error([1, 1, 1, 0], [0.3, 0.2, 0.9, 0.8], bins=2) == pytest.approx(0.55)


def test_a_perfectly_calibrated_prediction_has_no_calibration_error():
    labels = [1, 0, 0, 0, 1, 1, 1, 0]
    probs = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75]
    assert expected_calibration_error(labels, probs, bins=4) == pytest.approx(0.0)


def test_reliability_bins_put_one_in_the_last_bin_and_leave_empty_bins_unset():
    table = reliability_bins([1, 0, 1], [1.0, 0.0, 0.95], bins=4)
    np.testing.assert_array_equal(table.counts, [1, 0, 0, 2])
    assert table.mean_probability[3] == pytest.approx(0.975)
    assert table.fraction_positive[3] == 1.0
    assert math.isnan(table.mean_probability[1])
    assert table.to_dict()["mean_probability"][1] is None
    np.testing.assert_allclose(table.edges, [0, 0.25, 0.5, 0.75, 1.0])


def test_reliability_bins_refuse_probabilities_outside_zero_and_one():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability_bins([1], [1.5])


# --- recall@k ------------------------------------------------------------------------------------


def test_recall_at_k_averages_the_found_fraction_over_samples_with_labels():
    truth = [{"a", "b"}, {"c"}, set()]
    ranked = [["a", "x", "b"], ["y", "c"], ["z"]]
    assert recall_at_k(truth, ranked, 1) == pytest.approx((0.5 + 0.0) / 2)
    assert recall_at_k(truth, ranked, 2) == pytest.approx((0.5 + 1.0) / 2)
    assert recall_at_k(truth, ranked, 3) == pytest.approx(1.0)


def test_recall_at_k_needs_a_sample_with_a_label():
    with pytest.raises(ValueError, match="at least one sample"):
        recall_at_k([set()], [["a"]], 1)


def test_first_is_needed_counts_a_needed_module_of_another_category_ranked_first_as_a_hit():
    own = [{"pkg.a"}, {"pkg.b"}, {"pkg.c"}, set()]
    needed = [{"pkg.a", "os"}, {"pkg.b"}, {"pkg.c"}, {"json"}]
    ranked = [["os", "pkg.a"], ["pkg.b"], ["sys", "pkg.c"], ["json"]]
    assert first_is_needed(own, needed, ranked) == pytest.approx(2 / 3)
    assert recall_at_k(own, ranked, 1) == pytest.approx(1 / 3)


def test_what_is_shown_at_the_threshold_is_pooled_over_the_samples():
    truth = [{"os", "sys"}, {"json"}, set()]
    scored = [[("os", 0.9), ("re", 0.6), ("sys", 0.4)], [("json", 0.5)], [("csv", 0.7)]]
    shown = shown_at_threshold(truth, scored, 0.5)  # shown: os, re; json; csv
    assert shown["precision"] == pytest.approx(2 / 4) and shown["recall"] == pytest.approx(2 / 3)
    assert shown["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert shown["shown_per_sample"] == pytest.approx(4 / 3) and shown["n"] == 3
    nothing = shown_at_threshold(truth, scored, 0.95)
    assert nothing["precision"] is None and nothing["f1"] is None and nothing["recall"] == 0.0
    with pytest.raises(ValueError, match="rankings"):
        shown_at_threshold(truth, scored[:2], 0.5)


def test_first_is_needed_needs_a_sample_with_a_label_and_parallel_inputs():
    with pytest.raises(ValueError, match="at least one sample"):
        first_is_needed([set()], [{"a"}], [["a"]])
    with pytest.raises(ValueError, match="rankings"):
        first_is_needed([{"a"}], [{"a"}], [])


# --- MAP@R ---------------------------------------------------------------------------------------


def test_map_at_r_matches_a_hand_worked_example():
    # labels a a a b; query 0 ranks x1 (a) then x3 (b): AP = 1/2; query 1 ranks x0 (a) then x3: 1/2;
    # query 2 ranks x3 (b) then x1 (a): (0 + 1/2) / 2 = 1/4; query 3 has no partner and is skipped.
    vectors = np.array([[1.0, 0.0], [0.8, 0.2], [0.0, 1.0], [0.3, 0.7]])
    assert map_at_r(vectors, ["a", "a", "a", "b"]) == pytest.approx((0.5 + 0.5 + 0.25) / 3)


def test_map_at_r_is_one_when_every_item_sits_next_to_its_partner_and_zero_when_never():
    close = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    assert map_at_r(close, [0, 0, 1, 1]) == 1.0
    assert map_at_r(close, [0, 1, 0, 1]) == 0.0


def test_map_at_r_excludes_the_query_from_its_own_ranking():
    # each item is most similar to itself; if it were not excluded, its partner would come second
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    assert map_at_r(vectors, [0, 1, 0]) == 1.0


def test_grouped_folds_cover_every_sample_once_and_never_split_a_group():
    groups = [f"p{i % 7}" for i in range(40)]
    folds = grouped_folds(groups, 3, seed=1)
    assert len(folds) == 3
    assert sorted(np.concatenate(folds).tolist()) == list(range(40))
    owners = {}
    for number, fold in enumerate(folds):
        for index in fold:
            assert owners.setdefault(groups[index], number) == number


def test_grouped_folds_are_balanced_and_the_same_for_the_same_seed():
    groups = [f"p{i}" for i in range(10) for _ in range(3)]
    folds = grouped_folds(groups, 5, seed=4)
    assert [len(f) for f in folds] == [6] * 5
    assert all(np.array_equal(a, b) for a, b in zip(folds, grouped_folds(groups, 5, seed=4), strict=True))
    assert any(not np.array_equal(a, b) for a, b in zip(folds, grouped_folds(groups, 5, seed=5), strict=True))


def test_grouped_folds_refuse_more_folds_than_groups():
    with pytest.raises(ValueError, match="at least 3 groups"):
        grouped_folds(["a", "a", "b"], 3, seed=0)


def test_the_false_alarm_threshold_lets_through_at_most_the_rate_of_clean_scores():
    clean = np.linspace(0.0, 1.0, 1001)
    threshold = false_alarm_threshold(clean, 0.05)
    assert threshold == 0.95 and (clean >= threshold).mean() <= 0.05 + 1e-3
    assert false_alarm_threshold(np.array([0.123456]), 0.05) == 0.1235  # rounded for the metadata...
    assert false_alarm_threshold(np.array([0.123412]), 0.05) == 0.1235  # ...up: never more alarms
    assert false_alarm_threshold(np.zeros(0), 0.05) == 0.5
