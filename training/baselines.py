"""Simple baselines each head must beat, measured in the same run as the model.

Owns: `AstCountBaseline` (logistic regression on log1p AST node-type counts: the bugs and confidence
baseline), `ImportDictionaryBaseline` (IDE-style auto-import: a name the code reads -> the modules that
bound that name in training code, then the global frequency prior) and `ast_bag_embedding` (an
L2-normalised bag of AST node types: the embedding baseline). Leaves to others: the samples
(training/datasets.py), the metrics (training/metrics.py) and running the comparison
(training/evaluate.py). numpy and `ast` only.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from model.graph import build_graph
from model.project import ImportContext
from model.sites import logistic
from training.datasets import ImportSample
from training.imports import import_bindings, statement_nodes
from training.logistic import fit_logistic

__all__ = [
    "AST_NODE_TYPES",
    "AstCountBaseline",
    "ImportDictionaryBaseline",
    "ast_bag_embedding",
    "ast_type_counts",
    "statement_bindings",
]

AST_NODE_TYPES: tuple[str, ...] = tuple(
    sorted(
        name
        for name, value in vars(ast).items()
        if isinstance(value, type) and issubclass(value, ast.AST) and value is not ast.AST
    )
)
"""Every node class this Python's `ast` defines, sorted: the fixed columns of the count features."""

_COLUMN = {name: index for index, name in enumerate(AST_NODE_TYPES)}
_STD_FLOOR = 1e-6


def ast_type_counts(sources: Sequence[str]) -> np.ndarray:
    """(n, len(AST_NODE_TYPES)) counts of each node type; a source that does not parse gives a zero row."""
    counts = np.zeros((len(sources), len(AST_NODE_TYPES)), dtype=np.float64)
    for row, source in enumerate(sources):
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            continue
        for node in ast.walk(tree):
            column = _COLUMN.get(type(node).__name__)
            if column is not None:
                counts[row, column] += 1.0
    return counts


def ast_bag_embedding(sources: Sequence[str]) -> np.ndarray:
    """(n, len(AST_NODE_TYPES)) bags of AST node types (raw counts), each scaled to unit length.

    Blind to names and to order: a renamed variable changes nothing, and neither do many one-token bugs
    (swapped arguments, variable misuse), which is what the model's embedding must do better than.
    """
    counts = ast_type_counts(sources)
    norms = np.linalg.norm(counts, axis=1, keepdims=True)
    return (counts / np.maximum(norms, _STD_FLOOR)).astype(np.float32)


class AstCountBaseline:
    """L2-regularised logistic regression on log1p AST node-type counts (`fit_logistic`, standardised
    inside; the bias is not penalised). It sees how much of each construct a source has, never which
    names go where, so it can only catch bugs that change the shape of the code."""

    def __init__(self, l2: float = 1.0, max_iterations: int = 50) -> None:
        self.l2 = l2
        self.max_iterations = max_iterations
        self.weight: np.ndarray | None = None  # (len(AST_NODE_TYPES),)
        self.bias = 0.0

    def fit(self, sources: Sequence[str], labels: Sequence[int] | np.ndarray) -> AstCountBaseline:
        """Learn weights from `sources` labelled 1 (positive) or 0; returns self."""
        y = np.asarray(labels, dtype=np.float64).ravel()
        if len(sources) != y.shape[0] or y.shape[0] == 0:
            raise ValueError(f"need one label per source and at least one source; got {len(sources)}, {y.shape[0]}")
        self.weight, self.bias = fit_logistic(np.log1p(ast_type_counts(sources)), y, l2=self.l2,
                                              iterations=self.max_iterations)
        return self

    def score(self, sources: Sequence[str]) -> np.ndarray:
        """(n,) probability of the positive class for each source."""
        if self.weight is None:
            raise RuntimeError("fit the baseline before scoring")
        return logistic(np.log1p(ast_type_counts(sources)) @ self.weight.astype(np.float64) + self.bias)


def statement_bindings(statement: str) -> list[tuple[str, str]]:
    """(bound name, module) pairs of one import line: "import numpy as np" -> [("np", "numpy")],
    "import os.path" -> [("os", "os.path")], "from a.b import c as d" -> [("d", "a.b")].
    Relative modules keep their dots; lines that are not imports give []."""
    return [(use.names[0], use.module) for node in statement_nodes(statement)
            for use in import_bindings(node, package=None)]


class ImportDictionaryBaseline:
    """IDE-style auto-import: for each name the code reads but never binds, the modules that bound that
    name in training code, by how often; then the most frequent modules overall to fill the list.

    A module's score is the sum, over the code's free names, of the share of that name's training
    bindings that came from the module; ties go to the globally more frequent module, then the name.
    """

    def __init__(self) -> None:
        self.by_name: dict[str, Counter[str]] = {}
        self.prior: Counter[str] = Counter()

    def fit(self, samples: Iterable[ImportSample], lines: Iterable[str] | None = None) -> ImportDictionaryBaseline:
        """Count modules in `samples` (pass only the training split), and bindings in `lines`, the
        import lines the model's name table counts (`training.name_table`), so that both read the same
        training code; without `lines`, in the samples' own statements."""
        samples = list(samples)
        for sample in samples:
            self.prior.update(sample.modules)
        for statement in lines if lines is not None else (st for sample in samples for st in sample.statements):
            for name, module in statement_bindings(statement):
                self.by_name.setdefault(name, Counter())[module] += 1
        return self

    def rank_names(self, free_names: Iterable[str], *, exclude: Iterable[str] = (), k: int = 5,
                   project: ImportContext | None = None) -> list[str]:
        """The `k` best modules for code whose free names are `free_names`, skipping `exclude`; with
        `project`, the project's own index adds its shares too (an IDE indexes the open project), and
        a name the project defines is taken as the project's alone."""
        free_names = project.needed(free_names) if project is not None else list(free_names)
        skip = set(exclude)
        scores: Counter[str] = Counter()
        for name in self._open_names(free_names, project):
            seen = self.by_name.get(name)
            if seen:
                total = sum(seen.values())
                for module, count in seen.items():
                    scores[module] += count / total
        if project is not None:
            scores.update(project.evidence(free_names))
            if project.own_module:
                skip.add(project.own_module)
        ranked = sorted(scores, key=lambda m: (-scores[m], -self.prior[m], m))
        chosen = [m for m in ranked if m not in skip][:k]
        for module, _ in sorted(self.prior.items(), key=lambda item: (-item[1], item[0])):
            if len(chosen) >= k:
                break
            if module not in skip and module not in chosen:
                chosen.append(module)
        return chosen

    def _open_names(self, free_names: list[str], project: ImportContext | None) -> list[str]:
        """The names the training table may speak for: with a project, those it does not define
        (`ImportContext.unclaimed`; a name training code bound by `import <name>` stays open)."""
        if project is None:
            return free_names
        return project.unclaimed(free_names, {n for n in free_names if n in self.by_name.get(n, ())})

    def rank(self, source: str, *, k: int = 5) -> list[str]:
        """The `k` best modules for `source`, never one it imports already."""
        graph = build_graph(source, sites=False)
        return self.rank_names(graph.free_names, exclude=graph.imported, k=k)
