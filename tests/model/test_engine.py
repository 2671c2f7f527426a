"""The numpy engine: agrees with torch, keeps its probabilities honest, is deterministic and thread-safe;
and the batching it runs on."""

from __future__ import annotations

import itertools
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from model.batch import NEIGHBOUR_CHUNK_EDGES, GraphBatch, collate
from model.config import ModelConfig
from model.engine import GraphSAGEEngine, expected_shapes, init_weights, weight_problems
from model.network import GraphSAGEModel, batch_tensors
from tests.model.graphs import SMALL, random_graph

NO_EDGES = np.zeros((2, 0), dtype=np.int64)


def trained_looking_weights(config: ModelConfig, seed: int) -> dict[str, np.ndarray]:
    """init_weights with non-trivial normalisation, biases and calibration, so every term is exercised."""
    rng = np.random.default_rng(seed)
    weights = init_weights(config, seed=seed)
    for name, value in weights.items():
        if value.ndim == 1:
            weights[name] = rng.normal(scale=0.3, size=value.shape).astype(np.float32)
    weights["feature_mean"] = rng.normal(size=config.feature_dim).astype(np.float32)
    weights["feature_std"] = rng.uniform(0.3, 3.0, size=config.feature_dim).astype(np.float32)
    weights["confidence_scale"] = np.array([1.7], dtype=np.float32)
    weights["confidence_shift"] = np.array([-0.4], dtype=np.float32)
    return weights


def torch_reference(config: ModelConfig, weights: dict[str, np.ndarray], batch: GraphBatch) -> dict:
    model = GraphSAGEModel(config).eval()
    model.load_numpy_weights(weights)
    with torch.no_grad():
        out = model(*batch_tensors(batch))
        location = torch.cat(
            [torch.softmax(out.bug_node_logits[batch.batch == g], dim=0) for g in range(batch.num_graphs)]
        )
        return {
            "embedding": out.embedding.numpy(),
            "confidence": torch.sigmoid(model.confidence_scale * out.confidence_logit + model.confidence_shift).numpy(),
            "confidence_logit": out.confidence_logit.numpy(),
            "import_probs": torch.sigmoid(out.import_logits).numpy(),
            "bug_probs": torch.sigmoid(out.bug_logits).numpy(),
            "bug_node_probs": location.numpy(),
            "node_states": out.node_states.numpy(),
        }


def assert_engine_matches_torch(config: ModelConfig, graphs: list, seed: int = 0) -> None:
    weights = trained_looking_weights(config, seed)
    batch = collate(graphs)
    output = GraphSAGEEngine(config, weights).forward(batch)
    for name, expected in torch_reference(config, weights, batch).items():
        np.testing.assert_allclose(getattr(output, name), expected, rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize(
    "sizes",
    [[1], [2], [1, 1, 1], [2, 3, 1], [5], [12], [3] * 6, [1, 7, 2, 9]],
    ids=lambda sizes: "graphs of " + "+".join(map(str, sizes)),
)
def test_engine_agrees_with_torch_on_random_graphs(sizes: list[int]):
    rng = np.random.default_rng(len(sizes) * 100 + sum(sizes))
    assert_engine_matches_torch(SMALL, [random_graph(rng, n) for n in sizes])


@pytest.mark.parametrize("sizes", [[1], [2], [2, 2, 3], [4] * 4], ids=lambda s: "+".join(map(str, s)))
def test_engine_agrees_with_torch_at_full_size_on_mostly_zero_features(sizes: list[int]):
    config = ModelConfig(num_imports=40, num_bug_kinds=7)
    rng = np.random.default_rng(sum(sizes))
    graphs = [random_graph(rng, n, feature_dim=config.feature_dim, density=0.2) for n in sizes]
    assert_engine_matches_torch(config, graphs, seed=3)


def test_engine_agrees_with_torch_when_features_are_dense_or_all_zero():
    rng = np.random.default_rng(12)
    dense = random_graph(rng, 2)
    zeros = (np.zeros((2, SMALL.feature_dim), dtype=np.float32), np.array([[0, 1], [1, 0]]))
    assert_engine_matches_torch(SMALL, [dense])
    assert_engine_matches_torch(SMALL, [zeros])


def test_probabilities_lie_in_zero_one_and_embeddings_are_unit_norm_even_for_huge_inputs():
    rng = np.random.default_rng(13)
    graphs = [random_graph(rng, n) for n in (1, 3, 4)]
    graphs = [(x * 1e4, edge_index) for x, edge_index in graphs]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        output = GraphSAGEEngine(SMALL, init_weights(SMALL)).forward(collate(graphs))
    for probabilities in (output.confidence, output.import_probs, output.bug_probs, output.bug_node_probs):
        assert np.all((probabilities >= 0) & (probabilities <= 1))
    np.testing.assert_allclose(np.linalg.norm(output.embedding, axis=1), 1.0, rtol=1e-5)


def test_bug_node_probabilities_sum_to_one_within_each_graph():
    rng = np.random.default_rng(14)
    batch = collate([random_graph(rng, n) for n in (1, 4, 2)])
    output = GraphSAGEEngine(SMALL, init_weights(SMALL)).forward(batch)
    np.testing.assert_allclose(np.bincount(batch.batch, weights=output.bug_node_probs), 1.0, rtol=1e-6)


def test_engine_outputs_are_float32_with_one_row_per_graph():
    rng = np.random.default_rng(15)
    output = GraphSAGEEngine(SMALL, init_weights(SMALL)).forward(
        collate([random_graph(rng, n) for n in (2, 1)])
    )
    assert output.embedding.shape == (2, 6) and output.embedding.dtype == np.float32
    assert output.confidence.shape == (2,) and output.confidence.dtype == np.float32
    assert output.import_probs.shape == (2, 5)
    assert output.bug_probs.shape == (2, 3)
    assert output.bug_node_probs.shape == (3,)
    assert output.node_states.shape == (3, 8)


def test_engine_is_invariant_to_node_and_edge_order():
    rng = np.random.default_rng(16)
    x, edge_index = random_graph(rng, 6)
    permutation = rng.permutation(6)
    new_id = np.argsort(permutation)
    shuffled_edges = new_id[edge_index][:, rng.permutation(edge_index.shape[1])]
    engine = GraphSAGEEngine(SMALL, trained_looking_weights(SMALL, 1))
    original = engine.forward(collate([(x, edge_index)]))
    permuted = engine.forward(collate([(x[permutation], shuffled_edges)]))
    np.testing.assert_allclose(permuted.node_states, original.node_states[permutation], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(permuted.bug_node_probs, original.bug_node_probs[permutation], rtol=1e-5)
    np.testing.assert_allclose(permuted.embedding, original.embedding, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(permuted.confidence, original.confidence, rtol=1e-5)


def test_a_node_output_changes_when_a_neighbour_changes_and_not_when_an_unconnected_node_does():
    engine = GraphSAGEEngine(SMALL, trained_looking_weights(SMALL, 2))
    x = np.random.default_rng(17).normal(size=(3, SMALL.feature_dim)).astype(np.float32)
    edge_index = np.array([[0, 1], [1, 0]])
    before = engine.forward(collate([(x, edge_index)])).node_states[0]
    for node, should_change in ((1, True), (2, False)):
        moved = x.copy()
        moved[node] += 1.0
        after = engine.forward(collate([(moved, edge_index)])).node_states[0]
        assert (not np.allclose(after, before)) is should_change


def test_a_graph_of_one_node_gives_one_prediction():
    vector = np.random.default_rng(18).random((1, 978)).astype(np.float32)
    config = ModelConfig()
    output = GraphSAGEEngine(config, init_weights(config)).forward(collate([(vector, NO_EDGES)]))
    assert output.embedding.shape == (1, 256)
    assert output.bug_node_probs.tolist() == [1.0]


def test_engine_refuses_a_batch_with_the_wrong_feature_width():
    engine = GraphSAGEEngine(SMALL, init_weights(SMALL))
    with pytest.raises(ValueError, match="expected 12 features per node, got 13"):
        engine.forward(collate([(np.zeros((1, 13), dtype=np.float32), NO_EDGES)]))


def test_engine_refuses_weights_that_do_not_fit_and_names_each_problem():
    weights = init_weights(SMALL)
    del weights["bug_head.bias"]
    weights["extra"] = np.zeros(1, dtype=np.float32)
    weights["layers.0.weight_root"] = np.zeros((16, 11), dtype=np.float32)
    weights["confidence_scale"] = np.array([np.nan], dtype=np.float32)
    with pytest.raises(ValueError) as caught:
        GraphSAGEEngine(SMALL, weights)
    message = str(caught.value)
    assert 'missing weight "bug_head.bias"' in message
    assert 'unexpected weight "extra"' in message
    assert 'weight "layers.0.weight_root": expected shape (16, 12), got (16, 11)' in message
    assert 'weight "confidence_scale" has non-finite values' in message


def test_init_weights_is_deterministic_per_seed_and_has_the_expected_names_and_shapes():
    first, again, other = init_weights(SMALL, seed=0), init_weights(SMALL, seed=0), init_weights(SMALL, seed=1)
    assert {name: value.shape for name, value in first.items()} == expected_shapes(SMALL)
    assert all(np.array_equal(first[name], again[name]) for name in first)
    assert not np.array_equal(first["layers.0.weight_root"], other["layers.0.weight_root"])
    assert weight_problems(SMALL, first) == []


def test_init_weights_uses_glorot_scale_and_identity_normalisation_and_calibration():
    config = ModelConfig()
    weights = init_weights(config)
    bound = np.sqrt(6.0 / (config.feature_dim + config.hidden_dims[0]))
    root = weights["layers.0.weight_root"]
    assert np.abs(root).max() <= bound
    assert np.std(root) == pytest.approx(bound / np.sqrt(3.0), rel=0.02)
    assert np.all(weights["feature_std"] == 1) and np.all(weights["feature_mean"] == 0)
    assert weights["confidence_scale"].tolist() == [1.0] and weights["confidence_shift"].tolist() == [0.0]


def test_engine_keeps_no_writable_state_and_gives_the_same_answers_from_many_threads():
    rng = np.random.default_rng(19)
    engine = GraphSAGEEngine(SMALL, trained_looking_weights(SMALL, 4))
    batches = [collate([random_graph(rng, n)]) for n in (1, 2, 3, 5, 9, 2, 4, 1)]
    expected = [engine.forward(batch).embedding for batch in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(engine.forward, batches[i % len(batches)]) for i in range(64)]
        results = [future.result(timeout=30) for future in futures]
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result.embedding, expected[i % len(batches)])
    arrays = [value for value in vars(engine).values() if isinstance(value, np.ndarray)]
    assert arrays and not any(array.flags.writeable for array in arrays)


def test_collate_offsets_node_ids_and_numbers_graphs_in_order():
    x1, x2 = np.ones((2, 3), dtype=np.float32), np.zeros((3, 3), dtype=np.float32)
    batch = collate([(x1, np.array([[0, 1], [1, 0]])), (x2, np.array([[0, 2], [2, 1]]))])
    assert batch.num_graphs == 2 and batch.num_nodes == 5
    assert batch.edge_index.tolist() == [[0, 1, 2, 4], [1, 0, 4, 3]]
    assert batch.batch.tolist() == [0, 0, 1, 1, 1]
    assert batch.graph_starts.tolist() == [0, 2] and batch.graph_sizes.tolist() == [2, 3]
    assert batch.x.dtype == np.float32 and batch.edge_index.dtype == np.int64


@pytest.mark.parametrize("sizes", [[3], [2, 1, 4]], ids=["one graph", "three graphs"])
def test_collate_derives_what_a_checked_graph_batch_derives(sizes: list[int]):
    rng = np.random.default_rng(5)
    graphs = [random_graph(rng, n) for n in sizes]
    fast = collate(graphs)
    checked = GraphBatch(fast.x, fast.edge_index, fast.batch, fast.num_graphs)
    for name in ("x", "edge_index", "batch", "graph_starts", "graph_sizes", "inverse_graph_size", "neighbour_sources",
                 "neighbour_targets", "neighbour_starts", "inverse_degree"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(checked, name), err_msg=name)
    assert fast.num_graphs == checked.num_graphs == len(sizes)


def test_without_the_embedding_every_other_output_is_the_same():
    rng = np.random.default_rng(8)
    engine = GraphSAGEEngine(SMALL, trained_looking_weights(SMALL, 1))
    for sizes in ([2], [1, 3]):
        batch = collate([random_graph(rng, n) for n in sizes])
        full, lean = engine.forward(batch), engine.forward(batch, embedding=False)
        assert full.embedding is not None and lean.embedding is None
        for name in ("confidence", "confidence_logit", "import_probs", "bug_probs", "bug_node_probs", "node_states"):
            np.testing.assert_array_equal(getattr(full, name), getattr(lean, name), err_msg=name)


def test_graph_batch_groups_edges_by_target_for_mean_aggregation():
    x = np.zeros((4, 2), dtype=np.float32)
    batch = GraphBatch(x, np.array([[3, 1, 2, 0], [0, 2, 0, 1]]), np.zeros(4, dtype=np.int64), 1)
    assert batch.neighbour_targets.tolist() == [0, 1, 2]
    assert batch.neighbour_starts.tolist() == [0, 2, 3]
    assert batch.neighbour_sources.tolist() == [3, 2, 0, 1]
    assert batch.inverse_degree.ravel().tolist() == [0.5, 1.0, 1.0]


def test_a_graph_with_more_edges_than_a_chunk_is_summed_in_chunks_and_matches_torch():
    rng = np.random.default_rng(12)
    x, edges = random_graph(rng, 40, extra_edges=2 * NEIGHBOUR_CHUNK_EDGES)
    spokes = np.array([np.arange(1, 40).repeat(60), np.zeros(39 * 60, dtype=np.int64)])  # node 0: 2,340 in-edges
    graphs = [random_graph(rng, 3), (x, np.concatenate([edges, spokes], axis=1))]
    batch = collate(graphs)
    assert len(batch.neighbour_chunks) > 2
    weights = trained_looking_weights(SMALL, 3)
    output = GraphSAGEEngine(SMALL, weights).forward(batch)
    for name, expected in torch_reference(SMALL, weights, batch).items():
        np.testing.assert_allclose(getattr(output, name), expected, rtol=1e-4, atol=1e-4, err_msg=name)


def test_neighbour_chunks_cover_every_target_once_within_the_edge_limit():
    rng = np.random.default_rng(4)
    x, edges = random_graph(rng, 300, extra_edges=3 * NEIGHBOUR_CHUNK_EDGES)
    batch = collate([(x, edges)])
    chunks, starts = batch.neighbour_chunks, batch.neighbour_starts
    ends = [*starts[1:].tolist(), batch.num_edges]
    assert chunks[0][0] == 0 and chunks[-1][1] == starts.shape[0]
    assert all(end == first for (_, end), (first, _) in itertools.pairwise(chunks))
    for first, end in chunks:
        assert end > first
        assert ends[end - 1] - starts[first] <= NEIGHBOUR_CHUNK_EDGES or end == first + 1
    small = collate([random_graph(rng, 5)])
    assert small.neighbour_chunks == ((0, small.neighbour_targets.shape[0]),)


@pytest.mark.parametrize(
    ("graphs", "message"),
    [
        ([], "at least one graph"),
        ([(np.zeros((0, 3)), NO_EDGES)], "nodes >= 1"),
        ([(np.zeros(3), NO_EDGES)], "must be"),
        ([(np.zeros((2, 3)), np.array([[0], [2]]))], "outside 0..1"),
        ([(np.zeros((2, 3)), np.array([0, 1]))], r"\(2, edges\)"),
        ([(np.zeros((2, 3)), NO_EDGES), (np.zeros((2, 3)), np.array([[0], [5]]))], "graph 1: .*outside 0..1"),
        ([(np.zeros((2, 3)), NO_EDGES), (np.zeros((2, 4)), NO_EDGES)], "graph 1: x must be"),
    ],
)
def test_collate_refuses_graphs_it_cannot_batch(graphs: list, message: str):
    with pytest.raises(ValueError, match=message):
        collate(graphs)


@pytest.mark.parametrize(
    ("batch_ids", "num_graphs"),
    [([0, 1, 0], 2), ([0, 0, 2], 3), ([1, 1, 1], 2), ([0, 0, 0], 2)],
    ids=["out of order", "an empty graph", "not starting at 0", "fewer graphs than said"],
)
def test_graph_batch_refuses_a_batch_vector_segment_reductions_cannot_use(batch_ids: list, num_graphs: int):
    with pytest.raises(ValueError, match="batch ids must"):
        GraphBatch(np.zeros((3, 2), dtype=np.float32), NO_EDGES, np.array(batch_ids), num_graphs)


def test_each_module_exports_exactly_its_public_names():
    import model.batch
    import model.checkpoint
    import model.config
    import model.engine
    import model.layers
    import model.network

    exported = {
        module.__name__: set(module.__all__)
        for module in (model.batch, model.checkpoint, model.config, model.engine, model.layers, model.network)
    }
    assert exported == {
        "model.batch": {"NEIGHBOUR_CHUNK_EDGES", "GraphBatch", "collate"},
        "model.checkpoint": {
            "CONFIDENCE_PREFIX", "FORMAT_NAME", "FORMAT_VERSION", "METADATA_KEY", "SITE_PREFIX", "VOCABULARY_KEYS",
            "Checkpoint",
            "load_checkpoint", "save_checkpoint", "write_atomically",
        },
        "model.config": {"FEATURE_STD_FLOOR", "MAX_LAYERS", "MAX_WEIGHT_MAGNITUDE", "MAX_WIDTH", "ModelConfig"},
        "model.engine": {"EngineOutput", "GraphSAGEEngine", "expected_shapes", "init_weights", "weight_problems"},
        "model.layers": {"SAGEConv", "graph_log_softmax", "graph_max", "graph_mean", "mean_aggregate"},
        "model.network": {"GraphOutput", "GraphSAGEModel", "batch_tensors"},
    }
    for module_name, names in exported.items():
        module = sys.modules[module_name]
        assert all(hasattr(module, name) for name in names), module_name
