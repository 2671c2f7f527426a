"""Training the bug-site scorer of `model.sites` on injected bugs, and the combiner that joins it with the bugs head.

Owns the site dataset (every site of each `BugSample`; the one its injected bug rewrote is the
positive), the fit over hashed site features (torch EmbeddingBags: a linear part and a hidden layer,
Adagrad, seeded; a loss per site or a softmax per function), the combiner fitted on validation
code, and the report threshold. Leaves to others: finding and hashing sites (model/sites.py),
making the samples (training/datasets.py, training/mutations.py), the trunk and its bugs head
(training/train.py), and measuring the result (training/evaluate.py).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

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
    SiteHidden,
    SiteModel,
    character_column,
    find_sites,
    head_logit,
)
from training.datasets import BugSample
from training.logistic import fit_logistic
from training.metrics import auroc, false_alarm_threshold

__all__ = ["BLENDS", "CALL_SHIFTS", "NO_BUG_SLOPE", "NO_SITES", "SiteData", "SiteFit", "SiteScorerNet", "blend",
           "concatenate_sites", "fit_site_model", "function_scores", "lower_type_bias", "max_site_logits",
           "sample_maxima", "site_data", "sites_per_sample", "train_site_scorer"]

NO_SITES = -30.0
"""The site logit of code without any site: nowhere for a one-token bug to hide."""


@dataclass(frozen=True)
class SiteData:
    """Every site of a list of samples, flat: site i's feature ids are `ids[starts[i]: starts[i] + lengths[i]]`.
    Sites of one sample are contiguous; `first_site[s]` is sample s's first (-1 when it has none);
    `buggy[s]` whether sample s holds an injected bug (at a site or not); `places[i]` where site i
    starts (line, character column), the place the daemon reports."""

    ids: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    types: np.ndarray
    labels: np.ndarray
    owners: np.ndarray
    first_site: np.ndarray
    buggy: np.ndarray
    places: np.ndarray

    def __len__(self) -> int:
        return int(self.types.shape[0])


_NESTING: dict[str, Callable[[ast.AST], bool]] = {
    "binary": lambda node: isinstance(node, ast.BinOp | ast.AugAssign),
    "compare": lambda node: isinstance(node, ast.Compare),
    "call": lambda node: isinstance(node, ast.Call) and len(node.args) >= 2,
    "boolean": lambda node: isinstance(node, ast.BoolOp),
}
"""The nodes that make a site of each type that can hold another site starting at its own place, of
its type (`a - b - c`, `f(a, b).g(c, d)`) or of another such type (`n + 1 < i`): `find_sites` makes
one site of each, the enclosing first."""


def _labels(sample: BugSample, sites: BugSites, tree: ast.AST | None = None) -> list[bool]:
    """True for the site the sample's bug rewrote: at its line and column (both count characters), of
    a type that holds its kind. Where several such sites nest there (`a - b - c`, `n + 1 < i`), the
    one whose node reads as the rewrite's result (`_rewritten`, given the parsed `tree`); failing
    that, the innermost, the last in `find_sites`'s order."""
    labels = [False] * len(sites)
    if not sample.buggy or sample.kind is None:
        return labels
    matches = [i for i, (site_type, line, column) in enumerate(zip(sites.types, sites.lines, sites.columns,
                                                                    strict=True))
               if line == sample.line and column == sample.column and sample.kind in SITE_KINDS[SITE_TYPES[site_type]]]
    if matches:
        labels[_rewritten(sample, sites, matches, tree)] = True
    return labels


def _rewritten(sample: BugSample, sites: BugSites, matches: list[int], tree: ast.AST | None) -> int:
    """Of the sites at the bug's place, the one the rewrite made: the last match, unless several nest
    there and exactly one of their nodes (enclosing first, as `find_sites` orders them) unparses as the
    text the rewrite left (the `after` of "`before` -> `after`"). A wrong operator in `a + b - c` may
    be the inner one or the outer, and both start at `a`; swapping the operands of `i < n + 1` makes
    `n + 1 < i`, where a comparison and a binary site start, and the comparison is the one rewritten.
    Matches of a type that does not nest (a condition) leave only the last match's type in the running."""
    candidates = _nesting_candidates(sites, matches)
    after = sample.description.rpartition("` -> `")[2][:-1]
    if len(candidates) < 2 or tree is None or not after:
        return matches[-1]
    tests = [_NESTING[SITE_TYPES[sites.types[i]]] for i in candidates]
    lines = sample.source.splitlines()
    chain = [node for node in ast.walk(tree) if any(test(node) for test in tests)
             and node.lineno == sample.line  # type: ignore[attr-defined]
             and character_column(lines[sample.line - 1], node.col_offset) == sample.column]  # type: ignore[attr-defined]
    if len(chain) != len(candidates) or not all(test(node) for test, node in zip(tests, chain, strict=True)):
        return matches[-1]
    made = [site for site, node in zip(candidates, chain, strict=True) if ast.unparse(node) == after]
    return made[0] if len(made) == 1 else matches[-1]


def _nesting_candidates(sites: BugSites, matches: list[int]) -> list[int]:
    """The matches `_rewritten` chooses among: all of them when every one's type nests, else those of
    the last match's type when it nests, else none."""
    if all(SITE_TYPES[sites.types[i]] in _NESTING for i in matches):
        return matches
    last_type = sites.types[matches[-1]]
    if SITE_TYPES[last_type] not in _NESTING:
        return []
    return [i for i in matches if sites.types[i] == last_type]


def site_data(samples: Sequence[BugSample]) -> SiteData:
    """The sites of every sample (one that does not parse has none), labelled."""
    ids: list[int] = []
    lengths: list[int] = []
    types: list[int] = []
    labels: list[bool] = []
    owners: list[int] = []
    places: list[tuple[int, int]] = []
    first_site = np.full(len(samples), -1, dtype=np.int64)
    for index, sample in enumerate(samples):
        try:
            tree = parse_source(sample.source)
            sites = find_sites(tree, sample.source)
        except (SourceSyntaxError, SourceLimitError):
            continue
        if len(sites):
            first_site[index] = len(types)
        ids.extend(sites.ids)
        lengths.extend(sites.sizes)
        types.extend(sites.types)
        labels.extend(_labels(sample, sites, tree))
        owners.extend([index] * len(sites))
        places.extend(zip(sites.lines, sites.columns, strict=True))
    length_array = np.array(lengths, dtype=np.int64)
    return SiteData(
        ids=np.array(ids, dtype=np.int64),
        starts=np.cumsum(length_array) - length_array,
        lengths=length_array,
        types=np.array(types, dtype=np.int64),
        labels=np.array(labels, dtype=np.float32),
        owners=np.array(owners, dtype=np.int64),
        first_site=first_site,
        buggy=np.array([s.buggy for s in samples], dtype=bool),
        places=np.array(places, dtype=np.int32).reshape(-1, 2),
    )


def concatenate_sites(parts: Sequence[SiteData]) -> SiteData:
    """One SiteData of several, their samples in order (owners and first sites renumbered)."""
    if not parts:
        return site_data([])
    lengths = np.concatenate([p.lengths for p in parts])
    site_offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
    sample_offsets = np.cumsum([0] + [len(p.first_site) for p in parts[:-1]])
    return SiteData(
        ids=np.concatenate([p.ids for p in parts]),
        starts=np.cumsum(lengths) - lengths,
        lengths=lengths,
        types=np.concatenate([p.types for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        owners=np.concatenate([p.owners + offset for p, offset in zip(parts, sample_offsets, strict=True)]),
        first_site=np.concatenate([np.where(p.first_site >= 0, p.first_site + offset, -1)
                                   for p, offset in zip(parts, site_offsets, strict=True)]),
        buggy=np.concatenate([p.buggy for p in parts]),
        places=np.concatenate([p.places for p in parts]),
    )


def _bags(data: SiteData, chosen: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The chosen sites' feature ids, concatenated, and where each site's bag starts (EmbeddingBag's input)."""
    lengths = data.lengths[chosen]
    offsets = np.cumsum(lengths) - lengths
    positions = np.repeat(data.starts[chosen] - offsets, lengths) + np.arange(int(lengths.sum()))
    return torch.from_numpy(data.ids[positions]), torch.from_numpy(offsets)


class SiteScorerNet(torch.nn.Module):
    """The scorer `model.sites.SiteModel` runs, in torch for training: the linear part (a weight per
    feature bucket, a bias per site type) plus, with `hidden_width`, the hidden part (`SiteHidden`)."""

    def __init__(self, hidden_width: int, hidden_bits: int, generator: torch.Generator) -> None:
        super().__init__()
        self.linear = torch.nn.EmbeddingBag(SITE_BUCKETS, 1, mode="sum")
        torch.nn.init.zeros_(self.linear.weight)
        self.type_bias = torch.nn.Parameter(torch.zeros(len(SITE_TYPES)))
        self.hidden_mask = (1 << hidden_bits) - 1
        self.embedding = torch.nn.EmbeddingBag(1 << hidden_bits, hidden_width, mode="sum") if hidden_width else None
        if self.embedding is not None:
            torch.nn.init.normal_(self.embedding.weight, std=0.01, generator=generator)
            self.type_embedding = torch.nn.Parameter(torch.randn(len(SITE_TYPES), hidden_width, generator=generator))
            bound = hidden_width ** -0.5
            self.out_weight = torch.nn.Parameter((torch.rand(hidden_width, generator=generator) * 2 - 1) * bound)
            self.out_bias = torch.nn.Parameter(torch.zeros(1))

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        logits = self.linear(ids, offsets).squeeze(1) + self.type_bias[types]
        if self.embedding is not None:
            hidden = torch.relu(self.embedding(ids & self.hidden_mask, offsets) + self.type_embedding[types])
            logits = logits + hidden @ self.out_weight + self.out_bias
        return logits

    def scorer(self, combiner: tuple[float, float, float] = (1.0, 0.0, 0.0)) -> SiteModel:
        """The numpy scorer with these weights (the combiner's default passes site logits through)."""
        weight = self.linear.weight.detach().squeeze(1).numpy().astype(np.float32).copy()
        type_bias = self.type_bias.detach().numpy().astype(np.float64).copy()
        hidden = None
        if self.embedding is not None:
            hidden = SiteHidden(self.embedding.weight.detach().numpy().astype(np.float32).copy(),
                                self.type_embedding.detach().numpy().astype(np.float32).copy(),
                                self.out_weight.detach().numpy().astype(np.float32).copy(),
                                float(self.out_bias.detach()[0]))
        return SiteModel(weight, type_bias, combiner, hidden)


NO_BUG_SLOPE = 0.0
"""The per-function loss's "no bug" logit is this times log(the sample's number of sites); 0 is
BugLab's constant "no bug". A slope lets a long clean function, with more sites to raise a false
alarm, keep some of them above 0 (the combiner discounts a long function's strongest site at
inference, `SiteModel.combine`). 0.5 was probed and retrained, and is not the default: the
cross-validation over training packages gave +0.0016 with the count combiner but -0.001 in both
folds by the strongest site alone, and the retrain's validation 0.7380 against 0.7385 at 0 (1
scored lower still in the cross-validation). `fit_site_model(no_bug_slope=...)` takes another."""


def train_site_scorer(data: SiteData, *, epochs: int = 1, hidden_width: int = 32, hidden_bits: int = 16,
                      batch_size: int = 4096, learning_rate: float = 0.05, positive_weight: float = 8.0,
                      per_function: bool = False, no_bug_slope: float = NO_BUG_SLOPE, seed: int = 0,
                      log: Callable[[str], None] = lambda message: None) -> SiteModel:
    """Fit "the bug is here" on each site's hashed features; returns the scorer with a pass-through
    combiner. Adagrad suits the hashed features: each bucket's step shrinks with how often it was
    updated. `hidden_width` 0 gives the linear scorer alone.

    Two objectives. Per site (the default): a logistic loss on every site alone, positives (one site
    per buggy sample) counting `positive_weight` times; `batch_size` sites a step. `per_function`: a
    softmax over each sample's sites plus a "no bug" choice, the target being the rewritten site, or
    no bug for clean code (BugLab's pointer, whose "no bug" logit, 0 there, is here `no_bug_slope` x
    log(number of sites)); `batch_size` samples a step. The
    daemon flags a function by its strongest site, and this trains each site against the others of
    its function, where the per-site loss never compares them. Probed with the hidden scorer blended
    into the per-site linear one: bugs AUROC +0.004 on held-out training packages (72k samples, both
    folds ahead), +0.002 on validation over three seeds. Probed on validation (per site, one epoch,
    32 wide, 2^16 buckets): the hidden part lifts swapped arguments from 0.69 to 0.76; more epochs
    lose it again, as the linear scorer alone also does (0.73 after one epoch, 0.69 after four)."""
    generator = torch.Generator().manual_seed(seed)
    net = SiteScorerNet(hidden_width, hidden_bits, generator)
    optimizer = torch.optim.Adagrad(net.parameters(), lr=learning_rate)
    labels = torch.from_numpy(data.labels)
    types = torch.from_numpy(data.types)
    batches = _function_batches if per_function else _site_batches
    loss_of = partial(_function_loss, no_bug_slope=no_bug_slope) if per_function else _site_loss
    for epoch in range(epochs):
        total, count = 0.0, 0
        for chosen, owners in batches(data, batch_size, generator):
            ids, offsets = _bags(data, chosen)
            logits = net(ids, offsets, types[chosen])
            loss = loss_of(logits, labels[chosen], owners, positive_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            size = len(chosen) if owners is None else int(owners[-1]) + 1
            total += loss.item() * size
            count += size
        log(f"bug sites: epoch {epoch + 1}/{epochs}, loss {total / max(count, 1):.4f}")
    return net.scorer()


def _site_batches(data: SiteData, batch_size: int, generator: torch.Generator
                  ) -> Iterator[tuple[np.ndarray, torch.Tensor | None]]:
    """`batch_size` sites at a time, shuffled."""
    order = torch.randperm(len(data), generator=generator).numpy()
    for start in range(0, len(data), batch_size):
        yield order[start: start + batch_size], None


def _function_batches(data: SiteData, batch_size: int, generator: torch.Generator
                      ) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """The sites of `batch_size` samples at a time, shuffled, and which of the batch's samples (0, 1,
    ...) each site belongs to. A sample's sites are contiguous. Samples without a site are left out,
    and so are buggy ones whose bug is at none of their sites (an off-by-one in `a[-1]` rewrote the
    `-`, not a site): their target would be "no bug", which would teach that the bug is not there."""
    counts = sites_per_sample(data, len(data.first_site))
    bug_at_a_site = np.zeros(len(data.first_site), dtype=bool)
    bug_at_a_site[data.owners[data.labels > 0]] = True
    samples = np.flatnonzero((counts > 0) & (bug_at_a_site | ~data.buggy))
    samples = samples[torch.randperm(len(samples), generator=generator).numpy()]
    for start in range(0, len(samples), batch_size):
        chosen = samples[start: start + batch_size]
        sizes = counts[chosen]
        firsts = np.repeat(data.first_site[chosen], sizes)
        within = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        yield firsts + within, torch.from_numpy(np.repeat(np.arange(len(chosen)), sizes))


def _site_loss(logits: torch.Tensor, labels: torch.Tensor, owners: torch.Tensor | None,
               positive_weight: float) -> torch.Tensor:
    weights = torch.where(labels > 0, positive_weight, 1.0)
    return (torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none") * weights).mean()


def _function_loss(logits: torch.Tensor, labels: torch.Tensor, owners: torch.Tensor | None,
                   positive_weight: float, no_bug_slope: float = NO_BUG_SLOPE) -> torch.Tensor:
    """Mean over samples of -log softmax(target) among the sample's site logits and a "no bug" logit
    of `no_bug_slope` x log(number of sites). Each sample counts once, so `positive_weight` (the
    per-site loss's) plays no part."""
    assert owners is not None
    samples = int(owners[-1]) + 1
    sizes = logits.new_zeros(samples).index_add(0, owners, torch.ones_like(logits))
    no_bug = no_bug_slope * torch.log(sizes.clamp(min=1))  # a sample without sites: "no bug" alone, logit 0
    peak = no_bug.scatter_reduce(0, owners, logits, reduce="amax", include_self=True)
    peak = peak.detach()  # any shift gives the same log-sum-exp; a constant one keeps the gradient simple
    summed = logits.new_zeros(samples).index_add(0, owners, torch.exp(logits - peak[owners])) + torch.exp(no_bug - peak)
    target = logits.new_zeros(samples).index_add(0, owners, logits * labels)
    clean = 1.0 - logits.new_zeros(samples).index_add(0, owners, labels)
    return (peak + torch.log(summed) - target - clean * no_bug).mean()


def max_site_logits(scorer: SiteModel, data: SiteData, samples: int) -> np.ndarray:
    """Per sample, its strongest site's logit (NO_SITES when it has none)."""
    return sample_maxima(scorer.logits_of(data.ids, data.lengths, data.types), data, samples)


def sample_maxima(logits: np.ndarray, data: SiteData, samples: int) -> np.ndarray:
    """Per sample, the largest of its sites' `logits` (NO_SITES when it has none)."""
    best = np.full(samples, NO_SITES)
    has_sites = data.first_site >= 0
    if has_sites.any():
        best[has_sites] = np.maximum.reduceat(logits, data.first_site[has_sites])
    return best


def sites_per_sample(data: SiteData, samples: int) -> np.ndarray:
    """Per sample, how many sites it has (what the combiner's count weight multiplies, as log1p)."""
    return np.bincount(data.owners, minlength=samples)


def function_scores(model: SiteModel, best_site_logit: np.ndarray, head_probability: np.ndarray,
                    site_count: np.ndarray) -> np.ndarray:
    """The probability a function holds a bug: its strongest site's, through the combiner (0 without sites).
    The same number the daemon reports for the function's first bug, by the same combiner."""
    return np.where(best_site_logit > NO_SITES, model.combine(best_site_logit, head_probability, site_count), 0.0)


@dataclass(frozen=True)
class SiteFit:
    """What `fit_site_model` made: the scorer, the threshold for reports, and the checkpoint entries."""

    model: SiteModel
    threshold: float
    summary: dict

    def tensors(self) -> dict[str, np.ndarray]:
        """The checkpoint's "bug_sites." tensors; the hidden embedding as float16 (it is most of the
        scorer: 2^16 x 32 values, 4 MB so, and the daemon widens it once at load)."""
        tensors = {"weight": self.model.weight, "type_bias": self.model.type_bias.astype(np.float32)}
        hidden = self.model.hidden
        if hidden is not None:
            tensors |= {"embedding": hidden.embedding.astype(np.float16), "type_embedding": hidden.type_embedding,
                        "out_weight": hidden.out_weight, "out_bias": np.array([hidden.out_bias], np.float32)}
        return tensors

    def metadata(self) -> dict:
        return {"version": SITE_FEATURES_VERSION, "combiner": list(self.model.combiner), **self.summary}


BLENDS = (0.0, 0.5, 1.0, 2.0, 4.0)
"""How much of the hidden scorer is added to the linear one; validation code picks (0: linear alone)."""


CALL_SHIFTS = (0.0, 1.0, 2.0, 3.0, 4.0)
"""How far the call sites' type bias is lowered; validation code picks. The extra swapped-argument
mutants (`TrainConfig.site_swapped_arguments`) make a bug at a call far more common in training than
in code (about 11% of training call sites against 6% without them), and the scorers learn that rate."""


def lower_type_bias(scorer: SiteModel, site_type: str, shift: float) -> SiteModel:
    """`scorer` with every site of `site_type` scored `shift` lower."""
    type_bias = scorer.type_bias.copy()
    type_bias[SITE_TYPES.index(site_type)] -= shift
    return SiteModel(scorer.weight, type_bias, scorer.combiner, scorer.hidden)


def blend(linear: SiteModel, hidden: SiteModel, share: float) -> SiteModel:
    """The scorer whose logits are `linear`'s plus `share` x `hidden`'s: linear parts add, and the
    hidden part's output is scaled, so the blend is one SiteModel of the same form."""
    assert hidden.hidden is not None
    if share == 0.0:
        return linear
    part = hidden.hidden
    return SiteModel(
        (linear.weight + share * hidden.weight).astype(np.float32),
        linear.type_bias + share * hidden.type_bias,
        linear.combiner,
        SiteHidden(part.embedding, part.type_embedding, (share * part.out_weight).astype(np.float32),
                   share * part.out_bias),
    )


def _combined(scorer: SiteModel, held: SiteData, labels: np.ndarray, head_probability: np.ndarray
              ) -> tuple[SiteModel, np.ndarray, float]:
    """`scorer` with its combiner fitted on the validation sites `held`; its function scores and AUROC
    (-1 when the combiner gives the sites no positive weight)."""
    best = max_site_logits(scorer, held, len(labels))
    counts = sites_per_sample(held, len(labels))
    usable = best > NO_SITES
    inputs = np.c_[best, head_logit(head_probability), np.log1p(counts)]
    w, b = fit_logistic(inputs[usable], labels[usable], l2=1.0)
    model = SiteModel(scorer.weight, scorer.type_bias, (float(w[0]), float(w[1]), float(b), float(w[2])),
                      scorer.hidden)
    scores = function_scores(model, best, head_probability, counts)
    return model, scores, auroc(labels, scores) if w[0] > 0 and 0 < labels.sum() < len(labels) else -1.0


def fit_site_model(train: Sequence[BugSample], validation: Sequence[BugSample], head_probability: np.ndarray, *,
                   false_alarm_rate: float, seed: int = 0, epochs: int = 4, hidden_width: int = 32,
                   hidden_epochs: int = 1, no_bug_slope: float = NO_BUG_SLOPE,
                   log: Callable[[str], None] = lambda message: None) -> SiteFit | None:
    """Site weights from the training samples: a linear scorer (`epochs`, per site) and, with
    `hidden_width`, a scorer with a hidden layer (`hidden_epochs`, per function, see
    `train_site_scorer`: it learns what the linear one cannot, swapped arguments most, and loses it
    when trained longer); then, on validation samples (`head_probability`: the bugs head's strongest
    kind for each), by clean-vs-buggy AUROC, the blend of the two (`BLENDS`) and how far call sites
    are lowered (`CALL_SHIFTS`); the combiner, and the threshold that at most `false_alarm_rate` of
    clean validation code exceeds. None when the combiner gives the sites no positive weight
    (`function_scores` and the daemon take the strongest site as the bug)."""
    train_sites = site_data(train)
    positives = int(train_sites.labels.sum())
    buggy = sum(s.buggy for s in train)
    log(f"bug sites: {len(train_sites)} sites in {len(train)} training samples; {positives} of {buggy} "
        f"injected bugs found at a site")
    linear = train_site_scorer(train_sites, epochs=epochs, hidden_width=0, learning_rate=0.1, seed=seed, log=log)
    held = site_data(validation)
    labels = np.array([s.buggy for s in validation], dtype=np.float64)
    scorers = {0.0: linear}
    if hidden_width:
        hidden = train_site_scorer(train_sites, epochs=hidden_epochs, hidden_width=hidden_width, learning_rate=0.05,
                                   batch_size=512, per_function=True, no_bug_slope=no_bug_slope, seed=seed, log=log)
        scorers |= {share: blend(linear, hidden, share) for share in BLENDS[1:]}
    candidates = {(share, shift): _combined(lower_type_bias(scorer, "call", shift), held, labels, head_probability)
                  for share, scorer in scorers.items() for shift in CALL_SHIFTS}
    log("bug sites: validation AUROC by hidden share / call shift " +
        ", ".join(f"{share:g}/{shift:g}: {value:.4f}" for (share, shift), (_, _, value) in candidates.items()))
    # ties: the first, the lighter blend and the smaller shift
    share, shift = max(candidates, key=lambda key: candidates[key][2])
    model, scores, value = candidates[(share, shift)]
    if value < 0:  # the strongest site would not be the likeliest bug: the sites tell nothing here
        log(f"bug sites: not used (combiner weights {[round(x, 3) for x in model.combiner]})")
        return None
    clean = scores[labels == 0]
    threshold = false_alarm_threshold(clean, false_alarm_rate)
    log(f"bug sites: hidden share {share:g}, call shift {shift:g}, combiner {[round(x, 3) for x in model.combiner]}, "
        f"threshold {threshold}")
    summary = {"train_sites": len(train_sites), "train_bugs_at_a_site": positives, "epochs": epochs,
               "hidden_width": hidden_width if share else 0, "hidden_epochs": hidden_epochs if share else 0,
               "hidden_share": share, "hidden_objective": "per function" if share else "none",
               "no_bug_slope": no_bug_slope if share else 0.0, "call_shift": shift}
    return SiteFit(model, threshold, summary)
