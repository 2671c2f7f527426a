"""The confidence scorer (model/confidence.py): trained on HumanEval mutants, Platt-scaled on executed tests.

The scorer is a linear site scorer (training/sites.py trains it) fitted to "the rewrite is here" on
single-rewrite mutants of each problem's reference solution, beside as many copies of the solution
itself (clean); these labels come from the rewrite, not from running anything. The combiner comes
from executed tests: each executed sample's highest site logit is taken from a scorer that never saw
its problem (folds grouped by problem), so the combiner is fitted on logits as the daemon will meet
them on new code, beside the bug-site scorer's highest logit (trained on the corpus, never on
HumanEval) and the site count. Owns those steps, and the nested cross-validation that gives the
honest figure (`cross_validated_site_confidence`: each outer fold's scorer and combiner never saw that
fold's problems).

Chosen on HumanEval's grouped cross-validation, among about a dozen settings (mutants per kind 2-8,
epochs 2-16, learning rate, positive weight, a hidden layer): all gave AUROC 0.68-0.69, these among
the best; the corpus's own bug-site scorer gave 0.63 there then (0.68 with `sites-v9`), the
network's readout 0.60. The two scorers see different slips: with `sites-v9`, a combiner of both (and
the site count) gave 0.716-0.722 over six cross-validation seeds where this scorer alone gave 0.698-0.701.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from model.confidence import ConfidenceScorer
from model.sites import SiteModel
from training.datasets import BugSample
from training.humaneval import ExecutedSample, Problem, canonical_program
from training.logistic import fit_logistic
from training.metrics import grouped_folds
from training.mutations import mutants
from training.sites import (
    SiteData,
    concatenate_sites,
    max_site_logits,
    site_data,
    sites_per_sample,
    train_site_scorer,
)

__all__ = ["ScorerRecipe", "cross_validated_site_confidence", "fit_confidence_scorer", "mutant_sites",
           "source_sites"]


@dataclass(frozen=True)
class ScorerRecipe:
    """How the confidence scorer is trained; stored in the checkpoint, so the evaluation retrains it
    the same way on each fold."""

    mutants_per_kind: int = 3
    epochs: int = 4
    learning_rate: float = 0.1
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def mutant_sites(problems: Sequence[Problem], recipe: ScorerRecipe) -> dict[str, SiteData]:
    """Per problem id: the labelled sites of its mutants (up to `mutants_per_kind` of each kind, in the
    entry point) and of as many clean copies of its reference solution."""
    out = {}
    for problem in problems:
        clean = canonical_program(problem)
        rng = random.Random(f"confidence:{recipe.seed}:{problem.task_id}")
        found = mutants(clean, rng=rng, max_per_kind=recipe.mutants_per_kind, scope=problem.entry_point)
        clean_sites = site_data([BugSample(clean, False, None, 0, 0, "", "train", problem.task_id)])
        mutant_data = site_data([BugSample.of_mutant(m, "train", problem.task_id) for m in found])
        out[problem.task_id] = concatenate_sites([clean_sites] * max(1, len(found)) + [mutant_data])
    return out


def source_sites(sources: Sequence[str]) -> SiteData:
    """The sites of unlabelled sources (code to score, not to train on)."""
    return site_data([BugSample(source, False, None, 0, 0, "", "", "") for source in sources])


def _train(sites: dict[str, SiteData], problem_ids: Sequence[str], recipe: ScorerRecipe) -> SiteModel:
    parts = [sites[p] for p in sorted(problem_ids) if p in sites]
    if not parts:
        raise ValueError(f"no mutant sites for any of the {len(problem_ids)} problems to train on")
    return train_site_scorer(concatenate_sites(parts), epochs=recipe.epochs, hidden_width=0,
                             learning_rate=recipe.learning_rate, seed=recipe.seed)


def executed_figures(samples: Sequence[ExecutedSample], bug_sites: SiteModel | None
                     ) -> tuple[SiteData, np.ndarray, np.ndarray]:
    """The executed samples' sites; per sample the combiner's figures (model/confidence.py's FIGURES)
    as the daemon computes them, with the first, the confidence scorer's own logit, left 0 for the
    caller to fill: the bug-site scorer's highest logit, however low (0 without a scorer), and
    log(1 + its sites); and which samples have a site (the others are the network head's)."""
    executed = source_sites([s.source for s in samples])
    has_sites = executed.first_site >= 0
    figures = np.zeros((len(samples), 3))
    if bug_sites is not None:
        figures[has_sites, 1] = max_site_logits(bug_sites, executed, len(samples))[has_sites]
    figures[:, 2] = np.log1p(sites_per_sample(executed, len(samples)))
    return executed, figures, has_sites


def fit_confidence_scorer(samples: Sequence[ExecutedSample], sites: dict[str, SiteData], recipe: ScorerRecipe,
                          *, bug_sites: SiteModel | None = None, folds: int = 5) -> ConfidenceScorer | None:
    """The scorer trained on the mutants of every problem the executed `samples` come from, and the
    combiner fitted on their out-of-fold highest site logits, beside `bug_sites`' (the corpus's bug-site
    scorer; without one its weight is 0) and the site count; None when the samples cannot support a
    fit (fewer than two problems, one label, or no sites)."""
    problems = [s.problem_id for s in samples]
    labels = np.array([s.passed for s in samples], dtype=np.float64)
    distinct = sorted(set(problems))
    if len(distinct) < 2 or len(set(labels.tolist())) < 2:
        return None
    executed, figures, usable = executed_figures(samples, bug_sites)
    for fold in grouped_folds(problems, min(folds, len(distinct)), recipe.seed):
        held = {problems[i] for i in fold}
        scorer = _train(sites, [p for p in distinct if p not in held], recipe)
        figures[fold, 0] = max_site_logits(scorer, executed, len(samples))[fold]
    if len(set(labels[usable].tolist())) < 2:
        return None
    weight, bias = fit_logistic(figures[usable], labels[usable], l2=1.0)
    own, bug, count = (float(w) for w in weight)
    return ConfidenceScorer(_train(sites, distinct, recipe), (own, bug if bug_sites is not None else 0.0, count),
                            bias)


def cross_validated_site_confidence(samples: Sequence[ExecutedSample], sites: dict[str, SiteData],
                                    recipe: ScorerRecipe, *, bug_sites: SiteModel | None = None, folds: int = 5,
                                    seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities for executed `samples`: each outer fold's scorer and combiner are
    fitted (with `fit_confidence_scorer`'s own inner folds) on the other problems alone. NaN where
    the code has no site, or a fold could not be fitted: the daemon's network head speaks there."""
    problems = [s.problem_id for s in samples]
    executed, figures, has_sites = executed_figures(samples, bug_sites)
    out = np.full(len(samples), np.nan)
    for fold in grouped_folds(problems, min(folds, len(set(problems))), seed):
        held = set(fold.tolist())
        scorer = fit_confidence_scorer([s for i, s in enumerate(samples) if i not in held], sites, recipe,
                                       bug_sites=bug_sites, folds=folds)
        if scorer is None:
            continue
        figures[fold, 0] = max_site_logits(scorer.sites, executed, len(samples))[fold]
        out[fold] = np.where(has_sites[fold], scorer.from_figures(figures[fold]), np.nan)
    return out
