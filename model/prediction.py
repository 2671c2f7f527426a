"""Plain result types the Predictor returns: what the model says about one piece of code.

They hold numpy arrays and Python scalars only, so the daemon can turn them into wire results
without knowing anything about the network that produced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "BugReport",
    "CategorySpan",
    "FeatureExtraction",
    "ImportSuggestion",
    "ModelStamp",
    "NodeFeatures",
    "Prediction",
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
