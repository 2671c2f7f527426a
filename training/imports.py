"""Import labels: which of a file's imports a unit of code really uses, and the code without them.

Owns: reading import statements into ``ImportUse`` bindings (relative imports resolved against the
file's package), deciding which bindings a function, class or module body uses (by bound name, and by
the longest imported dotted module along an attribute chain such as ``xml.etree.ElementTree.parse``),
stripping import statements from source, and the module vocabulary. Leaves to others: finding files and
units (training/corpus.py) and turning labels into tensors (the training loop).

A binding is shadowed, and so not a label, when every read of the name finds one of the unit's own
bindings by Python's scoping (a parameter, an assignment target, a loop variable of that scope or an
enclosing function's): the read then refers to the local. A class body's names are not seen by its
methods, nor one function's locals by another.
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


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (*_DEFINITIONS, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
"""Nodes that open a scope of their own."""


@dataclass
class _Scope:
    """One scope of the unit: what binds there, what is read there, and the scope around it."""

    parent: _Scope | None
    is_class: bool
    bound: set[str]
    reads: set[str]
    declared_global: set[str]

    def sees(self, name: str) -> bool:
        """Whether a read here finds a binding of the unit's own: here, or in an enclosing function or
        the unit's top level (a class body's names reach only reads in that body)."""
        if name in self.bound:
            return True
        scope = self.parent
        while scope is not None:
            if not scope.is_class and name in scope.bound:
                return True
            scope = scope.parent
        return False


def _unbound_reads(tree: ast.Module) -> set[str]:
    """Names the unit reads somewhere its own bindings (not its imports) do not reach, by Python's
    scoping: only those can rely on an import. A method does not see its class body's names (`json =
    None` in the class leaves `json.dumps` in a method to the module), a function does not see another
    function's locals, and a definition's own name does not shadow when the unit is that one
    definition (a method's name is its class's; `def open(self): return open(p)` reads the file's)."""
    unit = tree.body[0] if len(tree.body) == 1 and isinstance(tree.body[0], _DEFINITIONS) else None
    top = _Scope(None, False, set(), set(), set())
    if unit is not None and unit.name in _names_read(unit.decorator_list):
        top.bound.add(unit.name)  # `@path.setter` on `def path`: the property the unit's class made
    scopes = [top]
    stack: list[tuple[ast.AST, _Scope]] = [(node, top) for node in tree.body]
    while stack:
        node, scope = stack.pop()
        if isinstance(node, _DEFINITIONS) and node is not unit:
            scope.bound.add(node.name)
        if isinstance(node, _SCOPES):
            inner = _Scope(scope, isinstance(node, ast.ClassDef), set(), set(), set())
            scopes.append(inner)
            stack.extend(_split_scope(node, scope, inner))
            continue
        _note(node, scope)
        if not isinstance(node, ast.arg):  # its annotation went outside with the definition's parts
            stack.extend((child, scope) for child in ast.iter_child_nodes(node))
    for scope in scopes:  # `global x` then `x = ...`: bound at the top; `global x` then `import x` is not
        top.bound.update(scope.declared_global & scope.bound)
    return {name for scope in scopes for name in scope.reads if not scope.sees(name)}


def _names_read(nodes: list[ast.expr]) -> set[str]:
    """Every name that `nodes` (a decorator list) mention."""
    return {node.id for tree in nodes for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _split_scope(node: ast.AST, outer: _Scope, inner: _Scope) -> list[tuple[ast.AST, _Scope]]:
    """A definition's parts, each with the scope it is evaluated in: decorators, defaults, bases,
    annotations and a comprehension's first iterable outside; the parameters, the body and the rest
    of a comprehension inside."""
    if isinstance(node, ast.ClassDef):
        outside = [*node.decorator_list, *node.bases, *node.keywords]
        return [(part, outer) for part in outside] + [(part, inner) for part in node.body]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        arguments = node.args
        parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                      *(a for a in (arguments.vararg, arguments.kwarg) if a)]
        outside = [*arguments.defaults, *(d for d in arguments.kw_defaults if d),
                   *(p.annotation for p in parameters if p.annotation)]
        if not isinstance(node, ast.Lambda):
            outside += [*node.decorator_list, *([node.returns] if node.returns else [])]
        body = node.body if isinstance(node.body, list) else [node.body]
        return [(part, outer) for part in outside] + [(part, inner) for part in [*parameters, *body]]
    first = node.generators[0]  # a comprehension: its first iterable is read where it stands
    rest = [part for part in ast.iter_child_nodes(node) if part is not first]
    return [(first.iter, outer)] + [(part, inner) for part in [first.target, *first.ifs, *rest]]


def _note(node: ast.AST, scope: _Scope) -> None:
    """Record what `node` itself binds, declares global or reads in `scope`."""
    if isinstance(node, ast.Name):
        (scope.reads if isinstance(node.ctx, ast.Load) else scope.bound).add(node.id)
    elif isinstance(node, ast.arg):
        scope.bound.add(node.arg)
    elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
        scope.bound.add(node.name)
    elif isinstance(node, ast.MatchMapping) and node.rest:
        scope.bound.add(node.rest)
    elif isinstance(node, ast.Global):
        scope.declared_global.update(node.names)


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
    unbound = _unbound_reads(tree)
    by_name: dict[str, list[ImportUse]] = {}
    for binding in bindings:
        if binding.names[0] in unbound:
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
