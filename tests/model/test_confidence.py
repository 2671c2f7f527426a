"""The confidence scorer: its checkpoint form, refusing malformed ones, and what the Predictor serves."""

from __future__ import annotations

import numpy as np
import pytest

from model.checkpoint import load_checkpoint
from model.confidence import ConfidenceScorer, confidence_scorer_from
from model.graph import build_graph
from model.layout import FEATURE_LAYOUT_VERSION
from model.predictor import Predictor
from model.sites import SITE_BUCKETS, SITE_FEATURES_VERSION, SITE_TYPES, SiteModel
from tests.helpers import feature_id, write_checkpoint

CALLS_MAX = "def f(a, b):\n    return max(a, b)\n"
NO_SITES = "def f():\n    pass\n"
META = {"version": SITE_FEATURES_VERSION, "combiner": [-1.0, 0.0, 0.0, 2.0]}


def _scorer(*favoured: str, weights: tuple[float, float, float] = (-1.0, 0.0, 0.0), bias: float = 2.0
            ) -> ConfidenceScorer:
    """Site logit 5 where one of the feature texts `favoured` is, -5 elsewhere."""
    weight = np.zeros(SITE_BUCKETS, np.float32)
    for text in favoured:
        weight[feature_id(text)] = 10.0
    return ConfidenceScorer(SiteModel(weight, np.full(len(SITE_TYPES), -5.0), (1.0, 0.0, 0.0)), weights, bias)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + np.exp(-z))


def test_a_likelier_slip_means_a_lower_confidence():
    scorer = _scorer("a\x1fmax")
    sites = build_graph(CALLS_MAX).sites
    assert scorer.probability(sites, None) == pytest.approx(_sigmoid(-1.0 * 5.0 + 2.0))
    assert _scorer().probability(sites, None) == pytest.approx(_sigmoid(-1.0 * -5.0 + 2.0))
    assert scorer.probability(build_graph(NO_SITES).sites, None) is None  # no site: nothing to say


def test_the_combiner_weighs_the_bug_site_scorers_strongest_site_and_the_site_count():
    sites = build_graph(CALLS_MAX).sites
    scorer = _scorer("a\x1fmax", weights=(-1.0, -0.5, 0.25))
    expected = _sigmoid(-1.0 * 5.0 - 0.5 * 3.0 + 0.25 * np.log1p(len(sites)) + 2.0)
    assert scorer.probability(sites, np.array([3.0, -1.0] + [-2.0] * (len(sites) - 2))) == pytest.approx(expected)
    assert scorer.probability(sites, None) is None  # it reads the bug-site scorer: without it, the head speaks


@pytest.mark.parametrize("bias", [1e6, -1e6])
def test_an_extreme_combined_logit_is_clipped_as_the_combiner_is_fitted(bias):
    sites = build_graph(CALLS_MAX).sites
    probability = _scorer(bias=bias).probability(sites, None)
    assert probability == pytest.approx(_sigmoid(30.0 if bias > 0 else -30.0), rel=1e-12)
    assert probability == pytest.approx(float(_scorer(bias=bias).from_figures(np.zeros((1, 3)))[0]), rel=1e-12)


def test_only_the_nonzero_weights_are_stored_and_they_load_back_whole(tmp_path):
    scorer = _scorer("a\x1fmax")
    tensors = scorer.tensors()
    assert tensors["ids"].tolist() == [feature_id("a\x1fmax")] and tensors["values"].tolist() == [10.0]
    path = write_checkpoint(tmp_path / "c.safetensors", ["os"], confidence_weights=tensors,
                            training={"trained": True, "confidence_sites": scorer.metadata()})
    checkpoint = load_checkpoint(path, expected_layout_version=FEATURE_LAYOUT_VERSION)
    assert not any(name.startswith("confidence_sites") for name in checkpoint.weights)
    loaded = confidence_scorer_from(checkpoint.confidence_weights, checkpoint.training["confidence_sites"])
    assert loaded is not None and (loaded.weights, loaded.bias) == (scorer.weights, scorer.bias)
    np.testing.assert_array_equal(loaded.sites.weight, scorer.sites.weight)
    np.testing.assert_array_equal(loaded.sites.type_bias, scorer.sites.type_bias)


def _tensors(ids, values) -> dict[str, np.ndarray]:
    return {"ids": np.asarray(ids), "values": np.asarray(values, np.float32),
            "type_bias": np.zeros(len(SITE_TYPES), np.float32)}


@pytest.mark.parametrize("tensors, meta", [
    (_tensors([3, 2], [1.0, 1.0]), META),  # ids not increasing
    (_tensors([SITE_BUCKETS], [1.0]), META),  # an id past the buckets
    (_tensors([-1], [1.0]), META),
    (_tensors([1, 2], [1.0]), META),  # one value short
    (_tensors([1.5], [1.0]), META),  # not an integer id
    (_tensors([1], [np.nan]), META),
    (_tensors([1], [1.0]), {**META, "combiner": [float("inf"), 0.0, 0.0, 0.0]}),
    (_tensors([1], [1.0]), {**META, "combiner": [1e308, 1e308, 1e308, 1e308]}),  # finite, but overflows to NaN
    ({**_tensors([1], [1.0]), "type_bias": np.zeros(len(SITE_TYPES), np.complex64)}, META),
    ({**_tensors([1], [1.0]), "values": np.array([True])}, META),
    (_tensors([1], [3e38]), META),
    (_tensors([1], [1.0]), {**META, "combiner": [1.0, 0.0]}),  # a Platt pair, as before `sites-v10`
    (_tensors([1], [1.0]), {**META, "combiner": ["a", 0.0, 0.0, 0.0]}),
    (_tensors([1], [1.0]), {"version": SITE_FEATURES_VERSION, "platt": [1.0, 0.0]}),
    (_tensors([1], [1.0]), {**META, "version": "sites-v0"}),  # fitted on other site features
    ({"ids": np.array([1]), "values": np.array([1.0], np.float32)}, META),  # no type biases
    ({**_tensors([1], [1.0]), "type_bias": np.zeros(2, np.float32)}, META),
    ({}, META),
])
def test_a_malformed_or_outdated_scorer_is_none_so_the_network_head_speaks(tensors, meta):
    assert confidence_scorer_from(tensors, meta) is None


def test_the_predictor_serves_the_scorers_confidence_for_code_with_a_site_and_the_heads_otherwise(tmp_path):
    scorer = _scorer("a\x1fmax")
    path = write_checkpoint(tmp_path / "c.safetensors", ["os"], confidence_weights=scorer.tensors(),
                            training={"trained": True, "confidence_sites": scorer.metadata()})
    plain = Predictor(write_checkpoint(tmp_path / "plain.safetensors", ["os"]))
    predictor = Predictor(path)
    with_sites, without = predictor.predict_sources([CALLS_MAX, NO_SITES])
    assert with_sites.confidence == pytest.approx(_sigmoid(-5.0 + 2.0))
    assert without.confidence == pytest.approx(plain.predict_sources([NO_SITES])[0].confidence, rel=1e-5)  # the head
    assert predictor.info()["heads"]["confidence_sites"] == {"size": SITE_BUCKETS}
    assert predictor.info()["parameters"] == plain.info()["parameters"] + 1 + len(SITE_TYPES)


def test_the_predictor_hands_the_bug_site_scorers_logits_and_the_site_count_to_the_combiner(tmp_path):
    from model.sites import site_model_from

    scorer = _scorer("a\x1fmax", weights=(-1.0, -0.5, 0.25))
    bug_weight = np.zeros(SITE_BUCKETS, np.float32)
    bug_weight[feature_id("a\x1fmax")] = 3.0
    bug_tensors = {"weight": bug_weight, "type_bias": np.full(len(SITE_TYPES), -1.0, np.float32)}
    bug_meta = {"version": SITE_FEATURES_VERSION, "combiner": [1.0, 0.0, 0.0]}
    path = write_checkpoint(tmp_path / "c.safetensors", ["os"], site_weights=bug_tensors,
                            confidence_weights=scorer.tensors(),
                            training={"trained": True, "bug_sites": bug_meta, "confidence_sites": scorer.metadata()})
    sites = build_graph(CALLS_MAX).sites
    bug_best = float(site_model_from(bug_tensors, bug_meta).logits(sites).max())
    assert bug_best == pytest.approx(2.0)  # the call's site: -1 + 3
    expected = _sigmoid(-1.0 * 5.0 - 0.5 * bug_best + 0.25 * np.log1p(len(sites)) + 2.0)
    assert Predictor(path).predict_sources([CALLS_MAX])[0].confidence == pytest.approx(expected)


def test_a_scorer_that_reads_bug_sites_is_dropped_from_a_checkpoint_without_them(tmp_path):
    scorer = _scorer("a\x1fmax", weights=(-1.0, -0.5, 0.0))
    path = write_checkpoint(tmp_path / "c.safetensors", ["os"], confidence_weights=scorer.tensors(),
                            training={"trained": True, "confidence_sites": scorer.metadata()})
    plain = Predictor(write_checkpoint(tmp_path / "plain.safetensors", ["os"]))
    predictor = Predictor(path)
    assert "confidence_sites" not in predictor.info()["heads"]
    expected = plain.predict_sources([CALLS_MAX])[0].confidence
    assert predictor.predict_sources([CALLS_MAX])[0].confidence == pytest.approx(expected, rel=1e-5)


def test_a_scorer_the_load_refuses_adds_no_parameters_and_no_head(tmp_path):
    scorer = _scorer("a\x1fmax")
    outdated = {**scorer.metadata(), "version": "sites-v0"}
    path = write_checkpoint(tmp_path / "c.safetensors", ["os"], confidence_weights=scorer.tensors(),
                            training={"trained": True, "confidence_sites": outdated})
    plain = Predictor(write_checkpoint(tmp_path / "plain.safetensors", ["os"]))
    predictor = Predictor(path)
    assert predictor.info()["parameters"] == plain.info()["parameters"]
    assert "confidence_sites" not in predictor.info()["heads"]


def test_unsigned_ids_that_go_down_are_refused_too():
    tensors = {**_tensors([3, 2], [1.0, 1.0]), "ids": np.array([3, 2], np.uint32)}
    assert confidence_scorer_from(tensors, META) is None


def test_a_shift_to_another_pass_rate_moves_the_log_odds_and_keeps_the_order():
    from model.confidence import shift_to_pass_rate

    assert shift_to_pass_rate(0.3, 0.2, 0.2) == pytest.approx(0.3)
    assert shift_to_pass_rate(0.5, 0.2, 0.5) == pytest.approx(0.8)  # log-odds 0 + log 4
    shifted = [shift_to_pass_rate(p, 0.2, 0.7) for p in (0.05, 0.3, 0.9)]
    assert shifted == sorted(shifted) and all(a > b for a, b in zip(shifted, (0.05, 0.3, 0.9), strict=True))
    assert shift_to_pass_rate(0.0, 0.2, 0.7) == 0.0 and shift_to_pass_rate(1.0, 0.2, 0.7) == 1.0


@pytest.mark.parametrize("host_rate", [1e-308, 5e-324, 1.0 - 2**-53])
def test_a_pass_rate_at_the_edge_of_a_double_shifts_to_a_probability_not_an_overflow(host_rate):
    from model.confidence import shift_to_pass_rate

    shifted = [shift_to_pass_rate(p, 0.2, host_rate) for p in (1e-300, 0.3, 0.9, 1.0 - 1e-16)]
    assert all(0.0 <= p <= 1.0 for p in shifted) and shifted == sorted(shifted)
