"""The confidence scorer's training: mutant sites per problem, and cross-validation that never peeks."""

from __future__ import annotations

import ast
import dataclasses

import numpy as np
import pytest

from model.sites import SITE_BUCKETS, SITE_TYPES, SiteModel
from training import confidence_sites
from training.confidence_sites import ScorerRecipe, fit_confidence_scorer, mutant_sites
from training.datasets import BugSample
from training.humaneval import ExecutedSample, canonical_program, load_problems, problem_mutants
from training.sites import SiteData, concatenate_sites, site_data

RECIPE = ScorerRecipe(mutants_per_kind=1, epochs=2)


@pytest.fixture(scope="module")
def problems():
    return load_problems()[:4]


@pytest.fixture(scope="module")
def sites(problems):
    return mutant_sites(problems, RECIPE)


@pytest.fixture(scope="module")
def executed(problems) -> list[ExecutedSample]:
    """Each problem's solution (passes) and two of its mutants (fail): labels as running would mostly give."""
    samples = []
    for problem in problems:
        samples.append(ExecutedSample(problem.task_id, canonical_program(problem), None, True, "passed"))
        samples += [ExecutedSample(m.problem_id, m.source, m.kind, False, "failed")
                    for m in problem_mutants(problem, per_problem=2)]
    return samples


def test_concatenated_site_data_is_the_site_data_of_the_samples_concatenated():
    a = [BugSample("def f(a, b):\n    return g(b, a)\n", True, "swapped_arguments", 2, 12, "", "train", "p")]
    b = [BugSample("x = 1\n", False, None, 0, 0, "", "train", "q"), BugSample("pass\n", False, None, 0, 0, "", "", "q"),
         BugSample("y = f(2) < 3\n", False, None, 0, 0, "", "train", "q")]
    joined, whole = concatenate_sites([site_data(a), site_data(b)]), site_data(a + b)
    for field in dataclasses.fields(SiteData):
        np.testing.assert_array_equal(getattr(joined, field.name), getattr(whole, field.name), err_msg=field.name)


def test_each_problem_trains_on_its_mutants_at_their_sites_beside_as_many_clean_copies(problems, sites):
    assert set(sites) == {p.task_id for p in problems}
    for data in sites.values():
        samples = len(data.first_site)
        assert samples % 2 == 0  # clean copies, then as many mutants
        assert 0 < data.labels.sum() <= samples // 2  # a mutant's rewrite is labelled where a site holds it
        owners_of_positives = set(data.owners[data.labels > 0].tolist())
        assert min(owners_of_positives) >= samples // 2  # never on a clean copy
    again = mutant_sites(problems, RECIPE)
    assert all(np.array_equal(again[p].ids, sites[p].ids) for p in sites)


def test_a_fit_needs_two_problems_and_both_labels(executed, sites):
    one_problem = [s for s in executed if s.problem_id == executed[0].problem_id]
    assert fit_confidence_scorer(one_problem, sites, RECIPE) is None
    all_fail = [s for s in executed if not s.passed]
    assert fit_confidence_scorer(all_fail, sites, RECIPE) is None
    scorer = fit_confidence_scorer(executed, sites, RECIPE, folds=2)
    assert scorer is not None and np.isfinite([*scorer.weights, scorer.bias]).all()
    assert np.count_nonzero(scorer.sites.weight) > 0
    assert scorer.weights[1] == 0.0 and not scorer.reads_bug_sites  # no bug-site scorer to read


def test_the_combiner_reads_the_bug_site_scorer_it_is_given(executed, sites, monkeypatch):
    rng = np.random.default_rng(0)
    bug_sites = SiteModel(rng.normal(size=SITE_BUCKETS).astype(np.float32), np.zeros(len(SITE_TYPES)),
                          (1.0, 0.0, 0.0))
    scorer = fit_confidence_scorer(executed, sites, RECIPE, bug_sites=bug_sites, folds=2)
    assert scorer is not None and scorer.reads_bug_sites and np.isfinite([*scorer.weights, scorer.bias]).all()
    handed: list[object] = []
    real_fit = confidence_sites.fit_confidence_scorer

    def fit(samples, *args, **kwargs):
        handed.append(kwargs.get("bug_sites"))
        return real_fit(samples, *args, **kwargs)

    monkeypatch.setattr(confidence_sites, "fit_confidence_scorer", fit)
    probabilities = confidence_sites.cross_validated_site_confidence(executed, sites, RECIPE, bug_sites=bug_sites,
                                                                     folds=2)
    assert handed == [bug_sites, bug_sites]  # each outer fold's combiner reads it too
    assert np.isfinite(probabilities).all()


def test_training_computes_the_figures_the_daemon_serves_however_low_a_logit(executed, sites):
    """`executed_figures` and `ConfidenceScorer.probability` must agree, or the combiner is fitted on
    other numbers than it meets: here every bug-site logit is far below training's NO_SITES (-30)."""
    from model.sites import find_sites

    bug_sites = SiteModel(np.zeros(SITE_BUCKETS, np.float32), np.full(len(SITE_TYPES), -40.0), (1.0, 0.0, 0.0))
    scorer = fit_confidence_scorer(executed, sites, RECIPE, bug_sites=bug_sites, folds=2)
    assert scorer is not None
    some = executed[:6]
    _, figures, has_sites = confidence_sites.executed_figures(some, bug_sites)
    assert has_sites.all() and (figures[:, 1] == -40.0).all()
    for sample, row in zip(some, figures, strict=True):
        found = find_sites(ast.parse(sample.source), sample.source)
        row[0] = scorer.sites.logits(found).max()
        served = scorer.probability(found, bug_sites.logits(found))
        assert served == pytest.approx(float(scorer.from_figures(row[None, :])[0]))


def test_cross_validation_fits_each_fold_on_the_other_problems_alone(executed, sites, monkeypatch):
    fitted_on: list[set[str]] = []  # each outer fit's problems, in order
    trained_on: list[tuple[int, set[str]]] = []  # each scorer's problems, with the outer fit it served
    real_fit, real_train = confidence_sites.fit_confidence_scorer, confidence_sites._train

    def fit(samples, *args, **kwargs):
        fitted_on.append({s.problem_id for s in samples})
        return real_fit(samples, *args, **kwargs)

    def train(sites, problem_ids, recipe):
        trained_on.append((len(fitted_on) - 1, set(problem_ids)))
        return real_train(sites, problem_ids, recipe)

    monkeypatch.setattr(confidence_sites, "fit_confidence_scorer", fit)
    monkeypatch.setattr(confidence_sites, "_train", train)
    probabilities = confidence_sites.cross_validated_site_confidence(executed, sites, RECIPE, folds=2)
    everything = {s.problem_id for s in executed}
    held = [everything - problems for problems in fitted_on]
    assert len(held) == 2 and held[0] and held[1] and held[0] | held[1] == everything and not held[0] & held[1]
    assert all(problems <= fitted_on[fit_index] for fit_index, problems in trained_on)
    assert probabilities.shape == (len(executed),) and np.isfinite(probabilities).all()
    assert ((probabilities > 0) & (probabilities < 1)).all()


def test_training_on_no_mutant_sites_is_an_error_not_a_constant(executed):
    with pytest.raises(ValueError, match="no mutant sites"):
        confidence_sites.cross_validated_site_confidence(executed, {}, RECIPE, folds=2)
