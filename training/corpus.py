"""The corpus: real Python code found on this machine, cut into labelled units, split by package.

Owns: discovering source files (the standard library and installed site-packages by default, or any
directories a user names), cutting each file into units (functions, methods, small classes, small
modules) with their import labels, de-duplicating units by normalised AST, the stable package ->
split assignment, and the on-disk cache of a built corpus. Leaves to others: what a unit's labels are
(training/imports.py), bug injection and variants (training/mutations.py, training/rewrites.py) and
turning units into samples (training/datasets.py).

Determinism: files are visited in sorted order, caps keep the first files / units in that order, and
the cache key covers the corpus version, the roots, the caps, a fingerprint (path, size, mtime) of
every file found and the code that cuts and labels units (`code_key`), so a rerun reuses the cache
and a changed install or a labelling fix rebuilds it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import os
import sys
import sysconfig
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
from tqdm import tqdm

from model.checkpoint import write_atomically
from training.cache import cache_dir, mark_used
from training.imports import ImportUse, parse_imports, strip_imports, used_imports

__all__ = [
    "CORPUS_CODE",
    "CORPUS_VERSION",
    "CodeUnit",
    "CorpusOptions",
    "SourceFile",
    "build_corpus",
    "code_key",
    "corpus_files",
    "discover_sources",
    "extract_units",
    "normalised_ast_key",
    "split_of",
]

CORPUS_VERSION = 3
"""Part of the cache file name, bumped when extraction or labelling changes (the cache key also
follows the code itself, `CORPUS_CODE`). 3: import labels follow Python's scoping (a class body's
names do not shadow its methods' reads)."""
CORPUS_CODE = ("training.corpus", "training.imports")
"""The modules whose code decides a built corpus: its units and their import labels."""

MAX_FILE_BYTES = 1_000_000
MIN_UNIT_LINES, MAX_UNIT_LINES = 3, 200
MAX_CLASS_LINES = 60
"""Classes up to this long are units of their own; longer ones contribute only their methods."""

_SKIPPED_DIRS = frozenset(
    {"test", "tests", "idle_test", "__pycache__", "site-packages", "dist-packages", "_vendor", "vendored"}
)
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_PROJECT_PACKAGES = frozenset({"protocol", "model", "bridge", "training"})
_EDITABLE_FINDER = "__editable__"
"""How setuptools names the module an editable install writes into site-packages
(`__editable___yantra_bridge_0_1_0_finder.py`): generated, not code anyone wrote, and rewritten by
every `pip install -e .`, so as corpus code it changed the corpus's fingerprint, and with it every
cached data set built on it, at each reinstall."""


@dataclass(frozen=True)
class CodeUnit:
    """A function, method, small class or small module: its code (imports stripped, dedented) and labels."""

    source: str
    qualname: str
    kind: str
    path: str
    package: str
    line: int
    imports: tuple[ImportUse, ...]

    @classmethod
    def from_dict(cls, data: dict) -> CodeUnit:
        imports = tuple(ImportUse(i["module"], i["statement"], tuple(i["names"])) for i in data["imports"])
        return cls(**{**data, "imports": imports})


@dataclass(frozen=True)
class SourceFile:
    """A discovered file, with the top-level package it belongs to and its dotted module name."""

    path: Path
    package: str
    module: str


@dataclass(frozen=True)
class CorpusOptions:
    """What to build: roots (None = stdlib + site-packages) and caps for small, fast builds."""

    roots: tuple[str, ...] | None = None
    max_files: int | None = None
    max_units_per_package: int | None = 2000
    """Keeps the biggest installs (torch, sympy) from drowning every other package."""


def default_roots() -> list[Path]:
    """The standard library and this interpreter's site-packages."""
    paths = sysconfig.get_paths()
    roots = [Path(paths["stdlib"]), Path(paths["purelib"])]
    if paths["platlib"] != paths["purelib"]:
        roots.append(Path(paths["platlib"]))
    return [r for r in roots if r.is_dir()]


def _module_parts(relative: Path) -> list[str]:
    parts = list(relative.with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _is_wanted_dir(name: str) -> bool:
    metadata = name.endswith((".dist-info", ".egg-info"))
    return name not in _SKIPPED_DIRS and not metadata and not name.startswith(".")


def _walk_python_files(root: Path) -> Iterator[Path]:
    """Python files under ``root`` in sorted order, skipping test, cache, vendored and metadata dirs."""
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if _is_wanted_dir(d))
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield Path(directory) / name


def _source_file(path: Path, root: Path) -> SourceFile | None:
    relative = path.relative_to(root)
    parts = _module_parts(relative)
    if (root / "__init__.py").is_file():  # a user named a package directory itself
        parts = [root.name, *parts]
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    if parts[0] in _PROJECT_PACKAGES and _PROJECT_ROOT in path.resolve().parents:
        return None
    if parts[0].startswith(_EDITABLE_FINDER):
        return None
    return SourceFile(path, parts[0], ".".join(parts))


def _parses(path: Path) -> bool:
    try:
        ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return False
    return True


def discover_sources(
    roots: Sequence[Path | str] | None = None, *, check_parse: bool = True
) -> list[SourceFile]:
    """Source files under ``roots`` (default: stdlib + site-packages), sorted, each once.

    Skips test directories, files over 1 MB, files that are not importable module paths, this
    project's own packages, editable-install finders, and (with ``check_parse``) files that do not
    parse.
    """
    chosen = [Path(r) for r in roots] if roots is not None else default_roots()
    seen: set[Path] = set()
    found: list[SourceFile] = []
    for root in sorted({r.resolve() for r in chosen}):
        for path in _walk_python_files(root):
            resolved = path.resolve()
            if resolved in seen or path.stat().st_size > MAX_FILE_BYTES:
                continue
            source = _source_file(path, root)
            if source is None or (check_parse and not _parses(path)):
                continue
            seen.add(resolved)
            found.append(source)
    return found


# --- units -----------------------------------------------------------------------------------------


def _definitions(tree: ast.Module) -> Iterator[tuple[ast.AST, str, str]]:
    """(node, qualname, kind) for functions, methods and classes not nested inside a function."""
    stack: list[tuple[ast.AST, str, bool]] = [(node, "", False) for node in reversed(tree.body)]
    while stack:
        node, prefix, in_class = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, prefix + node.name, "method" if in_class else "function"
        elif isinstance(node, ast.ClassDef):
            yield node, prefix + node.name, "class"
            stack.extend((child, f"{prefix}{node.name}.", True) for child in reversed(node.body))


def _first_line(node: ast.AST) -> int:
    """Where a definition starts, decorators included."""
    return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])  # type: ignore[attr-defined]


def _segment(lines: Sequence[str], node: ast.AST) -> str:
    return textwrap.dedent("".join(lines[_first_line(node) - 1 : node.end_lineno]))  # type: ignore[attr-defined]


def _unit_size_ok(node: ast.AST, kind: str) -> bool:
    length = node.end_lineno - node.lineno + 1  # type: ignore[attr-defined]
    upper = MAX_CLASS_LINES if kind == "class" else MAX_UNIT_LINES
    return MIN_UNIT_LINES <= length <= upper


def _unit(
    text: str,
    qualname: str,
    kind: str,
    path: Path,
    package: str,
    line: int,
    file_imports: Sequence[ImportUse],
) -> CodeUnit | None:
    """A unit with its import labels, or None when its text does not parse on its own."""
    try:
        labels = used_imports(text, file_imports)
        stripped = strip_imports(text)
        ast.parse(stripped)
    except (SyntaxError, ValueError, RecursionError):
        return None
    return CodeUnit(stripped, qualname, kind, str(path), package, line, tuple(labels))


def _package_of_module(module: str, path: Path) -> str:
    """The dotted package relative imports resolve against: the module itself for ``__init__.py``."""
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def extract_units(path: Path | str, package: str, *, module: str | None = None) -> list[CodeUnit]:
    """Functions, methods and small classes of 3..200 lines (and the file itself when that small).

    ``module`` is the file's dotted name, used to resolve relative imports; a file that does not
    parse gives no units.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return []
    dotted = _package_of_module(module, path) if module else None
    file_imports = parse_imports(tree, package=dotted)
    lines = text.splitlines(keepends=True)
    units: list[CodeUnit] = []
    if MIN_UNIT_LINES <= len(lines) <= MAX_UNIT_LINES and tree.body:
        unit = _unit(text, module or path.stem, "module", path, package, 1, file_imports)
        if unit is not None and unit.source.strip():
            units.append(unit)
    for node, qualname, kind in _definitions(tree):
        if _unit_size_ok(node, kind):
            first = _first_line(node)
            unit = _unit(_segment(lines, node), qualname, kind, path, package, first, file_imports)
            if unit is not None:
                units.append(unit)
    return units


# --- splits and de-duplication ---------------------------------------------------------------------


def split_of(package: str, *, seed: int = 0) -> str:
    """"train", "validation" or "test" (~80/10/10) by a stable hash of the package name."""
    digest = hashlib.blake2b(f"{seed}:{package}".encode(), digest_size=8).digest()
    bucket = int.from_bytes(digest, "big") % 100
    return "train" if bucket < 80 else "validation" if bucket < 90 else "test"


class _DocstringRemover(ast.NodeTransformer):
    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:]  # type: ignore[attr-defined]
        return node


def normalised_ast_key(source: str) -> str:
    """A digest of the AST without positions or docstrings: equal for layout-only differences."""
    tree = _DocstringRemover().visit(ast.parse(source))
    return hashlib.blake2b(ast.dump(tree, include_attributes=False).encode(), digest_size=16).hexdigest()


# --- building and caching --------------------------------------------------------------------------


@functools.cache
def code_key(*modules: str) -> str:
    """A digest of the named modules' code, comments, docstrings and layout aside: part of a cache
    key, so that a fix to the code that builds a data set rebuilds it (a version constant is easy to
    forget to bump), while a comment or docstring edit does not cost a rebuild."""
    digest = hashlib.blake2b(digest_size=12)
    for name in modules:
        path = Path(importlib.import_module(name).__file__ or "")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):  # every bare string: docstrings, and those that document an attribute
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if isinstance(block, list):
                    block[:] = [s for s in block if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                                         and isinstance(s.value.value, str))]
        digest.update(f"{name}\0{ast.dump(tree, include_attributes=False)}\n".encode())
    return digest.hexdigest()


def _fingerprint(files: Sequence[SourceFile], options: CorpusOptions) -> str:
    digest = hashlib.blake2b(digest_size=12)
    digest.update(orjson.dumps([CORPUS_VERSION, sys.version, asdict(options), code_key(*CORPUS_CODE)]))
    for source in files:
        stat = source.path.stat()
        digest.update(f"{source.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _collect_units(files: Sequence[SourceFile], options: CorpusOptions, progress: bool) -> list[CodeUnit]:
    per_package: dict[str, int] = {}
    seen_keys: set[str] = set()
    units: list[CodeUnit] = []
    for source in tqdm(files, desc="corpus", unit="file", file=sys.stderr, disable=None if progress else True):
        cap = options.max_units_per_package
        if cap is not None and per_package.get(source.package, 0) >= cap:
            continue
        for unit in extract_units(source.path, source.package, module=source.module):
            try:
                key = normalised_ast_key(unit.source)
            except (SyntaxError, RecursionError):
                continue
            if key in seen_keys:
                continue
            seen_keys.add(key)
            units.append(unit)
            per_package[source.package] = per_package.get(source.package, 0) + 1
            if cap is not None and per_package[source.package] >= cap:
                break
    return units


def corpus_files(options: CorpusOptions) -> list[SourceFile]:
    """The files a corpus with these options is built from: discovered (unparsable ones included;
    extraction skips them), then cut to `max_files`."""
    files = discover_sources(options.roots, check_parse=False)
    return files if options.max_files is None else files[: options.max_files]


def build_corpus(
    options: CorpusOptions | None = None, *, cache: Path | None = None, use_cache: bool = True, progress: bool = True
) -> list[CodeUnit]:
    """Discover, extract and de-duplicate units; read from / write to the on-disk cache.

    The cache file is ``corpus-v{CORPUS_VERSION}-{fingerprint}.json`` under ``cache`` (default
    ``cache_dir()``); it is written atomically, so an interrupted build never leaves a half file.
    """
    options = options or CorpusOptions()
    files = corpus_files(options)
    target = (cache or cache_dir()) / f"corpus-v{CORPUS_VERSION}-{_fingerprint(files, options)}.json"
    if use_cache and target.is_file():
        mark_used(target)
        return [CodeUnit.from_dict(item) for item in orjson.loads(target.read_bytes())]
    units = _collect_units(files, options, progress)
    if use_cache:
        write_atomically(target, orjson.dumps([asdict(unit) for unit in units]))
    return units
