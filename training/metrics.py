"""Evaluation metrics, in plain numpy: ranking, calibration, retrieval and grouped folds.

Owns the definitions every report number rests on, each pinned by tests against hand-computed values:
AUROC (ties by average rank) and the ROC curve, expected calibration error and its reliability bins,
recall@k for multi-label ranking, MAP@R for retrieval (Musgrave et al. 2020), and cross-validation
folds that never split a group. Leaves to others: what is scored
(training/evaluate.py), the baselines (training/baselines.py) and the model (model/). No torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ReliabilityBins",
    "auroc",
    "expected_calibration_error",
    "false_alarm_threshold",
    "first_is_needed",
    "grouped_bootstrap_auroc",
    "grouped_folds",
    "map_at_r",
    "metadata_threshold",
    "recall_at_k",
    "reliability_bins",
    "roc_curve",
    "shown_at_threshold",
]

_NORM_FLOOR = 1e-12


def _binary_labels(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray):
    """Labels as bool and scores as float64, same length, one-dimensional."""
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape[0]} vs {s.shape[0]}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return y, s


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], values.shape[0]]  # exclusive
    mean_rank = (starts + ends + 1) / 2.0  # mean of starts+1 .. ends
    ranks = np.empty(values.shape[0], dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def auroc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve: the probability a positive outscores a negative, ties counting half.

    Computed as the Mann-Whitney U statistic over average ranks. Raises ValueError when either class
    is absent, since the area is then undefined (not 0.5).
    """
    y, s = _binary_labels(labels, scores)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise ValueError(f"AUROC needs both classes; got {positives} positive and {negatives} negative")
    rank_sum = _average_ranks(s)[y].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def grouped_bootstrap_auroc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray,
                            groups: Sequence[object], *, resamples: int = 1000, seed: int = 0
                            ) -> dict[str, float | int] | None:
    """How far an AUROC could move on other groups like these: whole groups (packages) are drawn again
    with replacement, `resamples` times, and the AUROC of each draw taken. Returns the central 95% of
    those (`low`, `high`), their standard deviation (`se`) and how many draws counted (`resamples`: a
    draw without both classes is skipped, so the interval is conditional on both being drawn, which
    matters only for a class that few groups hold). None with fewer than two groups, fewer than two
    draws that count, or a score that is not finite (as `auroc` cannot rank it).

    Groups, not samples, because the test split is new packages: the clean and buggy versions of a
    function, and a package's functions, rise and fall together. With few groups the interval is wide
    (two groups can give 0 to 1): it says how little so few can tell.
    """
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if len(groups) != len(y) or len(s) != len(y):
        raise ValueError(f"labels, scores and groups must be as long: {len(y)}, {len(s)} and {len(groups)}")
    if not np.isfinite(s).all():
        return None
    index: dict[object, int] = {}
    owner = np.array([index.setdefault(group, len(index)) for group in groups], dtype=np.intp)
    if len(index) < 2:
        return None
    members = np.split(np.argsort(owner, kind="stable"), np.cumsum(np.bincount(owner))[:-1])
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        chosen = np.concatenate([members[g] for g in rng.integers(0, len(index), len(index))])
        if 0 < y[chosen].sum() < len(chosen):
            values.append(auroc(y[chosen], s[chosen]))
    if len(values) < 2:
        return None
    low, high = np.quantile(values, [0.025, 0.975])
    return {"low": float(low), "high": float(high), "se": float(np.std(values, ddof=1)), "resamples": len(values)}


def roc_curve(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate), one point per distinct score, from (0, 0) to (1, 1).

    Thresholds run from the highest score down; tied scores enter together, so the curve's trapezoid
    area equals `auroc`.
    """
    y, s = _binary_labels(labels, scores)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise ValueError(f"a ROC curve needs both classes; got {positives} positive and {negatives} negative")
    order = np.argsort(-s, kind="stable")
    sorted_scores, sorted_labels = s[order], y[order]
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    true_positives = np.cumsum(sorted_labels)[last_of_tie]
    false_positives = np.cumsum(~sorted_labels)[last_of_tie]
    fpr = np.r_[0.0, false_positives / negatives]
    tpr = np.r_[0.0, true_positives / positives]
    return fpr, tpr


@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width probability bins: edges (bins + 1,), and per bin its count, mean predicted
    probability and observed fraction of positives (both NaN for an empty bin)."""

    edges: np.ndarray
    counts: np.ndarray
    mean_probability: np.ndarray
    fraction_positive: np.ndarray

    def to_dict(self) -> dict[str, list]:
        """JSON-ready lists; empty bins' means become None."""

        def plain(values: np.ndarray) -> list:
            return [None if np.isnan(v) else float(v) for v in values]

        return {
            "edges": [float(e) for e in self.edges],
            "counts": [int(c) for c in self.counts],
            "mean_probability": plain(self.mean_probability),
            "fraction_positive": plain(self.fraction_positive),
        }


def reliability_bins(
    labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray, bins: int = 10
) -> ReliabilityBins:
    """Group predictions into `bins` equal-width bins of [0, 1]; bin i holds [i/b, (i+1)/b), the last
    also holds 1.0."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    y, p = _binary_labels(labels, probs)
    if p.size and (p.min() < 0.0 or p.max() > 1.0):
        raise ValueError("probabilities must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_probability = np.bincount(index, weights=p, minlength=bins) / counts
        fraction_positive = np.bincount(index, weights=y.astype(np.float64), minlength=bins) / counts
    return ReliabilityBins(edges, counts, mean_probability, fraction_positive)


def expected_calibration_error(
    labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray, bins: int = 10
) -> float:
    """Sum over equal-width bins of (bin share of samples) * |fraction positive - mean probability|."""
    table = reliability_bins(labels, probs, bins)
    total = int(table.counts.sum())
    if total == 0:
        raise ValueError("expected calibration error needs at least one prediction")
    used = table.counts > 0
    gaps = np.abs(table.fraction_positive[used] - table.mean_probability[used])
    return float((table.counts[used] / total * gaps).sum())


def recall_at_k(true_sets: Sequence[set[str]], ranked: Sequence[Sequence[str]], k: int) -> float:
    """Per sample, the fraction of its true labels found among its first `k` ranked labels; averaged
    over the samples that have at least one true label (samples without any are skipped, and an input
    with none at all is an error)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(true_sets) != len(ranked):
        raise ValueError(f"{len(true_sets)} label sets but {len(ranked)} rankings")
    recalls = [len(set(truth) & set(ranking[:k])) / len(truth) for truth, ranking in zip(true_sets, ranked,
                                                                                           strict=True) if truth]
    if not recalls:
        raise ValueError("recall@k needs at least one sample with a true label")
    return float(np.mean(recalls))


def shown_at_threshold(true_sets: Sequence[set[str]], scored: Sequence[Sequence[tuple[str, float]]],
                       threshold: float) -> dict[str, float | int | None]:
    """What a ranker that shows only its labels scored at or above `threshold` gets right, pooled over
    the samples: precision (of the labels shown, how many are true; None when none is shown), recall
    (of the true labels, how many are shown) and F1 (None with precision), and how many labels a
    sample is shown on average."""
    if len(true_sets) != len(scored):
        raise ValueError(f"{len(true_sets)} label sets but {len(scored)} rankings")
    shown = [{label for label, score in ranking if score >= threshold} for ranking in scored]
    hits = sum(len(s & set(t)) for s, t in zip(shown, true_sets, strict=True))
    n_shown, n_true = sum(map(len, shown)), sum(map(len, true_sets))
    precision = hits / n_shown if n_shown else None
    recall = hits / n_true if n_true else 0.0
    f1 = None if precision is None else 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"threshold": threshold, "precision": precision, "recall": recall, "f1": f1,
            "shown_per_sample": n_shown / len(scored) if scored else 0.0, "n": len(scored)}


def first_is_needed(true_sets: Sequence[set[str]], all_sets: Sequence[set[str]], ranked: Sequence[Sequence[str]]
                    ) -> float:
    """Over the samples with a label in `true_sets` (one category), how often the first ranked label is
    one the sample needs at all (`all_sets`): what an editor showing one suggestion gets right.
    Recall@1 of a category counts a needed module of another category ranked first as a miss."""
    if not (len(true_sets) == len(all_sets) == len(ranked)):
        raise ValueError(f"{len(true_sets)} label sets, {len(all_sets)} full label sets, {len(ranked)} rankings")
    hits = [bool(ranking) and ranking[0] in needed
            for truth, needed, ranking in zip(true_sets, all_sets, ranked, strict=True) if truth]
    if not hits:
        raise ValueError("first_is_needed needs at least one sample with a true label")
    return float(np.mean(hits))


def map_at_r(embeddings: np.ndarray, labels: Sequence | np.ndarray) -> float:
    """Mean average precision at R (Musgrave, Belongie and Lim, "A Metric Learning Reality Check", 2020).

    For each query, R is the number of other items sharing its label; the items are ranked by cosine
    similarity to the query (the query itself excluded, ties kept in input order), and
    AP@R = (1/R) * sum_{i <= R} precision@i * relevant(i). Queries whose label no other item shares
    are skipped; the result is the mean over the rest.
    """
    vectors = np.asarray(embeddings, dtype=np.float64)
    names = np.asarray(labels)
    if vectors.ndim != 2 or vectors.shape[0] != names.shape[0]:
        raise ValueError(f"embeddings must be (n, d) with n = {names.shape[0]} labels, got {vectors.shape}")
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), _NORM_FLOOR)
    similarity = unit @ unit.T  # (n, n)
    np.fill_diagonal(similarity, -np.inf)
    precisions = []
    for query in range(names.shape[0]):
        relevant = names == names[query]
        relevant[query] = False
        r = int(relevant.sum())
        if r == 0:
            continue
        top = np.argsort(-similarity[query], kind="stable")[:r]
        hits = relevant[top]
        precision_at_i = np.cumsum(hits) / np.arange(1, r + 1)
        precisions.append(float((precision_at_i * hits).sum() / r))
    if not precisions:
        raise ValueError("MAP@R needs at least one label shared by two items")
    return float(np.mean(precisions))


def grouped_folds(groups: Sequence[str], k: int, seed: int) -> list[np.ndarray]:
    """`k` disjoint folds of sample indices covering every sample, no group in two folds.

    Groups are shuffled by `seed`, then, largest first, each joins the fold with fewest samples so far,
    so folds come out about the same size. Each fold is a sorted index array.
    """
    names = list(groups)
    distinct = sorted(set(names))
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    if k > len(distinct):
        raise ValueError(f"{k} folds need at least {k} groups, got {len(distinct)}")
    members: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        members.setdefault(name, []).append(index)
    order = np.random.default_rng(seed).permutation(len(distinct))
    shuffled = [distinct[i] for i in order]
    shuffled.sort(key=lambda name: -len(members[name]))  # stable: the shuffle breaks size ties
    folds: list[list[int]] = [[] for _ in range(k)]
    for name in shuffled:
        smallest = min(range(k), key=lambda f: len(folds[f]))
        folds[smallest].extend(members[name])
    return [np.array(sorted(fold), dtype=np.int64) for fold in folds]


def false_alarm_threshold(clean_scores: np.ndarray, rate: float) -> float:
    """The score that at most `rate` of clean code reaches (a quantile, rounded up to four places for
    the checkpoint's metadata, so rounding never lets more through); 0.5 without any clean score. A
    report threshold: most code an editor checks is fine, so false alarms cost more than misses."""
    scores = np.asarray(clean_scores)  # its own dtype: the quantile of float32 scores stays float32's
    return metadata_threshold(float(np.quantile(scores, 1.0 - rate)), up=True) if scores.size else 0.5


def metadata_threshold(threshold: float, *, up: bool) -> float:
    """`threshold` to four places, for the checkpoint's metadata, rounded `up` or down so that every
    score on the side the threshold was chosen to keep stays there: a threshold chosen at a score
    many samples share (a lone project name's import score) must not drop them by rounding."""
    scaled = threshold * 1e4
    return (math.ceil(scaled) if up else math.floor(scaled)) / 1e4
