"""model/scopes.py: the names code leaves to imports, and what it reads off them (through build_graph)."""

from __future__ import annotations

import ast
import builtins
import symtable

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


@pytest.mark.parametrize(("code", "free"), [
    ("def f(paths):\n    names = [path for path in paths]\n    return path.join(names)\n", {"path"}),
    ("def f(xs):\n    xs.sort(key=lambda date: date.year)\n    return date.today()\n", {"date"}),
    ("def f(xs, key=lambda re: re):\n    return re.compile(xs)\n", {"re"}),
    ("def f(xs):\n    d = {k: v for k, v in xs}\n    return d, k\n", {"k"}),
    ("def f(xs):\n    a = [a for a in xs]\n    return [b for b in a], a\n", set()),  # bound by the assignment
    ("def f(xs):\n    g = (json for json in xs)\n    def h():\n        return json.dumps(1)\n    return g, h\n",
     {"json"}),  # an inner function does not see a comprehension's variable either
    ("def f(xs):\n    g = lambda: path.join('a')\n    return [path for path in xs], g\n", {"path"}),
    ("items = [1 for json in range(3)]\n\ndef g():\n    return json.dumps(items)\n", {"json"}),
    ("class A:\n    ys = [re for re in 'ab']\n    def m(self):\n        return re.compile('x')\n", {"re"}),
    ("def f(rows):\n    return [\n        row.strip()\n        for row in rows\n    ], row\n", {"row"}),
])
def test_a_lambda_or_comprehension_binds_its_variables_only_inside_it(code, free):
    assert build_graph(code).free_names == free


@pytest.mark.parametrize("code", [
    "def f(xs):\n    return [x for x in xs if x]\n",
    "def f(rows):\n    return [\n        row.strip()\n        for row in rows\n    ]\n",
    "def f(xs):\n    for x in xs:\n        pass\n    return [x for x in xs], x\n",  # the loop binds it
    "def f(xs):\n    if any((hit := x) for x in xs):\n        return hit\n",  # a walrus binds outside
    "def f(x):\n    g = lambda x: x\n    return g, x\n",  # the function's own parameter
    "def f(items):\n    for item in (\n        items\n    ):\n        print(item)\n"
    "    return [item for item in items], item\n",  # a loop over lines, read off the text as a comprehension
    "def f(xs):\n    with open(xs) as fh:\n        pass\n    return [fh for fh in xs], fh\n",
])
def test_a_name_the_scope_binds_as_well_stays_bound(code):
    assert build_graph(code).free_names == frozenset()


@pytest.mark.parametrize(("code", "free"), [
    ("@cache\ndef cache():\n    return 1\n", {"cache"}),  # the decorator runs before the name is bound
    ("@total_ordering\nclass total_ordering:\n    pass\n", {"total_ordering"}),
    ("class A:\n    @staticmethod\n    def staticmethod():\n        return 1\n", set()),  # the builtin
    ("def wraps(f):\n    return f\n\n@wraps\ndef g():\n    pass\n", set()),
    ("class A:\n    @property\n    def name(self):\n        return 1\n    @name.setter\n"
     "    def name(self, value):\n        pass\n", set()),
    ("@name.setter\ndef name(self, value):\n    self._name = value\n", set()),  # cut from its class
])
def test_a_decorator_reads_the_enclosing_body_s_names_as_they_stand(code, free):
    assert build_graph(code).free_names == free


@pytest.mark.parametrize(("code", "free"), [
    # what a review of the first version found
    ("from __future__ import annotations\n\ndef make() -> Node:\n    pass\n\nclass Node:\n    pass\n", set()),
    ("class A:\n    def f(self) -> Inner:\n        pass\n    class Inner:\n        pass\n", set()),
    ("@register(lambda: later())\ndef f():\n    pass\n\ndef later():\n    pass\n", {"register"}),
    ("@name.setter\ndef name(self, value):\n    pass\n@name.deleter\ndef name(self):\n    pass\n", set()),
    ("g = lambda *helper: helper\n\ndef helper():\n    pass\n\nhelper()\n", set()),
    ("lambda: 0; import os\nos.path\n", set()),
    ("def f(xs):\n    ys = [x for x in xs]\n    return [y for y in x]\n", {"x"}),  # a first iterable runs outside
    ("def f():\n    g = lambda x: x\n    return lambda y=x: y\n", {"x"}),  # and so do a lambda's defaults
    ("@parametrize('f', [lambda *args: sum(args)])\ndef test(f):\n    pass\n", {"parametrize"}),
    ("def f(x=y):\n    return lambda *y: 0\n", {"y"}),  # a lambda in the body binds nothing in the header
    ("def f(x=later):\n    pass\n\nlater = 1\n", {"later"}),  # defaults and bases run before it is bound
    ("class A(Base):\n    pass\n\nclass Base:\n    pass\n", {"Base"}),
    ("def f(xs):\n    ys = [b for b in xs]\n    def h(a=(b := 1)):\n        pass\n    return b\n", set()),
])
def test_what_lambdas_comprehensions_and_decorators_leave_unbound(code, free):
    assert build_graph(code).free_names == free


def _symbol_table_free_names(source: str) -> set[str]:
    """The names Python's own symbol table resolves as globals that the module does not bind (nor a
    function through `global`), less builtins: what the compiler leaves to imports."""
    top = symtable.symtable(source, "<code>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    free = {s.get_name() for s in top.get_symbols() if s.is_referenced() and s.get_name() not in bound}
    tables = list(top.get_children())
    while tables:
        table = tables.pop()
        tables += table.get_children()
        for symbol in table.get_symbols():
            if symbol.is_declared_global() and (symbol.is_assigned() or symbol.is_imported()):
                bound.add(symbol.get_name())
            elif symbol.is_referenced() and symbol.is_global():
                free.add(symbol.get_name())
    return free - bound - set(dir(builtins)) - {"__class__"}


def test_the_free_names_of_real_code_are_those_python_s_symbol_table_leaves_unbound():
    """The compiler's symbol table does not read a module body in order, so the cases that differ by
    order alone (a module reading a name before binding it) are not among these sources."""
    for source in (*stdlib_sources(), *stdlib_functions()):
        assert build_graph(source).free_names - set(dir(builtins)) == _symbol_table_free_names(source)


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
