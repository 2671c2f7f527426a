"""The confidence head, fitted on executed-test labels over the frozen network's graph readouts.

Confidence means "passes its tests". The only labels that say so are executed ones (HumanEval
problems and their mutants run against the real tests), and there are about a thousand of them, so
the trunk is trained on the corpus tasks and this head is a regularised logistic regression on the
trunk's readout (mean and max of final node states). Cross-validation grouped by problem gives the
honest figure: each fold's head never saw that fold's problems. Owns readouts, the choice of L2 and
the CV; the fit is `training.logistic`'s, the trunk's training `training.train`'s, the metrics
`training.metrics`'.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.batch import collate
from model.config import ModelConfig
from model.engine import GraphSAGEEngine
from model.graph import build_graph
from model.sites import logistic
from training.featurize import GraphTable
from training.logistic import fit_logistic
from training.metrics import grouped_folds

__all__ = ["choose_l2", "cross_validated_confidence", "readouts", "source_readouts"]

_CHUNK = 256


def _pool(engine: GraphSAGEEngine, graphs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    batch = collate(graphs)
    states = engine.forward(batch, embedding=False).node_states  # (N, node_dim)
    mean = np.add.reduceat(states, batch.graph_starts, axis=0) * batch.inverse_graph_size
    top = np.maximum.reduceat(states, batch.graph_starts, axis=0)
    return np.concatenate([mean, top], axis=1)  # (G, 2 * node_dim), as the network's readout


def _pooled(engine: GraphSAGEEngine, graphs: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(len(graphs), readout_dim) readouts, _CHUNK graphs a forward pass."""
    chunks = [_pool(engine, list(graphs[i: i + _CHUNK])) for i in range(0, len(graphs), _CHUNK)]
    return np.concatenate(chunks) if chunks else np.zeros((0, engine.config.readout_dim), np.float32)


def readouts(config: ModelConfig, weights: dict[str, np.ndarray], table: GraphTable, positions: Sequence[int]
             ) -> np.ndarray:
    """Readouts of graphs stored in a `training.featurize.GraphTable`."""
    return _pooled(GraphSAGEEngine(config, weights), [table.graph(int(p)) for p in positions])


def source_readouts(engine: GraphSAGEEngine, sources: Sequence[str]) -> np.ndarray:
    """Readouts of sources, built with the daemon's own graph builder."""
    graphs = [build_graph(s, sites=False) for s in sources]
    return _pooled(engine, [(g.features, g.edge_index) for g in graphs])


L2_CANDIDATES = (1.0, 10.0, 100.0, 1000.0, 10000.0)
"""Regularisation strengths tried; about a thousand labelled programs (986 executed HumanEval samples
for the shipped checkpoint) from 164 problems cannot support a free 512-d fit."""


def choose_l2(features: np.ndarray, labels: np.ndarray, groups: Sequence[str], *, folds: int = 4,
              seed: int = 0, candidates: Sequence[float] = L2_CANDIDATES) -> float:
    """The strength with the lowest log-loss under cross-validation grouped by `groups`."""
    distinct = len(set(groups))
    if distinct < 2:
        return candidates[len(candidates) // 2]
    splits = grouped_folds(list(groups), min(folds, distinct), seed)
    best, best_loss = candidates[0], np.inf
    for l2 in candidates:
        losses = []
        for held in splits:
            train = np.ones(len(labels), dtype=bool)
            train[held] = False
            if len(set(labels[train].tolist())) < 2:
                continue
            weight, bias = fit_logistic(features[train], labels[train], l2=l2)
            p = np.clip(_predict(features[held], weight, bias), 1e-6, 1 - 1e-6)
            losses.append(-np.mean(labels[held] * np.log(p) + (1 - labels[held]) * np.log(1 - p)))
        loss = float(np.mean(losses)) if losses else np.inf
        if loss < best_loss:
            best, best_loss = l2, loss
    return best


def _predict(features: np.ndarray, weight: np.ndarray, bias: float) -> np.ndarray:
    logits = features.astype(np.float64) @ weight.astype(np.float64) + bias
    return logistic(logits)


def cross_validated_confidence(engine: GraphSAGEEngine, samples: Sequence, *, folds: int = 5,
                               seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities for executed samples (fields `source`, `passed`, `problem_id`), from
    `engine`'s readouts.

    Problems are dealt into `folds` groups by `training.metrics.grouped_folds` (the same folds the
    baselines use); each is predicted by a head fitted on the others, so no problem is ever scored by
    a head that saw it. The regularisation strength is chosen inside each fold's training part
    (nested, grouped cross-validation), never on the fold it predicts.
    """
    features = source_readouts(engine, [s.source for s in samples])
    labels = np.array([float(s.passed) for s in samples])
    out = np.zeros(len(samples))
    for fold in grouped_folds([s.problem_id for s in samples], folds, seed):
        held = np.zeros(len(samples), dtype=bool)
        held[fold] = True
        train = ~held
        if len(set(labels[train].tolist())) < 2:
            out[held] = labels[train].mean() if train.any() else 0.5
            continue
        groups = [samples[i].problem_id for i in np.flatnonzero(train)]
        l2 = choose_l2(features[train], labels[train], groups, seed=seed)
        weight, bias = fit_logistic(features[train], labels[train], l2=l2)
        out[held] = _predict(features[held], weight, bias)
    return out
