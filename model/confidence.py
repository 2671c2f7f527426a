"""The probability that code passes its tests, from its likeliest one-token slip.

What makes code fail its tests is mostly a small slip: a wrong comparison, swapped arguments, a
misused variable, a negated condition. The network's readout of a whole function barely sees one
(HumanEval, grouped cross-validation: AUROC 0.60), so for code the daemon's `confidence` comes from
a site scorer of model/sites.py's linear form, trained on single-rewrite mutants of HumanEval's
reference solutions (short, self-contained functions, like the code an editor's LLM writes). A
logistic combiner fitted on executed tests turns three figures into a probability: that scorer's
highest site logit, the bug-site scorer's (model/sites.py's, trained on the corpus: many more
functions, other slips) and how many sites the code has (the strongest of many sites is high by
chance). Code without any site, host-supplied vectors, and checkpoints whose combiner reads a
bug-site scorer they do not hold keep the network's confidence head.

Calibrated means calibrated to the executed samples' mix, where about a fifth pass; `shift_to_pass_rate`
restates a probability for a host that knows its own code passes more (or less) often.

Owns `ConfidenceScorer` and its checkpoint form: the nonzero weights as "confidence_sites." tensors
(`ids`, `values`, `type_bias`) and `training["confidence_sites"]` (`version`, `combiner`). The fit and
its cross-validation are training/confidence_sites.py's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from model.config import MAX_WEIGHT_MAGNITUDE
from model.sites import (
    LOGIT_CLIP,
    SITE_BUCKETS,
    SITE_FEATURES_VERSION,
    BugSites,
    SiteModel,
    bounded,
    floats,
    logistic,
)

__all__ = ["FIGURES", "ConfidenceScorer", "confidence_scorer_from", "served_scorer", "shift_to_pass_rate"]


def shift_to_pass_rate(probability: float, trained_rate: float, host_rate: float) -> float:
    """`probability`, calibrated where a share `trained_rate` of the code passes, restated for a host
    where a share `host_rate` does: its log-odds move by the difference of the two rates' log-odds (a
    prior shift, as in Saerens et al., 2002). It keeps every ranking, and it assumes only the rate
    differs: passing and failing code look alike in both places. 0 and 1 stay as they are; a rate
    within a few hundred log-odds of 0 or 1 (1e-308) may round the result to them, never overflow."""
    if not 0.0 < probability < 1.0:
        return probability
    shift = math.log(host_rate / (1.0 - host_rate)) - math.log(trained_rate / (1.0 - trained_rate))
    log_odds = math.log(probability / (1.0 - probability)) + shift
    if log_odds >= 0.0:
        return 1.0 / (1.0 + math.exp(-log_odds))
    odds = math.exp(log_odds)  # exp of a negative number: at worst 0, where exp(-log_odds) overflows
    return odds / (1.0 + odds)


FIGURES: Final = ("confidence site logit", "bug site logit", "log1p sites")
"""What the combiner weighs, per source scored (a function, a snippet, a file): the highest logit of
the confidence scorer over its sites, the highest of the bug-site scorer's, and log(1 + its sites)."""


@dataclass(frozen=True)
class ConfidenceScorer:
    """`sites`: a linear site scorer (pass-through combiner); `weights` (one per FIGURES entry) and
    `bias`: the logistic combiner that maps a source's figures to the probability that it passes its
    tests."""

    sites: SiteModel
    weights: tuple[float, float, float]
    bias: float

    @property
    def reads_bug_sites(self) -> bool:
        """Whether the bug-site scorer's logits count: without them the combiner cannot be applied."""
        return self.weights[1] != 0.0

    def probability(self, sites: BugSites, bug_site_logits: np.ndarray | None) -> float | None:
        """The probability that code with these sites passes its tests; None without a site, or
        without the bug-site scorer's logits of those sites where the combiner reads them."""
        if not len(sites) or (bug_site_logits is None and self.reads_bug_sites):
            return None
        bug = float(bug_site_logits.max()) if bug_site_logits is not None else 0.0
        own = float(self.sites.logits(sites).max())
        w_own, w_bug, w_count = self.weights  # `from_figures` for one row, in scalars: once per prediction
        z = w_own * own + w_bug * bug + w_count * math.log1p(len(sites)) + self.bias
        return 1.0 / (1.0 + math.exp(-min(max(z, -LOGIT_CLIP), LOGIT_CLIP)))

    def from_figures(self, figures: np.ndarray) -> np.ndarray:
        """(sources, 3) rows of FIGURES to each source's probability of passing."""
        return logistic(np.asarray(figures, dtype=np.float64) @ np.asarray(self.weights) + self.bias)

    def tensors(self) -> dict[str, np.ndarray]:
        """The checkpoint's "confidence_sites." tensors: trained on a few thousand mutants, the scorer
        touches a small share of the buckets, so only those are stored."""
        ids = np.flatnonzero(self.sites.weight).astype(np.int32)
        return {"ids": ids, "values": self.sites.weight[ids].astype(np.float32),
                "type_bias": self.sites.type_bias.astype(np.float32)}

    def metadata(self) -> dict:
        return {"version": SITE_FEATURES_VERSION, "combiner": [*self.weights, self.bias]}


def confidence_scorer_from(tensors: Mapping[str, np.ndarray], meta: object) -> ConfidenceScorer | None:
    """The scorer a checkpoint holds, or None when it holds none, holds one fitted on other site
    features (an older SITE_FEATURES_VERSION), or holds a malformed one (then the head speaks)."""
    if not tensors or not isinstance(meta, dict) or meta.get("version") != SITE_FEATURES_VERSION:
        return None
    combiner = meta.get("combiner")
    ids, values, type_bias = (tensors.get(name) for name in ("ids", "values", "type_bias"))
    if ids is None or values is None or type_bias is None or not isinstance(combiner, list) or \
            len(combiner) != len(FIGURES) + 1 or not floats(values, type_bias):
        return None
    try:
        own, bug, count, bias = (float(value) for value in combiner)
        weight = _dense(np.asarray(ids), np.asarray(values, np.float32))
        scorer = SiteModel(weight, np.asarray(type_bias, np.float64), (1.0, 0.0, 0.0))
    except (ValueError, TypeError, OverflowError):
        return None
    if not (bounded([own, bug, count, bias]) and bounded(scorer.type_bias)):
        return None  # NaN, inf, or so large a combination would overflow
    return ConfidenceScorer(scorer, (own, bug, count), bias)


def served_scorer(scorer: ConfidenceScorer | None, bug_sites: SiteModel | None) -> ConfidenceScorer | None:
    """The scorer served beside the checkpoint's bug-site scorer `bug_sites`: None when its combiner
    reads bug-site logits that the checkpoint cannot give (then the network's head speaks)."""
    if scorer is None or (scorer.reads_bug_sites and bug_sites is None):
        return None
    return scorer


def _dense(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The full weight vector from its nonzero entries; ValueError when they cannot be one."""
    if ids.ndim != 1 or values.shape != ids.shape or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("confidence scorer ids and values must be two equal-length vectors, ids integers")
    ids = ids.astype(np.int64)  # unsigned ids would wrap around in np.diff
    if ids.size and (ids.min() < 0 or ids.max() >= SITE_BUCKETS or (np.diff(ids) <= 0).any()):
        raise ValueError(f"confidence scorer ids must be increasing and below {SITE_BUCKETS}")
    if not bounded(values):
        raise ValueError(f"confidence scorer values must be finite and at most {MAX_WEIGHT_MAGNITUDE:g} in magnitude")
    weight = np.zeros(SITE_BUCKETS, np.float32)
    weight[ids] = values
    return weight

