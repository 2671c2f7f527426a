"""Small random graphs and the small network config that model tests run them through."""

from __future__ import annotations

import numpy as np

from model.config import ModelConfig

SMALL = ModelConfig(
    feature_dim=12, hidden_dims=(16, 16, 8), embedding_dim=6, num_imports=5, num_bug_kinds=3, dropout=0.1
)
"""Three layers and every head, small enough to compare numpy and torch quickly. Its dropout is the
default's 0.1: the engine, and a model in eval mode, must give the same answers whatever it is."""


def random_graph(
    rng: np.random.Generator,
    nodes: int,
    *,
    extra_edges: int | None = None,
    feature_dim: int = SMALL.feature_dim,
    density: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A connected graph: a tree (every node linked to an earlier one) plus `extra_edges` random edges
    (by default one when there are more than two nodes, so graphs of one node have no edges), each edge
    in both directions; features non-zero with probability `density`, like code features."""
    x = (rng.normal(size=(nodes, feature_dim)) * (rng.random((nodes, feature_dim)) < density)).astype(np.float32)
    pairs = [(int(rng.integers(0, i)), i) for i in range(1, nodes)]
    if extra_edges is None:
        extra_edges = 1 if nodes > 2 else 0
    pairs += [(int(rng.integers(0, nodes)), int(rng.integers(0, nodes))) for _ in range(extra_edges)]
    edge_index = np.array(pairs + [(b, a) for a, b in pairs], dtype=np.int64).T.reshape(2, -1)
    return x, edge_index
