"""Training the bug-site scorer of `model.sites` on injected bugs, and the combiner that joins it with the bugs head.

Owns the site dataset (every site of each `BugSample`; the one its injected bug rewrote is the
positive), the logistic fit over hashed site features (a torch EmbeddingBag, Adagrad, seeded), the
combiner fitted on validation code, and the report threshold. Leaves to others: finding and hashing
sites (model/sites.py), making the samples (training/datasets.py, training/mutations.py), the trunk
and its bugs head (training/train.py), and measuring the result (training/evaluate.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model.errors import SourceLimitError, SourceSyntaxError
from model.graph import parse_source
from model.sites import (
    SITE_BUCKETS,
    SITE_FEATURES_VERSION,
    SITE_KINDS,
    SITE_TYPES,
    BugSites,
    SiteModel,
    find_sites,
    head_logit,
    site_logits,
)
from training.confidence import fit_logistic
from training.datasets import BugSample

__all__ = ["SiteData", "SiteFit", "fit_site_model", "function_scores", "max_site_logits", "sample_maxima",
           "site_data", "train_site_weights"]

NO_SITES = -30.0
"""The site logit of code without any site: nowhere for a one-token bug to hide."""


@dataclass(frozen=True)
class SiteData:
    """Every site of a list of samples, flat: site i's feature ids are `ids[starts[i]: starts[i] + lengths[i]]`.
    Sites of one sample are contiguous; `first_site[s]` is sample s's first (-1 when it has none)."""

    ids: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    types: np.ndarray
    labels: np.ndarray
    owners: np.ndarray
    first_site: np.ndarray

    def __len__(self) -> int:
        return int(self.types.shape[0])


def _labels(sample: BugSample, sites: BugSites) -> list[bool]:
    """True for the site the sample's bug rewrote: at its line and column (both count characters), of
    a type that holds its kind. Nested sites can start at one place (`a - b - c`, `f(a, b).g(c, d)`);
    the rewritten node is the innermost of them, the last in `find_sites`'s order (among sites of one
    type, a site's own sites come after it)."""
    labels = [False] * len(sites)
    if not sample.buggy or sample.kind is None:
        return labels
    matches = [i for i, (site_type, line, column) in enumerate(zip(sites.types, sites.lines, sites.columns,
                                                                    strict=True))
               if line == sample.line and column == sample.column and sample.kind in SITE_KINDS[SITE_TYPES[site_type]]]
    if matches:
        labels[matches[-1]] = True
    return labels


def site_data(samples: Sequence[BugSample]) -> SiteData:
    """The sites of every sample (one that does not parse has none), labelled."""
    ids: list[int] = []
    lengths: list[int] = []
    types: list[int] = []
    labels: list[bool] = []
    owners: list[int] = []
    first_site = np.full(len(samples), -1, dtype=np.int64)
    for index, sample in enumerate(samples):
        try:
            sites = find_sites(parse_source(sample.source), sample.source)
        except (SourceSyntaxError, SourceLimitError):
            continue
        if len(sites):
            first_site[index] = len(types)
        ids.extend(sites.ids)
        lengths.extend(sites.sizes)
        types.extend(sites.types)
        labels.extend(_labels(sample, sites))
        owners.extend([index] * len(sites))
    length_array = np.array(lengths, dtype=np.int64)
    return SiteData(
        ids=np.array(ids, dtype=np.int64),
        starts=np.cumsum(length_array) - length_array,
        lengths=length_array,
        types=np.array(types, dtype=np.int64),
        labels=np.array(labels, dtype=np.float32),
        owners=np.array(owners, dtype=np.int64),
        first_site=first_site,
    )


def _bags(data: SiteData, chosen: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The chosen sites' feature ids, concatenated, and where each site's bag starts (EmbeddingBag's input)."""
    lengths = data.lengths[chosen]
    offsets = np.cumsum(lengths) - lengths
    positions = np.repeat(data.starts[chosen] - offsets, lengths) + np.arange(int(lengths.sum()))
    return torch.from_numpy(data.ids[positions]), torch.from_numpy(offsets)


def train_site_weights(data: SiteData, *, epochs: int = 4, batch_size: int = 4096, learning_rate: float = 0.1,
                       positive_weight: float = 8.0, seed: int = 0, log=lambda message: None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression of "the bug is here" on each site's hashed features: (weight per feature bucket,
    bias per site type). Positives are rare (one site per buggy sample), so they count `positive_weight`
    times. Adagrad suits the hashed features: each bucket's step shrinks with how often it was updated."""
    generator = torch.Generator().manual_seed(seed)
    bag = torch.nn.EmbeddingBag(SITE_BUCKETS, 1, mode="sum")
    torch.nn.init.zeros_(bag.weight)
    type_bias = torch.nn.Parameter(torch.zeros(len(SITE_TYPES)))
    optimizer = torch.optim.Adagrad([bag.weight, type_bias], lr=learning_rate)
    labels = torch.from_numpy(data.labels)
    types = torch.from_numpy(data.types)
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=generator).numpy()
        total = 0.0
        for start in range(0, len(data), batch_size):
            chosen = order[start: start + batch_size]
            ids, offsets = _bags(data, chosen)
            logits = bag(ids, offsets).squeeze(1) + type_bias[types[chosen]]
            target = labels[chosen]
            weights = torch.where(target > 0, positive_weight, 1.0)
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
                    * weights).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(chosen)
        log(f"bug sites: epoch {epoch + 1}/{epochs}, loss {total / max(len(data), 1):.4f}")
    return (bag.weight.detach().squeeze(1).numpy().astype(np.float32).copy(),
            type_bias.detach().numpy().astype(np.float64).copy())


def max_site_logits(weight: np.ndarray, type_bias: np.ndarray, data: SiteData, samples: int) -> np.ndarray:
    """Per sample, its strongest site's logit (NO_SITES when it has none)."""
    return sample_maxima(site_logits(weight, type_bias, data.ids, data.lengths, data.types), data, samples)


def sample_maxima(logits: np.ndarray, data: SiteData, samples: int) -> np.ndarray:
    """Per sample, the largest of its sites' `logits` (NO_SITES when it has none)."""
    best = np.full(samples, NO_SITES)
    has_sites = data.first_site >= 0
    if has_sites.any():
        best[has_sites] = np.maximum.reduceat(logits, data.first_site[has_sites])
    return best


def function_scores(model: SiteModel, best_site_logit: np.ndarray, head_probability: np.ndarray) -> np.ndarray:
    """The probability a function holds a bug: its strongest site's, through the combiner (0 without sites).
    The same number the daemon reports for the function's first bug, by the same combiner."""
    return np.where(best_site_logit > NO_SITES, model.combine(best_site_logit, head_probability), 0.0)


@dataclass(frozen=True)
class SiteFit:
    """What `fit_site_model` made: the scorer, the threshold for reports, and the checkpoint entries."""

    model: SiteModel
    threshold: float
    summary: dict

    def tensors(self) -> dict[str, np.ndarray]:
        return {"weight": self.model.weight, "type_bias": self.model.type_bias.astype(np.float32)}

    def metadata(self) -> dict:
        return {"version": SITE_FEATURES_VERSION, "combiner": list(self.model.combiner), **self.summary}


def fit_site_model(train: Sequence[BugSample], validation: Sequence[BugSample], head_probability: np.ndarray, *,
                   false_alarm_rate: float, seed: int = 0, epochs: int = 4, log=lambda message: None
                   ) -> SiteFit | None:
    """Site weights from the training samples; then, on validation samples (`head_probability`: the
    bugs head's strongest kind for each), the combiner and the threshold that at most
    `false_alarm_rate` of clean validation code exceeds. None when the fitted combiner gives the
    sites no positive weight (`function_scores` and the daemon take the strongest site as the bug)."""
    train_sites = site_data(train)
    positives = int(train_sites.labels.sum())
    buggy = sum(s.buggy for s in train)
    log(f"bug sites: {len(train_sites)} sites in {len(train)} training samples; {positives} of {buggy} "
        f"injected bugs found at a site")
    weight, type_bias = train_site_weights(train_sites, epochs=epochs, seed=seed, log=log)
    held = site_data(validation)
    best = max_site_logits(weight, type_bias, held, len(validation))
    labels = np.array([s.buggy for s in validation], dtype=np.float64)
    usable = best > NO_SITES
    w, b = fit_logistic(np.c_[best[usable], head_logit(head_probability[usable])], labels[usable], l2=1.0)
    if w[0] <= 0:  # the strongest site would not be the likeliest bug: the sites tell nothing here
        log(f"bug sites: not used (their combiner weight is {float(w[0]):.3f})")
        return None
    model = SiteModel(weight, type_bias, (float(w[0]), float(w[1]), float(b)))
    scores = function_scores(model, best, head_probability)
    clean = scores[labels == 0]
    threshold = round(float(np.quantile(clean, 1.0 - false_alarm_rate)), 4) if clean.size else 0.5
    log(f"bug sites: combiner {[round(x, 3) for x in model.combiner]}, threshold {threshold}")
    summary = {"train_sites": len(train_sites), "train_bugs_at_a_site": positives, "epochs": epochs}
    return SiteFit(model, threshold, summary)
