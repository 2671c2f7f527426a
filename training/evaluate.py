"""`yantra-eval`: every head of a checkpoint on held-out data, each beside a simple baseline from the same run.

Owns: choosing the evaluation data (the TEST split of the corpus samples, by package; HumanEval problems
by grouped cross-validation), running the numpy engine over it, the per-head measurements and the
command line. Leaves to others: the metric definitions (training/metrics.py), the baselines
(training/baselines.py), the Markdown report and the plots (training/report.py), the samples
(training/datasets.py) and fitting the confidence head and scorer on folds (training/confidence.py,
training/confidence_sites.py).

Definitions the numbers depend on:
- bugs: a function's bug score is what the daemon reports for its likeliest bug: with a bug-site scorer in
  the checkpoint (model/sites.py), the highest site probability (0 for code without sites); without one,
  the MAX over the bug-kind probabilities. Per-kind AUROC is clean test samples against that kind's
  mutants, with the same score, and again against the clean samples a rewrite of that kind could be
  injected into (`training.mutations.kinds_admitted`; code that cannot hold a kind tends to be smaller
  and to score lower, so all clean code flatters it); each AUROC has a 95% interval from redrawing whole test packages
  (`training.metrics.grouped_bootstrap_auroc`). Site localisation counts a buggy sample as found when its highest-scored
  site is the one the bug rewrote (same line and column); the baseline picks one of its sites uniformly
  at random. Node localisation counts a buggy sample as found
  when the node with the highest location probability is a function or class (not the module node,
  which spans the whole source) whose lines hold the bug line; the denominator is the buggy samples
  whose graph has at least two non-module nodes, where a choice is needed. The baseline for it is the
  expected accuracy of picking one of those nodes uniformly at random.
- imports: the model ranks as the daemon does (`model.imports.ImportRanker`: the head's probabilities
  joined with the checkpoint's name table and, where given, the project's index, over the vocabulary
  and any module those two offer), skipping modules the source imports already;
  recall counts every true module, in the vocabulary or not. Categories: "own" (same top-level package
  as the sample, or an unresolved relative import), "stdlib" (`sys.stdlib_module_names`), "third_party"
  (the rest), "aliased" (the import line has " as "). Recall ranks past the threshold from which the
  daemon shows a suggestion; "shown" pools what the top five at or above it get right (precision,
  recall), as an editor user sees them. The dictionary reads the lines and samples of the checkpoint's
  own training corpus (`trained_corpus`), as the model's name table did.
- embedding: each test anchor, its variant from the dataset and up to `--variants` more variants share a
  label; MAP@R retrieves them among every other test function's group. "Variant above mutant" is the
  fraction of anchors closer (cosine) to their variant than to their one-bug mutant, a tie counting
  half (a bag of AST types ties whenever the rewrite and the bug change no node type); ties are reported.
- confidence: out-of-fold probabilities, folds grouped by problem: with a confidence scorer in the
  checkpoint (model/confidence.py), `training.confidence_sites.cross_validated_site_confidence` (scorer
  and combiner refitted without the fold's problems), the head's where code has no site; the head
  alone (`training.confidence.cross_validated_confidence`) is reported too. The baseline is
  `AstCountBaseline` cross-validated on folds grouped by problem (`training.metrics.grouped_folds`,
  same k and seed). The model's AUROC has a 95% interval from redrawing whole problems.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from model.batch import collate
from model.checkpoint import Checkpoint, load_checkpoint, write_atomically
from model.confidence import ConfidenceScorer, confidence_scorer_from, served_scorer
from model.engine import GraphSAGEEngine
from model.errors import CheckpointError, SourceLimitError, SourceSyntaxError
from model.graph import GraphNode, build_graph
from model.imports import ImportIndex, ImportRanker, Submodules, submodules_from_json
from model.layout import FEATURE_LAYOUT_VERSION
from model.predictor import SHIPPED_CHECKPOINT, Predictor, import_threshold
from model.project import ImportContext, ProjectIndex
from model.sites import SiteModel, site_model_from
from training.baselines import AstCountBaseline, ImportDictionaryBaseline, ast_bag_embedding, statement_bindings
from training.confidence import cross_validated_confidence
from training.confidence_sites import ScorerRecipe, cross_validated_site_confidence, mutant_sites
from training.datasets import (
    BugSample,
    DataConfig,
    EmbeddingTriple,
    ImportSample,
    bug_samples,
    corpus_units,
    embedding_triples,
    executed_samples,
    humaneval_problems,
    import_samples,
    unit_packages,
)
from training.humaneval import ExecutedSample, Problem
from training.metrics import (
    auroc,
    expected_calibration_error,
    first_is_needed,
    grouped_bootstrap_auroc,
    grouped_folds,
    map_at_r,
    recall_at_k,
    reliability_bins,
    roc_curve,
    shown_at_threshold,
)
from training.mutations import kinds_admitted
from training.name_table import name_table_lines, training_part
from training.projects import package_projects, sample_contexts
from training.report import machine_description, markdown_table, render_report, report_rows, write_plots
from training.rewrites import semantic_variants
from training.sites import SiteData, function_scores, sample_maxima, site_data, sites_per_sample
from training.stdlib_tests import label_stdlib

__all__ = [
    "Scored",
    "SeedMismatch",
    "closer_rate",
    "evaluate",
    "evaluate_bugs",
    "evaluate_confidence",
    "evaluate_embedding",
    "evaluate_imports",
    "evaluate_stdlib_confidence",
    "import_category",
    "import_label_sets",
    "import_recalls",
    "localisation_accuracy",
    "main",
    "score_sources",
    "site_localisation",
    "split_seed",
    "trained_corpus",
]

TEST_SPLIT = "test"
RECALL_KS = (1, 5)
HISTOGRAM_BINS = 10


# --- running the model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """The engine's answers for the sources that built a graph. `kept` indexes the input sources;
    every other field is parallel to `kept`. Features are dropped once used, to keep memory small."""

    kept: np.ndarray
    nodes: list[list[GraphNode]]
    imported: list[frozenset[str]]
    free_names: list[frozenset[str]]
    attribute_reads: list[Mapping[str, frozenset[str]]]
    """What each source reads off its free names (`CodeGraph.attribute_reads`)."""
    star_import: list[bool]
    embedding: np.ndarray
    confidence: np.ndarray
    import_probs: np.ndarray
    bug_probs: np.ndarray
    node_probs: list[np.ndarray]


def score_sources(engine: GraphSAGEEngine, sources: Sequence[str], *, batch_size: int = 256) -> Scored:
    """Build each source's graph and run the engine in batches; sources that cannot be built are left out."""
    kept: list[int] = []
    nodes, imported, free_names, attribute_reads, star_import, node_probs = [], [], [], [], [], []
    outputs: dict[str, list[np.ndarray]] = {"embedding": [], "confidence": [], "import_probs": [], "bug_probs": []}
    pending: list[tuple[np.ndarray, np.ndarray]] = []

    def flush() -> None:
        out = engine.forward(collate(pending))
        for name, parts in outputs.items():
            parts.append(getattr(out, name))
        sizes = [x.shape[0] for x, _ in pending]
        node_probs.extend(np.split(out.bug_node_probs, np.cumsum(sizes)[:-1]))
        pending.clear()

    for index, source in enumerate(sources):
        try:
            graph = build_graph(source, sites=False)  # evaluate_bugs labels sites itself (training.sites)
        except (SourceSyntaxError, SourceLimitError):
            continue
        kept.append(index)
        nodes.append(graph.nodes)
        imported.append(graph.imported)
        free_names.append(graph.free_names)
        attribute_reads.append(graph.attribute_reads())
        star_import.append(graph.star_import)
        pending.append((graph.features, graph.edge_index))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    stacked = {name: _stack(parts, engine, name) for name, parts in outputs.items()}
    return Scored(np.array(kept, dtype=np.int64), nodes, imported, free_names, attribute_reads, star_import,
                  node_probs=node_probs, **stacked)


def _stack(parts: list[np.ndarray], engine: GraphSAGEEngine, name: str) -> np.ndarray:
    if parts:
        return np.concatenate(parts, axis=0)
    widths = {"embedding": engine.config.embedding_dim, "import_probs": engine.config.num_imports,
              "bug_probs": engine.config.num_bug_kinds}
    return np.zeros((0, widths[name]) if name in widths else (0,), dtype=np.float32)


# --- small helpers -------------------------------------------------------------------------------


def _auroc_or_none(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """AUROC, or None when a class is missing (reported as not measurable, never as 0.5)."""
    try:
        return auroc(labels, scores)
    except ValueError:
        return None


def _curve(labels: np.ndarray, scores: np.ndarray) -> dict[str, Any] | None:
    try:
        fpr, tpr = roc_curve(labels, scores)
    except ValueError:
        return None
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auroc": auroc(labels, scores)}


def _test(samples: Sequence[Any]) -> list[Any]:
    return [s for s in samples if s.split == TEST_SPLIT]


def _subsample(items: Sequence[Any], limit: int | None, seed: int) -> list[Any]:
    """At most `limit` items, chosen by `seed` and kept in their input order."""
    if limit is None or len(items) <= limit:
        return list(items)
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in chosen]


def _distribution(values: np.ndarray) -> dict[str, Any]:
    """Mean, standard deviation, extremes and a 10-bin histogram over [0, 1]."""
    if values.size == 0:
        return {"n": 0}
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


# --- bugs ----------------------------------------------------------------------------------------


def localisation_accuracy(scored: Scored, samples: Sequence[BugSample]) -> dict[str, Any]:
    """Top-node accuracy on buggy samples with at least two non-module nodes, beside uniform chance."""
    found, chance, counted = 0, 0.0, 0
    for row, index in enumerate(scored.kept):
        sample = samples[index]
        if not sample.buggy:
            continue
        nodes = scored.nodes[row]
        candidates = [i for i, node in enumerate(nodes) if node.kind != "module"]
        if len(candidates) < 2:
            continue
        counted += 1
        holds = [nodes[i].line <= sample.line <= nodes[i].end_line for i in candidates]
        chance += sum(holds) / len(candidates)
        top = int(np.argmax(scored.node_probs[row]))
        found += nodes[top].kind != "module" and nodes[top].line <= sample.line <= nodes[top].end_line
    if counted == 0:
        return {"n": 0, "model": None, "baseline": None}
    return {"n": counted, "model": found / counted, "baseline": chance / counted}


def site_localisation(site_logit: np.ndarray, data: SiteData, samples: Sequence[BugSample]) -> dict[str, Any]:
    """How often a buggy sample's highest-scored site (by `site_logit`, one per site of `data`) is the
    one its bug rewrote, beside picking a site at random; and, as `at_place`, how often it starts
    where that site does: what an editor shows is the place (the daemon reports one bug per place),
    and sites of other types can start there too (`-1 < x`: the literal and the comparison)."""
    sites_per_sample = np.bincount(data.owners, minlength=len(samples))  # a sample's sites are contiguous
    found = chance = at_place = chance_at_place = counted = 0.0
    for index, sample in enumerate(samples):
        first = int(data.first_site[index])
        if not sample.buggy or first < 0:
            continue
        end = first + int(sites_per_sample[index])
        if not data.labels[first:end].any():
            continue  # the bug's site was not found (a rewrite the site finder does not cover)
        counted += 1
        chance += 1.0 / (end - first)
        top = first + int(np.argmax(site_logit[first:end]))
        found += bool(data.labels[top])
        place = data.places[first + int(np.argmax(data.labels[first:end]))]
        same_place = (data.places[first:end] == place).all(axis=1)
        at_place += bool(same_place[top - first])
        chance_at_place += float(same_place.mean())
    if counted == 0:
        return {"n": 0, "model": None, "baseline": None, "at_place": {"model": None, "baseline": None}}
    return {"n": int(counted), "model": found / counted, "baseline": chance / counted,
            "at_place": {"model": at_place / counted, "baseline": chance_at_place / counted}}


def _redrawn(samples: Sequence[BugSample], packages: Mapping[str, str] | None) -> str:
    """What the bug intervals redraw: "packages", "functions", or both when some samples' package is
    unknown (each of those then counts as a package of its own)."""
    known = sum(1 for s in samples if packages and s.group in packages)
    if known == len(samples):
        return "packages" if samples else "functions"
    return "functions" if not known else f"packages ({known} samples), functions ({len(samples) - known})"


def evaluate_bugs(
    engine: GraphSAGEEngine,
    samples: Sequence[BugSample],
    *,
    sites: SiteModel | None = None,
    batch_size: int = 256,
    baseline_train_limit: int | None = 20000,
    seed: int = 0,
    split: str = TEST_SPLIT,
    packages: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Clean-vs-buggy AUROC overall and per kind, and localisation, for the model (with its bug-site scorer
    when it has one) and `AstCountBaseline`, on the samples of `split` (a probe measures validation).
    Each model AUROC has a 95% interval from redrawing whole packages (`packages`: sample group ->
    package, `datasets.unit_packages`), or whole functions where no package is known.

    Returns (metrics, curves): curves hold the ROC points the plots draw.
    """
    test = [s for s in samples if s.split == split]
    train = _subsample([s for s in samples if s.split == "train"], baseline_train_limit, seed)
    scored = score_sources(engine, [s.source for s in test], batch_size=batch_size)
    kept = [test[i] for i in scored.kept]
    labels = np.array([s.buggy for s in kept], dtype=bool)
    kinds = np.array([s.kind or "" for s in kept])
    head_score = scored.bug_probs.max(axis=1) if scored.bug_probs.size else np.zeros(len(kept))
    model_score = head_score
    site_metrics: dict[str, Any] = {}
    if sites is not None:
        data = site_data(kept)
        logits = sites.logits_of(data.ids, data.lengths, data.types)
        model_score = function_scores(sites, sample_maxima(logits, data, len(kept)), head_score,
                                      sites_per_sample(data, len(kept)))
        site_metrics = {"site_localisation": site_localisation(logits, data, kept),
                        "auroc_head_alone": _auroc_or_none(labels, head_score)}
    baseline_score = np.zeros(len(kept))
    if train and kept:
        baseline = AstCountBaseline().fit([s.source for s in train], [s.buggy for s in train])
        baseline_score = baseline.score([s.source for s in kept])
    packages_of = [packages.get(s.group, s.group) if packages else s.group for s in kept]
    admits = _kinds_admitted(kept, labels)

    def against(negatives: np.ndarray, kind: str) -> dict[str, Any]:
        mask = negatives | (kinds == kind)
        return {"model": _auroc_or_none(labels[mask], model_score[mask]),
                "baseline": _auroc_or_none(labels[mask], baseline_score[mask]),
                "interval": grouped_bootstrap_auroc(labels[mask], model_score[mask],
                                                    [p for p, m in zip(packages_of, mask, strict=True) if m],
                                                    seed=seed)}

    per_kind = {}
    for kind in sorted(set(kinds[labels].tolist())):
        eligible = ~labels & np.array([kind in admitted for admitted in admits])
        per_kind[kind] = {"n_buggy": int((kinds == kind).sum()), **against(~labels, kind),
                          "eligible_clean": {"n_clean": int(eligible.sum()), **against(eligible, kind)}}
    metrics = {
        "score": "highest bug-site probability" if sites is not None else "max over bug-kind probabilities",
        "n_test": len(kept),
        "n_buggy": int(labels.sum()),
        "n_unbuildable": len(test) - len(kept),
        "n_baseline_train": len(train),
        "interval_redraws": _redrawn(kept, packages),
        "auroc": {"model": _auroc_or_none(labels, model_score), "baseline": _auroc_or_none(labels, baseline_score),
                  "interval": grouped_bootstrap_auroc(labels, model_score, packages_of, seed=seed)},
        "auroc_by_kind": per_kind,
        "localisation": localisation_accuracy(scored, test),
        **site_metrics,
    }
    curves = {"model": _curve(labels, model_score), "baseline": _curve(labels, baseline_score)}
    for kind in ("variable_misuse", "swapped_arguments"):
        mask = ~labels | (kinds == kind)
        curves[f"model: {kind}"] = _curve(labels[mask], model_score[mask])
    return metrics, curves


def _kinds_admitted(samples: Sequence[BugSample], labels: np.ndarray) -> list[frozenset[str]]:
    """For each clean sample, the bug kinds a mutant of it can be made of (empty for buggy ones): the
    clean code a kind's AUROC is also measured against, since code that cannot hold a kind (no call of
    two arguments, for swapped arguments) tends to be smaller and to score lower."""
    admitted: list[frozenset[str]] = []
    for sample, buggy in zip(samples, labels, strict=True):
        try:
            admitted.append(frozenset() if buggy else kinds_admitted(sample.source))
        except (SyntaxError, RecursionError, ValueError):
            admitted.append(frozenset())
    return admitted


# --- imports -------------------------------------------------------------------------------------


def import_category(module: str, package: str) -> str:
    """"own" (the sample's own top-level package, or a relative import left unresolved), "stdlib" or
    "third_party"."""
    top = module.split(".")[0]
    if module.startswith(".") or top == package.split(".")[0]:
        return "own"
    return "stdlib" if top in sys.stdlib_module_names else "third_party"


def _aliased_modules(sample: ImportSample) -> set[str]:
    return {module for statement in sample.statements if " as " in statement
            for _, module in statement_bindings(statement)}


def import_label_sets(samples: Sequence[ImportSample]) -> dict[str, list[set[str]]]:
    """Per category, each sample's true modules of that category (possibly empty)."""
    sets: dict[str, list[set[str]]] = {"all": [], "stdlib": [], "third_party": [], "own": [], "aliased": []}
    for sample in samples:
        modules = set(sample.modules)
        sets["all"].append(modules)
        for category in ("stdlib", "third_party", "own"):
            sets[category].append({m for m in modules if import_category(m, sample.group) == category})
        sets["aliased"].append(_aliased_modules(sample) & modules)
    return sets


def _model_rankings(scored: Scored, ranker: ImportRanker, k: int, projects: Sequence[ImportContext | None]
                    ) -> list[list[tuple[str, float]]]:
    """What the daemon serves, with its scores: the head combined with the checkpoint's name index
    (`model.imports`) and, where given, the project's."""
    return [
        ranker.rank(scored.import_probs[row], scored.free_names[row], scored.imported[row], k, projects[row],
                    attribute_reads=lambda reads=scored.attribute_reads[row]: reads,
                    star_import=scored.star_import[row])
        for row in range(len(scored.kept))
    ]


def _recalls_and_shown(truth: dict[str, list[set[str]]], model: list[list[tuple[str, float]]],
                       baseline: list[list[str]], threshold: float | None) -> dict[str, Any]:
    """`import_recalls` of the two rankings, and with `threshold` what the model shows at or above it."""
    results = import_recalls(truth, [[module for module, _ in ranking] for ranking in model], baseline)
    if threshold is not None:
        results["shown"] = shown_at_threshold(truth["all"], model, threshold)
    return results


def evaluate_imports(
    engine: GraphSAGEEngine,
    vocabulary: Sequence[str],
    samples: Sequence[ImportSample],
    *,
    index: ImportIndex | None = None,
    projects: dict[str, ProjectIndex] | None = None,
    name_lines: Sequence[str] | None = None,
    dictionary_samples: Sequence[ImportSample] | None = None,
    aliases: Mapping[str, str] | None = None,
    submodules: Submodules | None = None,
    threshold: float | None = None,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Recall@1 and @5 of the model's import ranking (head + the checkpoint's name index, as served) and
    of `ImportDictionaryBaseline` (fitted on the train split: its modules, and `name_lines`, the import lines
    the name table counts), overall and per category, on the test split.

    With `projects` (a ProjectIndex per package), "with_project" repeats the figures as a host that
    sends `path` gets them: the model with its package's index against the dictionary given the same
    index, the fairer comparison (an IDE indexes the open project too). `aliases` and `submodules`:
    the checkpoint's `import_aliases` and `import_submodules`, as the daemon ranks with them.
    `dictionary_samples`: whose training split the dictionary counts modules in (its prior; by
    default `samples`'). "names": how many names the model's table and the dictionary hold, equal
    when both read the same lines. With `threshold` (the checkpoint's, from which the daemon shows a
    suggestion), "shown" says what a user is shown of the top five (`shown_at_threshold`): the
    recall rows rank past the threshold, the daemon does not. It is the ranker's part of what the
    daemon shows: the Predictor adds a rule's `import pkg.sub` for code that imports the package
    itself, and ranks with every installed package's submodules, where this ranks with the
    training packages' (`training_part`)."""
    test = _test(samples)
    ranker = ImportRanker(vocabulary, index or ImportIndex(), aliases, submodules)
    counted = samples if dictionary_samples is None else dictionary_samples
    baseline = ImportDictionaryBaseline().fit((s for s in counted if s.split == "train"), name_lines)
    scored = score_sources(engine, [s.source for s in test], batch_size=batch_size)
    kept = [test[i] for i in scored.kept]
    truth = import_label_sets(kept)
    no_project: list[ImportContext | None] = [None] * len(kept)
    results: dict[str, Any] = {"n_test": len(kept), "n_unbuildable": len(test) - len(kept),
                               "vocabulary_size": len(vocabulary),
                               "names": {"model": len(ranker.index.names), "baseline": len(baseline.by_name)}}
    results |= _recalls_and_shown(truth, _model_rankings(scored, ranker, max(RECALL_KS), no_project),
                                  _baseline_rankings(scored, baseline, no_project), threshold)
    if projects is not None:
        contexts = sample_contexts(kept, projects)
        results["with_project"] = _recalls_and_shown(
            truth, _model_rankings(scored, ranker, max(RECALL_KS), contexts),
            _baseline_rankings(scored, baseline, contexts), threshold)
        results["with_project"]["n_with_project"] = sum(c is not None for c in contexts)
    return results


def _baseline_rankings(scored: Scored, baseline: ImportDictionaryBaseline,
                       projects: Sequence[ImportContext | None]) -> list[list[str]]:
    return [baseline.rank_names(scored.free_names[row], exclude=scored.imported[row], k=max(RECALL_KS),
                                project=projects[row])
            for row in range(len(scored.kept))]


def import_recalls(truth: dict[str, list[set[str]]], model: list[list[str]], baseline: list[list[str]]
                   ) -> dict[str, Any]:
    """Per category: n, recall@k of the model's and the baseline's rankings, and how often the first
    module either ranks is one the sample needs (`first_is_needed`)."""
    results: dict[str, Any] = {}
    for category, sets in truth.items():
        n = sum(1 for t in sets if t)
        entry: dict[str, Any] = {"n": n}
        for k in RECALL_KS:
            entry[f"recall@{k}"] = {
                "model": recall_at_k(sets, model, k) if n else None,
                "baseline": recall_at_k(sets, baseline, k) if n else None,
            }
        entry["first_is_needed"] = {
            "model": first_is_needed(sets, truth["all"], model) if n else None,
            "baseline": first_is_needed(sets, truth["all"], baseline) if n else None,
        }
        results[category] = entry
    return results


# --- embedding -----------------------------------------------------------------------------------


def _variant_groups(triples: Sequence[EmbeddingTriple], extra: int, seed: int) -> list[list[str]]:
    """Per triple: anchor, its dataset variant, then up to `extra` more distinct variants."""
    groups = []
    for index, triple in enumerate(triples):
        members = [triple.anchor, triple.positive]
        if extra > 0:
            rng = random.Random(f"{seed}:{index}:{triple.group}")
            with contextlib.suppress(SyntaxError, RecursionError, ValueError):
                members += [v for v in semantic_variants(triple.anchor, rng=rng, n=extra + 1)
                            if v not in members][:extra]
        groups.append(members)
    return groups


def closer_rate(anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> tuple[float, float]:
    """(rate, tie rate): how often cos(anchor, positive) > cos(anchor, negative), ties (equal within
    float tolerance) counting half, as in AUROC; and how often they tie. Rows must be unit vectors."""
    to_positive = np.einsum("ij,ij->i", anchor, positive)
    to_negative = np.einsum("ij,ij->i", anchor, negative)
    tied = np.isclose(to_positive, to_negative, rtol=0.0, atol=1e-6)
    closer = (to_positive > to_negative) & ~tied
    return float(closer.mean() + 0.5 * tied.mean()), float(tied.mean())


def evaluate_embedding(
    engine: GraphSAGEEngine,
    triples: Sequence[EmbeddingTriple],
    *,
    extra_variants: int = 2,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """MAP@R over variant groups and the variant-above-mutant rate, for the model and the bag of AST types."""
    test = _test(triples)
    groups = _variant_groups(test, extra_variants, seed)
    items = [source for group in groups for source in group]
    labels = np.array([g for g, group in enumerate(groups) for _ in group])
    # Every source is scored once: the items, then each triple's negative. A group opens with its
    # triple's anchor and positive, so a triple is three indices into `sources`.
    sources = items + [t.negative for t in test]
    starts = np.searchsorted(labels, np.arange(len(test)))  # where each group begins in `items`
    triple_index = np.stack([starts, starts + 1, len(items) + np.arange(len(test))], axis=1)
    scored = score_sources(engine, sources, batch_size=batch_size)
    item_kept = scored.kept[scored.kept < len(items)]  # `kept` ascends, so these are its first rows
    results: dict[str, Any] = {"n_triples": len(test), "n_items": len(items),
                               "n_unbuildable": len(items) - len(item_kept)}
    item_labels = labels[item_kept]
    if len(set(item_labels.tolist())) < len(item_labels):
        results["map_at_r"] = {
            "model": map_at_r(scored.embedding[: len(item_kept)], item_labels),
            "baseline": map_at_r(ast_bag_embedding([items[i] for i in item_kept]), item_labels),
        }
    else:
        results["map_at_r"] = {"model": None, "baseline": None}
    results["variant_above_mutant"] = _triple_rates(scored, sources, triple_index)
    return results


def _triple_rates(scored: Scored, sources: Sequence[str], triples: np.ndarray) -> dict[str, Any]:
    """Variant-above-mutant rates over triples (rows of anchor, positive, negative indices into
    `sources`) whose three sources all built a graph."""
    row_of = np.full(len(sources), -1, dtype=np.int64)
    row_of[scored.kept] = np.arange(len(scored.kept))
    rows = row_of[triples]
    whole = (rows >= 0).all(axis=1)
    if not whole.any():
        return {"n": 0, "model": None, "baseline": None, "baseline_ties": None, "model_ties": None}
    model = scored.embedding[rows[whole]]  # (n, 3, embedding_dim)
    bag = ast_bag_embedding([sources[i] for i in triples[whole].ravel()])
    bag = bag.reshape(-1, 3, bag.shape[1])
    model_rate, model_ties = closer_rate(model[:, 0], model[:, 1], model[:, 2])
    baseline_rate, baseline_ties = closer_rate(bag[:, 0], bag[:, 1], bag[:, 2])
    return {"n": int(whole.sum()), "model": model_rate, "baseline": baseline_rate,
            "model_ties": model_ties, "baseline_ties": baseline_ties}


# --- confidence ----------------------------------------------------------------------------------


def _cross_validated_baseline(samples: Sequence[ExecutedSample], folds: list[np.ndarray]) -> np.ndarray:
    """Out-of-fold probabilities of `AstCountBaseline` fitted on the other folds."""
    probs = np.zeros(len(samples))
    sources = [s.source for s in samples]
    labels = np.array([s.passed for s in samples], dtype=float)
    for held_out in folds:
        train = np.setdiff1d(np.arange(len(samples)), held_out)
        model = AstCountBaseline().fit([sources[i] for i in train], labels[train])
        probs[held_out] = model.score([sources[i] for i in held_out])
    return probs


def _calibration(labels: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    return {
        "auroc": _auroc_or_none(labels, probs),
        "ece": expected_calibration_error(labels, probs) if probs.size else None,
        "reliability": reliability_bins(labels, probs).to_dict(),
    }


def evaluate_confidence(
    engine: GraphSAGEEngine,
    by_problem: dict[str, list[ExecutedSample]],
    *,
    folds: int = 5,
    seed: int = 0,
    run_model: bool = True,
    scorer: ConfidenceScorer | None = None,
    recipe: ScorerRecipe | None = None,
    problems: Sequence[Problem] = (),
    bug_sites: SiteModel | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Grouped cross-validation on executed HumanEval samples; returns (metrics, curves).

    With a confidence scorer (`scorer`, shipped; `recipe`, how it was trained; `problems`, whose
    mutants it trains on; `bug_sites`, the bug-site scorer its combiner reads), the model's figure is
    what the daemon serves: the scorer's, refitted with its combiner on each fold's other problems
    (training/confidence_sites.py), the network's head where code has no site; the head alone is
    reported beside it. Without one, the head is the model.
    """
    samples = [s for problem in by_problem.values() for s in problem]
    labels = np.array([s.passed for s in samples], dtype=bool)
    groups = [s.problem_id for s in samples]
    k = min(folds, len(by_problem))
    canonical = np.array([s.kind is None for s in samples], dtype=bool)
    metrics: dict[str, Any] = {"n_samples": len(samples), "n_problems": len(by_problem), "folds": k,
                               "n_passed": int(labels.sum())}
    curves: dict[str, Any] = {}
    if k < 2:
        metrics["skipped"] = f"cross-validation needs at least 2 problems, got {len(by_problem)}"
        return metrics, curves
    baseline_probs = _cross_validated_baseline(samples, grouped_folds(groups, k, seed))
    metrics["baseline"] = _calibration(labels, baseline_probs)
    curves["baseline"] = _curve(labels, baseline_probs)
    if not run_model:
        metrics["model"] = {"skipped": "skipped by --skip-confidence"}
        return metrics, curves
    head_probs = np.asarray(cross_validated_confidence(engine, samples, folds=k, seed=seed), dtype=np.float64)
    if head_probs.shape != (len(samples),):
        raise ValueError(f"cross_validated_confidence returned shape {head_probs.shape}, "
                         f"expected ({len(samples)},)")
    model_probs = head_probs
    if scorer is not None:
        recipe = recipe or ScorerRecipe()  # a checkpoint that does not say how: the default recipe
        metrics["recipe"] = recipe.to_dict()
        site_probs = cross_validated_site_confidence(samples, mutant_sites(problems, recipe), recipe,
                                                     bug_sites=bug_sites, folds=k, seed=seed)
        model_probs = np.where(np.isnan(site_probs), head_probs, site_probs)
        metrics["score"] = "confidence scorer (sites), the network's head where code has no site"
        metrics["n_scored_by_head"] = int(np.isnan(site_probs).sum())
        metrics["network_head"] = _calibration(labels, head_probs)
        curves["network head"] = _curve(labels, head_probs)
    metrics["model"] = _calibration(labels, model_probs)
    metrics["model"]["interval"] = grouped_bootstrap_auroc(labels, model_probs, groups, seed=seed)
    metrics["auroc_by_kind"] = _confidence_by_kind(samples, labels, model_probs, canonical)
    metrics["canonical_out_of_fold"] = _distribution(model_probs[canonical])
    curves["model"] = _curve(labels, model_probs)
    return metrics, curves


def _confidence_by_kind(samples: Sequence[ExecutedSample], labels: np.ndarray, probs: np.ndarray,
                        canonical: np.ndarray) -> dict[str, Any]:
    """AUROC of passing against failing among the canonical solutions and one kind's mutants."""
    kinds = np.array([s.kind or "" for s in samples])
    out = {}
    for kind in sorted(set(kinds[~canonical].tolist())):
        mask = canonical | (kinds == kind)
        out[kind] = {"n_mutants": int((kinds == kind).sum()), "auroc": _auroc_or_none(labels[mask], probs[mask])}
    return out


def evaluate_stdlib_confidence(checkpoint: str, samples: Sequence[ExecutedSample],
                               humaneval: Sequence[ExecutedSample]) -> dict[str, Any]:
    """Confidence as served, on standard-library functions and classes and their mutants, each labelled
    by the standard library's own tests (training/stdlib_tests.py); a second domain beside HumanEval.

    No folds are needed: the modules are from the test split, so the network never saw them, and the
    confidence scorer trains on HumanEval alone. The baseline is fitted on every executed HumanEval
    sample, so both are judged away from the code they learned from. Beside the whole set (clean code
    passes), the mutants alone: can the score tell the mutants the tests kill from those they miss?
    And the calibration a host would get by telling the daemon this set's pass rate.
    """
    labels = np.array([s.passed for s in samples], dtype=bool)
    mutated = np.array([s.kind is not None for s in samples], dtype=bool)
    metrics: dict[str, Any] = {
        "n_samples": len(samples), "n_passed": int(labels.sum()), "n_mutants": int(mutated.sum()),
        "n_mutants_passed": int(labels[mutated].sum()),
        "modules": sorted({s.problem_id.split(".")[0] for s in samples}),
    }
    if len(set(labels.tolist())) < 2 or not humaneval:
        metrics["skipped"] = "needs passing and failing samples, and HumanEval samples for the baseline"
        return metrics
    sources = [s.source for s in samples]
    model = _served_confidence(checkpoint, sources)
    baseline = AstCountBaseline().fit([s.source for s in humaneval], [s.passed for s in humaneval]).score(sources)
    metrics["model"] = _calibration(labels, model)
    metrics["baseline"] = _calibration(labels, baseline)
    rate = float(labels.mean())  # what a host that knew this set's pass rate would pass the daemon
    metrics["model_at_its_pass_rate"] = {"pass_rate": rate, **_calibration(
        labels, _served_confidence(checkpoint, sources, confidence_pass_rate=rate))}
    metrics["mutants_only"] = {"model": _auroc_or_none(labels[mutated], model[mutated]),
                               "baseline": _auroc_or_none(labels[mutated], baseline[mutated])}
    return metrics


def _served_confidence(checkpoint: str, sources: list[str], confidence_pass_rate: float | None = None
                       ) -> np.ndarray:
    """The confidence the daemon serves for `sources`, from the daemon's own Predictor: whichever of
    the confidence scorer and the network's head it picks for each source, this picks too (restated
    for `confidence_pass_rate` when given, as `--confidence-pass-rate` does)."""
    predictor = Predictor(checkpoint, confidence_pass_rate=confidence_pass_rate)
    predictor.load()
    return np.array([p.confidence for p in predictor.predict_sources(sources)], dtype=np.float64)


# --- the command ---------------------------------------------------------------------------------


def _checkpoint_summary(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "path": str(checkpoint.path),
        "config": checkpoint.config.to_dict(),
        "feature_layout_version": checkpoint.feature_layout_version,
        "vocabulary_sizes": {name: len(words) for name, words in checkpoint.vocabularies.items()},
        "training": checkpoint.training,
    }


class SeedMismatch(ValueError):
    """`--seed` differs from the seed the checkpoint was trained with."""


def split_seed(training: dict[str, Any], asked: int | None) -> int:
    """The seed to evaluate with: the checkpoint's training seed, which drew its packages' split (a
    package's split hashes the seed with its name), so that the test split holds no package it
    trained on. `asked` may only repeat it; a checkpoint that does not record one takes `asked` (or 0)."""
    config = training.get("config")
    trained = config.get("seed") if isinstance(config, dict) else None
    if not isinstance(trained, int) or isinstance(trained, bool):
        return asked if asked is not None else 0
    if asked is not None and asked != trained:
        raise SeedMismatch(f"--seed {asked}: this checkpoint was trained with seed {trained}, and the split of "
                           f"packages follows the seed, so seed {asked} would test on packages it trained on")
    return trained


def trained_corpus(data: DataConfig, training: Mapping[str, Any]) -> DataConfig:
    """`data` with the files and units a package the checkpoint's run read (its config's
    `max_files` and `max_units_per_package`: 400 units where this evaluation reads 2,000): the
    corpus its name table came from, so that the dictionary baseline reads the same lines and
    training samples. Fitted on the evaluation's own corpus, it had read a quarter more names than
    the model's table (1,888 against 1,496). Only for a full evaluation of a full run: a smoke run or
    a quick `--smoke` / `--max-files` evaluation reads other roots or files than the run recorded,
    so `data` is kept (and `_warn_unless_same_names` says the tables differ); so is a field the
    checkpoint does not record, or records malformed."""
    config = training.get("config")
    if not isinstance(config, dict) or config.get("smoke") is not False or data.roots is not None \
            or data.max_files is not None:
        return data
    changes = {name: config[name] for name in ("max_files", "max_units_per_package")
               if name in config and (config[name] is None or (type(config[name]) is int and config[name] >= 1))}
    return replace(data, **changes)


def _warn_unless_same_names(names: Mapping[str, int]) -> None:
    """Say so when the dictionary did not read as many names as the model's table (a checkpoint
    trained on another corpus than this evaluation's, or a quick evaluation): its import rows then
    compare unlike tables. A checkpoint without a name table (a test's) has nothing to compare."""
    if names["model"] and names["model"] != names["baseline"]:
        sys.stderr.write(f"yantra-eval: the dictionary baseline holds {names['baseline']} names and the model's "
                         f"table {names['model']}: they were not read from the same training code\n")


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Every head on held-out data; writes metrics.json, report.md and the plots under `args.out`."""
    checkpoint = load_checkpoint(args.checkpoint, expected_layout_version=FEATURE_LAYOUT_VERSION)
    seed = split_seed(checkpoint.training, args.seed)
    engine = GraphSAGEEngine(checkpoint.config, checkpoint.weights)
    data = DataConfig.evaluation(seed=seed, cache_dir=args.cache_dir, smoke=args.smoke, max_files=args.max_files)
    units = corpus_units(data)
    started = datetime.now(UTC)
    sites = site_model_from(checkpoint.site_weights, checkpoint.training.get("bug_sites"))
    bugs, bug_curves = evaluate_bugs(engine, bug_samples(data, units), batch_size=args.batch_size, sites=sites,
                                     baseline_train_limit=args.baseline_train_limit, seed=seed,
                                     packages=unit_packages(units))
    labelled_imports = import_samples(data, units)
    trained = trained_corpus(data, checkpoint.training)
    trained_units, trained_imports = units, labelled_imports  # a quick evaluation: its own corpus
    if trained != data:
        trained_units = corpus_units(trained)
        trained_imports = import_samples(trained, trained_units)
    imports = evaluate_imports(engine, checkpoint.vocabularies["imports"], labelled_imports,
                               index=ImportIndex.from_json(checkpoint.training.get("import_index")),
                               projects=package_projects(data, {s.group for s in _test(labelled_imports)}),
                               name_lines=name_table_lines(trained, trained_units),
                               dictionary_samples=trained_imports,
                               aliases=checkpoint.training.get("import_aliases"),
                               submodules=training_part(submodules_from_json(checkpoint.training.get("import_submodules")),
                                                        data.seed),
                               threshold=import_threshold(checkpoint.training, Path(args.checkpoint)),
                               batch_size=args.batch_size)
    _warn_unless_same_names(imports["names"])
    embedding = evaluate_embedding(engine, embedding_triples(data, units), extra_variants=args.variants,
                                   seed=seed, batch_size=args.batch_size)
    confidence_scorer = served_scorer(confidence_scorer_from(checkpoint.confidence_weights,
                                                             checkpoint.training.get("confidence_sites")), sites)
    executed = executed_samples(data)
    confidence, confidence_curves = evaluate_confidence(
        engine, executed, folds=args.folds, seed=seed,
        run_model=not args.skip_confidence, scorer=confidence_scorer,
        recipe=_recipe(checkpoint.training.get("confidence_sites")), problems=humaneval_problems(data),
        bug_sites=sites if confidence_scorer is not None and confidence_scorer.reads_bug_sites else None,
    )
    if "skipped" not in confidence:
        confidence["canonical_as_shipped"] = _distribution(_served_confidence(
            args.checkpoint, [s.source for group in executed.values() for s in group if s.kind is None]))
    if args.stdlib_mutants > 0 and not args.smoke:
        confidence["stdlib_tests"] = evaluate_stdlib_confidence(
            args.checkpoint,
            label_stdlib(TEST_SPLIT, per_module=args.stdlib_mutants, seed=seed, cache=data.cache_path()),
            [s for group in executed.values() for s in group])
    metrics = {
        "meta": {
            "date": started.isoformat(timespec="seconds"),
            "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
            "machine": machine_description(),
            "smoke": args.smoke,
            "max_files": data.max_files,
            "seed": seed,
            "split": TEST_SPLIT,
            "checkpoint": _checkpoint_summary(checkpoint),
        },
        "bugs": bugs,
        "confidence": confidence,
        "imports": imports,
        "embedding": embedding,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "metrics.json",
                     orjson.dumps(metrics, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    rows = report_rows(metrics)
    plots = write_plots(out, metrics, bug_curves, confidence_curves, Path(checkpoint.path).parent / "metrics.jsonl")
    write_atomically(out / "report.md", render_report(metrics, rows, [p.name for p in plots]).encode("utf-8"))
    return metrics


def _recipe(meta: object) -> ScorerRecipe | None:
    """How the checkpoint's confidence scorer was trained (its metadata's "recipe"), or None."""
    recipe = meta.get("recipe") if isinstance(meta, dict) else None
    if not isinstance(recipe, dict):
        return None
    try:
        return ScorerRecipe(**recipe)
    except TypeError:
        return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yantra-eval", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT),
                        help="checkpoint to evaluate (default: the shipped one)")
    parser.add_argument("--out", default="runs/eval", help="directory for metrics.json, report.md, plots")
    parser.add_argument("--smoke", action="store_true", help="tiny data (DataConfig.smoke()): seconds, not hours")
    parser.add_argument("--folds", type=_at_least(2), default=5, help="cross-validation folds for confidence")
    parser.add_argument("--seed", type=_at_least(0), default=None,
                        help="the checkpoint's training seed (the default), which fixes the split of packages")
    parser.add_argument("--cache-dir", default=None,
                        help="data cache (default: $YANTRA_CACHE_DIR or ~/.cache/yantra-bridge)")
    parser.add_argument("--max-files", type=_at_least(1), default=None,
                        help="only the first N corpus files (a quick look; the report says so)")
    parser.add_argument("--batch-size", type=_at_least(1), default=256)
    parser.add_argument("--variants", type=_at_least(0), default=2, help="extra semantic variants per embedding anchor")
    parser.add_argument("--baseline-train-limit", type=_at_least(1), default=20000,
                        help="training samples for the AST-count bugs baseline (a seeded subset)")
    parser.add_argument("--stdlib-mutants", type=_at_least(0), default=40,
                        help="mutants per standard-library module judged by its own tests (0: skip that "
                             "second confidence set; --smoke skips it too)")
    parser.add_argument("--skip-confidence", action="store_true",
                        help="measure the confidence baseline only, not the model's cross-validation")
    return parser


def _at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `low` (`--folds 1` cannot cross-validate)."""
    def whole(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if number < low:
            raise argparse.ArgumentTypeError(f"{number} must be {low} or more")
        return number
    return whole


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:  # before the evaluation's minutes, not after them
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out {args.out}: cannot make it a folder ({exc.strerror or exc})")
    try:
        metrics = evaluate(args)
    except (CheckpointError, SeedMismatch) as exc:
        sys.stderr.write(f"yantra-eval: {exc}\n")
        return 2
    sys.stdout.write(markdown_table(report_rows(metrics)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
