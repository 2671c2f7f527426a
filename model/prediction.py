"""Plain result types the Predictor returns: what the model says about one piece of code.

They hold numpy arrays and Python scalars only, so the daemon can turn them into wire results
without knowing anything about the network that produced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the daemon's reply shaping imports this before numpy is needed
    import numpy as np

__all__ = [
    "BugReport",
    "CategorySpan",
    "FeatureExtraction",
    "ImportSuggestion",
    "ModelStamp",
    "NodeFeatures",
    "Prediction",
    "import_lines",
    "statement_binds",
]


@dataclass(frozen=True, slots=True)
class ImportSuggestion:
    """A module the code uses but does not import, with the line that would import it."""

    module: str
    score: float
    statement: str


@dataclass(frozen=True, slots=True)
class BugReport:
    """A likely bug of a named kind; `line`/`column` are 1-based and None when unknown."""

    kind: str
    score: float
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True, slots=True)
class ModelStamp:
    """Which model made a prediction. A reload swaps models while predictions are in flight (in this
    process or in a worker), so a reply says the model that computed it, not the one serving now."""

    version: str
    trained: bool


@dataclass(frozen=True, slots=True)
class Prediction:
    """Everything the four heads say about one item (source code or a host vector)."""

    confidence: float
    imports: list[ImportSuggestion] = field(default_factory=list)
    bugs: list[BugReport] = field(default_factory=list)
    embedding: np.ndarray | None = None
    parsed: bool = True
    model: ModelStamp | None = None
    """The model that made it (the Predictor always says; None only where a caller builds one)."""


@dataclass(frozen=True, slots=True)
class NodeFeatures:
    """One graph node: what it is, where it starts, and its feature vector."""

    name: str
    kind: str
    line: int
    features: np.ndarray


@dataclass(frozen=True, slots=True)
class CategorySpan:
    """A named, half-open range [start, end) of the feature vector."""

    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class FeatureExtraction:
    """The features of a piece of code: as a whole, per node, and the layout that names them."""

    features: np.ndarray
    nodes: list[NodeFeatures]
    categories: list[CategorySpan]


def statement_binds(statement: str) -> list[str]:
    """The names an import line binds, for the lines `import_statement` writes: `import a.b` binds a,
    `import a.b as c` c, `from a import b, c as d` b and d."""
    words = statement.split()
    if not words:
        return []
    if words[0] == "import":
        return [words[3] if len(words) == 4 and words[2] == "as" else words[1].partition(".")[0]]
    listed = statement.partition(" import ")[2]
    return [item.split()[-1] for item in listed.split(",") if item.strip()]


def import_lines(suggestions: list[ImportSuggestion]) -> list[str]:
    """The lines to insert for `suggestions` (best first), binding each name once: a later suggestion
    for a name an earlier one binds is an alternative, not a line to add (`Callable` from typing after
    `collections.abc`'s; a project's `app.logging` after `import logging`), and a `from` line keeps
    only the names still unbound. `import a.b` after `import a` is no alternative: it loads the
    submodule, which `import a` may not (`matplotlib.pyplot`). A suggestion's `statement` may hold
    more than one line."""
    bound: set[str] = set()
    loaded: set[str] = set()  # the dotted modules `import a.b` lines load
    lines: list[str] = []
    for suggestion in suggestions:
        for line in suggestion.statement.splitlines():
            names = statement_binds(line)
            fresh = [name for name in names if name not in bound]
            module = _plain_import(line)
            if module is not None and "." in module and module not in loaded:
                fresh = fresh or names
                loaded.add(module)
            if not fresh:
                continue
            if len(fresh) < len(names):  # a `from` line some of whose names are bound already
                line = _from_line_for(line, fresh)
            bound.update(fresh)
            lines.append(line)
    return lines


def _plain_import(line: str) -> str | None:
    """The module of an `import a.b` line without `as`; None for any other line."""
    words = line.split()
    return words[1] if len(words) == 2 and words[0] == "import" else None


def _from_line_for(line: str, names: list[str]) -> str:
    """`from m import a, b as c` cut to the items that bind `names`."""
    head, _, listed = line.partition(" import ")
    kept = [item.strip() for item in listed.split(",") if item.strip() and item.split()[-1] in names]
    return f"{head} import {', '.join(kept)}"
