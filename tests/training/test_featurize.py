"""The graph table: the daemon's own graphs, addressed by source, cached on disk, bad code left out."""

import numpy as np

from model.graph import build_graph
from training.cache import entries
from training.featurize import featurize

SOURCES = ["def f(x):\n    return x + 1\n", "class A:\n    def m(self):\n        return self\n", "def (:\n"]


def test_stored_graphs_are_the_daemons_graphs(tmp_path):
    table = featurize(SOURCES, cache_dir=tmp_path, workers=1, progress=False)
    for source in SOURCES[:2]:
        x, edges = table.graph(table.position(source))
        graph = build_graph(source)
        assert np.allclose(x, graph.features, atol=1e-2, rtol=1e-3)  # stored as float16
        assert np.array_equal(edges, graph.edge_index)


def test_code_that_does_not_parse_has_no_entry(tmp_path):
    table = featurize(SOURCES, cache_dir=tmp_path, workers=1, progress=False)
    assert len(table) == 2 and not table.has(SOURCES[2])


def test_the_table_is_one_file_in_the_cache_with_no_temporary_file_left(tmp_path):
    featurize(SOURCES, cache_dir=tmp_path, workers=1, progress=False)
    [entry] = entries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [entry.path.name] and entry.data_set.startswith("graphs-")


def test_a_second_call_reads_the_cache(tmp_path, monkeypatch):
    featurize(SOURCES, cache_dir=tmp_path, workers=1, progress=False)
    monkeypatch.setattr("training.featurize._run", lambda *a: (_ for _ in ()).throw(AssertionError("rebuilt")))
    table = featurize(list(reversed(SOURCES)), cache_dir=tmp_path, workers=1, progress=False)
    assert len(table) == 2


def test_node_spans_give_each_nodes_lines(tmp_path):
    table = featurize(SOURCES[1:2], cache_dir=None, workers=1, progress=False)
    starts, ends = table.node_span(0)
    assert starts.tolist() == [1, 1, 2] and ends.tolist() == [3, 3, 3]


def test_graphs_built_by_another_extractor_are_not_reused(tmp_path, monkeypatch):
    sources = ["def f(a):\n    return a\n"]
    featurize(sources, cache_dir=tmp_path, workers=1, progress=False)
    monkeypatch.setattr("training.featurize.extractor_digest", lambda: "a fixed extractor")
    featurize(sources, cache_dir=tmp_path, workers=1, progress=False)
    assert len(list(tmp_path.glob("graphs-*.npz"))) == 2
