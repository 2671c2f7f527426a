"""Code graphs: the units become nodes, containment/calls/data flow become edges, bad code a clear error."""

import sys
import time

import numpy as np
import pytest

from model.errors import SourceLimitError, SourceSyntaxError
from model.graph import EDGE_TYPES, SourceLimits, build_graph, vector_graph
from model.scan import source_lines

SOURCE = """\
import os

LIMIT = 10


class Store:
    def __init__(self, root):
        self.root = root

    def path(self, name):
        return os.path.join(self.root, name)

    def read(self, name):
        def clean(text):
            return text.strip()
        with open(self.path(name)) as handle:
            return clean(handle.read())[:LIMIT]


def main():
    return Store(".").read("x")
"""


def _edges(graph):
    names = [n.name for n in graph.nodes]
    return {(names[a], names[b], EDGE_TYPES[t]) for (a, b), t in zip(graph.edge_index.T, graph.edge_type, strict=True)}


def test_every_module_class_function_method_and_nested_function_is_a_node():
    graph = build_graph(SOURCE)
    kinds = {(n.name, n.kind, n.line) for n in graph.nodes}
    assert kinds == {
        ("<module>", "module", 1), ("Store", "class", 6), ("__init__", "method", 7), ("path", "method", 10),
        ("read", "method", 13), ("clean", "nested_function", 14), ("main", "function", 20),
    }
    assert graph.features.shape == (7, 978)


def test_containment_edges_link_each_unit_to_its_parent_in_both_directions():
    edges = _edges(build_graph(SOURCE))
    for parent, child in [("<module>", "Store"), ("Store", "read"), ("read", "clean"), ("<module>", "main")]:
        assert (parent, child, "contains") in edges
        assert (child, parent, "contains") in edges


def test_calls_resolve_plain_names_self_methods_and_classes():
    edges = _edges(build_graph(SOURCE))
    assert ("read", "path", "calls") in edges  # self.path(...)
    assert ("main", "Store", "calls") in edges  # Store(...)
    assert ("path", "read", "calls") in edges  # the reverse direction, for aggregation


def test_data_flow_links_attribute_writers_to_readers_and_globals_to_their_users():
    edges = _edges(build_graph(SOURCE))
    assert ("__init__", "path", "data_flow") in edges  # self.root
    assert ("<module>", "read", "data_flow") in edges  # LIMIT


def _links(graph, kind: str) -> int:
    return int((graph.edge_type == EDGE_TYPES.index(kind)).sum()) // 2


def test_a_call_name_links_each_caller_to_its_first_32_definitions_only():
    graph = build_graph("def f(a):\n    return f(a)\n" * 40 + "def g():\n    return f(1)\n")
    g = graph.num_nodes - 1
    callees_of_g = {int(b) for (a, b), t in zip(graph.edge_index.T, graph.edge_type, strict=True)
                    if a == g and EDGE_TYPES[t] == "calls"}
    assert callees_of_g == set(range(1, 33))  # the first 32 definitions of f, in source order


@pytest.mark.parametrize(
    "source",
    ["def f(a):\n    return f(a)\n" * 1000,
     "class A:\n" + "".join(f"    def m{i}(self):\n        self.x = self.x\n" for i in range(2000))],
    ids=["a thousand definitions calling each other", "two thousand methods reading and writing one attribute"],
)
def test_call_and_flow_edges_stay_linear_in_the_units_however_the_code_is_shaped(source):
    graph = build_graph(source, sites=False)
    assert _links(graph, "calls") + _links(graph, "data_flow") <= 64 * graph.num_nodes  # not units squared
    assert _links(graph, "contains") == graph.num_nodes - 1  # every unit keeps its parent


def test_a_graph_records_what_the_source_imports_and_what_it_reads_without_binding():
    graph = build_graph("import os.path\nfrom json import dumps\n\ndef f(x):\n    return np.array(dumps(x))\n")
    assert graph.imported == {"os", "os.path", "json"}
    assert graph.free_names == {"np"}


def test_a_snippet_without_definitions_is_a_single_module_node():
    graph = build_graph("x = 1\nprint(x + 1)\n")
    assert graph.num_nodes == 1
    assert graph.edge_index.shape == (2, 0)


def test_a_host_vector_becomes_a_one_node_graph():
    graph = vector_graph(np.arange(978, dtype=np.float32))
    assert graph.num_nodes == 1 and graph.features.shape == (1, 978)


def test_code_that_does_not_parse_names_its_line_and_column():
    with pytest.raises(SourceSyntaxError) as info:
        build_graph("def f(x):\n    return (x +\n")
    assert info.value.line == 2 and info.value.column is not None
    assert "line 2" in str(info.value)


@pytest.mark.parametrize(("source", "line", "column"),
                         [("x = 1\x00\n", 1, 6), ("a = 1\r\nb = 2\rcé\x00", 3, 3)])
def test_null_bytes_are_a_syntax_error_at_the_first_one(source, line, column):
    with pytest.raises(SourceSyntaxError) as caught:
        build_graph(source)
    assert (caught.value.line, caught.value.column) == (line, column)


@pytest.mark.parametrize(("source", "line", "column"), [
    ("def f():\r\n", 1, 9), ("x = 1\r\n\r\nif x:\r\n", 3, 6), ("x = 1 + \\\r\n", 1, 10),
    ("def f():\n", 1, 9),
])
def test_an_error_at_the_end_of_input_is_placed_on_the_last_line_whatever_the_line_ends(source, line, column):
    """CPython puts it on the line after the last when lines end in "\\r\\n" (as Windows editors write)."""
    with pytest.raises(SourceSyntaxError) as caught:
        build_graph(source)
    assert (caught.value.line, caught.value.column) == (line, column)


@pytest.mark.parametrize(("source", "line", "column"), [
    ("日日=07\n", 1, 4),  # CPython counts this one in UTF-8 bytes (8): the literal starts at character 4
    ('a:\\\n"日"\\', 2, 5),  # an end of input after a continuation: the end of the last line, as with ASCII
    ('x = "日日日日日日" + \\\nyyyyyyyyyyyyyyyyyyyy + \\', 2, 25),  # (CPython says 13, counted off the first line)
    ('"""\n"""\\%', 2, 6),  # counted from the string's first line: the end of the line it is on
    ("日日=07+1\n", 1, 4),  # counted in bytes, though the byte count (8) falls inside the line
    ('s = """日日日\n語語語語語語語語""" $', 2, 14),  # from the string's first line, and not in bytes
    ('x = "日日" $', 1, 10),  # CPython's own column, in characters, where it is one
    ('x = "日本" + \\', 1, 13),  # an end of input on one line: CPython counts characters, to the end
    ('日本 = 1 + \\', 1, 11),
])
def test_a_syntax_error_column_is_in_characters_and_inside_its_line(source, line, column):
    with pytest.raises(SourceSyntaxError) as caught:
        build_graph(source)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert column <= len(source_lines(source)[line - 1]) + 1


@pytest.mark.parametrize(("source", "line", "column"), [
    ('def greet(name):\n    return f"hello {name name}"\n', 2, 21),  # where `name name` starts
    ('msg = f"{user.name} has {count +} items"\n', 1, 33),  # after the `+`, where an operand is missing
    ('x = f"""\n{a +}\n"""\n', 2, 5),  # a triple-quoted string's second line
    ('x = (f"{a}"\n     f"{b c}")\n', 2, 9),
    ('x = f"{a:{b c}}"\n', 1, 11),  # a format spec's own expression
    ('s = "b c" + f"日{b c}"\n', 1, 17),  # the expression's text also in a plain string before it
    ('x = f"{a!z}"\n', 1, 13),  # CPython's own position, in the line already
    ('def f(name):\n    return f"hello {0x}"\n', 2, 22),  # a tokenizer's message, the same text and column
    ('def f(name):\n    return f"{1_000_}"\n', 2, 20),
    ('y = "{a b}" + f"{a b}"\n', 1, 18),  # not the plain string's braces before it
    ('x = f"{日本 +}"\ny = 2\n', 1, 12),  # the parser counts the expression's UTF-8 bytes
    ('x = f"{é.}"\n', 1, 10),
    ('x = f"{日 + 07}"\n', 1, 12),
    ('x = f"{{a b}} {a b}"\n', 1, 16),  # `{{` is a literal brace, not a field
    ('x = f"{a + 1}" + f"{a +}"\n', 1, 24),  # an expression that only starts as the broken one
])
def test_a_syntax_error_inside_an_fstring_expression_is_placed_in_the_source(source, line, column):
    """CPython 3.11 parses such an expression alone and counts its column from a `(` before it."""
    with pytest.raises(SourceSyntaxError) as caught:
        build_graph(source)
    assert (caught.value.line, caught.value.column) == (line, column)


def test_a_lone_surrogate_is_a_syntax_error_at_it_whose_message_is_text():
    with pytest.raises(SourceSyntaxError) as caught:
        build_graph("x = 1\ny = '\ud800'\n")
    assert (caught.value.line, caught.value.column) == (2, 6)
    str(caught.value).encode("utf-8")  # no lone surrogate in the message itself


def test_a_leading_byte_order_mark_is_dropped_as_python_drops_it_from_a_file():
    with_mark = build_graph("\ufeffimport os\ndef f(a, b):\n    return a < b\n")
    without = build_graph("import os\ndef f(a, b):\n    return a < b\n")
    assert with_mark.imported == {"os"} and np.array_equal(with_mark.features, without.features)
    assert with_mark.sites.columns == without.sites.columns


@pytest.mark.parametrize(("line", "column"), [("yé = (" + "9" * 5000 + ")", 7),
                                              ("y = " + "1_" * 2200 + "1 + " + "2" * 4400, 4409)])
def test_an_integer_literal_past_the_digit_limit_is_a_syntax_error_at_its_column(line, column):
    with pytest.raises(SourceSyntaxError) as caught:
        build_graph("x = 1\n" + line + "\n")
    assert (caught.value.line, caught.value.column) == (2, column)


def test_a_tokenizer_limit_says_where_the_code_crosses_it():
    with pytest.raises(SourceLimitError) as caught:
        build_graph("x = " + "(" * 250 + "1" + ")" * 250 + "\n")
    assert (caught.value.line, caught.value.column) == (1, 205)  # the 201st parenthesis


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "(" * 5000 + ")" * 5000,
        "\n".join(" " * i + "if x:" for i in range(150)) + "\n" + " " * 150 + "pass\n",
        "x = " + "-" * 100_000 + "1\n",
        "x = 1" + " + 1" * 200_000 + "\n",
    ],
    ids=["parentheses", "indentation", "unary-chain", "long-expression"],
)
def test_deeply_nested_code_ends_quickly_with_a_limit_error_or_a_graph(source):
    started = time.monotonic()
    try:
        graph = build_graph(source)
    except SourceLimitError as exc:
        assert exc.limit == "nesting" and exc.maximum in (100, 200, 3 * sys.getrecursionlimit())
    else:
        assert graph.num_nodes == 1
    assert time.monotonic() - started < 30  # bounded, not a performance goal


def test_code_over_the_size_limit_is_refused_before_parsing():
    with pytest.raises(SourceLimitError) as info:
        build_graph("x = 1\n" * 100, limits=SourceLimits(max_bytes=100))
    assert info.value.limit == "code_bytes" and info.value.maximum == 100 and info.value.actual == 600


def test_the_units_limit_counts_functions_and_classes_not_the_module():
    three = "def f():\n    pass\n\nclass C:\n    def m(self):\n        pass\n"
    assert build_graph(three, limits=SourceLimits(max_units=3)).num_nodes == 4  # the module's node too
    with pytest.raises(SourceLimitError) as info:
        build_graph(three + "def g():\n    pass\n", limits=SourceLimits(max_units=3))
    assert (info.value.limit, info.value.maximum, info.value.actual) == ("units", 3, 4)
    assert "defines 4 functions and classes" in str(info.value)


def test_a_spurious_ast_recursion_depth_mismatch_is_retried_once(monkeypatch):
    """python/cpython#106905: threads parsing at once can trip CPython 3.11's AST depth bookkeeping."""
    import ast

    real_parse = ast.parse
    calls = []

    def flaky(source, *args, **kwargs):
        calls.append(source)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=24, after=16)")
        return real_parse(source, *args, **kwargs)

    monkeypatch.setattr(ast, "parse", flaky)
    graph = build_graph("def f(x):\n    return x\n")
    assert graph.num_nodes == 2 and len(calls) == 2


def test_other_system_errors_are_not_swallowed(monkeypatch):
    import ast

    monkeypatch.setattr(ast, "parse", lambda *a, **k: (_ for _ in ()).throw(SystemError("something else")))
    with pytest.raises(SystemError, match="something else"):
        build_graph("x = 1\n")


@pytest.mark.parametrize("code", [
    'match x:\n    case {"a": os}: os.getcwd()\n',
    "match x:\n    case [*np]: np.array(1)\n",
    "def f(x):\n    match x:\n        case {**json}: return json.dumps(x)\n",
    "match x:\n    case [1] as os: os.sep\n",
    "match x:\n    case (1 | 2) as os: os.sep\n",
    "match x:\n    case C(a=os): os.sep\n",
    "match x:\n    case os: os.sep\n",
])
def test_a_name_a_match_pattern_captures_is_bound_by_the_code_not_free(code):
    assert "os" not in build_graph(code).free_names and not {"np", "json"} & build_graph(code).free_names


@pytest.mark.parametrize("code", [
    "def f(cmd):\r    match cmd:\r        case {'a': json}:\r            return json\r",  # lone CRs
    "def f(cmd):\n    match cmd:\n\x0c        case {'a': json}:\n            return json\n",  # a form feed
    "def init():\r    global json\r    json = load()\rdef use():\r    return json.dumps(3)\r",
    "def init(): global json; json = load()\ndef use():\n    return json.dumps(3)\n",
    "def init():\n    x = 1; global json\n    json = load()\ndef use():\n    return json.dumps(3)\n",
])
def test_captures_and_globals_are_found_whatever_ends_the_lines_or_precedes_the_statement(code):
    assert "json" not in build_graph(code).free_names


def test_only_code_with_a_case_line_is_walked_for_pattern_captures():
    graph = build_graph("def f(s):\n    return s.casefold() + lowercase\n")
    assert graph.free_names == {"lowercase"}


@pytest.mark.parametrize(("code", "free"), [
    # one function's locals are not seen by another, nor a class body's by a method's inner function
    ("def f():\n    time = 1\n    return time\n\ndef g():\n    return time.time()\n", {"time"}),
    ("class A:\n    json = None\n    def f(self):\n        def g():\n            return json\n"
     "        return g\n", {"json"}),
    # a class body's names reach its definitions' decorators, defaults and bases, filed under them
    ("class A:\n    @property\n    def path(self):\n        return 1\n    @path.setter\n"
     "    def path(self, v):\n        pass\n", set()),
    ("class A:\n    _missing = object()\n    def get(self, k, default=_missing):\n        return k\n", set()),
    ("class O:\n    class Base:\n        pass\n    class Child(Base):\n        pass\n", set()),
    # an enclosing function's local, the module's names and a class body's own reads are bound
    ("def f():\n    time = 1\n    def g():\n        return time\n    return g\n", set()),
    ("time = 1\n\nclass A:\n    def f(self):\n        return time\n", set()),
    ("def f():\n    return f()\n", set()),
    ("class A:\n    json = None\n    x = json\n", set()),
    ("def f():\n    global cache\n    cache = {}\n\ndef g():\n    return cache\n", set()),
])
def test_a_name_is_free_where_none_of_the_codes_own_bindings_reaches_its_read(code, free):
    assert build_graph(code).free_names == free


def test_a_global_the_code_declares_but_never_binds_stays_free():
    graph = build_graph("def f():\n    global atlas\n    return atlas.graph_atlas_g()\n")
    assert graph.free_names == {"atlas"}


def test_a_global_binds_for_the_module_only_where_the_function_declaring_it_binds_it():
    graph = build_graph("def f():\n    global json\n    return json.dumps(1)\n\ndef g():\n    json = 1\n")
    assert graph.free_names == {"json"}


def test_the_attributes_read_off_each_free_name_are_known():
    graph = build_graph('def f(a, mycopy):\n    """copy.shallow"""\n    x = copy.deepcopy(a)  # copy.nothing\n'
                        "    return mycopy.y, a.copy.z, copy.copy(x)\n")
    assert graph.attribute_reads() == {"copy": {"deepcopy", "copy"}}  # not mycopy's, a's, a string's or a comment's
    assert build_graph("def f():\n    return g()\n").attribute_reads() == {}


@pytest.mark.parametrize(("code", "star"), [
    ("from math import *\nsqrt(2)\n", True), ("from . import*\n", True), ("from math import \\\n  *\n", True),
    ("x = a * b\n", False), ("import math\n", False), ("# from helpers import *\nx = 1\n", False),
    ('"""from helpers import *"""\n', False),
])
def test_a_star_import_is_noticed(code, star):
    assert build_graph(code).star_import is star


def test_the_dotted_chains_read_off_a_free_name_are_known_too():
    graph = build_graph("def f(p):\n    return xml.etree.ElementTree.parse(p), (p).xml.dom\n")
    assert graph.attribute_reads() == {"xml": {"etree", "etree.ElementTree", "etree.ElementTree.parse"}}


def test_a_class_or_module_body_reading_a_name_before_binding_it_needs_it_from_outside():
    # a dataclass field named after its type, an annotation without a value, a module rebinding a module
    event = "class Event:\n    date: date\n    when: time = None\n    time = 1\n"
    assert build_graph(event).free_names == {"date", "time"}
    assert build_graph("@dataclass\nclass A:\n    time: float = field(default_factory=time.time)\n").free_names \
        == {"dataclass", "field", "time"}
    assert build_graph("time = time.time()\n").free_names == {"time"}
    assert build_graph("from datetime import date\n\nclass E:\n    date: date\n").free_names == frozenset()


def test_reads_after_the_binding_or_inside_their_own_scopes_stay_bound():
    for code in ("x = 1\nx = x + 1\n", "for i in range(3): print(i)\n", "squares = [n * n for n in range(3)]\n",
                 "class A:\n    x = 1\n    y = x + 1\n", "class A:\n    def f(self):\n        return f\n    g = f\n",
                 "import os; os.getcwd()\n", "class A:\n    total = sum(v for v in (1, 2))\n    v = 3\n",
                 "try:\n    import ujson as json\nexcept ImportError:\n    json = None\nout = json.dumps(1)\n",
                 "print(count := 3, count * 2)\n", "paths = [(path := '/tmp'), path + '/x']\n"):
        assert build_graph(code).free_names == frozenset(), code


def test_the_attributes_read_off_every_name_come_from_the_scan():
    graph = build_graph("import logging\n\ndef f(p):\n    return logging.handlers.X(p), p.name\n")
    assert {("logging", "handlers"), ("p", "name")} <= graph.attribute_paths
