"""The corpus: discovery, units and their labels, package splits, de-duplication and the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.corpus import (
    CorpusOptions,
    build_corpus,
    code_key,
    discover_sources,
    extract_units,
    normalised_ast_key,
    split_of,
)

MODULE = '''
import os
from .helpers import tool


def short():
    return 1


def uses_os(path):
    """Join a path."""
    return os.path.join(path, "x")


class Box:
    def __init__(self, value):
        self.value = value
        self.other = tool(value)

    def double(self):
        return self.value * 2
'''


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    package = tmp_path / "root" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(MODULE)
    (package / "copy.py").write_text(MODULE.replace("Box", "Crate"))
    (package / "broken.py").write_text("def f(:\n")
    (package / "tests").mkdir()
    (package / "tests" / "test_x.py").write_text("def test():\n    assert True\n    return 1\n")
    return tmp_path / "root"


def test_discover_is_sorted_and_skips_tests_and_unparseable_files(tree: Path):
    paths = [source.path for source in discover_sources([tree])]
    assert [p.name for p in paths] == ["__init__.py", "copy.py", "mod.py"]


def test_an_editable_install_finder_is_not_corpus_code(tree: Path):
    (tree / "__editable___yantra_bridge_0_1_0_finder.py").write_text("def find_spec(name):\n    return None\n")
    (tree / "plain.py").write_text("def f():\n    return 1\n")
    assert [s.module for s in discover_sources([tree]) if not s.module.startswith("pkg")] == ["plain"]


def test_a_named_package_directory_is_its_own_package(tree: Path):
    sources = discover_sources([tree / "pkg"])
    assert {s.package for s in sources} == {"pkg"}
    assert "pkg.mod" in {s.module for s in sources}


def test_units_are_functions_methods_and_small_classes_with_import_labels(tree: Path):
    units = {u.qualname: u for u in extract_units(tree / "pkg" / "mod.py", "pkg", module="pkg.mod")}
    assert "short" not in units  # two lines: below the minimum
    assert units["uses_os"].kind == "function"
    assert [i.statement for i in units["uses_os"].imports] == ["import os"]
    assert units["Box.__init__"].kind == "method"
    assert [i.module for i in units["Box.__init__"].imports] == ["pkg.helpers"]
    assert units["Box"].kind == "class"
    assert "import" not in units["pkg.mod"].source
    assert units["uses_os"].line == 10


def test_a_file_that_does_not_parse_gives_no_units(tree: Path):
    assert extract_units(tree / "pkg" / "broken.py", "pkg") == []


def test_split_of_is_stable_and_roughly_eighty_ten_ten():
    names = [f"package{i}" for i in range(2000)]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]
    assert 0.75 < splits.count("train") / len(names) < 0.85
    assert 0.07 < splits.count("test") / len(names) < 0.13
    assert split_of("numpy", seed=0) in {"train", "validation", "test"}


def test_no_package_crosses_splits(tree: Path, tmp_path: Path):
    units = build_corpus(CorpusOptions(roots=(str(tree),)), cache=tmp_path / "cache")
    by_package: dict[str, set[str]] = {}
    for unit in units:
        by_package.setdefault(unit.package, set()).add(split_of(unit.package))
    assert all(len(splits) == 1 for splits in by_package.values())


def test_identical_code_differing_in_layout_and_docstring_is_one_unit(tree: Path, tmp_path: Path):
    assert normalised_ast_key("def f(a):\n    '''Doc.'''\n    return a + 1\n") == normalised_ast_key(
        "def f(a):  # comment\n    return (a + 1)\n"
    )
    units = build_corpus(CorpusOptions(roots=(str(tree),)), cache=tmp_path / "cache")
    qualnames = [u.qualname for u in units]
    assert sum(q.endswith(".__init__") for q in qualnames) == 1  # the same method in two files
    assert "Box" in qualnames and "Crate" in qualnames  # the classes differ by their names


def test_a_second_build_reads_the_cache(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    options = CorpusOptions(roots=(str(tree),))
    first = build_corpus(options, cache=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("corpus-v*.json"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("extraction ran although the cache was warm")

    monkeypatch.setattr("training.corpus.extract_units", refuse)
    assert build_corpus(options, cache=tmp_path / "cache") == first


def test_a_fix_to_the_labelling_code_rebuilds_the_corpus(tree: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    options = CorpusOptions(roots=(str(tree),))
    build_corpus(options, cache=tmp_path / "cache")
    monkeypatch.setattr("training.corpus.code_key", lambda *modules: "the labels as fixed")
    build_corpus(options, cache=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("corpus-v*.json"))) == 2


def test_the_code_key_follows_code_but_not_comments_docstrings_or_layout(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "yantra_code_key_probe.py"

    def key_of(text: str) -> str:
        module.write_text(text)
        code_key.cache_clear()
        return code_key("yantra_code_key_probe")

    first = key_of('"""Labels."""\n\nLIMIT = 3\n"""How many."""\n\ndef label(x):\n    return x + 1\n')
    assert key_of('"""Labels, said better."""\n\nLIMIT = 3\n"""How many labels."""\n\n'
                  'def label(x):  # why\n    return (x + 1)\n') == first
    assert key_of('"""Labels."""\n\nLIMIT = 4\n"""How many."""\n\ndef label(x):\n    return x + 1\n') != first
    assert key_of('"""Labels."""\n\ndef label(x):\n    return x - 1\n') != first
    code_key.cache_clear()


def test_caps_keep_builds_small(tree: Path, tmp_path: Path):
    units = build_corpus(CorpusOptions(roots=(str(tree),), max_units_per_package=2), cache=tmp_path / "c")
    assert len(units) == 2
    assert build_corpus(CorpusOptions(roots=(str(tree),), max_files=1), cache=tmp_path / "c") == []
