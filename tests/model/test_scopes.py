"""model/scopes.py: the names code leaves to imports, and what it reads off them (through build_graph)."""

from __future__ import annotations

import ast

import pytest

from model.graph import build_graph
from model.scan import MAX_PATH_ATTRIBUTES
from model.scopes import attribute_reads
from tests.model.stdlib_code import stdlib_functions, stdlib_sources


@pytest.mark.parametrize(("code", "free"), [
    ("def f(date: date = date.today()):\n    return date\n", {"date"}),  # annotation and default run outside
    ("def f(x) -> date:\n    date = 1\n    return x\n", {"date"}),
    ("@lru_cache\ndef f():\n    lru_cache = 1\n    return lru_cache\n", {"lru_cache"}),
    ("def f(path=os.path):\n    os = None\n    return path\n", {"os"}),
    ("class A(Base):\n    Base = 1\n", {"Base"}),
    ("def f(deepcopy=deepcopy):\n    return deepcopy\n", {"deepcopy"}),
    ("def f(x):\n    return x\n", set()),  # a parameter read in the body is its own
])
def test_what_a_definitions_header_reads_is_looked_up_where_the_definition_stands(code, free):
    assert build_graph(code).free_names == free


@pytest.mark.parametrize("code", [
    "def outer(keys):\n    for key in keys:\n        def inner(key=key):\n            return key\n",
    "def outer(date):\n    def inner(when: date = date):\n        return when\n    return inner\n",
    "class A:\n    x = 1\n    def f(self, y=x):\n        return y\n",
    "from datetime import date\n\ndef f(date: date = date.today()):\n    return date\n",
    # what the header binds itself: a lambda's parameters, a comprehension's variables, a walrus target
    "def f(key=lambda x: x):\n    return key\n",
    "class A:\n    def f(self, cmp=lambda a, b: a < b):\n        return cmp\n",
    "def f(d={k: v for k, v in {}.items()}):\n    return d\n",
    "def f(a=(n := 1), b=n):\n    return a\n",
])
def test_a_header_reading_what_the_enclosing_scope_binds_stays_bound(code):
    assert build_graph(code).free_names == frozenset()


def test_a_lambda_in_a_decorator_binds_its_parameter_not_the_function_s():
    code = '@pytest.mark.parametrize("v", [1, 2], ids=lambda v: str(v))\ndef test_v(v):\n    assert v\n'
    assert build_graph(code).free_names == {"pytest"}


@pytest.mark.parametrize(("code", "free"), [
    ("class A:\n    date: str\n    def f(self) -> date:\n        return self.date\n", {"date"}),
    ("class A:\n    path: str\n    def f(self, p: path = None):\n        return p\n", {"path"}),
    ("x: int\n\ndef f():\n    return x\n", {"x"}),
    ("class A:\n    date: str\n    date = None\n    def f(self) -> date:\n        return 1\n", set()),
    ("x: int\nx = 1\n\ndef f():\n    return x\n", set()),
    ("def f():\n    x: int\n    return x\n", set()),  # local to the function all the same
])
def test_an_annotation_without_a_value_binds_nothing_in_a_module_or_class_body(code, free):
    assert build_graph(code).free_names == free


def _walked_attribute_reads(tree: ast.AST, names: frozenset[str]) -> dict[str, frozenset[str]]:
    """What the scan's attribute paths must equal: each dotted chain read off each name, by a tree walk."""
    reads: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if type(node) is ast.Attribute:
            parts, value = [node.attr], node.value
            while type(value) is ast.Attribute:
                parts.append(value.attr)
                value = value.value
            if type(value) is ast.Name and value.id in names and len(parts) <= MAX_PATH_ATTRIBUTES:
                reads.setdefault(value.id, set()).add(".".join(reversed(parts)))
    return {name: frozenset(chains) for name, chains in reads.items()}


def test_the_attribute_paths_of_real_code_are_every_chain_a_tree_walk_finds():
    checked = 0
    for source in (*stdlib_sources(), *stdlib_functions()):
        graph = build_graph(source)
        tree = ast.parse(source)
        every_root = frozenset(name for name, _ in graph.attribute_paths)
        assert attribute_reads(graph.attribute_paths, every_root) == _walked_attribute_reads(tree, every_root)
        assert graph.attribute_reads() == _walked_attribute_reads(tree, graph.free_names)
        checked += any("." in path for _, path in graph.attribute_paths)
    assert checked > 50  # dotted chains were among them


def test_attribute_reads_of_no_names_is_empty():
    graph = build_graph("import os\nos.path.join('a')\n")
    assert attribute_reads(graph.attribute_paths, frozenset()) == {}
    assert attribute_reads(graph.attribute_paths, {"os"}) == {"os": {"path", "path.join"}}


def test_a_chain_thousands_deep_keeps_its_paths_bounded():
    """Each attribute's path is built by walking down its chain: bounded, the walk stays linear."""
    graph = build_graph("import a\nx = a" + ".b" * 2_000 + "\n")
    paths = {path for name, path in graph.attribute_paths if name == "a"}
    assert paths == {".".join(["b"] * depth) for depth in range(1, MAX_PATH_ATTRIBUTES + 1)}
