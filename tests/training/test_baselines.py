"""Baselines: what each one can see and what it is blind to, on tiny hand-made code."""

from __future__ import annotations

import numpy as np
import pytest

from training import baselines
from training.baselines import (
    AST_NODE_TYPES,
    AstCountBaseline,
    ImportDictionaryBaseline,
    ast_bag_embedding,
    ast_type_counts,
    statement_bindings,
)
from training.datasets import ImportSample
from training.metrics import auroc


def test_the_public_names_are_pinned():
    assert sorted(baselines.__all__) == [
        "AST_NODE_TYPES", "AstCountBaseline", "ImportDictionaryBaseline", "ast_bag_embedding",
        "ast_type_counts", "statement_bindings",
    ]


def _count(source: str, name: str) -> float:
    return ast_type_counts([source])[0, AST_NODE_TYPES.index(name)]


def test_ast_type_counts_count_every_node_of_each_type():
    source = "x = a + b"
    assert _count(source, "Name") == 3
    assert _count(source, "Load") == 2
    assert _count(source, "Store") == 1
    assert _count(source, "BinOp") == 1
    assert _count(source, "Add") == 1
    assert _count(source, "For") == 0


def test_code_that_does_not_parse_gives_a_zero_row():
    assert not ast_type_counts(["def (:"]).any()


def _loop(name: str, index: int) -> str:
    return f"def f{index}({name}):\n    total = 0\n    for item in {name}:\n        total += item\n    return total\n"


def _straight(name: str, index: int) -> str:
    return f"def g{index}({name}):\n    return {name} * {index + 2}\n"


def test_the_ast_count_baseline_learns_a_difference_in_shape():
    names = ["values", "xs", "data", "items", "rows", "things"]
    train = [_loop(n, i) for i, n in enumerate(names)] + [_straight(n, i) for i, n in enumerate(names)]
    labels = [1] * len(names) + [0] * len(names)
    model = AstCountBaseline().fit(train, labels)
    test = [_loop("numbers", 9), _straight("numbers", 9)]
    scores = model.score(test)
    assert auroc([1, 0], scores) == 1.0
    assert ((scores > 0) & (scores < 1)).all()


def test_the_ast_count_baseline_is_blind_to_which_name_goes_where():
    model = AstCountBaseline().fit([_loop("a", 0), _straight("b", 1)], [1, 0])
    right = "def h(a, b):\n    return a - b\n"
    swapped = "def h(a, b):\n    return b - a\n"
    assert model.score([right])[0] == pytest.approx(model.score([swapped])[0])


def test_the_ast_count_baseline_must_be_fitted_before_scoring():
    with pytest.raises(RuntimeError, match="fit"):
        AstCountBaseline().score(["x = 1"])


def test_the_bag_embedding_has_unit_rows_and_ignores_renaming():
    rows = ast_bag_embedding([_loop("values", 0), _loop("other", 0), _straight("values", 0)])
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(rows[0], rows[1])
    assert float(rows[0] @ rows[2]) < 0.99


@pytest.mark.parametrize(
    ("statement", "pairs"),
    [
        ("import numpy as np", [("np", "numpy")]),
        ("import os.path", [("os", "os.path")]),
        ("import os", [("os", "os")]),
        ("from collections import OrderedDict", [("OrderedDict", "collections")]),
        ("from a.b import c as d, e", [("d", "a.b"), ("e", "a.b")]),
        ("from .sibling import thing", [("thing", ".sibling")]),
        ("x = 1", []),
        ("import (", []),
    ],
)
def test_statement_bindings_name_what_each_import_line_binds(statement, pairs):
    assert statement_bindings(statement) == pairs


def _sample(statements: tuple[str, ...], modules: tuple[str, ...]) -> ImportSample:
    return ImportSample("pass\n", modules, statements, "train", "pkg")


def _dictionary() -> ImportDictionaryBaseline:
    return ImportDictionaryBaseline().fit([
        _sample(("import numpy as np",), ("numpy",)),
        _sample(("import numpy as np",), ("numpy",)),
        _sample(("import os",), ("os",)),
        _sample(("import os", "from collections import OrderedDict"), ("collections", "os")),
        _sample(("from typing import OrderedDict",), ("typing",)),
        _sample(("from collections import deque",), ("collections",)),
    ])


def test_the_dictionary_ranks_modules_by_the_names_the_code_reads():
    ranked = _dictionary().rank("def f(x):\n    return np.asarray(x)\n", k=3)
    assert ranked[0] == "numpy"
    assert len(ranked) == 3


def test_the_dictionary_prefers_the_module_that_bound_a_name_more_often_then_the_frequent_one():
    dictionary = _dictionary()
    # OrderedDict came once from collections and once from typing; collections is more frequent overall
    assert dictionary.rank_names({"OrderedDict"}, k=2) == ["collections", "typing"]


def test_the_dictionary_fills_up_with_the_global_prior_and_skips_what_is_imported():
    ranked = _dictionary().rank("import os\n\ndef f():\n    return os.getcwd()\n", k=3)
    assert "os" not in ranked
    assert ranked == ["collections", "numpy", "typing"]  # by frequency (2, 2, 1), ties by name


def test_the_dictionary_given_a_project_adds_its_modules_but_never_the_code_s_own():
    from model.project import ImportContext

    project = ImportContext({"slugify": {"shop.text": 1.0}, "OrderedDict": {"shop.views": 1.0}},
                            own_module="shop.views")
    ranked = _dictionary().rank_names({"slugify", "OrderedDict"}, k=3, project=project)
    assert ranked[:2] == ["collections", "shop.text"] or ranked[:2] == ["shop.text", "collections"]
    assert "shop.views" not in ranked


def test_the_dictionary_given_a_project_leaves_a_name_the_project_defines_to_the_project():
    from model.project import ImportContext

    # training code bound `deque` from collections only; this project defines its own (half as sure)
    project = ImportContext({"deque": {"shop.compat": 0.5, "shop.queues": 0.5}}, own_module="shop.views")
    assert _dictionary().rank_names({"deque"}, k=2, project=project) == ["shop.compat", "shop.queues"]


def test_the_dictionary_given_a_project_still_offers_a_top_level_module_it_has_a_submodule_of():
    from model.project import ImportContext

    project = ImportContext({"os": {"shop": 1.0}}, own_module="shop.views")  # shop/os.py
    assert set(_dictionary().rank_names({"os"}, k=2, project=project)) == {"os", "shop"}
