"""Import labels on small hand-written files: aliases, from-imports, relative imports, attribute chains."""

from __future__ import annotations

import ast
from collections import Counter

from training.imports import (
    ImportUse,
    parse_imports,
    resolve_relative,
    statement_tables,
    strip_imports,
    used_imports,
    vocabulary,
)

FILE = """
import os
import os.path
import numpy as np
import xml.etree.ElementTree
import xml.dom
from collections import OrderedDict, defaultdict as dd
from . import sibling
from ..pkg import thing as t
import json
import unused_module
"""


def _labels(unit: str) -> set[tuple[str, str]]:
    imports = parse_imports(ast.parse(FILE), package="top.sub")
    return {(u.module, u.statement) for u in used_imports(unit, imports)}


def test_an_alias_is_labelled_with_its_module_and_its_statement():
    assert _labels("def f():\n    return np.zeros(3)\n") == {("numpy", "import numpy as np")}


def test_a_from_import_with_alias_is_labelled_with_the_module_it_comes_from():
    assert _labels("def f():\n    return dd(list)\n") == {
        ("collections", "from collections import defaultdict as dd")
    }


def test_relative_imports_resolve_against_the_files_package():
    assert _labels("def f():\n    return sibling.x + t\n") == {
        ("top.sub", "from top.sub import sibling"),
        ("top.pkg", "from top.pkg import thing as t"),
    }


def test_attribute_chains_pick_the_longest_imported_module():
    assert _labels("def f(p):\n    return xml.etree.ElementTree.parse(p), xml.dom.minidom\n") == {
        ("xml.etree.ElementTree", "import xml.etree.ElementTree"),
        ("xml.dom", "import xml.dom"),
    }
    assert _labels("def f(p):\n    return os.path.join(p, p)\n") == {("os.path", "import os.path")}


def test_unused_imports_and_shadowed_names_are_not_labels():
    assert _labels("def f(json):\n    return json.dumps(1)\n") == set()
    assert _labels("def f():\n    OrderedDict = dict\n    return OrderedDict()\n") == set()
    assert _labels("def f():\n    return 1\n") == set()


def test_a_name_the_unit_defines_or_catches_as_shadows_the_files_import():
    assert _labels("def f(x):\n    def OrderedDict():\n        return x\n    return OrderedDict()\n") == set()
    assert _labels("def f():\n    class dd:\n        pass\n    return dd\n") == set()
    caught = "def f():\n    try:\n        pass\n    except ValueError as json:\n        return json.args\n"
    assert _labels(caught) == set()
    assert _labels("def f(v):\n    match v:\n        case [*np]:\n            return np\n") == set()
    assert _labels("class OrderedDict(dict):\n    pass\nx = OrderedDict\n") == set()  # a file unit's own class


def test_a_definitions_own_name_and_its_class_bodys_names_do_not_shadow_the_files_import():
    # a method's name binds in its class, which its body does not see: `json` here is the module
    assert _labels("def json(self):\n    return json.dumps(self)\n") == {("json", "import json")}
    assert _labels("class A:\n    def dd(self):\n        return dd(list)\n") == {("collections", "from collections "
                                                                                        "import defaultdict as dd")}


def test_a_binding_shadows_only_the_reads_its_scope_reaches():
    # a class body's names are not seen by its methods; one function's locals not by another
    assert _labels("class A:\n    json = None\n    def f(self):\n        return json.dumps(1)\n") == {
        ("json", "import json")}
    module = "def f():\n    json = 1\n    return json\ndef g():\n    return json.dumps(1)\n"
    assert _labels(module) == {("json", "import json")}
    # an enclosing function's local, a class body's own read, and a `global` do shadow
    assert _labels("def f():\n    json = 1\n    def g():\n        return json\n    return g\n") == set()
    assert _labels("class A:\n    json = None\n    x = json\n") == set()
    assert _labels("def f():\n    global json\n    json = 1\ndef g():\n    return json\n") == set()
    declared = "def f():\n    global json\n    import json\ndef g():\n    return json.dumps(1)\n"
    assert _labels(declared) == {("json", "import json")}  # bound by an import, which is a label
    # a comprehension's variable is its own; a default is read where the function is defined
    assert _labels("def f(xs):\n    return [os for os in xs], os.getcwd()\n") == {("os", "import os")}
    assert _labels("def f():\n    def g(p=json.dumps):\n        json = 1\n    return g\n") == {
        ("json", "import json")}
    # a comprehension's first iterable and a parameter's annotation are read outside too
    assert _labels("class A:\n    OrderedDict = ('a',)\n    up = [f for f in OrderedDict]\n") == set()
    assert _labels("def f(s):\n    return [json for json in json.loads(s)]\n") == {("json", "import json")}
    assert _labels("def f():\n    def g(json: json.JSONDecoder):\n        return json\n    return g\n") == {
        ("json", "import json")}
    # a setter's decorator reads the property its class made, not the file's import
    assert _labels("@os.setter\ndef os(self, value):\n    self._os = value\n") == set()


def test_a_units_own_import_is_a_label():
    assert _labels("def f():\n    import re\n    return re.compile('x')\n") == {("re", "import re")}


def test_relative_imports_beyond_the_top_stay_relative():
    assert resolve_relative(3, "x", package="a") == "...x"
    assert resolve_relative(1, None, package="a.b") == "a.b"
    assert resolve_relative(2, "c", package="a.b") == "a.c"


def test_strip_imports_removes_every_import_and_keeps_the_rest_verbatim():
    source = "def f(x):\n    import re  # comment\n    # keep me\n    return re.sub('a', 'b', x)\n"
    assert strip_imports(source) == "def f(x):\n    # keep me\n    return re.sub('a', 'b', x)\n"


def test_strip_imports_fills_an_emptied_block_with_pass():
    stripped = strip_imports("try:\n    import fast\nexcept ImportError:\n    fast = None\n")
    tree = ast.parse(stripped)
    assert not any(isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(tree))
    assert isinstance(tree.body[0].body[0], ast.Pass)


def test_strip_imports_handles_an_import_sharing_its_line():
    assert "import" not in strip_imports("import os; x = 1\n")


def test_vocabulary_ranks_by_frequency_then_name():
    counts = Counter({"os": 5, "re": 3, "abc": 3, "zlib": 1})
    assert vocabulary(counts, 3) == ["os", "abc", "re"]


def test_parse_imports_gives_one_binding_per_bound_name():
    bindings = parse_imports(ast.parse("from a import b, c as d\nfrom e import *\n"))
    assert bindings == [
        ImportUse("a", "from a import b", ("b",)),
        ImportUse("a", "from a import c as d", ("d",)),
    ]


def test_statement_tables_read_import_lines_as_python_does():
    aliases, names = statement_tables([
        "import numpy as np", "import numpy as np", "import numpy as npy",
        "from datetime import (\n    datetime,\n    timedelta as td,\n)",
        "from datetime import datetime", "from . import sibling", "from os import *", "not an import (",
    ])
    assert aliases == {"numpy": "np"}
    # a renamed import cannot be written back as `from datetime import td`
    assert names == {"datetime": ["datetime"], ".": ["sibling"]}
