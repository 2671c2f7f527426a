"""The name table's import lines: every statement of the training packages' files, once per package."""

import sys
from pathlib import Path

from training.corpus import split_of
from training.datasets import DataConfig
from training.name_table import (
    _NO_EXPORTS,  # the modules a test corpus must not be named after
    HOUSE_ALIAS_FILES,
    house_aliases,
    import_line_files,
    name_table_lines,
    package_import_lines,
    package_submodules,
    standard_exports,
    table_lines,
    text_import_uses,
    training_part,
    used_lines,
    with_exports,
)


def _statements(text: str, package: str | None = "pkg.sub") -> list[str]:
    return [use.statement for use in text_import_uses(text, package)]


def test_every_import_statement_is_read_at_any_depth_and_in_any_layout():
    text = (
        "import os, numpy as np\n"
        "from typing import (\n    Any,\n    Dict as D,\n)\n"
        "def f():\n    from json import \\\n        loads\n    return loads\n"
        "class C:\n    import xml.etree.ElementTree as ET\n"
        "from . import sibling\nfrom ..top import helper\n"
        "import a; x = 1\n"  # not a statement alone: skipped
        "imported = 1\nfrom_here = 2\n"  # names that start like the keywords
    )
    assert _statements(text) == [
        "import os", "import numpy as np", "from typing import Any", "from typing import Dict as D",
        "from json import loads", "import xml.etree.ElementTree as ET", "from pkg.sub import sibling",
        "from pkg.top import helper",
    ]


def test_a_statement_that_does_not_parse_alone_is_skipped_without_losing_the_next():
    assert _statements("from x import (a,\n  b\nimport os\n") == ["import os"]
    assert _statements("import\nimport re") == ["import re"]


def _train_packages(count: int) -> list[str]:
    names = (f"pkg{i}" for i in range(1000))
    return [name for name in names if split_of(name) == "train"][:count]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_line_counts_once_per_training_package_that_has_it(tmp_path):
    first, second = _train_packages(2)
    held_out = next(f"pkg{i}" for i in range(1000) if split_of(f"pkg{i}") != "train")
    _write(tmp_path, {
        f"{first}/__init__.py": "from math import pi\n",
        f"{first}/a.py": "from math import pi\nfrom .b import helper\n",
        f"{second}/__init__.py": "from math import pi\n",
        f"{held_out}/__init__.py": "from secret import only_held_out\n",
    })
    lines = package_import_lines(DataConfig(roots=(str(tmp_path),), progress=False))
    assert lines == sorted([(first, "from math import pi"), (first, f"from {first}.b import helper"),
                            (second, "from math import pi")])


def test_the_table_keeps_lines_two_packages_share_or_a_sample_uses():
    pairs = [("a", "from math import pi"), ("b", "from math import pi"), ("sympy", "from sympy.core import pi"),
             ("c", "from app.util import helper"), ("d", "import csv"), ("asyncio", "from asyncio.log import logger")]
    used = {"import csv", "from asyncio.log import logger"}  # the second: asyncio's own module, no answer elsewhere
    assert table_lines(pairs, used) == ["from math import pi", "from math import pi", "import csv"]


def test_an_alias_a_package_gives_its_own_module_in_many_files_is_its_users_convention(tmp_path):
    package, other = _train_packages(2)
    habit, rare = f"import {package}.nn as nn", f"import {package}.util as u"
    files = {f"{package}/m{i}.py": f"{habit}\n" + (f"{rare}\n" if i < HOUSE_ALIAS_FILES - 1 else "")
             for i in range(HOUSE_ALIAS_FILES)}
    files |= {f"{package}/nn.py": "", f"{package}/util.py": "", f"{package}/_c.py": "",
              f"{other}/__init__.py": "import json as j\n"}
    files |= {f"{package}/p{i}.py": f"import {package}._c as c\n" for i in range(HOUSE_ALIAS_FILES)}
    _write(tmp_path, files)
    counts = import_line_files(DataConfig(roots=(str(tmp_path),), progress=False))
    assert counts[(package, habit)] == HOUSE_ALIAS_FILES and counts[(package, rare)] == HOUSE_ALIAS_FILES - 1
    assert house_aliases(counts) == [(package, habit)]  # not one file short, nor a private module's
    pairs = sorted(counts)
    assert table_lines(pairs, set(), {habit}) == [habit]  # its own module, kept as a convention


def test_the_used_lines_are_those_the_corpus_units_of_training_packages_use(tmp_path):
    (package,) = _train_packages(1)
    held_out = next(f"held{i}" for i in range(100) if split_of(f"held{i}", seed=0) != "train")
    _write(tmp_path, {
        f"{package}/__init__.py": "from csv import reader\nfrom json import loads\n\n"
                                  "def read(f):\n    return list(reader(f))\n",
        f"{held_out}/__init__.py": "from secret import only_held_out\n\ndef g():\n    return only_held_out()\n",
    })
    config = DataConfig(roots=(str(tmp_path),), cache_dir=str(tmp_path / "cache"), progress=False)
    assert used_lines(config) == [(package, "from csv import reader")]  # `loads` is imported, never used
    assert name_table_lines(config) == ["from csv import reader"]


def test_the_used_lines_follow_the_corpus_cap_as_the_training_run_read_it(tmp_path):
    # yantra-eval's dictionary reads the run's corpus (`trained_corpus`): its cap decides the lines
    (package,) = _train_packages(1)
    _write(tmp_path, {f"{package}/a.py": "from csv import reader\n\ndef first(f):\n    return reader(f)\n",
                      f"{package}/b.py": "from json import loads\n\ndef second(s):\n    return loads(s)\n"})
    config = DataConfig(roots=(str(tmp_path),), cache_dir=str(tmp_path / "cache"), progress=False)
    assert used_lines(config) == [(package, "from csv import reader"), (package, "from json import loads")]
    capped = DataConfig(roots=(str(tmp_path),), max_units_per_package=1, cache_dir=str(tmp_path / "cache"),
                        progress=False)
    assert used_lines(capped) == [(package, "from csv import reader")]


def test_the_submodules_a_package_import_leaves_out_are_known(tmp_path):
    (package, lazy, computed) = _train_packages(3)
    _write(tmp_path, {
        f"{package}/__init__.py": "from . import eager\nfrom .star import *\nimport posixpath as path\n"
                                  "if True:\n    from .nested import thing\ndef later():\n    from . import late\n",
        **{f"{package}/{name}.py": "" for name in ("eager", "star", "nested", "late", "alone", "_private", "path")},
        f"{package}/deep/__init__.py": "", f"{package}/deep/leaf.py": "",
        f"{lazy}/__init__.py": "def __getattr__(name):\n    if name == 'on_demand':\n        from . import on_demand\n"
                               "    if name == 'Helper':\n        from .helpers import Helper\n",
        f"{lazy}/on_demand.py": "", f"{lazy}/never.py": "", f"{lazy}/helpers.py": "",
        f"{computed}/__init__.py": "import importlib\ndef __getattr__(name):\n"
                                   "    return importlib.import_module(f'{__name__}.{name}')\n",
        f"{computed}/anything.py": "",
    })
    found = package_submodules(DataConfig(roots=(str(tmp_path),), progress=False))
    assert found[package] == {"alone": False, "deep": False, "late": False}  # loaded ones changes nothing
    assert found[f"{package}.deep"] == {"leaf": False}
    assert found[lazy] == {"helpers": False, "never": False}  # `helpers` loads only when `Helper` is asked for
    assert computed not in found  # its `__getattr__` may load any of them


def test_imports_under_type_checking_load_nothing_and_held_out_packages_are_read_only_when_asked(tmp_path):
    (package,) = _train_packages(1)
    held_out = next(f"pkg{i}" for i in range(1000) if split_of(f"pkg{i}") != "train")
    _write(tmp_path, {
        f"{package}/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import typed\n"
                                  "else:\n    from . import runtime\n",
        f"{package}/typed.py": "", f"{package}/runtime.py": "",
        f"{held_out}/__init__.py": "", f"{held_out}/sub.py": "",
    })
    config = DataConfig(roots=(str(tmp_path),), progress=False)
    assert package_submodules(config) == {package: {"typed": False}}  # `runtime` is loaded: nothing to say
    everything = package_submodules(config, every_split=True)
    assert everything == {package: {"typed": False}, held_out: {"sub": False}}
    assert training_part(everything, seed=0) == {package: {"typed": False}}


def _standard_training_names(count: int) -> list[str]:
    return sorted(name for name in sys.stdlib_module_names
                  if split_of(name) == "train" and not name.startswith("_") and name not in _NO_EXPORTS)[:count]


def test_standard_modules_export_the_names_of_their_literal_all(tmp_path):
    package, module, computed, importer = _standard_training_names(4)
    _write(tmp_path, {
        f"{package}/__init__.py": "from .events import *\nif X:\n    from .winonly import *\n"
                                  "__all__ = ['top', 'events']\n",  # `events`, a submodule: left out
        f"{package}/events.py": "__all__ = (\n    'new_loop',  # a comment\n    '_hidden',\n)\n",
        f"{package}/winonly.py": "__all__ = ['Proactor']\n",  # offered on some platforms only
        f"{package}/util.py": "__all__ = ['helper']\n",  # no other package imports from it
        f"{package}/shared.py": "__all__ = ['quote']\n",
        f"{importer}.py": f"from {package}.shared import quote\n",
        f"{package}/_private.py": "__all__ = ['secret']\n",
        f"{module}.py": "import os\n__all__ = 'randint', 'shuffle'\n__all__ += ['later']\n",
        f"{computed}.py": "__all__ = [name for name in dir() if name[0] != '_']\n",
        "thirdparty/__init__.py": "__all__ = ['N', 'S']\n",  # only the standard library is read
    })
    exports = standard_exports(DataConfig(roots=(str(tmp_path),), progress=False))
    assert exports == sorted([(package, f"from {package} import top"), (package, f"from {package} import new_loop"),
                              (package, f"from {package}.shared import quote"),
                              (module, f"from {module} import randint"), (module, f"from {module} import shuffle")])


def test_an_export_joins_the_table_only_for_a_name_no_line_binds_and_one_module_offers():
    pairs = [("a", "from math import pi"), ("b", "from math import pi")]
    exported = [("math", "from math import pi"), ("cmath", "from cmath import pi"),  # `pi` is bound already
                ("random", "from random import randint"),
                ("posixpath", "from posixpath import join"), ("shlex", "from shlex import join"),  # unrelated
                ("json", "from json import JSONDecodeError"), ("json", "from json.decoder import JSONDecodeError")]
    assert with_exports(table_lines(pairs, set()), exported) == [
        "from math import pi", "from math import pi", "from json import JSONDecodeError", "from random import randint"]
