"""Import labels: which of a file's imports a unit of code really uses, and the code without them.

Owns: reading import statements into ``ImportUse`` bindings (relative imports resolved against the
file's package), deciding which bindings a function, class or module body uses (by bound name, and by
the longest imported dotted module along an attribute chain such as ``xml.etree.ElementTree.parse``),
stripping import statements from source, and the module vocabulary. Leaves to others: finding files and
units (training/corpus.py) and turning labels into tensors (the training loop).

A binding is shadowed, and so not a label, when the unit itself assigns the name (a parameter, an
assignment target, a loop variable): the read then refers to the local.
"""

from __future__ import annotations

import ast
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ImportUse",
    "import_bindings",
    "parse_imports",
    "resolve_relative",
    "statement_nodes",
    "statement_tables",
    "strip_imports",
    "used_imports",
    "vocabulary",
]


@dataclass(frozen=True)
class ImportUse:
    """One import a unit needs: the absolute module, the line that imports it, the names it binds."""

    module: str
    statement: str
    names: tuple[str, ...]


def resolve_relative(level: int, module: str | None, *, package: str | None) -> str:
    """``from ..x import y`` inside ``package`` -> the absolute module; kept relative if unresolvable."""
    if level == 0:
        return module or ""
    parts = package.split(".") if package else []
    if not package or level - 1 >= len(parts):
        return "." * level + (module or "")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def import_bindings(statement: ast.Import | ast.ImportFrom, package: str | None) -> list[ImportUse]:
    """One ImportUse per bound name; ``import a.b.c`` binds ``a`` and records ``a.b.c`` as the module."""
    bindings: list[ImportUse] = []
    if isinstance(statement, ast.Import):
        for alias in statement.names:
            if alias.asname:
                text = f"import {alias.name} as {alias.asname}"
                bindings.append(ImportUse(alias.name, text, (alias.asname,)))
            else:
                bindings.append(ImportUse(alias.name, f"import {alias.name}", (alias.name.split(".")[0],)))
        return bindings
    module = resolve_relative(statement.level, statement.module, package=package)
    for alias in statement.names:
        if alias.name == "*":
            continue
        bound = alias.asname or alias.name
        suffix = f" as {alias.asname}" if alias.asname else ""
        bindings.append(ImportUse(module, f"from {module} import {alias.name}{suffix}", (bound,)))
    return bindings


def _walk_without_nested_scopes(node: ast.AST) -> Iterable[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        yield child
        yield from _walk_without_nested_scopes(child)


def parse_imports(tree: ast.AST, *, package: str | None = None, nested: bool = False) -> list[ImportUse]:
    """The import bindings of ``tree``: its own scope only, or also inside functions when ``nested``.

    ``package`` is the dotted package the file belongs to (for ``a/b/c.py`` it is ``a.b``; for
    ``a/b/__init__.py`` also ``a.b``), used to resolve relative imports.
    """
    nodes = ast.walk(tree) if nested else _walk_without_nested_scopes(tree)
    bindings: list[ImportUse] = []
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            bindings.extend(import_bindings(node, package))
    return bindings


def _attribute_chain(node: ast.Attribute) -> tuple[str, ...] | None:
    """``a.b.c`` -> ("a", "b", "c") when the chain starts at a plain name, else None."""
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    return (current.id, *reversed(parts))


def _locally_bound(tree: ast.Module) -> set[str]:
    """Names the unit binds itself (other than by importing): they shadow a file's import."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound | _defined_names(tree)


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _defined_names(tree: ast.Module) -> set[str]:
    """Names that `def`, `class`, `except ... as` and `match` patterns bind where the unit's code can
    read them: in a function's or the file's own scope, not in a class body (a method does not see
    its class's names), and not the unit's own name when the unit is one definition (a method's
    name is its class's; `def open(self): return open(p)` still reads the file's `open`)."""
    unit = tree.body[0] if len(tree.body) == 1 and isinstance(tree.body[0], _DEFINITIONS) else None
    names: set[str] = set()
    stack: list[tuple[ast.AST, bool]] = [(node, False) for node in tree.body]  # (node, in a class body)
    while stack:
        node, in_class = stack.pop()
        if not in_class and node is not unit:
            if isinstance(node, (*_DEFINITIONS, ast.MatchAs, ast.MatchStar, ast.ExceptHandler)) and node.name:
                names.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                names.add(node.rest)
        inner = isinstance(node, ast.ClassDef) or (in_class and not isinstance(node, _DEFINITIONS))
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))
    return names


def _name_uses(tree: ast.AST) -> tuple[set[str], list[tuple[str, ...]]]:
    """Names read on their own, and the longest attribute chains rooted at a name."""
    chain_roots: set[int] = set()
    chains: list[tuple[str, ...]] = []
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            chain = _attribute_chain(node)
            if chain:
                chains.append(chain)
                chain_roots.add(id(_chain_root(node)))
    bare = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in chain_roots
    }
    return bare, chains


def _chain_root(node: ast.Attribute) -> ast.expr:
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        current = current.value
    return current


def _is_dotted_plain_import(binding: ImportUse) -> bool:
    """``import a.b`` without alias: it binds ``a``, and attribute chains say which module is used."""
    return "." in binding.module and binding.statement == f"import {binding.module}"


def _longest_dotted_match(chain: tuple[str, ...], plain: Sequence[ImportUse]) -> ImportUse | None:
    """Among ``import a.b.c`` bindings, the one whose dotted name is the longest prefix of ``chain``."""
    best: ImportUse | None = None
    for binding in plain:
        parts = tuple(binding.module.split("."))
        if chain[: len(parts)] == parts and (best is None or len(parts) > best.module.count(".") + 1):
            best = binding
    return best


def _binding_for_read(path: tuple[str, ...], candidates: Sequence[ImportUse]) -> ImportUse | None:
    """Which import a read of ``path`` (a name, or an attribute chain from it) relies on.

    A dotted ``import a.b`` naming a prefix of the chain wins (``os.path.join`` -> ``os.path``); else
    the last direct binding of the name; else, when only dotted imports bind it (``import os.path``
    and a read of ``os.getcwd``), the root module ``os``.
    """
    plain = [b for b in candidates if _is_dotted_plain_import(b)]
    direct = [b for b in candidates if not _is_dotted_plain_import(b)]
    match = _longest_dotted_match(path, plain)
    if match is not None:
        return match
    if direct:
        return direct[-1]
    if plain:
        return ImportUse(path[0], f"import {path[0]}", (path[0],))
    return None


def used_imports(unit_source: str, file_imports: Sequence[ImportUse]) -> list[ImportUse]:
    """The imports (the file's, and the unit's own) that ``unit_source`` really uses, sorted."""
    tree = ast.parse(textwrap.dedent(unit_source))
    bindings = [*file_imports, *parse_imports(tree, nested=True)]
    bare, chains = _name_uses(tree)
    shadowed = _locally_bound(tree)
    by_name: dict[str, list[ImportUse]] = {}
    for binding in bindings:
        if binding.names[0] not in shadowed:
            by_name.setdefault(binding.names[0], []).append(binding)
    used: dict[tuple[str, str], ImportUse] = {}

    def add(binding: ImportUse | None) -> None:
        if binding is not None:
            used.setdefault((binding.module, binding.statement), binding)

    for path in [*chains, *((name,) for name in sorted(bare))]:
        add(_binding_for_read(path, by_name.get(path[0], [])))
    return sorted(used.values(), key=lambda b: (b.module, b.statement))


def _import_statements(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]


def _is_block(node: ast.stmt) -> bool:
    return any(isinstance(getattr(node, f, None), list) for f in ("body", "orelse", "finalbody", "handlers"))


def _alone_on_its_lines(tree: ast.Module, node: ast.stmt) -> bool:
    """No other statement shares the import's lines (no ``import os; x = 1``, no ``if x: import y``)."""
    first, last = node.lineno, node.end_lineno or node.lineno
    for other in ast.walk(tree):
        if other is node or not isinstance(other, ast.stmt):
            continue
        if _is_block(other):
            if first <= other.lineno <= last:
                return False
        elif other.lineno <= last and (other.end_lineno or other.lineno) >= first:
            return False
    return True


def strip_imports(source: str) -> str:
    """``source`` without its import statements; a block left empty gets ``pass``.

    Lines are removed from the original text so layout and comments survive; when an import shares a
    line with another statement the whole source is rewritten through ``ast`` instead.
    """
    tree = ast.parse(source)
    statements = _import_statements(tree)
    if not statements:
        return source
    if not all(_alone_on_its_lines(tree, node) for node in statements):
        return ast.unparse(_ImportRemover().visit(tree))
    drop = {line for node in statements for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
    lines = source.splitlines(keepends=True)
    kept = [text for number, text in enumerate(lines, start=1) if number not in drop]
    result = "".join(kept)
    try:
        ast.parse(result)
    except SyntaxError:
        return ast.unparse(_ImportRemover().visit(ast.parse(source)))
    return result


class _ImportRemover(ast.NodeTransformer):
    """Drops import statements; fills any body left empty with ``pass``."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list):
                kept = [s for s in body if not isinstance(s, ast.Import | ast.ImportFrom)]
                if not kept and body and field == "body":
                    kept = [ast.Pass()]
                setattr(node, field, kept)
        return node


def vocabulary(counter: Counter[str] | dict[str, int], size: int) -> list[str]:
    """The ``size`` most frequent modules, ties broken by name so the result is deterministic."""
    ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return [module for module, _ in ranked[:size]]


def statement_nodes(statement: str) -> list[ast.Import | ast.ImportFrom]:
    """The import nodes of one import line as the corpus records it (parenthesised, multi-line and
    aliased forms included); [] for a line that does not parse or imports nothing."""
    try:
        tree = ast.parse(textwrap.dedent(statement).strip())
    except SyntaxError:
        return []
    return [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]


def statement_tables(statements: Iterable[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """From training import lines: the alias most used for each module (`import numpy as np`), and
    the names most imported from it under their own name (`from datetime import datetime`), which
    the Predictor uses to write the import line a suggestion needs."""
    aliases: dict[str, Counter[str]] = {}
    names: dict[str, Counter[str]] = {}
    for statement in statements:
        for node in statement_nodes(statement):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases.setdefault(alias.name, Counter())[alias.asname] += 1
                continue
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name != "*" and alias.asname in (None, alias.name):
                    names.setdefault(module, Counter())[alias.name] += 1
    best_alias = {m: max(c, key=lambda a: (c[a], a)) for m, c in aliases.items()}
    top_names = {m: sorted(c, key=lambda n: (-c[n], n))[:50] for m, c in names.items()}
    return best_alias, top_names
