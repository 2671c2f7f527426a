"""GraphSAGEModel: shapes, invariances, locality of message passing, weights in and out, and its config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.batch import collate
from model.config import ModelConfig
from model.engine import expected_shapes
from model.network import GraphSAGEModel, batch_tensors
from tests.model.graphs import SMALL, random_graph


def run(model: GraphSAGEModel, graphs: list[tuple[np.ndarray, np.ndarray]]):
    with torch.no_grad():
        return model(*batch_tensors(collate(graphs)))


@pytest.fixture
def model() -> GraphSAGEModel:
    torch.manual_seed(0)
    return GraphSAGEModel(SMALL).eval()


def test_outputs_have_one_row_per_graph_and_one_location_logit_per_node(model):
    rng = np.random.default_rng(0)
    out = run(model, [random_graph(rng, 3, extra_edges=2), random_graph(rng, 1), random_graph(rng, 5, extra_edges=4)])
    assert out.node_states.shape == (9, 8)
    assert out.embedding.shape == (3, 6)
    assert out.confidence_logit.shape == (3,)
    assert out.import_logits.shape == (3, 5)
    assert out.bug_logits.shape == (3, 3)
    assert out.bug_node_logits.shape == (9,)


def test_embeddings_are_unit_norm(model):
    rng = np.random.default_rng(1)
    out = run(model, [random_graph(rng, n, extra_edges=3) for n in (1, 2, 6)])
    torch.testing.assert_close(out.embedding.norm(dim=1), torch.ones(3))


def test_a_graph_of_one_node_gives_one_prediction(model):
    x = np.random.default_rng(2).normal(size=(1, SMALL.feature_dim)).astype(np.float32)
    out = run(model, [(x, np.zeros((2, 0), dtype=np.int64))])
    assert out.embedding.shape == (1, 6)
    assert torch.isfinite(out.confidence_logit).all()


def test_permuting_nodes_permutes_node_outputs_and_leaves_graph_outputs_unchanged(model):
    rng = np.random.default_rng(3)
    x, edge_index = random_graph(rng, 7, extra_edges=5)
    permutation = rng.permutation(7)  # new node i is old node permutation[i]
    new_id = np.argsort(permutation)
    original = run(model, [(x, edge_index)])
    permuted = run(model, [(x[permutation], new_id[edge_index])])
    torch.testing.assert_close(permuted.node_states, original.node_states[permutation])
    torch.testing.assert_close(permuted.bug_node_logits, original.bug_node_logits[permutation])
    for name in ("embedding", "confidence_logit", "import_logits", "bug_logits"):
        torch.testing.assert_close(getattr(permuted, name), getattr(original, name))


def test_reordering_edges_changes_nothing(model):
    rng = np.random.default_rng(4)
    x, edge_index = random_graph(rng, 6, extra_edges=6)
    shuffled = edge_index[:, rng.permutation(edge_index.shape[1])]
    original, reordered = run(model, [(x, edge_index)]), run(model, [(x, shuffled)])
    for a, b in zip(original, reordered, strict=True):
        torch.testing.assert_close(a, b)


def test_a_node_output_changes_when_a_neighbour_changes_and_not_when_an_unconnected_node_does(model):
    x = np.random.default_rng(5).normal(size=(3, SMALL.feature_dim)).astype(np.float32)
    edge_index = np.array([[0, 1], [1, 0]])  # node 2 is alone
    before = run(model, [(x, edge_index)]).node_states
    neighbour_moved = x.copy()
    neighbour_moved[1] += 1.0
    stranger_moved = x.copy()
    stranger_moved[2] += 1.0
    assert not torch.allclose(run(model, [(neighbour_moved, edge_index)]).node_states[0], before[0])
    torch.testing.assert_close(run(model, [(stranger_moved, edge_index)]).node_states[0], before[0])


def test_graphs_in_one_batch_do_not_see_each_other(model):
    rng = np.random.default_rng(6)
    first, second = random_graph(rng, 4, extra_edges=2), random_graph(rng, 3, extra_edges=1)
    together = run(model, [first, second])
    alone = run(model, [first])
    torch.testing.assert_close(together.embedding[:1], alone.embedding)
    torch.testing.assert_close(together.node_states[:4], alone.node_states)


def test_state_dict_names_and_shapes_are_those_the_engine_expects(model):
    shapes = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    assert shapes == expected_shapes(SMALL)


def test_numpy_weights_load_back_into_a_fresh_model_with_identical_outputs(model):
    rng = np.random.default_rng(7)
    graphs = [random_graph(rng, 4, extra_edges=2)]
    other = GraphSAGEModel(SMALL).eval()
    other.load_numpy_weights(model.numpy_weights())
    for a, b in zip(run(model, graphs), run(other, graphs), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_load_numpy_weights_names_the_weight_with_the_wrong_shape(model):
    weights = model.numpy_weights()
    weights["layers.1.weight_neigh"] = np.zeros((16, 15), dtype=np.float32)
    with pytest.raises(ValueError, match=r'"layers.1.weight_neigh": expected shape \(16, 16\), got \(16, 15\)'):
        model.load_numpy_weights(weights)


def test_inputs_are_normalised_with_the_feature_statistics_before_the_first_layer(model):
    rng = np.random.default_rng(8)
    x, edge_index = random_graph(rng, 3, extra_edges=1)
    mean = rng.normal(size=SMALL.feature_dim).astype(np.float32)
    std = rng.uniform(0.5, 2.0, size=SMALL.feature_dim).astype(np.float32)
    baseline = run(model, [((x - mean) / std, edge_index)])
    model.set_feature_statistics(torch.from_numpy(mean), torch.from_numpy(std))
    torch.testing.assert_close(run(model, [(x, edge_index)]).node_states, baseline.node_states)


def test_dropout_acts_in_training_mode_only():
    config = ModelConfig(feature_dim=12, hidden_dims=(64, 64, 8), embedding_dim=6, dropout=0.5)
    torch.manual_seed(9)
    model = GraphSAGEModel(config)
    x, edge_index = random_graph(np.random.default_rng(9), 5, extra_edges=2)
    tensors = batch_tensors(collate([(x, edge_index)]))
    model.train()
    assert not torch.equal(model(*tensors).node_states, model(*tensors).node_states)
    model.eval()
    assert torch.equal(model(*tensors).node_states, model(*tensors).node_states)


def test_every_parameter_receives_a_gradient():
    torch.manual_seed(10)
    model = GraphSAGEModel(SMALL).train()
    rng = np.random.default_rng(10)
    out = model(*batch_tensors(collate([random_graph(rng, 4, extra_edges=2), random_graph(rng, 2)])))
    loss = sum(tensor.square().sum() for tensor in (out.confidence_logit, out.import_logits, out.bug_logits))
    loss = loss + out.bug_node_logits.square().sum() + (out.embedding[:, 0]).sum()
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_heads_with_empty_vocabularies_give_zero_width_outputs():
    model = GraphSAGEModel(ModelConfig(feature_dim=12, hidden_dims=(8,), embedding_dim=4)).eval()
    out = run(model, [random_graph(np.random.default_rng(11), 2)])
    assert out.import_logits.shape == (1, 0)
    assert out.bug_logits.shape == (1, 0)


def test_config_round_trips_through_a_json_able_dict():
    assert ModelConfig.from_dict(SMALL.to_dict()) == SMALL
    assert SMALL.to_dict()["hidden_dims"] == [16, 16, 8]


def test_config_from_dict_refuses_unknown_keys_by_name():
    with pytest.raises(ValueError, match=r"unknown model config keys \['hiden_dims'\]"):
        ModelConfig.from_dict({"hiden_dims": [4]})


@pytest.mark.parametrize(
    ("field", "value"),
    [("feature_dim", 0), ("hidden_dims", ()), ("hidden_dims", (8, -1)), ("dropout", 1.0), ("num_imports", True)],
)
def test_config_refuses_values_that_cannot_build_a_network(field: str, value: object):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        ModelConfig(**{field: value})


def test_default_config_is_978_to_256_256_256():
    config = ModelConfig()
    assert config.layer_dims == [(978, 256), (256, 256), (256, 256)]
    assert config.embedding_dim == 256
