"""SAGEConv and the segment reductions, on tiny hand-made graphs whose answers can be worked out."""

from __future__ import annotations

import pytest
import torch

from model.layers import SAGEConv, graph_log_softmax, graph_max, graph_mean, mean_aggregate


def edges(*pairs: tuple[int, int]) -> torch.Tensor:
    """Directed edges source -> target as a (2, E) int64 tensor."""
    if not pairs:
        return torch.zeros((2, 0), dtype=torch.int64)
    return torch.tensor(pairs, dtype=torch.int64).T


def test_mean_aggregate_averages_each_nodes_in_neighbours_and_gives_zero_to_nodes_without_any():
    h = torch.tensor([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0], [7.0, 70.0]])
    aggregated = mean_aggregate(h, edges((1, 0), (2, 0), (0, 1)))
    expected = torch.tensor([[4.0, 40.0], [1.0, 10.0], [0.0, 0.0], [0.0, 0.0]])
    torch.testing.assert_close(aggregated, expected)


def test_mean_aggregate_counts_a_repeated_edge_twice():
    h = torch.tensor([[0.0], [3.0], [6.0]])
    aggregated = mean_aggregate(h, edges((1, 0), (1, 0), (2, 0)))
    torch.testing.assert_close(aggregated[0], torch.tensor([4.0]))


def test_sage_conv_computes_its_formula_on_a_hand_made_graph():
    conv = SAGEConv(2, 3)
    h = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    edge_index = edges((1, 0), (2, 0), (0, 1))
    out = conv(h, edge_index)
    neighbour_mean = torch.stack([(h[1] + h[2]) / 2, h[0], torch.zeros(2)])
    expected = h @ conv.weight_root.T + neighbour_mean @ conv.weight_neigh.T + conv.bias
    torch.testing.assert_close(out, expected)


def test_a_node_without_neighbours_gets_only_the_root_term_and_bias():
    conv = SAGEConv(4, 5)
    h = torch.randn(1, 4)
    torch.testing.assert_close(conv(h, edges()), h @ conv.weight_root.T + conv.bias)


def test_sage_conv_maps_n_nodes_of_in_dim_to_n_nodes_of_out_dim():
    conv = SAGEConv(7, 11)
    out = conv(torch.randn(6, 7), edges((0, 1), (1, 2), (5, 4)))
    assert out.shape == (6, 11)


def test_sage_conv_weights_are_named_after_the_formula():
    conv = SAGEConv(3, 2)
    shapes = {name: tuple(parameter.shape) for name, parameter in conv.named_parameters()}
    assert shapes == {"weight_root": (2, 3), "weight_neigh": (2, 3), "bias": (2,)}


def test_reset_parameters_draws_fresh_weights_and_zeroes_the_bias():
    conv = SAGEConv(8, 8)
    with torch.no_grad():
        conv.bias.fill_(1.0)
    before = conv.weight_root.detach().clone()
    conv.reset_parameters()
    assert not torch.equal(before, conv.weight_root)
    assert torch.count_nonzero(conv.bias) == 0


def test_graph_mean_and_graph_max_reduce_each_graph_on_its_own():
    h = torch.tensor([[1.0, -1.0], [3.0, -5.0], [10.0, 2.0]])
    batch = torch.tensor([0, 0, 1])
    torch.testing.assert_close(graph_mean(h, batch, 2), torch.tensor([[2.0, -3.0], [10.0, 2.0]]))
    torch.testing.assert_close(graph_max(h, batch, 2), torch.tensor([[3.0, -1.0], [10.0, 2.0]]))


def test_graph_log_softmax_makes_each_graphs_probabilities_sum_to_one():
    logits = torch.tensor([2.0, 0.0, -1.0, 50.0, 49.0])
    batch = torch.tensor([0, 0, 0, 1, 1])
    probabilities = graph_log_softmax(logits, batch, 2).exp()
    sums = torch.zeros(2).index_add_(0, batch, probabilities)
    torch.testing.assert_close(sums, torch.ones(2))
    torch.testing.assert_close(probabilities[:3], torch.softmax(logits[:3], dim=0))


def test_gradients_reach_every_node_through_the_readout():
    h = torch.randn(4, 3, requires_grad=True)
    batch = torch.tensor([0, 0, 1, 1])
    (graph_mean(h, batch, 2).sum() + graph_max(h, batch, 2).sum()).backward()
    assert h.grad is not None
    assert torch.all(h.grad.abs().sum(dim=1) > 0)


@pytest.mark.parametrize("num_nodes", [1, 2, 9])
def test_a_node_output_changes_when_an_in_neighbour_changes(num_nodes: int):
    conv = SAGEConv(3, 4)
    h = torch.randn(num_nodes + 1, 3)
    edge_index = edges(*[(i, 0) for i in range(1, num_nodes + 1)])
    before = conv(h, edge_index)
    h[num_nodes] += 1.0
    after = conv(h, edge_index)
    assert not torch.allclose(before[0], after[0])
