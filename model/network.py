"""The GraphSAGE network in torch, for training and as the reference the numpy engine must match.

Owns: `GraphSAGEModel` (input normalisation, SAGE layers, mean+max readout, four heads and the
Platt-scaling pair), its output `GraphOutput`, and the bridge to numpy weights
(`numpy_weights`/`load_numpy_weights`, named and shaped as `model.engine.expected_shapes` says).
Leaves to others: the layer itself (model/layers.py), inference in the daemon (model/engine.py),
saving (model/checkpoint.py), losses and the training loop (training/).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.batch import GraphBatch
from model.config import FEATURE_STD_FLOOR, ModelConfig
from model.engine import weight_problems
from model.layers import SAGEConv, graph_max, graph_mean

__all__ = ["GraphOutput", "GraphSAGEModel", "batch_tensors"]


class GraphOutput(NamedTuple):
    """Raw outputs of one forward pass over G graphs with N nodes in all."""

    node_states: Tensor  # (N, node_dim)
    embedding: Tensor  # (G, embedding_dim), unit norm
    confidence_logit: Tensor  # (G,), before Platt scaling
    import_logits: Tensor  # (G, num_imports)
    bug_logits: Tensor  # (G, num_bug_kinds)
    bug_node_logits: Tensor  # (N,), softmax within each graph says which node holds the bug


class GraphSAGEModel(nn.Module):
    """GraphSAGE over code graphs with four heads.

    x is normalised as (x - feature_mean) / max(feature_std, floor), passes through the SAGE
    layers (ReLU and dropout between them), and each graph is read out as the mean and max of its
    final node states. Graph heads read that readout; the bug-location head reads node states.
    feature_mean/feature_std are buffers that training sets from data, not by gradient.
    confidence_scale/confidence_shift (a Platt pair the engine applies to the confidence logit) are
    buffers too; training leaves them at the identity (1, 0), since for code the daemon's confidence
    comes from model/confidence.py, and keeps them so that every checkpoint has the same tensors.

    Args:
        config: sizes; the model can always be rebuilt from it.

    Shapes:
        input: x (N, feature_dim), edge_index (2, E), batch (N,) graph id per node, num_graphs G.
        output: `GraphOutput`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim))
        self.register_buffer("feature_std", torch.ones(config.feature_dim))
        self.layers = nn.ModuleList(SAGEConv(in_dim, out_dim) for in_dim, out_dim in config.layer_dims)
        readout = config.readout_dim
        self.embedding_head = nn.Linear(readout, config.embedding_dim)
        self.confidence_head = nn.Linear(readout, 1)
        self.import_head = _linear(readout, config.num_imports)
        self.bug_head = _linear(readout, config.num_bug_kinds)
        self.bug_location_head = nn.Linear(config.node_dim, 1)
        self.register_buffer("confidence_scale", torch.ones(1))
        self.register_buffer("confidence_shift", torch.zeros(1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights, zero biases (as `model.engine.init_weights`); buffers untouched."""
        for layer in self.layers:
            layer.reset_parameters()
        for head in self._heads():
            if head.weight.numel():
                nn.init.xavier_uniform_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor, num_graphs: int) -> GraphOutput:
        h = (x - self.feature_mean) / self.feature_std.clamp(min=FEATURE_STD_FLOOR)  # (N, feature_dim)
        for index, layer in enumerate(self.layers):
            h = layer(h, edge_index)  # (N, hidden_dims[index])
            if index != len(self.layers) - 1:
                h = F.dropout(F.relu(h), p=self.config.dropout, training=self.training)
        readout = torch.cat([graph_mean(h, batch, num_graphs), graph_max(h, batch, num_graphs)], dim=1)
        # readout: (G, 2 * node_dim)
        return GraphOutput(
            node_states=h,
            embedding=F.normalize(self.embedding_head(readout), dim=1),
            confidence_logit=self.confidence_head(readout).squeeze(1),
            import_logits=self.import_head(readout),
            bug_logits=self.bug_head(readout),
            bug_node_logits=self.bug_location_head(h).squeeze(1),
        )

    @torch.no_grad()
    def set_feature_statistics(self, mean: Tensor, std: Tensor) -> None:
        """Install the training corpus's per-feature mean and std for input normalisation."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std)

    def numpy_weights(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer as a float32 numpy copy, named as the engine expects."""
        return {
            name: tensor.detach().cpu().numpy().astype(np.float32, copy=True)
            for name, tensor in self.state_dict().items()
        }

    def load_numpy_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load weights from `numpy_weights`, an engine or a checkpoint; refuses any mismatch."""
        problems = weight_problems(self.config, weights)
        if problems:
            raise ValueError("weights do not fit the config: " + "; ".join(problems))
        self.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in weights.items()})

    def _heads(self) -> list[nn.Linear]:
        return [
            self.embedding_head,
            self.confidence_head,
            self.import_head,
            self.bug_head,
            self.bug_location_head,
        ]


def _linear(in_dim: int, out_dim: int) -> nn.Linear:
    """nn.Linear that accepts an empty vocabulary (out_dim 0) without torch's no-op-init warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors is a no-op")
        return nn.Linear(in_dim, out_dim)


def batch_tensors(batch: GraphBatch) -> tuple[Tensor, Tensor, Tensor, int]:
    """(x, edge_index, batch, num_graphs) of a numpy `GraphBatch`, ready for `GraphSAGEModel`."""
    return (
        torch.from_numpy(batch.x),
        torch.from_numpy(batch.edge_index),
        torch.from_numpy(batch.batch),
        batch.num_graphs,
    )
