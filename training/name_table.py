"""The name table behind import suggestions: which module each name is imported from in training code.

Owns: reading every import statement of the training split's files (not only the units sampled for
the import task, which hold a fifth of them at most: 400 units a package) and counting each import
line once per package that has it. Leaves to others: the samples and their labels
(training/datasets.py, training/imports.py), the table's use (model/imports.py ranks with it, the
Predictor writes lines with `statement_tables`' aliases and names) and the dictionary baseline built
from the same lines (training/baselines.py).

Which lines: those two packages or more have, the aliases a package gives its own modules in many
of its files (`house_aliases`: torch's `nn` and `F`), and those a unit of the training split really
uses (see `table_lines`; the units of the corpus the config describes, `used_lines`); then, for the
model's table alone, what the training split's standard-library modules export that no such line
binds (`standard_exports`, `with_exports`), as an IDE knows `random.randint` from the interpreter. Why once per
package: counted per line, one package that imports a name from its own module in hundreds of files
decides the name for everyone (`pi` from `sympy.core.numbers`, `log` from `distutils`, `Type` from
`torchgen.model`); per package, the modules many packages use win (`math`, `typing`). Why not
parse whole files: the statements are found by their first line and parsed alone, 2-3 s for the
6,000 files of the full corpus where parsing them whole takes minutes. An import line inside a
string (a docstring's example) is read as code too: rare, and training code.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from model.imports import is_private
from training.baselines import statement_bindings
from training.corpus import CodeUnit, CorpusOptions, SourceFile, corpus_files, split_of
from training.datasets import DataConfig, corpus_units
from training.imports import ImportUse, import_bindings, resolve_relative

__all__ = ["HOUSE_ALIAS_FILES", "ImportLines", "house_aliases", "import_line_files", "import_lines", "name_table_lines",
           "package_import_lines", "package_submodules", "standard_exports", "table_lines", "text_import_uses",
           "training_part", "used_lines", "with_exports"]

_IMPORT_START = re.compile(r"^[ \t]*(?:from[ \t]+\.*[\w.]*[ \t]+import\b|import[ \t]+\w)", re.MULTILINE)
"""The first line of an import statement, at any indentation (`from . import x` included)."""


def text_import_uses(text: str, package: str | None) -> list[ImportUse]:
    """The bindings of every import statement that starts a line of `text`, at any indentation
    (relative ones resolved against `package`, the dotted package of the file). A statement runs to
    its closing parenthesis, or on past lines ending in a backslash; one that does not parse alone,
    or holds more than one statement (`import a; import b`), is skipped, and so is one after a
    colon on its line (`try: import ujson`) or a parenthesis in a comment inside its list."""
    uses: list[ImportUse] = []
    for match in _IMPORT_START.finditer(text):
        node = _statement_at(text, match.start())
        if node is not None:
            uses.extend(import_bindings(node, package))
    return uses


def _statement_at(text: str, start: int) -> ast.Import | ast.ImportFrom | None:
    end = _line_end(text, start)
    if "(" in text[start:end]:
        close = text.find(")", start)
        end = _line_end(text, close) if close >= 0 else end
    while text[start:end].rstrip().endswith("\\") and end < len(text):
        end = _line_end(text, end + 1)
    try:
        body = ast.parse(text[start:end].strip()).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return body[0] if len(body) == 1 and isinstance(body[0], ast.Import | ast.ImportFrom) else None


def _line_end(text: str, position: int) -> int:
    end = text.find("\n", position)
    return len(text) if end < 0 else end


def package_import_lines(config: DataConfig) -> list[tuple[str, str]]:
    """(package, import line) for each distinct line, one per bound name as `ImportUse.statement`
    writes it (`from a import b`, `import a.b as c`), in the files of the corpus `config` describes
    whose package is in the training split; sorted."""
    return sorted(import_line_files(config))


def import_line_files(config: DataConfig) -> Counter[tuple[str, str]]:
    """(package, import line) -> how many of the package's files hold the line, over the files of
    the corpus `config` describes whose package is in the training split."""
    found: Counter[tuple[str, str]] = Counter()
    for file in _files(config):
        text = _read(file.path)
        found.update({(file.package, use.statement) for use in text_import_uses(text, _dotted_package(file))})
    return found


HOUSE_ALIAS_FILES: Final = 30
"""How many of its own files must import one of a package's public modules under one alias for
that alias to be the package's convention (`house_aliases`)."""


def house_aliases(files: Mapping[tuple[str, str], int]) -> list[tuple[str, str]]:
    """(package, `import package.module as alias`) for each alias a package gives one of its own
    public modules in `HOUSE_ALIAS_FILES` of its files or more (`files`: `import_line_files`);
    sorted. Its users write the same: torch's own code says `import torch.nn as nn` in 112 files and
    `import torch.nn.functional as F` in 75, and no other package of the corpus imports torch. A
    package's import of its own module is otherwise no answer for other code (`table_lines`); on
    the full corpus these are networkx's `nx`, matplotlib's `mpl`, numpy's `np` and torch's `nn`,
    `F`, `dist` and `fx`."""
    return sorted((package, line) for (package, line), count in files.items()
                  if count >= HOUSE_ALIAS_FILES and _aliases_public_own_module(line, package))


def _aliases_public_own_module(line: str, package: str) -> bool:
    if not line.startswith("import ") or " as " not in line:
        return False
    module = line.split()[1]
    return module.partition(".")[0] == package and not is_private(module)


_NO_EXPORTS: Final = frozenset({
    "idlelib", "lib2to3", "pydoc_data", "test", "tkinter", "turtle", "turtledemo",
    "genericpath",  # os.path's shared half: `getsize` is os.path's, not genericpath's
    # removed in Python 3.12 and 3.13 (PEP 594), which the project supports
    "aifc", "asynchat", "asyncore", "audioop", "cgi", "cgitb", "chunk", "crypt", "distutils", "imghdr", "imp",
    "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "smtpd", "sndhdr", "spwd", "sunau",
    "telnetlib", "uu", "xdrlib"})
"""Standard-library modules whose exports are no answer for other code: GUI and demo names
(turtle's `__all__` holds `done`, `reset`, `write`), the test suite and tools, an implementation
module, and modules later Pythons removed."""

_REMOVED_NAMES: Final = frozenset({"configparser.SafeConfigParser", "configparser.LegacyInterpolation",
                                    "configparser.readfp", "locale.resetlocale", "pkgutil.ImpImporter",
                                    "pkgutil.ImpLoader", "unittest.findTestCases", "unittest.makeSuite",
                                    "unittest.getTestCaseNames"})
"""Names the modules above still export in 3.11 that Python 3.12 or 3.13 removed."""

_ALL_START: Final = re.compile(r"^__all__[ \t]*=[ \t]*(?=[\[('\"])", re.MULTILINE)


def standard_exports(config: DataConfig, written: Iterable[tuple[str, str]] | None = None
                     ) -> list[tuple[str, str]]:
    """(package, `from module import name`) for each public name in the literal `__all__` of a public
    standard-library module of the training split (the first one a module assigns), as an IDE reads
    it off the interpreter; sorted. For names no training line imports: `randint` is in random's
    `__all__`, yet no two packages of the corpus import it from there. Left out: submodules a
    package lists (email's `message`: no free name `message` is a module); a submodule's names
    that its package offers only on some platforms (asyncio's `windows_events`); and a submodule
    no other package imports from (`json.scanner`), judged by `written`, the split's import lines
    (`package_import_lines`, read when not given)."""
    every_file = _files(config)
    files = [file for file in every_file if file.package in sys.stdlib_module_names and
             file.package not in _NO_EXPORTS and not any(part.startswith("_") for part in file.module.split("."))]
    texts = {file.module: _read(file.path) for file in files}
    starred = {file.module: set(_STAR_FROM_SUBMODULE.findall(texts[file.module]))
               for file in files if file.path.name == "__init__.py"}
    conditional = {f"{file.module}.{sub}" for file in files if file.path.name == "__init__.py"
                   for sub in _INDENTED_STAR_FROM_SUBMODULE.findall(texts[file.module])}
    shared = _imported_by_others(package_import_lines(config) if written is None else written)
    modules = {file.module for file in every_file}
    found: set[tuple[str, str]] = set()
    for file in files:
        module = _reexporter(file.module, starred)
        if file.module in conditional or ("." in module and module not in shared):
            continue
        found.update((file.package, f"from {module} import {name}") for name in _literal_all(texts[file.module])
                     if name.isidentifier() and not name.startswith("_") and f"{file.module}.{name}" not in modules
                     and f"{module}.{name}" not in _REMOVED_NAMES)
    return sorted(found)


_STAR_FROM_SUBMODULE: Final = re.compile(r"^from[ \t]+\.(\w+)[ \t]+import[ \t]+\*", re.MULTILINE)
_INDENTED_STAR_FROM_SUBMODULE: Final = re.compile(r"^[ \t]+from[ \t]+\.(\w+)[ \t]+import[ \t]+\*", re.MULTILINE)


def _imported_by_others(written: Iterable[tuple[str, str]]) -> set[str]:
    """The modules some package's import lines import, or import from, outside that package (the
    other side of `_imports_own_package`)."""
    return {module for package, line in written for _, module in statement_bindings(line)
            if module.partition(".")[0] != package}


def _reexporter(module: str, starred: Mapping[str, set[str]]) -> str:
    """The outermost package that offers `module`'s names through `from .sub import *` in its
    `__init__` at each step (asyncio's `new_event_loop` is `from asyncio import ...`, not
    `asyncio.events`)."""
    parent, _, name = module.rpartition(".")
    while parent and name in starred.get(parent, ()):
        module = parent
        parent, _, name = module.rpartition(".")
    return module


def _literal_all(text: str) -> list[str]:
    """The names of a module's first `__all__ = ...` at the margin, when it is a literal list or
    tuple of strings, bracketed or bare on its line (`__all__ = 'a', 'b'`); a computed one
    (`[n for n in ...]`) gives nothing."""
    match = _ALL_START.search(text)
    if match is None:
        return []
    start = match.end()
    closer = {"[": "]", "(": ")"}.get(text[start])
    end = text.find(closer, start) + 1 if closer else _line_end(text, start)
    try:
        names = ast.literal_eval(text[start:end]) if end > start else None
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    if isinstance(names, str):
        return [names]
    return [n for n in names if isinstance(n, str)] if isinstance(names, list | tuple) else []


@dataclass(frozen=True)
class ImportLines:
    """The training split's import lines, (package, line) each: `written` in its files
    (`package_import_lines`), `used` by its units (`used_lines`). Read once per training run, since
    both the name table and the import combiner's folds need them (reading every file and loading the
    corpus again cost a run 3.5 s of the full corpus's)."""

    written: list[tuple[str, str]]
    used: list[tuple[str, str]]
    exported: list[tuple[str, str]] = field(default_factory=list)
    """What the split's standard-library modules export (`standard_exports`)."""
    conventions: list[tuple[str, str]] = field(default_factory=list)
    """The aliases packages give their own modules by habit (`house_aliases`)."""

    def code_table(self) -> list[str]:
        """The lines of training code the name table counts (`table_lines`): the dictionary's."""
        return table_lines(self.written, {line for _, line in self.used}, {line for _, line in self.conventions})

    def table(self) -> list[str]:
        """The lines the model's name table counts: training code's, then the exports (`with_exports`)."""
        return with_exports(self.code_table(), self.exported)


def import_lines(config: DataConfig, units: Sequence[CodeUnit] | None = None) -> ImportLines:
    """The import lines of the corpus `config` describes (its `units`, when the caller holds them)."""
    files = import_line_files(config)
    written = sorted(files)
    return ImportLines(written, used_lines(config, units), standard_exports(config, written), house_aliases(files))


def name_table_lines(config: DataConfig, units: Sequence[CodeUnit] | None = None) -> list[str]:
    """The lines of training code the name table counts, from the corpus `config` describes (its
    `units`, when the caller holds them): what `yantra-train` builds the table from, before the
    standard library's exports, and what `yantra-eval` fits the dictionary on given the training
    run's corpus (its `max_units_per_package`, not the evaluation's), so that both read the same
    training code."""
    files = import_line_files(config)
    return ImportLines(sorted(files), used_lines(config, units), conventions=house_aliases(files)).code_table()


def used_lines(config: DataConfig, units: Sequence[CodeUnit] | None = None) -> list[tuple[str, str]]:
    """(package, import line) for each line some unit of a training-split package really uses (its
    import labels), over the units of the corpus `config` describes (`units`, when the caller holds
    them); sorted."""
    units = corpus_units(config) if units is None else units
    return sorted({(unit.package, use.statement) for unit in units
                   if split_of(unit.package, seed=config.seed) == "train" for use in unit.imports})


def package_submodules(config: DataConfig, *, every_split: bool = False) -> dict[str, dict[str, bool]]:
    """package -> {public submodule: whether `import package` loads it}, for the packages of the
    training split's files (or, with `every_split`, of every file the corpus reads: the shipped
    table, since it holds no labels, only how the installed packages are laid out, as an IDE
    reads it off the interpreter), nested ones included (`xml.etree`): what the daemon needs to write
    `import logging.handlers` rather than `import logging` for code reading
    `logging.handlers.RotatingFileHandler`, which is an AttributeError unless something else
    imported the submodule first. A package loads a submodule when its `__init__` imports it at
    module level in any form (`from . import b`, `from .b import c`, `import pkg.b`), binds its
    name by an import (`import posixpath as path`), or has a module-level `__getattr__` that answers
    its name (`_lazy_loads`; one that imports a computed name counts as loading them all)."""
    files = _files(config, every_split=every_split)
    children: dict[str, set[str]] = {}
    for file in files:
        parent, _, name = file.module.rpartition(".")
        if parent and not name.startswith("_"):
            children.setdefault(parent, set()).add(name)
    packages: dict[str, dict[str, bool]] = {}
    for file in files:
        if file.path.name == "__init__.py" and file.module in children and not is_private(file.module):
            loaded = _loaded_on_import(_read(file.path), file.module)
            packages[file.module] = {name: loaded is None or name in loaded
                                     for name in sorted(children[file.module])}
    return _what_changes_a_suggestion(packages)


def _files(config: DataConfig, *, every_split: bool = False) -> list[SourceFile]:
    """The files of the corpus `config` describes whose package is in the training split (all of
    them with `every_split`)."""
    options = CorpusOptions(config.roots, config.max_files, config.max_units_per_package)
    return [f for f in corpus_files(options) if every_split or split_of(f.package, seed=config.seed) == "train"]


def training_part(table: Mapping[str, Mapping[str, bool]], seed: int) -> dict[str, Mapping[str, bool]]:
    """A submodule table without the packages held out of training: what figures measured on held-out
    packages rank with, so that code from a test package is not ranked knowing its own package's
    layout (the shipped table reads every installed package's)."""
    return {package: children for package, children in table.items()
            if split_of(package.partition(".")[0], seed=seed) == "train"}


def _what_changes_a_suggestion(packages: dict[str, dict[str, bool]]) -> dict[str, dict[str, bool]]:
    """Only the submodules a package's import leaves out, and the loaded ones on the way to such
    (`a.b` loaded, `a.b.c` not): the rest changes no suggestion (half the entries, here)."""
    kept: dict[str, dict[str, bool]] = {}
    for package in sorted(packages, key=lambda name: (-name.count("."), name)):  # the deepest first
        children = {name: loaded for name, loaded in packages[package].items()
                    if not loaded or f"{package}.{name}" in kept}
        if children:
            kept[package] = children
    return dict(sorted(kept.items()))


def _loaded_on_import(text: str, package: str) -> set[str] | None:
    """The names `import package` binds or loads by importing: its `__init__`'s module-level imports
    (inside `if` and `try` too, not under `if TYPE_CHECKING:`), and the names a module-level
    `__getattr__` answers (`_lazy_loads`). None where anything may load: an `__init__` that does not
    parse, or a `__getattr__` that imports a computed name (`import_module(f"scipy.{name}")`)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    loaded: set[str] = set()
    for node in _module_scope(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            loaded |= _import_loads(node, package)
        elif isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            lazy = _lazy_loads(node)
            if lazy is None:
                return None
            loaded |= lazy
    return loaded


def _module_scope(node: ast.AST) -> Iterable[ast.AST]:
    """The nodes that run when the module is imported, and the functions and classes it defines
    (not what is inside them, nor an `if TYPE_CHECKING:` block, which never runs)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from (n for statement in child.orelse for n in (statement, *_module_scope(statement)))
            continue
        yield child
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            yield from _module_scope(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_loads(node: ast.Import | ast.ImportFrom, package: str) -> set[str]:
    """The names of `package` an import statement inside it binds or loads: `from . import b`, `from
    .b import c` and `import package.b` load `b`; `import posixpath as path` binds `path`."""
    prefix = package + "."
    names: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            names.add(alias.asname or alias.name.partition(".")[0])
            if alias.name.startswith(prefix):
                names.add(alias.name[len(prefix):].partition(".")[0])
        return names
    module = resolve_relative(node.level, node.module, package=package)
    if module.startswith(prefix):
        names.add(module[len(prefix):].partition(".")[0])
    names.update(alias.asname or alias.name for alias in node.names if alias.name != "*")
    return names


def _lazy_loads(function: ast.FunctionDef) -> set[str] | None:
    """The attributes a module-level `__getattr__` answers: the names it compares its argument with
    (`if name == "linalg": import numpy.linalg`), not what it imports to answer another one
    (unittest imports `async_case` for `IsolatedAsyncioTestCase`, so `unittest.async_case` is still an
    AttributeError); None when it imports a name it computes (`import_module(f"scipy.{name}")`)."""
    names: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)
        elif isinstance(node, ast.Call) and _called_name(node.func) in ("import_module", "__import__") and \
                not (node.args and isinstance(node.args[0], ast.Constant)):
            return None
    return names


def _called_name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def table_lines(pairs: Iterable[tuple[str, str]], used: Container[str], conventions: Container[str] = ()
                ) -> list[str]:
    """The lines the name table counts, once per package that has it: those at least two packages
    have, a package's `conventions` (`house_aliases`), and those some training sample really uses
    (`used`, its statements) unless the line imports the package's own module. A line only one
    package has is its own business: counted, such lines made up most of the table and swayed the
    combiner fitted on it toward ignoring the table (measured: see docs/experiments.md). And a
    package's import of its own module (`from .log import logger` in asyncio, `from xmlrpc.client
    import dumps` in xmlrpc) is no answer for other code, whose own modules the project index knows:
    it gave `logger` asyncio's."""
    pairs = list(pairs)
    packages = Counter(line for _, line in pairs)
    return [line for package, line in pairs
            if packages[line] >= 2 or line in conventions
            or (line in used and not _imports_own_package(line, package))]


def with_exports(lines: list[str], exported: Iterable[tuple[str, str]]) -> list[str]:
    """`lines` (`table_lines`), then, for each name none of them binds, the one standard-library
    module that exports it (`exported`, `standard_exports`' lines), if only one does, or one package
    and its own modules: `join` is posixpath's, ntpath's and shlex's, so it stays out. The model's
    name table reads these; the dictionary baseline, training code's lines alone, as the issue
    defines it."""
    bound = {name for line in lines for name, _ in statement_bindings(line)}
    exporters: dict[str, set[str]] = {}
    for _, line in exported:
        for name, module in statement_bindings(line):
            exporters.setdefault(name, set()).add(module)
    chosen = {name: _one_exporter(modules) for name, modules in exporters.items() if name not in bound}
    return lines + sorted(f"from {module} import {name}" for name, module in chosen.items() if module is not None)


def _one_exporter(modules: set[str]) -> str | None:
    """The module to import a name from when `modules` export it: the one, or a package that all the
    others are inside (`json`, which re-exports `json.decoder`'s JSONDecodeError); None when they
    are unrelated."""
    outer = min(modules, key=len)
    return outer if all(m == outer or m.startswith(outer + ".") for m in modules) else None


def _imports_own_package(line: str, package: str) -> bool:
    return any(module.partition(".")[0] == package for _, module in statement_bindings(line))


def _dotted_package(file: SourceFile) -> str:
    """What the file's relative imports resolve against, as the corpus resolves its units' own."""
    return file.module if file.path.name == "__init__.py" else file.module.rpartition(".")[0]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
