"""Sources -> graphs, once: a compact table of many code graphs, built in parallel and cached on disk.

Training reads every sample's graph many times; building it (parse + 978-d features) costs about a
millisecond, so it is done once here with `model.graph.build_graph`, the exact function the daemon
uses, and the table is saved next to the data cache keyed by the feature-layout version, the
extractor's sources (`model.native.extractor_digest`) and the sources. Owns: `GraphTable`
(concatenated node features, edges and node line spans, addressed by source) and `featurize`. The
model, losses and batching by task are `training.train`'s.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from model.batch import GraphBatch, collate
from model.checkpoint import write_atomically
from model.errors import SourceError
from model.graph import build_graph
from model.layout import FEATURE_DIM, FEATURE_LAYOUT_VERSION
from model.native import extractor_digest
from training.cache import mark_used

__all__ = ["GraphTable", "featurize", "source_key"]

_CHUNK = 64


def source_key(source: str) -> str:
    """A stable 128-bit digest naming a source in the table."""
    return hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass
class GraphTable:
    """Many graphs side by side. Graph i owns nodes node_offsets[i]:node_offsets[i+1] (features in x,
    float16 to halve memory; lines and end_lines 1-based) and edges edge_offsets[i]:edge_offsets[i+1]
    (node ids local to the graph). Sources that could not be built have no entry in `index`."""

    keys: list[str]
    x: np.ndarray
    node_offsets: np.ndarray
    lines: np.ndarray
    end_lines: np.ndarray
    edges: np.ndarray
    edge_offsets: np.ndarray

    def __post_init__(self) -> None:
        self.index = {key: i for i, key in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    def has(self, source: str) -> bool:
        return source_key(source) in self.index

    def position(self, source: str) -> int:
        return self.index[source_key(source)]

    def graph(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(x (n, 978) float32, edge_index (2, e)) of graph i."""
        a, b = self.node_offsets[i], self.node_offsets[i + 1]
        c, d = self.edge_offsets[i], self.edge_offsets[i + 1]
        return self.x[a:b].astype(np.float32), self.edges[:, c:d]

    def node_span(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.node_offsets[i], self.node_offsets[i + 1]
        return self.lines[a:b], self.end_lines[a:b]

    def batch(self, positions: Sequence[int]) -> GraphBatch:
        return collate([self.graph(i) for i in positions])

    def save(self, path: Path) -> None:
        """Written atomically, streamed rather than held twice in memory (the full corpus's table is
        about 380 MB): two runs building the same table never share a temporary file."""
        write_atomically(path, lambda stream: np.savez(
            stream, keys=np.array(self.keys, dtype="S32"), x=self.x, node_offsets=self.node_offsets,
            lines=self.lines, end_lines=self.end_lines, edges=self.edges, edge_offsets=self.edge_offsets))

    @classmethod
    def load(cls, path: Path) -> GraphTable:
        with np.load(path, allow_pickle=False) as data:
            return cls(keys=[k.decode() for k in data["keys"]], x=data["x"], node_offsets=data["node_offsets"],
                       lines=data["lines"], end_lines=data["end_lines"], edges=data["edges"],
                       edge_offsets=data["edge_offsets"])


def _build(source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    try:
        graph = build_graph(source, sites=False)  # the table keeps features and edges only
    except SourceError:
        return None
    lines = np.array([n.line for n in graph.nodes], dtype=np.int32)
    end_lines = np.array([n.end_line for n in graph.nodes], dtype=np.int32)
    return graph.features.astype(np.float16), graph.edge_index.astype(np.int32), lines, end_lines


def _build_chunk(sources: Sequence[str]) -> list:
    return [_build(source) for source in sources]


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start: start + size]


def featurize(sources: Iterable[str], *, cache_dir: Path | None = None, workers: int = 2,
              progress: bool = True) -> GraphTable:
    """Build (or load from the cache) the graphs of the distinct sources given."""
    unique = sorted({source_key(s): s for s in sources}.items())
    digest = hashlib.blake2b(digest_size=12)
    digest.update(FEATURE_LAYOUT_VERSION.encode())
    digest.update(extractor_digest().encode())
    for key, _ in unique:
        digest.update(key.encode())
    path = cache_dir / f"graphs-{FEATURE_LAYOUT_VERSION}-{digest.hexdigest()}.npz" if cache_dir else None
    if path is not None and path.exists():
        mark_used(path)
        return GraphTable.load(path)
    texts = [s for _, s in unique]
    results = _run(texts, workers, progress)
    table = _assemble([k for k, _ in unique], results)
    if path is not None:
        table.save(path)
    return table


def _run(texts: list[str], workers: int, progress: bool) -> list:
    bar = tqdm(total=len(texts), desc="featurize", unit="graph", file=sys.stderr, disable=not progress)
    results: list = []
    if workers > 1 and len(texts) > _CHUNK:
        with multiprocessing.get_context("forkserver").Pool(workers) as pool:
            for chunk in pool.imap(_build_chunk, _chunks(texts, _CHUNK)):
                results.extend(chunk)
                bar.update(len(chunk))
    else:
        for chunk in _chunks(texts, _CHUNK):
            results.extend(_build_chunk(chunk))
            bar.update(len(chunk))
    bar.close()
    return results


def _assemble(keys: list[str], results: list) -> GraphTable:
    kept = [(k, r) for k, r in zip(keys, results, strict=True) if r is not None]
    if not kept:
        empty = np.zeros(1, np.int64)
        return GraphTable([], np.zeros((0, FEATURE_DIM), np.float16), empty, np.zeros(0, np.int32),
                          np.zeros(0, np.int32), np.zeros((2, 0), np.int32), empty)
    node_counts = np.array([r[0].shape[0] for _, r in kept])
    edge_counts = np.array([r[1].shape[1] for _, r in kept])
    return GraphTable(
        keys=[k for k, _ in kept],
        x=np.concatenate([r[0] for _, r in kept]),
        node_offsets=np.concatenate([[0], np.cumsum(node_counts)]).astype(np.int64),
        lines=np.concatenate([r[2] for _, r in kept]),
        end_lines=np.concatenate([r[3] for _, r in kept]),
        edges=np.concatenate([r[1] for _, r in kept], axis=1),
        edge_offsets=np.concatenate([[0], np.cumsum(edge_counts)]).astype(np.int64),
    )
