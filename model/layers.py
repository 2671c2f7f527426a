"""GraphSAGE building blocks in torch: the SAGE convolution and segment reductions over a batch.

Owns: `SAGEConv`, `mean_aggregate`, and the per-graph reductions (`graph_mean`, `graph_max`,
`graph_log_softmax`) the network's readout and bug-location head use. Leaves to others: stacking
layers and heads (model/network.py) and the numpy inference mirror (model/engine.py).
Training and reference only: the daemon never imports this module.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["SAGEConv", "graph_log_softmax", "graph_max", "graph_mean", "mean_aggregate"]


class SAGEConv(nn.Module):
    r"""The GraphSAGE operator with mean aggregation, from Hamilton et al., "Inductive Representation
    Learning on Large Graphs" (NeurIPS 2017):

    .. math::
        h_i' = W_{root} h_i + W_{neigh} \cdot \mathrm{mean}_{j \in N(i)} h_j + b

    where N(i) are the sources of the edges that end at i. A node without in-neighbours gets a zero
    aggregate, so a one-node graph reduces to W_root h + b.

    Args:
        in_dim: width of the input node states.
        out_dim: width of the output node states.

    Shapes:
        input: h (N, in_dim), edge_index (2, E) int64, messages flowing edge_index[0] -> [1].
        output: (N, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.weight_root = nn.Parameter(torch.empty(out_dim, in_dim))
        self.weight_neigh = nn.Parameter(torch.empty(out_dim, in_dim))
        self.bias = nn.Parameter(torch.empty(out_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights and a zero bias, the same scheme as `model.engine.init_weights`."""
        nn.init.xavier_uniform_(self.weight_root)
        nn.init.xavier_uniform_(self.weight_neigh)
        nn.init.zeros_(self.bias)

    def forward(self, h: Tensor, edge_index: Tensor) -> Tensor:
        neighbour_mean = mean_aggregate(h, edge_index)  # (N, in_dim)
        return h @ self.weight_root.T + neighbour_mean @ self.weight_neigh.T + self.bias  # (N, out_dim)

    def extra_repr(self) -> str:
        return f"{self.in_dim}, {self.out_dim}, aggr=mean"


def mean_aggregate(h: Tensor, edge_index: Tensor) -> Tensor:
    """Mean of each node's in-neighbours' states; zero for nodes with none. (N, D) -> (N, D)."""
    sources, targets = edge_index
    total = h.new_zeros(h.shape).index_add_(0, targets, h[sources])
    degree = h.new_zeros(h.shape[0]).index_add_(0, targets, h.new_ones(targets.shape[0]))
    return total / degree.clamp(min=1.0).unsqueeze(1)


def graph_mean(h: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Mean of node states per graph. (N, D) -> (G, D)."""
    total = h.new_zeros(num_graphs, h.shape[1]).index_add_(0, batch, h)
    count = h.new_zeros(num_graphs).index_add_(0, batch, h.new_ones(batch.shape[0]))
    return total / count.clamp(min=1.0).unsqueeze(1)


def graph_max(h: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Element-wise max of node states per graph. (N, D) -> (G, D); every graph needs a node."""
    start = h.new_full((num_graphs, h.shape[1]), -math.inf)
    return start.scatter_reduce(0, batch.unsqueeze(1).expand_as(h), h, reduce="amax", include_self=True)


def graph_log_softmax(logits: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Log-softmax of per-node logits within each graph, so each graph's nodes sum to 1. (N,) -> (N,)."""
    graph_max_logit = graph_max(logits.unsqueeze(1), batch, num_graphs).squeeze(1).detach()  # (G,)
    shifted = logits - graph_max_logit[batch]
    exp_sum = logits.new_zeros(num_graphs).index_add_(0, batch, shifted.exp())  # (G,)
    return shifted - exp_sum.log()[batch]
