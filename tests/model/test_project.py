"""The project index: what a project's own modules bind, and what one piece of code can use of it."""

from pathlib import Path

import numpy as np
import pytest

from model.imports import FEATURE_NAMES, ImportIndex, ImportRanker
from model.predictor import import_statement
from model.project import ImportContext, ProjectIndex, module_name, project_root


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


PROJECT = {
    "shop/__init__.py": "from shop.money import Price\n__version__ = '1'\n",
    "shop/money.py": "class Price:\n    pass\n\nCURRENCY = 'EUR'\n",
    "shop/text.py": "def slugify(title):\n    return title.lower()\n\nx, (y, z) = 1, (2, 3)\n",
    "shop/views.py": "def show(title):\n    return slugify(title)\n",
    "shop/.hidden/skip.py": "def hidden():\n    pass\n",
    "shop/__pycache__/skip.py": "def cached():\n    pass\n",
    "shop/broken.py": "def (:\n",
}


def test_a_module_binds_its_top_level_definitions_and_assigned_names(tmp_path):
    _write(tmp_path, PROJECT)
    names = ProjectIndex.scan(tmp_path).names
    assert names["slugify"] == {"shop.text": 1.0}
    assert names["CURRENCY"] == {"shop.money": 1.0}
    assert names["x"] == names["y"] == names["z"] == {"shop.text": 1.0}


def test_a_spurious_ast_recursion_depth_mismatch_while_indexing_is_retried_not_fatal(tmp_path, monkeypatch):
    """python/cpython#106905: the index thread parses beside the daemon's lanes; one such error used
    to fail the whole project's index."""
    import ast

    real_parse, calls = ast.parse, []

    def flaky(source, *args, **kwargs):
        calls.append(source)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=24, after=16)")
        return real_parse(source, *args, **kwargs)

    _write(tmp_path, PROJECT)
    monkeypatch.setattr(ast, "parse", flaky)
    assert ProjectIndex.scan(tmp_path).names["slugify"] == {"shop.text": 1.0}
    assert len(calls) > 1


def test_a_package_re_exports_what_it_imports_from_itself_not_from_elsewhere(tmp_path):
    init = "from typing import Any\nfrom shop.money import Price\nfrom .text import slug\n"
    _write(tmp_path, {"shop/__init__.py": init, "shop/money.py": "class Price:\n    pass\n",
                      "shop/text.py": "def slug():\n    pass\n"})
    names = ProjectIndex.scan(tmp_path).names
    assert "Any" not in names
    assert names["Price"] == {"shop": 0.5, "shop.money": 0.5} and names["slug"] == {"shop": 0.5, "shop.text": 0.5}


def test_a_package_re_exports_its_from_imports_and_binds_its_submodules(tmp_path):
    _write(tmp_path, PROJECT)
    names = ProjectIndex.scan(tmp_path).names
    assert names["Price"] == {"shop": 0.5, "shop.money": 0.5}
    assert names["money"] == {"shop": 1.0}
    assert names["shop"] == {"shop": 1.0}


def test_dunder_names_hidden_and_cache_directories_and_unparsable_files_are_left_out(tmp_path):
    _write(tmp_path, PROJECT)
    index = ProjectIndex.scan(tmp_path)
    assert "__version__" not in index.names
    assert "hidden" not in index.names and "cached" not in index.names
    assert "shop.broken" in index.modules  # indexed as a module, binding nothing


def test_the_scan_reads_at_most_max_files(tmp_path):
    _write(tmp_path, {f"m{i}.py": f"def f{i}():\n    pass\n" for i in range(5)})
    assert len(ProjectIndex.scan(tmp_path, max_files=2).modules) == 2


def test_the_project_root_is_above_the_outermost_package(tmp_path):
    _write(tmp_path, PROJECT)
    assert project_root(tmp_path / "shop" / "views.py") == tmp_path
    _write(tmp_path, {"scripts/run.py": "pass\n"})
    assert project_root(tmp_path / "scripts" / "run.py") == tmp_path / "scripts"


def test_module_names_follow_the_import_system(tmp_path):
    assert module_name(tmp_path / "shop" / "text.py", tmp_path) == "shop.text"
    assert module_name(tmp_path / "shop" / "__init__.py", tmp_path) == "shop"
    assert module_name(Path("/elsewhere/x.py"), tmp_path) is None
    assert module_name(tmp_path / "my-tool" / "x.py", tmp_path) is None


def test_a_context_holds_only_the_names_the_code_mentions_and_knows_its_own_module(tmp_path):
    _write(tmp_path, PROJECT)
    context = ProjectIndex.scan(tmp_path).context(PROJECT["shop/views.py"], tmp_path / "shop" / "views.py")
    assert set(context.names) == {"show", "slugify"}
    assert context.own_module == "shop.views" and context.own_defines == {"show"}
    assert context.evidence({"show", "slugify"}) == {"shop.text": 1.0}


def test_names_the_code_s_own_module_defines_need_no_import():
    context = ImportContext({"helper": {"app.a": 0.5, "app.b": 0.5}, "other": {"app.b": 1.0}}, own_module="app.a",
                            own_defines=frozenset({"helper"}))
    assert context.needed(["helper", "other"]) == ["other"]
    assert context.evidence({"helper", "other"}) == {"app.b": 1.0}


def test_a_package_s_re_exports_are_not_what_it_defines(tmp_path):
    _write(tmp_path, PROJECT)
    index = ProjectIndex.scan(tmp_path)
    assert index.defined["shop"] == frozenset() and index.defined["shop.money"] == {"Price", "CURRENCY"}
    # a unit cut from the package's __init__ with its imports taken away (training): Price is needed
    context = index.context("def f():\n    return Price, slugify\n", tmp_path / "shop" / "__init__.py",
                            file_imports=False)
    assert context.own_defines == frozenset() and context.needed(["Price"]) == ["Price"]
    # code sent from that file, which imports Price at its top: nothing to add
    context = index.context("def f():\n    return Price, slugify\n", tmp_path / "shop" / "__init__.py")
    assert context.needed(["Price"]) == [] and context.file_imports == frozenset()  # a from-import reaches no module


def test_evidence_never_points_at_the_code_s_own_module():
    context = ImportContext({"helper": {"app.a": 0.5, "app.b": 0.5}}, own_module="app.a")
    assert context.evidence({"helper", "unknown"}) == {"app.b": 0.5}


def test_the_package_binding_of_the_code_s_own_module_is_no_evidence_for_its_namesake(tmp_path):
    # shop/serializers.py reads Django REST framework's `serializers`: `from shop import serializers`
    # would import the file into itself
    _write(tmp_path, {"shop/__init__.py": "", "shop/serializers.py": "",
                      "shop/models.py": "class Product:\n    pass\n"})
    index = ProjectIndex.scan(tmp_path)
    code = "class ProductSerializer(serializers.ModelSerializer):\n    model = Product\n"
    context = index.context(code, tmp_path / "shop" / "serializers.py")
    assert context.evidence({"serializers", "Product"}) == {"shop.models": 1.0}
    assert context.unclaimed(["serializers"]) == ["serializers"]  # the library's name table may speak for it
    assert context.binds("shop", {"serializers"}) == []
    assert index.context(code, tmp_path / "shop" / "models.py").evidence({"serializers"}) == {"shop": 1.0}


def test_a_name_the_project_defines_elsewhere_is_claimed_but_not_one_only_the_code_s_module_defines():
    context = ImportContext({"util": {"pkg.util": 1.0}, "helper": {"pkg.a": 1.0}, "path": {}}, own_module="pkg.a")
    assert context.unclaimed(["util", "helper", "path", "os"]) == ["helper", "path", "os"]


PROJECT_WEIGHTS = (1.0, 4.0, 8.0, 2.0, 10.0, 4.0, -8.0)


def test_project_evidence_brings_in_a_module_the_vocabulary_and_name_table_never_saw():
    context = ImportContext({"slugify": {"shop.text": 1.0}}, own_module="shop.views")
    ranker = ImportRanker(["os", "json"], ImportIndex({}, PROJECT_WEIGHTS))
    ranked = ranker.rank(np.array([0.01, 0.01]), {"slugify"}, set(), 2, context)
    assert ranked[0][0] == "shop.text" and ranked[0][1] > 0.9
    assert [m for m, _ in ranker.rank(np.array([0.01, 0.01]), {"slugify"}, set(), 2)] == ["os", "json"]


def test_the_name_table_does_not_speak_for_a_name_the_project_defines():
    # `util` in training code came from importlib; this package has its own `util`
    index = ImportIndex({"util": {"importlib": 1.0}}, PROJECT_WEIGHTS)
    ranker = ImportRanker(["importlib"], index)
    context = ImportContext({"util": {"pkg.util": 1.0}}, own_module="pkg.views")
    modules, features = ranker.features(np.array([0.5]), {"util"}, context)
    share = FEATURE_NAMES.index("name_share")
    assert modules == ["importlib", "pkg.util"] and features[:, share].tolist() == [0.0, 0.0]
    assert ranker.rank(np.array([0.5]), {"util"}, set(), 1, context)[0][0] == "pkg.util"
    assert ranker.rank(np.array([0.5]), {"util"}, set(), 1)[0][0] == "importlib"


def test_the_name_table_still_speaks_for_a_top_level_module_the_project_has_a_submodule_of():
    index = ImportIndex({"logging": {"logging": 1.0}}, PROJECT_WEIGHTS)
    context = ImportContext({"logging": {"tqdm.contrib": 1.0}}, own_module="tqdm.std")
    modules, features = ImportRanker(["logging"], index).features(np.array([0.5]), {"logging"}, context)
    assert modules == ["logging", "tqdm.contrib"]
    assert features[:, FEATURE_NAMES.index("name_share")].tolist() == [1.0, 0.0]


def test_the_code_s_own_module_is_never_suggested_even_by_the_head():
    context = ImportContext({}, own_module="json")
    ranked = ImportRanker(["os", "json"], ImportIndex()).rank(np.array([0.1, 0.9]), set(), set(), 2, context)
    assert [m for m, _ in ranked] == ["os"]


def test_project_features_fill_their_own_columns():
    context = ImportContext({"slugify": {"shop.text": 1.0, "os": 0.25}})
    modules, features = ImportRanker(["os"], ImportIndex()).features(np.array([0.5]), {"slugify"}, context)
    assert modules == ["os", "shop.text"]
    share, present = FEATURE_NAMES.index("project_share"), FEATURE_NAMES.index("has_project_evidence")
    assert features[:, share].tolist() == [0.25, 1.0] and features[:, present].tolist() == [1.0, 1.0]


def test_weights_saved_before_the_project_inputs_load_with_the_project_unused():
    old = ImportIndex.from_json({"names": {}, "weights": [1.0, 2.0, 3.0, 4.0, -5.0]})
    assert old.weights == (1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, -5.0)
    assert ImportIndex({}, (1.0, 2.0, 3.0, 4.0, -5.0)) == old


def test_the_statement_for_a_project_module_imports_the_names_the_project_binds_there():
    context = ImportContext({"slugify": {"shop.text": 1.0}, "shop": {"shop": 1.0}})
    assert import_statement("shop.text", frozenset({"slugify", "os"}), None, context) == \
        "from shop.text import slugify"
    assert import_statement("shop", frozenset({"shop"}), None, context) == "import shop"


def test_only_the_root_s_own_files_and_its_packages_are_read(tmp_path):
    _write(tmp_path, {"tool.py": "def run():\n    pass\n", "notes/old.py": "def stale():\n    pass\n",
                      "lib/__init__.py": "", "lib/deep/__init__.py": "", "lib/deep/x.py": "def dive():\n    pass\n"})
    index = ProjectIndex.scan(tmp_path)
    assert index.modules == {"tool", "lib", "lib.deep", "lib.deep.x"}
    assert "stale" not in index.names and index.names["dive"] == {"lib.deep.x": 1.0}


def test_a_rescan_reads_again_only_the_files_that_changed(tmp_path, monkeypatch):
    import os

    from model import project

    _write(tmp_path, PROJECT)
    first = ProjectIndex.scan(tmp_path)
    text = tmp_path / "shop" / "text.py"
    text.write_text("def slugify(title):\n    return title\n\ndef titlecase(t):\n    return t\n", encoding="utf-8")
    os.utime(text, ns=(1, 1))
    read: list[str] = []
    original = project._module_bindings
    monkeypatch.setattr(project, "_module_bindings", lambda t, *rest: read.append(t) or original(t, *rest))
    second = ProjectIndex.scan(tmp_path, previous=first)
    assert len(read) == 1 and "titlecase" in read[0]
    assert second.names["titlecase"] == {"shop.text": 1.0}
    assert second.names["CURRENCY"] == first.names["CURRENCY"]


def test_only_names_an_assignment_binds_count_not_those_it_reads(tmp_path):
    source = "import os\nos.environ['X'] = '1'\nCACHE = {}\nCACHE[key] = 1\na, (b, *c) = 1, (2, 3)\n"
    _write(tmp_path, {"run.py": source})
    assert ProjectIndex.scan(tmp_path).defined["run"] == {"CACHE", "a", "b", "c"}


def test_a_symbolic_link_loop_is_read_once_and_a_dangling_link_is_skipped(tmp_path):
    _write(tmp_path, PROJECT)
    (tmp_path / "shop" / "again").symlink_to(tmp_path / "shop")
    (tmp_path / "shop" / "self.py").symlink_to(tmp_path / "shop" / "self.py")
    (tmp_path / "shop" / "gone.py").symlink_to(tmp_path / "nowhere.py")
    index = ProjectIndex.scan(tmp_path)
    assert index.names["slugify"] == {"shop.text": 1.0}
    assert not any(module.startswith("shop.again.again") for module in index.modules)


def test_a_file_or_package_named_after_a_keyword_is_not_importable(tmp_path):
    _write(tmp_path, {"shop/__init__.py": "", "shop/class.py": "def f():\n    pass\n"})
    assert "shop.class" not in ProjectIndex.scan(tmp_path).modules


def test_a_package_that_re_exports_a_name_is_imported_from_by_that_name():
    context = ImportContext({"slugify": {"shop": 0.5, "shop.text": 0.5}, "shop": {"shop": 1.0}})
    assert import_statement("shop", frozenset({"slugify"}), None, context) == "from shop import slugify"
    # code that reads `shop.x` too needs the package bound as well
    assert import_statement("shop", frozenset({"slugify", "shop"}), None, context) == \
        "import shop\nfrom shop import slugify"


def test_the_statement_never_imports_a_name_the_code_s_own_file_defines():
    context = ImportContext({"slugify": {"shop.text": 1.0}, "helper": {"shop.text": 0.5, "shop.views": 0.5}},
                            own_module="shop.views", own_defines=frozenset({"helper"}))
    assert import_statement("shop.text", frozenset({"slugify", "helper"}), None, context) == \
        "from shop.text import slugify"


def test_a_view_narrowed_to_the_free_names_ranks_exactly_as_the_context_of_every_word(tmp_path):
    from model.graph import build_graph
    from model.project import ProjectView

    _write(tmp_path, PROJECT)
    view = ProjectView(ProjectIndex.scan(tmp_path), str(tmp_path / "shop" / "views.py"))
    source = "def show(title):\n    price = Price()\n    return slugify(title), money, CURRENCY\n"
    free = build_graph(source).free_names
    ranker = ImportRanker(["os", "json"], ImportIndex({}, PROJECT_WEIGHTS))
    probs = np.array([0.2, 0.1])
    assert ranker.rank(probs, free, set(), 5, view.context_for(free)) == \
        ranker.rank(probs, free, set(), 5, view.context(source))
    assert len(view.context_for(free).names) < len(view.context(source).names)


def test_a_top_level_module_s_name_stays_open_beside_a_submodule_of_that_name():
    context = ImportContext({"logging": {"tqdm.contrib": 1.0}}, own_module="tqdm.std")
    assert context.unclaimed(["logging"]) == []
    assert context.unclaimed(["logging"], module_names={"logging"}) == ["logging"]


TRICKY_MODULE = '''"""A docstring whose lines look like code:
def not_a_function():
class NotAClass:
"""
import os

@decorated
def first():
    return """
def inside_a_string():
"""


TABLE = {
    "a": 1,
NOT_A_NAME: 2,
}
if os.name == "nt":
    windows = True
else:
    windows = False
try:
    import json
except ImportError:
    json = None
finally:
    pass
total = 1 + \\
    2


class Last:
    pass
'''


@pytest.mark.parametrize("repeat", [1, 400], ids=["one piece", "many pieces"])
def test_a_module_read_in_pieces_binds_exactly_what_one_parse_of_it_binds(repeat):
    from model.project import _module_bindings

    text = TRICKY_MODULE * repeat
    assert _module_bindings(text, None)[0] == {"first", "TABLE", "Last", "total"}
    assert _module_bindings(text + "def (:\n", None)[:2] == (frozenset(), frozenset())  # the whole does not parse


def test_no_single_parse_of_the_index_reads_much_more_than_a_piece(tmp_path, monkeypatch):
    """CPython's parser holds the interpreter lock for a whole parse: a 1 MiB module read at once
    would hold up the daemon's ping and predictions for over a second."""
    import model.project

    lengths: list[int] = []
    parse = model.project.ast.parse
    def recording(text, *args, **kwargs):  # ast.parse for everyone (pytest too) while the test runs
        lengths.append(len(text))
        return parse(text, *args, **kwargs)

    monkeypatch.setattr(model.project.ast, "parse", recording)
    _write(tmp_path, {"big.py": "".join(f"def f{i}(a):\n    return a + {i}\n" for i in range(25_000))})
    names = ProjectIndex.scan(tmp_path).names
    assert len((tmp_path / "big.py").read_bytes()) > 800_000 and "f24999" in names
    assert max(lengths) < 3 * model.project._PIECE_CHARS


def test_files_with_a_byte_order_mark_or_a_coding_line_are_read_as_python_reads_them(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "marked.py").write_bytes(b"\xef\xbb\xbfdef slugify(text):\n    return text\n")
    (tmp_path / "pkg" / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\ndef titlecase(t):\n    return '\xe9'\n")
    names = ProjectIndex.scan(tmp_path).names
    assert names["slugify"] == {"pkg.marked": 1.0} and names["titlecase"] == {"pkg.latin": 1.0}


def test_a_private_module_of_the_codes_own_project_is_still_suggested():
    # `pip._vendor` from the training table is a package's internals; `shop._impl` is the host's own
    context = ImportContext({"slugify": {"shop._impl": 1.0}})
    ranked = ImportRanker(["os"], ImportIndex(weights=(1.0, 4.0, 0.0, 0.0, 8.0, 2.0, -6.0))).rank(
        np.array([0.01]), {"slugify"}, set(), 2, context)
    assert [m for m, _ in ranked][:1] == ["shop._impl"]


def test_names_and_modules_the_code_s_file_imports_at_its_top_are_not_suggested_again(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/helpers.py": "def titlecase(s):\n    return s\n",
                      "pkg/views.py": "import json\nimport os.path\nfrom .helpers import titlecase\n"
                                      "try:\n    import ujson as fast\nexcept ImportError:\n    fast = None\n"
                                      "def show(x):\n    return x\n"})
    index = ProjectIndex.scan(tmp_path)
    code = "def page(t):\n    return fast.dumps(json.dumps(titlecase(os.path.basename(t))))\n"
    context = index.context(code, tmp_path / "pkg" / "views.py")
    assert set(context.needed(["json", "os", "titlecase", "fast", "slugify"])) == {"slugify"}
    assert context.file_imports == {"json", "os", "os.path", "ujson"}  # not pkg.helpers: only titlecase is bound
    ranked = ImportRanker(["json", "os"], ImportIndex()).rank(np.array([0.99, 0.99]), {"json", "os"}, set(), 3,
                                                              context)
    assert ranked == []  # the head's own confidence in json and os does not bring them back
    # another file of the project imports none of them
    assert set(index.context(code, tmp_path / "pkg" / "helpers.py").needed(["json", "titlecase"])) == {"json"}


def test_what_a_file_imports_counts_only_as_it_binds_at_run_time(tmp_path):
    _write(tmp_path, {"app/__init__.py": "",
                      "app/geo.py": "from os.path import join\nimport numpy.linalg as la\n",
                      "app/tc.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                   "    from collections import OrderedDict\nelse:\n    import json\n"
                                   "if __name__ == '__main__':\n    import sys\nelse:\n    import re\n"
                                   "if '__main__' != __name__:\n    import csv\nelse:\n    import io\n",
                      "app/star.py": "from numpy import *\n"})
    index = ProjectIndex.scan(tmp_path)
    geo = index.context("def cwd():\n    return os.getcwd(), join, la\n", tmp_path / "app" / "geo.py")
    assert geo.file_imports == {"numpy.linalg"} and geo.needed(["os", "join", "la"]) == ["os"]  # os is unbound
    tc = index.context("def make(d: OrderedDict):\n    return json, sys, re, csv, io\n", tmp_path / "app" / "tc.py")
    # a TYPE_CHECKING import is mostly read in annotations: bound, not to be imported at run time;
    # a script's `__main__` block binds nothing for the module's code, whichever way the test reads
    assert sorted(tc.needed(["OrderedDict", "json", "sys", "re", "csv", "io"])) == ["io", "sys"]
    star = index.context("def norm(v):\n    return sqrt(dot(v, v))\n", tmp_path / "app" / "star.py")
    assert star.file_star
    ranked = ImportRanker(["math"], ImportIndex()).rank(np.array([0.99]), {"sqrt", "dot"}, set(), 3, star)
    assert ranked == []  # the file's star may bind them
