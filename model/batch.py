"""Many small graphs as one disjoint graph, plus the index work mean aggregation needs, done once.

Owns: `GraphBatch` (node features, edges, graph id per node) and `collate`, which stacks
(features, edges) pairs with node offsets. Leaves to others: building a graph from code
(model/graph.py) and running the network on a batch (model/engine.py, model/network.py).
No torch: the daemon batches with numpy alone.

Layout the engine relies on: the nodes of graph g are contiguous and come before those of g + 1,
and every graph has at least one node. Messages flow edge_index[0] -> edge_index[1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["NEIGHBOUR_CHUNK_EDGES", "GraphBatch", "collate"]

NEIGHBOUR_CHUNK_EDGES = 1024
"""Edges whose neighbour rows the engine gathers at once. Gathering all of a large graph's edges
makes an (E, width) temporary: 270 MB for the 264,000 edges of 4,000 `def f(): return f()` (80 KB
of code), summed ten times slower than in slices that stay in cache. A lone function of a few
dozen edges is one slice; a batch of 64 such graphs, a few."""


@dataclass(frozen=True, eq=False)
class GraphBatch:
    """A batch of graphs, validated and indexed for segment reductions.

    Args:
        x: node features, (N, F) float32.
        edge_index: (2, E) int64 source and target node of each edge.
        batch: (N,) int64 graph id of each node, non-decreasing, every id in [0, num_graphs) used.
        num_graphs: G.

    Derived (computed once here so every layer reuses them):
        graph_starts: (G,) first node of each graph; graph_sizes: (G,) its node count;
            inverse_graph_size: (G, 1) float32 1 / node count, for per-graph means.
        neighbour_sources: (E,) edge sources ordered by target, so each target's in-neighbours are
            one contiguous run; neighbour_targets: (T,) nodes with at least one in-neighbour;
            neighbour_starts: (T,) where each run begins; inverse_degree: (T, 1) 1 / run length.
        neighbour_chunks: ((first target, end target), ...) slices of the T targets whose runs hold
            at most NEIGHBOUR_CHUNK_EDGES edges together (or one target's run, whatever its length):
            the engine gathers and sums neighbours a chunk at a time.
    """

    x: np.ndarray
    edge_index: np.ndarray
    batch: np.ndarray
    num_graphs: int
    graph_starts: np.ndarray = field(init=False, repr=False)
    graph_sizes: np.ndarray = field(init=False, repr=False)
    inverse_graph_size: np.ndarray = field(init=False, repr=False)
    neighbour_sources: np.ndarray = field(init=False, repr=False)
    neighbour_targets: np.ndarray = field(init=False, repr=False)
    neighbour_starts: np.ndarray = field(init=False, repr=False)
    inverse_degree: np.ndarray = field(init=False, repr=False)
    neighbour_chunks: tuple[tuple[int, int], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        x = np.ascontiguousarray(self.x, dtype=np.float32)
        edge_index = np.asarray(self.edge_index, dtype=np.int64)
        batch = np.asarray(self.batch, dtype=np.int64)
        _check_shapes(x, edge_index, batch, self.num_graphs)
        graph_starts, graph_sizes = _graph_segments(batch, self.num_graphs)
        self._derive(x, edge_index, batch, graph_starts, graph_sizes)

    @classmethod
    def _checked_by_collate(cls, x: np.ndarray, edge_index: np.ndarray, sizes: np.ndarray,
                            starts: np.ndarray) -> GraphBatch:
        """A batch from parts `collate` has already checked and laid out (the graph segments are its
        sizes and offsets), without checking them again: a single prediction's batch costs tens of
        microseconds of numpy calls, on the daemon's hot path."""
        batch = object.__new__(cls)
        object.__setattr__(batch, "num_graphs", int(sizes.shape[0]))
        node_graph = np.repeat(np.arange(sizes.shape[0], dtype=np.int64), sizes)
        batch._derive(x, edge_index, node_graph, starts, sizes)
        return batch

    def _derive(self, x: np.ndarray, edge_index: np.ndarray, batch: np.ndarray, graph_starts: np.ndarray,
                graph_sizes: np.ndarray) -> None:
        sources, targets, starts, inverse_degree = _neighbour_runs(edge_index)
        for name, value in (
            ("x", x),
            ("edge_index", edge_index),
            ("batch", batch),
            ("graph_starts", graph_starts),
            ("graph_sizes", graph_sizes),
            ("inverse_graph_size", (1.0 / graph_sizes).astype(np.float32)[:, None]),
            ("neighbour_sources", sources),
            ("neighbour_targets", targets),
            ("neighbour_starts", starts),
            ("inverse_degree", inverse_degree),
            ("neighbour_chunks", _chunks(starts, edge_index.shape[1], NEIGHBOUR_CHUNK_EDGES)),
        ):
            object.__setattr__(self, name, value)

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]


def collate(graphs: Sequence[tuple[np.ndarray, np.ndarray]]) -> GraphBatch:
    """Stack (x_i (n_i, F), edge_index_i (2, E_i)) pairs into one batch, offsetting node ids."""
    if not graphs:
        raise ValueError("collate needs at least one graph")
    features = [np.asarray(x) for x, _ in graphs]
    edges = [np.asarray(edge_index) for _, edge_index in graphs]
    width = features[0].shape[-1] if features[0].ndim == 2 else None
    for index, (x, edge_index) in enumerate(zip(features, edges, strict=True)):
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != width:
            raise ValueError(f"graph {index}: x must be (nodes >= 1, {width or 'features'}), got shape {x.shape}")
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"graph {index}: edge_index must be (2, edges), got shape {edge_index.shape}")
    sizes = np.array([x.shape[0] for x in features], dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    if len(graphs) == 1:
        placed = edges[0].astype(np.int64, copy=False)  # one graph: its own ids are the batch's
        outside = placed.size and (placed.min() < 0 or placed.max() >= sizes[0])
        x = features[0]
    else:
        edge_counts = np.array([edge_index.shape[1] for edge_index in edges], dtype=np.int64)
        local = np.concatenate(edges, axis=1).astype(np.int64, copy=False)  # (2, E), ids within each graph
        outside = ((local < 0) | (local >= np.repeat(sizes, edge_counts))).any()
        placed = local + np.repeat(starts, edge_counts)
        x = np.concatenate(features, axis=0)
    if outside:
        index = _first_graph_outside(edges, sizes)
        raise ValueError(f"graph {index}: edge_index refers to a node outside 0..{sizes[index] - 1}")
    return GraphBatch._checked_by_collate(np.ascontiguousarray(x, dtype=np.float32), placed, sizes, starts)


def _first_graph_outside(edges: list[np.ndarray], sizes: np.ndarray) -> int:
    """The first graph whose edges name a node it does not have (for the error message)."""
    for index, (edge_index, size) in enumerate(zip(edges, sizes, strict=True)):
        if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= size):
            return index
    return 0


def _check_shapes(x: np.ndarray, edge_index: np.ndarray, batch: np.ndarray, num_graphs: int) -> None:
    if x.ndim != 2:
        raise ValueError(f"x must be (nodes, features), got shape {x.shape}")
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must be (2, edges), got shape {edge_index.shape}")
    if batch.shape != (x.shape[0],):
        raise ValueError(f"batch must be ({x.shape[0]},) to match x, got shape {batch.shape}")
    if isinstance(num_graphs, bool) or not isinstance(num_graphs, int | np.integer) or num_graphs < 1:
        raise ValueError(f"num_graphs must be a positive integer, got {num_graphs!r}")
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= x.shape[0]):
        raise ValueError(f"edge_index refers to a node outside 0..{x.shape[0] - 1}")


def _graph_segments(batch: np.ndarray, num_graphs: int) -> tuple[np.ndarray, np.ndarray]:
    """First node and node count of each graph; refuses layouts segment reductions cannot use."""
    if batch.size == 0 or batch[0] != 0 or batch[-1] != num_graphs - 1:
        raise ValueError(f"batch ids must run from 0 to num_graphs - 1 = {num_graphs - 1}")
    steps = batch[1:] - batch[:-1]
    if ((steps < 0) | (steps > 1)).any():
        raise ValueError("batch ids must run 0, 0, 1, 2, 2, ...: each graph non-empty, contiguous, in order")
    return _run_bounds(steps != 0, batch.shape[0])


def _neighbour_runs(edge_index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges grouped by target: the gather order and run boundaries for reduceat-based means."""
    sources, targets = edge_index
    order = np.argsort(targets, kind="stable")
    sorted_targets = targets[order]
    starts, lengths = _run_bounds(sorted_targets[1:] != sorted_targets[:-1], sorted_targets.shape[0])
    inverse_degree = (1.0 / lengths).astype(np.float32)[:, None]
    return sources[order], sorted_targets[starts], starts, inverse_degree


def _chunks(starts: np.ndarray, num_edges: int, limit: int) -> tuple[tuple[int, int], ...]:
    """Consecutive target slices of at most `limit` edges each (a longer run alone in its slice)."""
    if num_edges <= limit:
        return ((0, starts.shape[0]),)
    bounds = np.append(starts, num_edges)
    chunks: list[tuple[int, int]] = []
    first = 0
    while first < starts.shape[0]:
        end = int(np.searchsorted(bounds, bounds[first] + limit, side="right")) - 1
        end = max(end, first + 1)
        chunks.append((first, end))
        first = end
    return tuple(chunks)


def _run_bounds(changes: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal values, given where consecutive values differ."""
    if length == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.empty(changes.shape[0] + 1, dtype=bool)
    starts[0] = True
    starts[1:] = changes
    first = np.flatnonzero(starts)
    ends = np.empty_like(first)
    ends[:-1] = first[1:]
    ends[-1] = length
    return first, ends - first
