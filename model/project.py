"""The host project's own names: which of its modules binds each name, as an IDE's project index does.

A name table from training code cannot know a project it has never seen, yet half of the imports
real code needs come from its own package (`from .utils import slugify`, `from mypkg import models`).
`ProjectIndex` reads a project's Python files once and records, per name, the modules a line
`from <module> import <name>` (or `import <name>`) could take it from:

- the names a module defines at top level (functions, classes, assigned names);
- the names a package's `__init__.py` re-exports with `from ... import`;
- each submodule's own name, bound by its parent package (`from mypkg import models`);
- each top-level module or package, bound by `import mypkg`.

`ImportContext` is the small part of an index that concerns one piece of code (the names it
mentions and the module it lives in), cheap to send to a worker process. `model.imports` combines
it with the head and the training name table; finding the project (`project_root`) and bounding the
walk are here, keeping and refreshing indexes is the daemon's.
"""

from __future__ import annotations

import ast
import bisect
import functools
import keyword
import os
import re
import tokenize
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from model.parsing import parse

__all__ = ["ImportContext", "ProjectIndex", "ProjectView", "module_name", "project_root"]

MAX_FILES = 5_000
"""Files read at most per project: a bound on the time and memory one index may take."""
MAX_FILE_BYTES = 1 << 20
_PIECE_CHARS = 16 * 1024
"""About how much source one `ast.parse` of the index reads at a time. CPython's parser holds the
interpreter lock for a whole parse (1.4 s for a 1 MiB module here), and the index is built on a
daemon thread beside `ping` and the predictions: read in pieces of top-level statements, a large
module holds the lock some 20 ms at a time instead."""
_STATEMENT_START = re.compile(r"^(?!(?:else|elif|except|finally)\b)(?=[A-Za-z_@])", re.MULTILINE)
"""Lines that may start a top-level statement: at column 0, a name or a decorator, not a clause that
continues the statement before (a line inside a string or brackets matches too: see `_top_level`)."""
_NOT_WORD = {code: " " for code in range(128) if not (chr(code).isalnum() or chr(code) == "_")}
"""ASCII punctuation and spaces to blanks: splitting the result gives the words of code 2-4 times
faster than a regular expression (the daemon does this per request on the reader thread)."""


@dataclass(frozen=True)
class ImportContext:
    """What a project offers one piece of code: name -> {module: share of the modules binding it},
    for the names the code mentions, and the module the code itself lives in (never suggested)."""

    names: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    own_module: str | None = None
    own_defines: frozenset[str] = frozenset()
    """The names the code mentions that its own module defines, or imports at its top: a function sent
    alone reads its file's other functions, constants and imports, which need no import."""
    file_imports: frozenset[str] = frozenset()
    """The modules the code's own file imports at its top as modules (`import a.b`: a and a.b): never
    suggested, as the code's own imports are not."""
    file_star: bool = False
    """The code's own file has a star import at its top, which may bind any name: nothing is
    suggested, as for code with one of its own."""

    def needed(self, free_names: Iterable[str]) -> list[str]:
        """The free names an import must bind: all but those the code's own module defines."""
        return [n for n in free_names if n not in self.own_defines]

    def evidence(self, free_names: Iterable[str]) -> dict[str, float]:
        """module -> summed share of the needed free names it binds (never the code's own module)."""
        evidence: dict[str, float] = {}
        for name in self.needed(free_names):
            for module, share in self.names.get(name, {}).items():
                if not self._is_own(name, module):
                    evidence[module] = evidence.get(module, 0.0) + share
        return evidence

    def _is_own(self, name: str, module: str) -> bool:
        """Whether importing `name` from `module` would import the code's own module: the module
        itself, or its package's binding of it (`from shop import serializers` in shop/serializers.py,
        where the code's `serializers` is some library's: Django's files are named after them)."""
        return self.own_module is not None and (module == self.own_module or f"{module}.{name}" == self.own_module)

    def unclaimed(self, names: Iterable[str], module_names: Container[str] = frozenset()) -> list[str]:
        """The names no module of the project (but the code's own) binds, or that are `module_names`.

        A name the project defines is the project's, as a local definition shadows a library's:
        the training code's guesses for it (`util` from `importlib`, in a package with its own
        `util`) are left out. A top-level module's name stays open even where the project has a
        submodule of that name (`logging` beside `tqdm.contrib.logging`): `import logging` finds
        the top-level module."""
        return [n for n in names
                if n in module_names or all(self._is_own(n, m) for m in self.names.get(n, ()))]

    def binds(self, module: str, free_names: Iterable[str]) -> list[str]:
        """The needed free names `module` binds in this project, sorted."""
        return sorted(n for n in self.needed(free_names)
                      if module in self.names.get(n, {}) and not self._is_own(n, module))


@dataclass(frozen=True, slots=True)
class _FileBindings:
    """What one file of a project binds, and the size and time it had when read."""

    module: str
    mtime_ns: int
    size: int
    defined: frozenset[str]
    re_exported: frozenset[str]
    imports: _Imports


@dataclass(frozen=True, eq=False)
class ProjectIndex:
    """name -> {module: share} over a project's modules; `modules` are the dotted names indexed.
    Compared by identity: a rebuilt index is another index, and comparing tables would be slow."""

    names: Mapping[str, Mapping[str, float]]
    modules: frozenset[str]
    root: Path | None = None
    defined: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)
    """module -> the names it defines itself (not those a package re-exports)."""
    _files: Mapping[Path, _FileBindings] = field(default_factory=dict, repr=False)
    """What `scan` read from each file, so that a rescan reads only the files that changed."""
    imports: Mapping[str, _Imports] = field(default_factory=dict, repr=False)
    """module -> what its file imports at its top (the names bound, the modules read)."""

    @classmethod
    def from_modules(cls, modules: Iterable[tuple[str, str, bool]], root: Path | None = None) -> ProjectIndex:
        """From (dotted module, source text, is a package `__init__`) triples; unparsable text is skipped."""
        bindings = {module: _module_bindings(text, _package_of(module, is_package))
                    for module, text, is_package in modules}
        return cls._from_bindings(bindings, root)

    @classmethod
    def scan(cls, root: str | os.PathLike[str], *, max_files: int = MAX_FILES,
             previous: ProjectIndex | None = None) -> ProjectIndex:
        """Index the modules importable from `root` (a directory on sys.path): its own files and its
        packages' (directories with `__init__.py`), at most `max_files`. Files unchanged since
        `previous` (same size and modification time) are not read again."""
        base = Path(root)
        known = previous._files if previous is not None else {}
        files: dict[Path, _FileBindings] = {}
        for path, module in _module_files(base, max_files):
            try:
                stat = path.stat()
                old = known.get(path)
                if old is not None and (old.mtime_ns, old.size) == (stat.st_mtime_ns, stat.st_size):
                    files[path] = old
                elif stat.st_size <= MAX_FILE_BYTES:
                    is_package = path.name == "__init__.py"
                    with tokenize.open(path) as handle:  # as Python reads it: a BOM, a coding line
                        text = handle.read()
                    bound = _module_bindings(text, _package_of(module, is_package))
                    files[path] = _FileBindings(module, stat.st_mtime_ns, stat.st_size, *bound)
            except (OSError, UnicodeDecodeError, SyntaxError):  # SyntaxError: an unknown coding
                continue
        return cls._from_bindings({f.module: (f.defined, f.re_exported, f.imports) for f in files.values()}, base,
                                  files)

    @classmethod
    def _from_bindings(cls, bindings: Mapping[str, tuple[frozenset[str], frozenset[str], _Imports]],
                       root: Path | None, files: Mapping[Path, _FileBindings] | None = None) -> ProjectIndex:
        """From module -> (names it defines, names it re-exports, what it imports), and what `scan`
        read per file."""
        bound: dict[str, set[str]] = {}
        for module, (defined, re_exported, _) in bindings.items():
            for name in defined | re_exported:
                bound.setdefault(name, set()).add(module)
            parent, _, last = module.rpartition(".")
            bound.setdefault(last, set()).add(parent or module)  # from parent import last / import module
        names = {name: {m: 1.0 / len(mods) for m in sorted(mods)} for name, mods in bound.items()}
        return cls(names, frozenset(bindings), root, {module: found[0] for module, found in bindings.items()},
                   files or {}, {module: found[2] for module, found in bindings.items()})

    def context(self, source: str, path: str | os.PathLike[str] | None = None, *,
                file_imports: bool = True) -> ImportContext:
        """The part of the index `source` can use: entries for the identifiers it mentions."""
        return self.context_for(set(source.translate(_NOT_WORD).split()), path, file_imports=file_imports)

    def context_for(self, words: Iterable[str], path: str | os.PathLike[str] | None = None, *,
                    file_imports: bool = True) -> ImportContext:
        """The part of the index for these names (the code's words, or just its free names: what the
        ranking reads), seen from the file at `path`. With `file_imports` (the daemon's case: code
        sent from a file that has its imports on disk), what that file imports at its top needs no
        import again; without it (training and evaluation, whose samples are units cut from their
        file with those very imports taken away to be found), only what the file defines."""
        table = self.names
        words = words if isinstance(words, set | frozenset) else set(words)
        names = {word: table[word] for word in words if word in table}
        own = _module_of(os.fspath(path), self.root) if path is not None and self.root is not None else None
        if own is None:
            return ImportContext(names)
        imports = self.imports.get(own, _NO_IMPORTS) if file_imports else _NO_IMPORTS
        own_defines = frozenset(words.intersection(self.defined.get(own, ()))) | words.intersection(imports.names)
        return ImportContext(names, own, frozenset(own_defines), imports.modules, imports.star)


@dataclass(frozen=True)
class ProjectView:
    """A project's index as seen from one file: resolved to an `ImportContext` only once the code's
    free names are known (a few lookups), instead of scanning every word of the code up front."""

    index: ProjectIndex
    path: str

    def context(self, source: str) -> ImportContext:
        """From every word of `source`: what must travel to another process before parsing."""
        return self.index.context(source, self.path)

    def context_for(self, free_names: Iterable[str]) -> ImportContext:
        return self.index.context_for(free_names, self.path)


def project_root(path: str | os.PathLike[str]) -> Path:
    """The directory on sys.path that holds `path`: above its outermost package (`__init__.py`
    directories), or the file's own directory when it is not in a package."""
    directory = Path(path).parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        directory = directory.parent
    return directory


def module_name(path: Path, root: Path) -> str | None:
    """`root/a/b.py` -> "a.b", `root/a/__init__.py` -> "a"; None outside `root` or not importable."""
    try:
        parts = list(path.with_suffix("").relative_to(root).parts)
    except ValueError:
        return None
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) if parts and all(_importable(p) for p in parts) else None


@functools.lru_cache(maxsize=1024)
def _module_of(path: str, root: Path) -> str | None:
    """`module_name`, remembered: an editor sends the same few paths with every request."""
    return module_name(Path(path), root)


def _importable(name: str) -> bool:
    """A name `import` accepts as a module or package (`class.py` is not one)."""
    return name.isidentifier() and not keyword.iskeyword(name)


def _module_files(root: Path, max_files: int) -> Iterator[tuple[Path, str]]:
    """(file, dotted module) for what `root` makes importable, sorted, at most `max_files`: its own
    `.py` files, then its packages' recursively. Only directories holding `__init__.py` are entered,
    so a root such as a home directory with a script in it costs one listing, not a walk of the disk;
    a directory reached twice (a symbolic link back up the tree) is read once."""
    count = 0
    pending = [root]
    seen: set[str] = set()
    while pending:
        directory = pending.pop()
        try:
            real = os.path.realpath(directory)
            if real in seen:
                continue
            seen.add(real)
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        packages = []
        for entry in entries:
            kind = _kind(entry)
            if kind == "file" and entry.name.endswith(".py"):
                module = module_name(Path(entry.path), root)
                if module is not None:
                    if count >= max_files:
                        return
                    count += 1
                    yield Path(entry.path), module
            elif kind == "dir" and _importable(entry.name) and os.path.isfile(os.path.join(entry.path, "__init__.py")):
                packages.append(Path(entry.path))
        pending.extend(reversed(packages))  # popped in name order


def _kind(entry: os.DirEntry) -> str | None:
    """"file", "dir" or None (anything else, or a link that loops or points nowhere)."""
    try:
        return "file" if entry.is_file() else "dir" if entry.is_dir() else None
    except OSError:
        return None


def _package_of(module: str, is_package: bool) -> str | None:
    """The package an `__init__` module is, None for a plain module (it re-exports nothing)."""
    return module if is_package else None


@dataclass(frozen=True, slots=True)
class _Imports:
    """What a module imports at its top: the names the imports bind, and the modules they make reachable
    (`_note_import`)."""

    names: frozenset[str] = frozenset()
    modules: frozenset[str] = frozenset()
    star: bool = False
    """A star import (`from numpy import *`): it may bind any name the code reads."""


_NO_IMPORTS = _Imports()


def _module_bindings(text: str, package: str | None) -> tuple[frozenset[str], frozenset[str], _Imports]:
    """The names the module defines at top level; for `package`'s `__init__`, what its `from` imports
    of the project's own modules re-export (`from .text import slugify`; not `from typing import
    Any`, which is no part of the package's API); and what it imports at its top, also inside a
    top-level `try` or `if` (`try: import ujson as json`)."""
    names: set[str] = set()
    re_exported: set[str] = set()
    imported: set[str] = set()
    modules: set[str] = set()
    star = False
    try:
        for node in _top_level(text):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(_stored_names(targets))
            elif package is not None and isinstance(node, ast.ImportFrom) and _own_import(node, package):
                re_exported.update(a.asname or a.name for a in node.names if a.name != "*")
            for statement in _imports_at_top(node):
                _note_import(statement, imported, modules)
                star = star or any(alias.name == "*" for alias in statement.names)
    except _DoesNotParse:
        return frozenset(), frozenset(), _NO_IMPORTS
    return _public(names), _public(re_exported), _Imports(frozenset(imported), frozenset(modules), star)


def _imports_at_top(node: ast.stmt) -> Iterator[ast.Import | ast.ImportFrom]:
    """`node` if it is an import, or the imports in the blocks of a top-level `try` or `if`; not the
    block of `if __name__ == "__main__":` (or the `else` of `!=`), which runs only as a script. Those
    under `if TYPE_CHECKING:` count: the names they bind are mostly read in annotations, and
    suggesting them would bring in at run time what the guard keeps out."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    elif isinstance(node, ast.If) and (main := _tests_for_main(node.test)) is not None:
        for statement in node.orelse if main else node.body:
            yield from _imports_at_top(statement)
    elif isinstance(node, ast.Try | ast.If):
        blocks = [node.body, node.orelse, *([h.body for h in node.handlers] if isinstance(node, ast.Try) else [])]
        for block in blocks:
            for statement in block:
                yield from _imports_at_top(statement)


def _tests_for_main(test: ast.expr) -> bool | None:
    """True for `__name__ == "__main__"` (either way round), False for `!=`, None for any other test."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq | ast.NotEq)):
        return None
    sides = {ast.dump(side) for side in (test.left, test.comparators[0])}
    if sides != {ast.dump(ast.Name("__name__", ast.Load())), ast.dump(ast.Constant("__main__"))}:
        return None
    return isinstance(test.ops[0], ast.Eq)


def _note_import(node: ast.Import | ast.ImportFrom, names: set[str], modules: set[str]) -> None:
    """The names an import binds, and the modules the code can then reach as the import wrote them:
    `import a.b` reaches a and a.b, `import a.b as c` a.b alone (as c), `from a.b import x` neither
    (only x: a suggested `import a` is still needed for `a.y`)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            names.add(alias.asname or alias.name.partition(".")[0])
            parts = alias.name.split(".")
            modules.update([alias.name] if alias.asname else (".".join(parts[: i + 1]) for i in range(len(parts))))
        return
    names.update(alias.asname or alias.name for alias in node.names if alias.name != "*")


class _DoesNotParse(Exception):
    """The module is not Python (`_top_level` found out part of the way through)."""


def _top_level(text: str) -> Iterator[ast.stmt]:
    """The module's top-level statements, parsed `_PIECE_CHARS` or so at a time, each piece's handed
    on before the next is parsed (a large module's whole tree alive at once would also make the
    garbage collector's passes long, with the interpreter lock held); _DoesNotParse when it does not
    parse. A piece ends where a later top-level statement may start; a piece cut inside a string or
    brackets does not parse, and is read again twice as long (so a long string full of such lines
    costs a few parses, not one per line), so the statements are exactly those of one parse of the
    whole text."""
    starts = [match.start() for match in _STATEMENT_START.finditer(text)]
    begin = 0
    while begin < len(text):
        index = bisect.bisect_left(starts, begin + _PIECE_CHARS)
        while True:
            end = starts[index] if index < len(starts) else len(text)
            try:
                body = parse(text[begin:end]).body  # serialised with the daemon's other parses
                break
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                if end == len(text):
                    raise _DoesNotParse from None
                index = max(index + 1, bisect.bisect_left(starts, begin + 2 * (end - begin)))
        yield from body
        begin = end


def _own_import(node: ast.ImportFrom, package: str) -> bool:
    """Whether `from ... import` reads the project's own package: relative, or under its top level."""
    return node.level > 0 or (node.module or "").split(".")[0] == package.split(".")[0]


def _stored_names(targets: list[ast.expr]) -> Iterator[str]:
    """The names an assignment binds: `a`, `a, (b, *c)`; not `os` in `os.environ[k] = v`, nor `k`."""
    for target in targets:
        if isinstance(target, ast.Name):
            yield target.id
        elif isinstance(target, ast.Tuple | ast.List):
            yield from _stored_names(target.elts)
        elif isinstance(target, ast.Starred):
            yield from _stored_names([target.value])


def _public(names: set[str]) -> frozenset[str]:
    """Without dunder names (`__all__`, `__version__`): nobody imports those."""
    return frozenset(name for name in names if not name.startswith("__"))
