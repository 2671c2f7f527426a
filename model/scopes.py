"""Which names code reads that nothing in it binds, what imports would have to provide, and what
it reads off them.

Owns `free_names` (units of a parsed source -> the names no binding of its own reaches, by Python's
scoping rules as far as the scan's records and a few targeted walks tell them) and `attribute_reads`
(name -> the dotted attributes read off it). Leaves to others: the walk that records loads, stores,
headers and attribute paths (model/scan.py), ranking modules for the free names (model/imports.py).
Apart from model/graph.py because none of this decides a graph's features: a cache of built graphs
keyed by the feature extractor's sources stays valid when a scoping rule is mended here.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Set

from model.hashing import BUILTIN_NAMES
from model.scan import Unit

__all__ = ["attribute_reads", "free_names"]


def free_names(units: list[Unit], tree: ast.Module, source: str) -> frozenset[str]:
    """The names `source` reads where none of its own bindings reaches, nor a builtin: `_free_names`,
    less what `match` patterns capture and what a function declares `global` and binds."""
    return _free_names(units, tree, source) - _pattern_captures(tree, source) - _global_stores(tree, source, units)


def attribute_reads(paths: Iterable[tuple[str, str]], names: Set[str]) -> dict[str, frozenset[str]]:
    """The attributes read off each of `names`, and each dotted chain of them (up to the scan's
    MAX_PATH_ATTRIBUTES), from `SourceContext.attribute_paths` (`copy.deepcopy(x)`: "copy" ->
    {"deepcopy"}; `xml.etree.ElementTree.parse(f)`: "xml" -> {"etree", "etree.ElementTree",
    "etree.ElementTree.parse"}), since a submodule may be read through another."""
    reads: dict[str, set[str]] = {}
    if names:
        for name, path in paths:
            if name in names:
                reads.setdefault(name, set()).add(path)
    return {name: frozenset(attributes) for name, attributes in reads.items()}


def _free_names(units: list[Unit], tree: ast.AST | None = None, source: str = "") -> frozenset[str]:
    """Names the source reads where none of its own bindings reaches (nor are they builtins): what
    imports would have to provide. A unit sees its own bindings (its stores, parameters and the names
    of the definitions inside it), its parent's, and those of the functions and module further out:
    a function does not see another function's locals (`time = 1` in one leaves `time.time()` in the
    next to an import). A class body's names reach its own definitions, since the scan files their
    decorators, defaults and bases, read in the class body, under them; so a method's `json.dumps`
    where its class sets `json = None` stays bound here. A definition's header (decorators, bases,
    annotations, defaults) runs where the definition stands, so what it reads is looked up from the
    parent out, even a name the definition binds itself (`def f(date: date = date.today())`).
    A module or class body runs in order, so a name it reads before binding it (`date: date` in a
    dataclass, `time = time.time()`, `@cache` above `def cache`) comes from further out
    (`_read_before_bound`, given `tree`; `_header_reads_before_bound`). A lambda's parameters and a
    comprehension's variables bind only inside them, though the scan files them under the unit
    (`_inner_scope_only`, given `tree` and `source`)."""
    bound = [_bindings(units, unit) for unit in units]
    early = _read_before_bound(tree, units) if tree is not None else {}
    inner = _inner_scope_only(units, tree, source) if tree is not None and source else {}
    for index, (phantom, _) in inner.items():
        bound[index] -= phantom
    free: set[str] = set()
    for index, unit in enumerate(units):
        unread = unit.loads.keys() - bound[index]
        if index in inner:
            phantom, escaped = inner[index]
            unread -= phantom - escaped
        unread |= _header_reads(unit) & bound[index]
        if index in early:
            unread |= early[index]
        scope = unit.parent
        if unread and scope >= 0:
            unread -= bound[scope] - _header_reads_before_bound(units, unit)
            scope = units[scope].parent
        while unread and scope >= 0:
            if units[scope].kind != "class":
                unread -= bound[scope]
            scope = units[scope].parent
        free |= unread
    free -= BUILTIN_NAMES
    return frozenset(free)


def _header_reads(unit: Unit) -> set[str]:
    """The names a definition's header reads (the scan's loads before its body starts), but for those
    the header binds itself: a lambda's parameters, a comprehension's variables, a walrus target
    (`key=lambda k: k`, `d={k: v for k, v in items}`), which the scan files under the definition."""
    end = unit.header_end
    if not end:
        return set()
    stores = unit.stores
    return {name for name, positions in unit.loads.items()
            if min(positions) < end and not (name in stores and min(stores[name]) < end)}


def _header_reads_before_bound(units: list[Unit], unit: Unit) -> set[str]:
    """What `unit`'s header reads in a module or class body before that body binds it (`@cache` above
    `def cache()`, `@property` above `def property(self)`): a body runs in order, so those come from
    further out. Only names the enclosing body binds are looked at, from the scan's positions. A
    definition reading its own name other than as the decorator itself (`@name.setter` above
    `def name(self, value)`, `@wraps(wrapper)`) stays bound: cut from its class or function, it
    was bound there before."""
    parent = units[unit.parent] if unit.parent >= 0 else None
    if parent is None or parent.kind not in ("module", "class") or not unit.header_end:
        return set()
    early: set[str] = set()
    for name, positions in unit.loads.items():
        read = min(positions)
        if read >= unit.header_end:
            continue
        others = [units[child].line * 1000 for child in parent.children
                  if units[child].name == name and units[child] is not unit]
        binds = (name == unit.name and name in unit.decorators) or name in parent.stores or others
        if binds and all(bound > read for bound in (*parent.stores.get(name, ()), *others)):
            early.add(name)
    return early


def _read_before_bound(tree: ast.AST, units: list[Unit]) -> dict[int, set[str]]:
    """unit index -> names its module or class body reads in a plain statement before any statement
    of that body binds them. Walked only for a body that reads a name it binds no later than on the
    line that first binds it (the scan's positions, line * 1000 + column), which is rare."""
    early: dict[int, set[str]] = {}
    for index, unit in enumerate(units):
        if unit.kind not in ("module", "class"):
            continue
        candidates = {name for name, stores in unit.stores.items()
                      if name in unit.loads and min(unit.loads[name]) // 1000 <= min(stores) // 1000}
        body = _body_of(tree, unit, index) if candidates else None
        names = _reads_before_binding(body, candidates) if body else set()
        if names:
            early[index] = names
    return early


def _body_of(tree: ast.AST, unit: Unit, index: int) -> list[ast.stmt] | None:
    if index == 0:
        return getattr(tree, "body", None)
    for node in ast.walk(tree):
        if type(node) is ast.ClassDef and node.name == unit.name and node.lineno == unit.line:
            return node.body
    return None


_PLAIN = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)
"""The statements whose reads are looked at: what they read is read before they bind anything."""


def _reads_before_binding(body: list[ast.stmt], candidates: set[str]) -> set[str]:
    bound: set[str] = set()
    early: set[str] = set()
    for statement in body:
        binds = _statement_binds(statement)
        if isinstance(statement, _PLAIN):
            walrus = {node.target.id for node in _walk_scope(statement) if isinstance(node, ast.NamedExpr)}
            early |= (_plain_reads(statement) & candidates) - bound - walrus  # `print(n := 3, n * 2)`
        bound |= binds
    return early


def _plain_reads(statement: ast.stmt) -> set[str]:
    """The names a simple statement reads, outside lambdas and comprehensions (which bind names of
    their own) and not the target an augmented assignment reads."""
    parts = [statement.value] if isinstance(statement, ast.AugAssign) else [statement]
    if isinstance(statement, ast.AnnAssign):
        parts = [statement.annotation, *([statement.value] if statement.value else [])]
    names: set[str] = set()
    for node in (n for part in parts for n in _walk_scope(part)):
        if type(node) is ast.Name and type(node.ctx) is ast.Load:
            names.add(node.id)
    return names


def _statement_binds(statement: ast.stmt) -> set[str]:
    """The names running `statement` binds in its scope: assignment targets (an annotation without a
    value binds nothing), imports, definitions, and whatever a compound statement binds inside."""
    if isinstance(statement, ast.AnnAssign) and statement.value is None:
        return set()
    names: set[str] = set()
    for node in _walk_scope(statement):
        if type(node) is ast.Name and type(node.ctx) is ast.Store:
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.NamedExpr):
            names.add(node.target.id)
    return names


_OWN_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and what it holds, not inside lambdas, comprehensions, or the bodies of functions and
    classes (their names, decorators, defaults and bases are run where they stand)."""
    yield node
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        children: list[ast.AST] = [*node.decorator_list]
        if isinstance(node, ast.ClassDef):
            children += [*node.bases, *node.keywords]
        else:
            children += [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
    elif isinstance(node, _OWN_SCOPES):
        return
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from _walk_scope(child)


def _bindings(units: list[Unit], unit: Unit) -> set[str]:
    """The names `unit`'s own scope binds: stores (imports included), parameters, inner definitions.
    In a module or class body an annotation without a value binds nothing (`date: str` leaves a later
    `-> date` to an import); in a function it still makes the name local."""
    names = set(unit.stores)
    if unit.declared and unit.kind in ("module", "class"):
        declared = Counter(unit.declared)
        names -= {name for name, times in declared.items() if len(unit.stores.get(name, ())) <= times}
    names.update(unit.params)
    for child in unit.children:
        names.add(units[child].name)
    return names


_INNER_TARGET = re.compile(r"(?:^|[^\w.])for\s+[\w\s,()\[\]*]*$")
"""A line's text up to a store: the store is a `for` target (a comprehension's, or a loop's)."""
_LOOP_START = re.compile(r"^\s*(?:async\s+)?for\b")
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_INNER_SCOPES = (ast.Lambda, *_COMPREHENSIONS)


def _inner_scope_only(units: list[Unit], tree: ast.AST, source: str) -> dict[int, tuple[set[str], set[str]]]:
    """unit index -> (the names the scan files under the unit that only its lambdas' parameters or
    its comprehensions' variables bind, those of them the unit reads outside every lambda or
    comprehension that binds them). `[path for path in paths]` then `path.join(...)` leaves `path`
    to an import. The scan files a lambda's parameters among the unit's parameters (and the plain
    ones as stores where the lambda starts) and a comprehension's variables among its stores. Only
    names the source text shows stored at a `lambda` or a `for` that does not start a loop, and a
    source that holds a lambda, are looked up in the tree, along the nodes that hold each place."""
    found: dict[int, tuple[set[str], set[str]]] = {}
    lines: list[bytes] | None = None
    lambdas = "lambda" in source
    for index, unit in enumerate(units):
        if not (unit.stores or (lambdas and unit.params)):
            continue
        if lines is None:
            lines = source.encode("utf-8", "surrogatepass").splitlines()
        candidates = _inner_candidates(units, unit, lines)
        if not (candidates or lambdas):
            continue
        node = _unit_node(tree, unit, index)
        if node is None:
            continue
        own = _parameters(node)
        if lambdas:
            candidates |= {name for name in unit.params if name not in own and name not in unit.stores}
        phantom = {name for name in candidates - own
                   if all(_binding_scope(node, position) for position in unit.stores.get(name, ()))}
        if phantom:
            escaped = {name for name in phantom
                       if any(_read_outside_its_scopes(node, name, read) for read in unit.loads.get(name, ()))}
            found[index] = (phantom, escaped)
    return found


def _parameters(node: ast.AST) -> set[str]:
    """A function's own parameters (the scan's `params` also hold its lambdas')."""
    return _argument_names(node.args) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else set()


def _argument_names(arguments: ast.arguments) -> set[str]:
    every = (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg)
    return {a.arg for a in every if a is not None}


def _inner_candidates(units: list[Unit], unit: Unit, lines: list[bytes]) -> set[str]:
    """The names whose every store, read off the source text, may be a lambda's parameter or a
    comprehension's target, and that the unit or an inner definition reads: the cheap gate before
    the tree is looked at."""
    definitions = {units[child].name for child in unit.children}
    candidates = {name for name, positions in unit.stores.items()
                  if name not in definitions and all(_maybe_inner_store(lines, position) for position in positions)}
    if not candidates:
        return candidates
    elsewhere = {name for name in candidates if name in unit.loads}
    if candidates - elsewhere:
        elsewhere |= candidates & _descendant_loads(units, unit)
    return elsewhere


def _maybe_inner_store(lines: list[bytes], position: int) -> bool:
    line, column = divmod(position, 1000)
    if not 0 < line <= len(lines):
        return False
    text = lines[line - 1]
    if text.startswith(b"lambda", column):
        return True
    before = text[:column].decode("utf-8", "replace")
    if _INNER_TARGET.search(before) is None:
        return False
    return not (_LOOP_START.match(before) and text.rstrip().endswith(b":"))


def _descendant_loads(units: list[Unit], unit: Unit) -> set[str]:
    """The names the definitions inside `unit`, at any depth, read."""
    names: set[str] = set()
    stack = list(unit.children)
    while stack:
        child = units[stack.pop()]
        names.update(child.loads)
        stack += child.children
    return names


def _unit_node(tree: ast.AST, unit: Unit, index: int) -> ast.AST | None:
    """The module, or the definition `unit` was scanned from: found by descending only into nodes
    whose lines hold the definition's."""
    if index == 0:
        return tree
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _DEFINITIONS) and child.lineno == unit.line and child.name == unit.name:
                return child
            start = getattr(child, "lineno", None)
            if start is None or start <= unit.line <= (getattr(child, "end_lineno", None) or start):
                stack.append(child)
    return None


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _binding_scope(node: ast.AST, position: int) -> ast.AST | None:
    """The lambda or comprehension whose parameter or variable the scan stored at `position`: the
    lambda that starts there, or the innermost comprehension around the target `Name` there. None
    for any other store (a loop's target, a walrus target), or where the nodes that hold `position`
    do not tell."""
    scopes, found, parent = _scopes_down_to(node, position)
    if isinstance(found, ast.Lambda):
        return found
    if isinstance(found, ast.Name) and type(found.ctx) is ast.Store and type(parent) is not ast.NamedExpr:
        return scopes[-1] if scopes else None
    return None


def _read_outside_its_scopes(node: ast.AST, name: str, position: int) -> bool:
    """Whether the read of `name` at `position` is outside every lambda or comprehension binding it."""
    scopes, found, _ = _scopes_down_to(node, position)
    if not isinstance(found, ast.Name):
        return True
    return not any(name in _names_bound_by(scope) for scope in scopes)


def _names_bound_by(scope: ast.AST) -> set[str]:
    if isinstance(scope, ast.Lambda):
        return _argument_names(scope.args)
    if isinstance(scope, _COMPREHENSIONS):
        return {n.id for g in scope.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
    return set()


def _scopes_down_to(node: ast.AST, position: int) -> tuple[list[ast.AST], ast.AST | None, ast.AST | None]:
    """(the lambdas and comprehensions around `position`, outermost first, the lambda or `Name` that
    starts there, its parent), descending only into the nodes that hold `position`."""
    scopes: list[ast.AST] = []
    frontier = [node]
    while frontier:
        parent = frontier.pop()
        for child in ast.iter_child_nodes(parent):
            begin = _position(child)
            if begin is None:
                frontier.append(child)
                continue
            if not begin <= position < _end_position(child):
                continue
            if begin == position and type(child) in (ast.Lambda, ast.Name):
                return scopes, child, parent
            if isinstance(child, _INNER_SCOPES):
                scopes.append(child)
            frontier.append(child)
    return scopes, None, None


def _position(node: ast.AST) -> int | None:
    line = getattr(node, "lineno", None)
    return None if line is None else line * 1000 + node.col_offset


def _end_position(node: ast.AST) -> int:
    return (node.end_lineno or node.lineno) * 1000 + (node.end_col_offset or 0)


_CASE_LINE = re.compile(r"(?:^|\r)[ \t\f]*case\b", re.MULTILINE)
"""A line that may open a `case` block (lines may end in a lone `\r`, and a form feed is white space
to Python): only then is the tree walked for pattern captures."""


def _pattern_captures(tree: ast.AST, source: str) -> frozenset[str]:
    """Names `match` patterns bind (`case {"a": os}`, `case [*rest]`, `case C(x=y) as z`): bound by the
    code itself, so no import should provide them. The scan's stores, which the features count,
    leave them out; they are taken from the free names only, so the features stay as trained."""
    if "case" not in source or _CASE_LINE.search(source) is None:  # the substring first: 50x cheaper
        return frozenset()
    captured: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            captured.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            captured.add(node.rest)
    return frozenset(captured)


_GLOBAL_LINE = re.compile(r"(?:^|[\r;:])[ \t\f]*global\b", re.MULTILINE)
"""Where a `global` statement may start: a line's start, or after `;` or a one-line block's `:`."""


def _global_stores(tree: ast.AST, source: str, units: list[Unit]) -> frozenset[str]:
    """Names a function declares `global` and binds there (`global cache` then `cache = {}`): bound for
    the whole module, so no import should provide them elsewhere. Walked for only when a statement may
    start with `global` (`_GLOBAL_LINE`)."""
    if "global" not in source or _GLOBAL_LINE.search(source) is None:
        return frozenset()
    stored: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            unit = _innermost_unit(units, node.lineno)
            stored.update(name for name in node.names if name in unit.stores)
    return frozenset(stored)


def _innermost_unit(units: list[Unit], line: int) -> Unit:
    """The deepest unit whose lines hold `line` (the module holds every line)."""
    holding = [unit for unit in units if unit.line <= line <= unit.end_line]
    return max(holding, key=lambda unit: unit.unit_depth) if holding else units[0]
