"""The training split's import samples with their name evidence as the daemon meets it: from tables
that never saw their package.

The corpus is split by package, so at serving time the name table has never read the code's own
package; on the training split it has, since it was counted from those very files. So the training
packages are put in folds by a hash of their name, and each fold's samples are ranked with a name
table, aliases, submodules and an IDE-style dictionary built from the other folds' files alone (as
`training.name_table` builds the shipped ones), their packages indexed as their projects as the
daemon indexes them, and their own modules taken out of the head's vocabulary (built from the
training packages; a user's project is not in it). The network's import head learned these
samples, so it is left out here (a logit of 0). `yantra-train` fits the import combiner's evidence
weights on these rows (thousands of samples, 5,031 needing their package's own modules, where
validation has 37 rows with project evidence), and `training.import_probe` compares the combiner
with the dictionary on them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from model.graph import CodeGraph, build_graph
from model.imports import FEATURE_NAMES, ImportIndex, ImportRanker
from model.project import ImportContext
from training.baselines import ImportDictionaryBaseline, statement_bindings
from training.datasets import DataConfig, ImportSample
from training.imports import statement_tables
from training.logistic import fit_logistic
from training.name_table import ImportLines, import_lines, package_submodules, table_lines, with_exports
from training.projects import package_projects, sample_contexts

__all__ = ["FOLDS", "FoldTables", "FoldedSamples", "evidence_rows", "fit_evidence_weights", "fold_of",
           "fold_rankings", "fold_tables", "folded_samples"]

FOLDS = 2
NO_HEAD = 0.5
"""The head's probability given every module here: a logit of 0, so its weight has nothing to read."""


def fold_of(package: str, folds: int = FOLDS) -> int:
    """The fold a package falls in: a CRC32 of its name, the same on every machine."""
    return zlib.crc32(package.encode()) % folds


@dataclass(frozen=True)
class FoldedSamples:
    """The training split's import samples, each with its graph, its package's project context (None
    where the package has no files to index) and its fold; `lines` are (package, import line) for
    every file of the corpus (`training.name_table.package_import_lines`), `used` those its units
    really use (`training.name_table.used_lines`), `submodules` what each package's import loads
    (`training.name_table.package_submodules`)."""

    samples: list[ImportSample]
    graphs: list[CodeGraph]
    contexts: list[ImportContext | None]
    folds: list[int]
    lines: list[tuple[str, str]]
    used: list[tuple[str, str]]
    submodules: dict[str, dict[str, bool]] = field(default_factory=dict)
    exported: list[tuple[str, str]] = field(default_factory=list)
    """(package, line) for what the standard-library modules among them export
    (`training.name_table.standard_exports`)."""
    conventions: list[tuple[str, str]] = field(default_factory=list)
    """(package, line) for the aliases packages give their own modules by habit
    (`training.name_table.house_aliases`)."""

    def rows_of(self, fold: int) -> list[int]:
        return [row for row, f in enumerate(self.folds) if f == fold]


def folded_samples(config: DataConfig, samples: Iterable[ImportSample], lines: ImportLines | None = None
                   ) -> FoldedSamples:
    """The training-split samples of `samples`, parsed, indexed and put in folds; `lines`: the corpus's
    import lines, when the caller has read them (`training.name_table.import_lines`)."""
    train = [s for s in samples if s.split == "train"]
    contexts = sample_contexts(train, package_projects(config, {s.group for s in train}))
    lines = import_lines(config) if lines is None else lines
    return FoldedSamples(train, [build_graph(s.source, sites=False) for s in train], contexts,
                         [fold_of(s.group) for s in train], lines.written, lines.used, package_submodules(config),
                         lines.exported, lines.conventions)


@dataclass(frozen=True)
class FoldTables:
    """What one fold's samples are ranked with, all from the other folds: the name table (with the
    combiner's weights), aliases, submodules and the IDE-style dictionary."""

    index: ImportIndex
    aliases: dict[str, str]
    submodules: dict[str, dict[str, bool]]
    dictionary: ImportDictionaryBaseline

    def ranker(self, vocabulary: Sequence[str], package: str) -> ImportRanker:
        """The ranker for a sample of `package`, whose own modules are taken out of the head's
        vocabulary: it was built from the training packages, this one among them, where at serving
        time a project's own modules are not in it (and being in it adds the vocabulary's weight)."""
        own = [m for m in vocabulary if m.partition(".")[0] != package]
        return ImportRanker(own, self.index, self.aliases, self.submodules)


def fold_tables(folded: FoldedSamples, fold: int, weights: Sequence[float]) -> FoldTables:
    """The tables for one fold, from the other folds' samples, the import lines of their packages'
    files and those packages' submodules alone."""
    others = [s for s, f in zip(folded.samples, folded.folds, strict=True) if f != fold]
    other_lines = table_lines(((package, line) for package, line in folded.lines if fold_of(package) != fold),
                              {line for package, line in folded.used if fold_of(package) != fold},
                              {line for package, line in folded.conventions if fold_of(package) != fold})
    table = with_exports(other_lines, ((p, line) for p, line in folded.exported if fold_of(p) != fold))
    index = ImportIndex.from_bindings((pair for line in table for pair in statement_bindings(line)), weights)
    aliases, _ = statement_tables(other_lines)
    submodules = {package: children for package, children in folded.submodules.items()
                  if fold_of(package.partition(".")[0]) != fold}
    return FoldTables(index, aliases, submodules, ImportDictionaryBaseline().fit(others, other_lines))


def fold_rankings(folded: FoldedSamples, fold: int, vocabulary: Sequence[str], weights: Sequence[float]
                  ) -> Iterator[tuple[int, ImportRanker, np.ndarray, FoldTables]]:
    """(row, its ranker, the head's stand-in probabilities, the fold's tables) for each sample of
    `fold`: one ranker per package (`FoldTables.ranker`)."""
    tables = fold_tables(folded, fold, weights)
    rankers: dict[str, ImportRanker] = {}
    for row in folded.rows_of(fold):
        package = folded.samples[row].group
        if package not in rankers:
            rankers[package] = tables.ranker(vocabulary, package)
        ranker = rankers[package]
        yield row, ranker, np.full(len(ranker.vocabulary), NO_HEAD), tables


def evidence_rows(folded: FoldedSamples, vocabulary: Sequence[str], folds: Iterable[int] = range(FOLDS)
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The combiner's inputs for the samples of `folds`, each ranked with its fold's tables and counted
    twice (without and with its project, as a host may or may not say where the code lives); the head
    column is 0. Identical rows are collapsed: returns (inputs, labels, how many rows each stands for),
    since most of a sample's rows are vocabulary modules nothing speaks for."""
    rows: list[np.ndarray] = []
    for fold in folds:
        for row, ranker, no_head, _ in fold_rankings(folded, fold, vocabulary, ImportIndex().weights):
            graph, sample, project = folded.graphs[row], folded.samples[row], folded.contexts[row]
            wanted = set(sample.modules)
            for context in (None, project) if project is not None else (None,):
                modules, features = ranker.features(no_head, graph.free_names, context,
                                                    attribute_reads=graph.attribute_reads)
                labels = np.array([[m in wanted] for m in modules], dtype=np.float64)
                rows.append(np.hstack([features, labels]))
    if not rows:
        return np.zeros((0, len(FEATURE_NAMES))), np.zeros(0), np.zeros(0)
    unique, counts = np.unique(np.concatenate(rows), axis=0, return_counts=True)
    return unique[:, :-1], unique[:, -1], counts.astype(np.float64)


def fit_evidence_weights(inputs: np.ndarray, labels: np.ndarray, counts: np.ndarray) -> tuple[float, ...]:
    """Combiner weights (then the bias) fitted on `evidence_rows`; the head's weight comes out 0, for
    the caller to fit where the head has not seen the samples."""
    evidence = inputs[:, 1:]  # the head column is all 0
    weight, bias = fit_logistic(evidence, labels, l2=1.0, counts=counts)
    return (0.0, *(float(w) for w in weight), float(bias))
