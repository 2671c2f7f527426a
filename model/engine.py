"""The numpy GraphSAGE forward the daemon serves with, and the weight names and shapes it shares with torch.

Owns: `expected_shapes` (the one table of weight names and shapes, which the torch module and the
checkpoint format both follow), `weight_problems` (what is wrong with a weight dict),
`init_weights` (the deterministic untrained fallback) and `GraphSAGEEngine`, a float32 forward
whose math is that of `model.network.GraphSAGEModel` in eval mode. Leaves to others: training
(model/network.py, training/), storing weights (model/checkpoint.py), turning outputs into
predictions (model/predictor.py). No torch: the daemon starts and serves with numpy alone.

Speed notes: input normalisation is folded into the first layer's weights, whose rows are then
read only for the feature columns in use. Each SAGE layer is one matmul with [W_root | W_neigh]
side by side, then the neighbour half is mean-aggregated (the mean commutes with the linear map,
and aggregating after the matmul touches out_dim columns rather than in_dim). The confidence,
imports and bugs heads are one matmul too; the embedding head is apart, run only when asked.
Segment reductions use `np.add.reduceat` over the runs `GraphBatch` prepared, never `np.add.at`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.batch import GraphBatch
from model.config import FEATURE_STD_FLOOR, MAX_WEIGHT_MAGNITUDE, ModelConfig

__all__ = [
    "EngineOutput",
    "GraphSAGEEngine",
    "expected_shapes",
    "init_weights",
    "weight_problems",
]

_NORM_FLOOR = 1e-12  # as torch.nn.functional.normalize

_ROW_BY_ROW_MAX = 8
"""Up to this many rows, multiply one row at a time. OpenBLAS's gemm packs the whole weight
matrix before multiplying, which for a few rows costs more than streaming the weights once per
row as a gemv (measured here, whole forward: 2 nodes 285 us row by row, 710 us as gemm; the two
meet near 10 rows)."""

_SPARSE_MAX_FRACTION = 0.5
"""A row multiplies only its non-zero features' weight rows when at most this fraction is
non-zero; above it, copying those rows costs more than it saves."""


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight; linear weights are (out, in) as in torch."""
    readout, node = config.readout_dim, config.node_dim
    shapes: dict[str, tuple[int, ...]] = {
        "feature_mean": (config.feature_dim,),
        "feature_std": (config.feature_dim,),
    }
    for index, (in_dim, out_dim) in enumerate(config.layer_dims):
        shapes[f"layers.{index}.weight_root"] = (out_dim, in_dim)
        shapes[f"layers.{index}.weight_neigh"] = (out_dim, in_dim)
        shapes[f"layers.{index}.bias"] = (out_dim,)
    for head, width, fan_in in (
        ("embedding_head", config.embedding_dim, readout),
        ("confidence_head", 1, readout),
        ("import_head", config.num_imports, readout),
        ("bug_head", config.num_bug_kinds, readout),
        ("bug_location_head", 1, node),
    ):
        shapes[f"{head}.weight"] = (width, fan_in)
        shapes[f"{head}.bias"] = (width,)
    shapes["confidence_scale"] = (1,)
    shapes["confidence_shift"] = (1,)
    return shapes


def weight_problems(config: ModelConfig, weights: dict[str, np.ndarray]) -> list[str]:
    """Every way `weights` fails to fit `config`, one sentence each; empty when they fit."""
    shapes = expected_shapes(config)
    problems = [f'missing weight "{name}"' for name in shapes if name not in weights]
    problems += [f'unexpected weight "{name}"' for name in weights if name not in shapes]
    for name, expected in shapes.items():
        value = weights.get(name)
        if value is None:
            continue
        if not isinstance(value, np.ndarray):
            problems.append(f'weight "{name}" is a {type(value).__name__}, not a numpy array')
        elif value.shape != expected:
            problems.append(f'weight "{name}": expected shape {expected}, got {value.shape}')
        elif value.dtype != np.float32:
            problems.append(f'weight "{name}": expected dtype float32, got {value.dtype}')
        elif not np.isfinite(value).all():
            problems.append(f'weight "{name}" has non-finite values (NaN or inf)')
        elif value.size and (largest := max(float(value.max()), -float(value.min()))) > MAX_WEIGHT_MAGNITUDE:
            # by the extremes, not abs(): no temporary as large as the weight (model.sites.bounded says why)
            problems.append(f'weight "{name}" holds values up to {largest:.3g} in magnitude, '
                            f"beyond {MAX_WEIGHT_MAGNITUDE:g} (a trained network's are a few units)")
    return problems


def init_weights(config: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Untrained weights, the same for the same (config, seed): Glorot-uniform matrices, zero
    biases, identity input normalisation and identity Platt scaling."""
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    for name, shape in expected_shapes(config).items():
        if name in ("feature_std", "confidence_scale"):
            weights[name] = np.ones(shape, dtype=np.float32)
        elif len(shape) == 2:
            fan_out, fan_in = shape
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            weights[name] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
        else:
            weights[name] = np.zeros(shape, dtype=np.float32)
    return weights


@dataclass(frozen=True, slots=True)
class EngineOutput:
    """What the network says about each graph of a batch (G graphs, N nodes).

    embedding (G, embedding_dim) unit-norm (None when not asked for); confidence (G,) calibrated probability the code is
    correct; confidence_logit (G,) before calibration; import_probs (G, num_imports) and
    bug_probs (G, num_bug_kinds) independent sigmoids; bug_node_probs (N,) which node holds the
    bug, summing to 1 within each graph; node_states (N, node_dim) final SAGE states.
    """

    embedding: np.ndarray | None
    confidence: np.ndarray
    confidence_logit: np.ndarray
    import_probs: np.ndarray
    bug_probs: np.ndarray
    bug_node_probs: np.ndarray
    node_states: np.ndarray


@dataclass(frozen=True, slots=True)
class _Layer:
    weight: np.ndarray  # (in, 2 * out): [W_root^T | W_neigh^T]
    bias: np.ndarray  # (out,)
    neighbour_offset: np.ndarray | None  # (out,), subtracted from nodes that have neighbours
    out_dim: int


class GraphSAGEEngine:
    """Float32 numpy forward of the GraphSAGE network; immutable after construction, so one
    instance may serve many threads at once."""

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray]) -> None:
        problems = weight_problems(config, weights)
        if problems:
            raise ValueError("weights do not fit the config: " + "; ".join(problems))
        self.config = config
        self._layers = [_fuse_layer(weights, index) for index in range(len(config.hidden_dims))]
        self._layers[0] = _fold_normalisation(
            self._layers[0], weights["feature_mean"], weights["feature_std"]
        )
        head_names = ("confidence_head", "import_head", "bug_head")  # one matrix: one pass over the readout
        self._head_weight = _frozen(np.concatenate([weights[f"{h}.weight"] for h in head_names]).T)
        self._head_bias = _frozen(np.concatenate([weights[f"{h}.bias"] for h in head_names]))
        # apart, so a prediction that does not ask for the embedding never reads its weights
        self._embedding_weight = _frozen(weights["embedding_head.weight"].T)
        self._embedding_bias = _frozen(weights["embedding_head.bias"])
        self._location_weight = _frozen(weights["bug_location_head.weight"][0])  # (node_dim,)
        self._location_bias = float(weights["bug_location_head.bias"][0])
        self._confidence_scale = float(weights["confidence_scale"][0])
        self._confidence_shift = float(weights["confidence_shift"][0])

    def forward(self, batch: GraphBatch, *, embedding: bool = True) -> EngineOutput:
        """Run every head on every graph of `batch`; with `embedding=False` the embedding is None."""
        if batch.x.shape[1] != self.config.feature_dim:
            raise ValueError(f"expected {self.config.feature_dim} features per node, got {batch.x.shape[1]}")
        h = _sage_layer(_project_features(batch.x, self._layers[0].weight), self._layers[0], batch)
        for layer in self._layers[1:]:  # h: (N, out) of the layer before
            np.maximum(h, 0.0, out=h)
            h = _sage_layer(_project(h, layer.weight), layer, batch)
        readout = np.concatenate(
            [
                np.add.reduceat(h, batch.graph_starts, axis=0) * batch.inverse_graph_size,
                np.maximum.reduceat(h, batch.graph_starts, axis=0),
            ],
            axis=1,
        )  # (G, 2 * node_dim)
        graph_logits = _project(readout, self._head_weight) + self._head_bias  # (G, 1 + I + K)
        imports_end = 1 + self.config.num_imports
        confidence_logit = graph_logits[:, 0].copy()  # (G,)
        graph_logits[:, 0] *= self._confidence_scale  # Platt scaling, then one sigmoid
        graph_logits[:, 0] += self._confidence_shift
        probabilities = _sigmoid(graph_logits)  # (G, 1 + I + K)
        location_logits = h @ self._location_weight + self._location_bias  # (N,)
        vectors = _project(readout, self._embedding_weight) + self._embedding_bias if embedding else None
        return EngineOutput(
            embedding=_l2_normalise(vectors) if vectors is not None else None,
            confidence=probabilities[:, 0],
            confidence_logit=confidence_logit,
            import_probs=probabilities[:, 1:imports_end],
            bug_probs=probabilities[:, imports_end:],
            bug_node_probs=_graph_softmax(location_logits, batch),
            node_states=h,
        )

    __call__ = forward


def _fuse_layer(weights: dict[str, np.ndarray], index: int) -> _Layer:
    root, neigh = weights[f"layers.{index}.weight_root"], weights[f"layers.{index}.weight_neigh"]
    return _Layer(
        weight=_frozen(np.concatenate([root, neigh]).T),
        bias=_frozen(weights[f"layers.{index}.bias"]),
        neighbour_offset=None,
        out_dim=root.shape[0],
    )


def _fold_normalisation(layer: _Layer, mean: np.ndarray, std: np.ndarray) -> _Layer:
    """Fold x -> (x - mean) / std into the first layer, so raw (mostly zero) features go straight in.

    W (x - m) / s = (W / s) x - (W / s) m. The root half's constant joins the bias; the neighbour
    half's applies only to nodes with neighbours (a node without any aggregates zero), because the
    mean of normalised neighbours is the normalised mean of raw ones.
    """
    inverse_std = 1.0 / np.maximum(std.astype(np.float64), FEATURE_STD_FLOOR)
    weight = layer.weight.astype(np.float64) * inverse_std[:, None]  # (in, 2 * out)
    offset = mean.astype(np.float64) @ weight  # (2 * out,)
    return _Layer(
        weight=_frozen(weight),
        bias=_frozen(layer.bias - offset[: layer.out_dim]),
        neighbour_offset=_frozen(offset[layer.out_dim :]),
        out_dim=layer.out_dim,
    )


def _sage_layer(both: np.ndarray, layer: _Layer, batch: GraphBatch) -> np.ndarray:
    """h' = h W_root^T + mean_{j in N(i)} (h_j W_neigh^T) + b, from `both` = h [W_root^T | W_neigh^T]."""
    out = both[:, : layer.out_dim] + layer.bias  # (N, out)
    if batch.num_edges:
        projected = both[:, layer.out_dim :]
        if batch.neighbour_targets.shape[0] == batch.num_edges:  # one in-neighbour each: the mean is it
            neighbour_mean = projected[batch.neighbour_sources]
        else:
            neighbour_mean = _neighbour_sums(projected, batch)  # (T, out)
            neighbour_mean *= batch.inverse_degree
        if layer.neighbour_offset is not None:
            neighbour_mean -= layer.neighbour_offset
        out[batch.neighbour_targets] += neighbour_mean
    return out


def _neighbour_sums(projected: np.ndarray, batch: GraphBatch) -> np.ndarray:
    """Each target's sum of its in-neighbours' rows of `projected`, a chunk of edges at a time
    (`GraphBatch.neighbour_chunks`): the gathered rows are one chunk's, not the whole graph's (a
    target with more in-edges than a chunk holds is gathered alone)."""
    sources, starts = batch.neighbour_sources, batch.neighbour_starts
    if len(batch.neighbour_chunks) == 1:
        return np.add.reduceat(projected[sources], starts, axis=0)
    sums = np.empty((starts.shape[0], projected.shape[1]), dtype=projected.dtype)
    for first, end in batch.neighbour_chunks:
        edge_first = starts[first]
        edge_end = starts[end] if end < starts.shape[0] else sources.shape[0]
        part = projected[sources[edge_first:edge_end]]
        sums[first:end] = np.add.reduceat(part, starts[first:end] - edge_first, axis=0)
    return sums


def _project_features(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """x @ weight; for a few rows, reading only the weight rows of features some row sets: code
    features are mostly zero (about 20% of 978 set for a small function), the rows of one graph
    set mostly the same ones, and the first layer's matrix is half of all the weights (measured, a
    2-node graph between extractions: 0.39 ms whole forward taking rows per node, 0.34 ms taking
    their union once)."""
    if x.shape[0] > _ROW_BY_ROW_MAX:
        return x @ weight
    used = np.flatnonzero(x.any(axis=0))
    if used.shape[0] > _SPARSE_MAX_FRACTION * x.shape[1]:
        return _project(x, weight)
    return _project(x[:, used], weight.take(used, axis=0))


def _project(rows: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """rows @ weight, row by row when there are few rows (see _ROW_BY_ROW_MAX)."""
    if rows.shape[0] == 1 or rows.shape[0] > _ROW_BY_ROW_MAX:  # one row is a single gemv already
        return rows @ weight
    out = np.empty((rows.shape[0], weight.shape[1]), dtype=np.float32)
    for row, target in zip(rows, out, strict=True):
        np.matmul(row, weight, out=target)
    return out


def _graph_softmax(logits: np.ndarray, batch: GraphBatch) -> np.ndarray:
    """Softmax of per-node logits within each graph. (N,) -> (N,)."""
    if batch.num_graphs == 1:  # a lone prediction: no segments to index
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()
    shifted = logits - np.maximum.reduceat(logits, batch.graph_starts)[batch.batch]
    exp = np.exp(shifted)
    return exp / np.add.reduceat(exp, batch.graph_starts)[batch.batch]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function without overflow for large |z|: exp(-log(1 + exp(-z)))."""
    return np.exp(-np.logaddexp(0.0, -z))


def _l2_normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, _NORM_FLOOR)


def _frozen(array: np.ndarray) -> np.ndarray:
    """A contiguous float32 copy nobody can write to: the engine shares it across threads."""
    copy = np.array(array, dtype=np.float32, order="C", copy=True)
    copy.setflags(write=False)
    return copy
