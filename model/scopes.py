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
import bisect
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Set
from typing import Final

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
    (`_read_before_bound`, given `tree`; `_decorator_reads_before_bound`). A lambda's parameters and a
    comprehension's variables bind only inside them, though the scan files them under the unit
    (`_inner_scope_only`, given `tree` and `source`)."""
    bound = [_bindings(units, unit) for unit in units]
    early = _read_before_bound(tree, units) if tree is not None else {}
    inner = _inner_scope_only(units, tree, source) if tree is not None and source else {}
    for index, (phantom, _) in inner.items():
        bound[index] -= phantom
    definitions: dict[int, dict[str, list[int]]] = {}
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
            unread -= bound[scope] - _decorator_reads_before_bound(units, index, tree, definitions)
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


def _decorator_reads_before_bound(units: list[Unit], index: int, tree: ast.AST | None,
                                   definitions: dict[int, dict[str, list[int]]]) -> set[str]:
    """What the decorators of `units[index]` read in a module or class body before that body binds
    it: a body runs in order, so those come from further out (`@cache` above `def cache()`,
    `@app.route(...)` above the line that makes `app`). A decorator reading the definition's own
    name other than as the decorator itself (`@name.setter` above `def name(self, value)`,
    `@wraps(wrapper)`) reads a binding from the class or function the code was cut from, and stays
    bound, and so does what a lambda in a decorator reads (it runs later). `definitions` caches each
    body's definition lines by name."""
    unit = units[index]
    parent = units[unit.parent] if unit.parent >= 0 else None
    if parent is None or parent.kind not in ("module", "class") or not unit.decorators:
        return set()
    if unit.parent not in definitions:
        lines: dict[str, list[int]] = {}
        for child in parent.children:
            lines.setdefault(units[child].name, []).append(units[child].line * 1000)
        definitions[unit.parent] = lines
    by_name = definitions[unit.parent]
    early: set[str] = set()
    for name, positions in unit.loads.items():
        read = min(positions)
        if read >= unit.line * 1000 or (name == unit.name and name not in unit.decorators):
            continue  # not a decorator's read, or `@name.setter` on `def name`
        bindings = [*parent.stores.get(name, ()), *by_name.get(name, ())]
        if bindings and all(bound > read for bound in bindings):
            early.add(name)
    if early and tree is not None:  # rare: confirm on the decorators themselves
        node = _unit_node(tree, unit, index)
        decorators = getattr(node, "decorator_list", ())
        early &= {n.id for d in decorators for n in _walk_scope(d) if type(n) is ast.Name}
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
        body = getattr(_unit_node(tree, unit, index), "body", None) if candidates else None
        names = _reads_before_binding(body, candidates) if body else set()
        if names:
            early[index] = names
    return early


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
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _inner_scope_only(units: list[Unit], tree: ast.AST, source: str) -> dict[int, tuple[set[str], set[str]]]:
    """unit index -> (the names the scan files under the unit that only its lambdas' parameters or
    its comprehensions' variables bind, those of them the unit reads outside every lambda or
    comprehension that binds them). `[path for path in paths]` then `path.join(...)` leaves `path`
    to an import. The scan files a comprehension's variables among the unit's stores and a lambda's
    parameters among its parameters (the plain ones as stores too, where the lambda starts). The
    unit's tree is walked (`_scope_walk`) only for names the source text shows stored at a `lambda`
    or a `for` that does not start a loop, and read outside the brackets around those stores (a
    lambda's `*args`, `**kwargs`, keyword- and positional-only parameters are not looked at: they
    stay bound throughout the unit)."""
    found: dict[int, tuple[set[str], set[str]]] = {}
    text: _Text | None = None
    for index, unit in enumerate(units):
        if not unit.stores:
            continue
        if text is None:
            text = _Text(source)
        candidates = _inner_candidates(units, unit, text)
        node = _unit_node(tree, unit, index) if candidates else None
        if node is not None:
            phantom, escaped = _scope_walk(node, candidates)
            if phantom:
                found[index] = (phantom, escaped)
    return found


def _inner_candidates(units: list[Unit], unit: Unit, text: _Text) -> set[str]:
    """The names whose every store, read off the source text, may be a lambda's parameter or a
    comprehension's target, and that the unit or an inner definition reads: the cheap gate before
    the tree is walked."""
    definitions = {units[child].name for child in unit.children}
    lines = text.lines
    candidates = {name for name, positions in unit.stores.items()
                  if name not in definitions and all(_maybe_inner_store(lines, position) for position in positions)}
    if not candidates:
        return candidates
    read = {name for name in candidates if _may_read_outside(text, unit, name)}
    if candidates - read:
        read |= candidates & _descendant_loads(units, unit)
    return read


def _may_read_outside(text: _Text, unit: Unit, name: str) -> bool:
    """Whether `unit` may read `name` outside the brackets around its stores (`{k: v for k, v in
    xs}, k`, or on a line after them). A read inside them is the comprehension's or lambda's own, as
    in most code: no walk needed."""
    spans = _merged(_bracket_span(text, text.offset(position)) for position in unit.stores[name])
    starts = [start for start, _ in spans]
    for position in unit.loads.get(name, ()):
        offset = text.offset(position)
        at = bisect.bisect_right(starts, offset) - 1
        if at < 0 or offset >= spans[at][1]:
            return True
    return False


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans joined, in order, so that one binary search tells whether one holds a point."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(span for span in spans if span[0] < span[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


_OPENERS = frozenset(b"([{")


def _bracket_span(text: _Text, offset: int) -> tuple[int, int]:
    """The offsets of the innermost brackets around `offset` (strings and comments not told apart),
    or an empty span when none is found within `_BRACKET_REACH`: a gate, so a wrong span only costs
    a walk, or misses a read that a bracket in a string hid."""
    offsets, kinds = text.brackets()
    first = bisect.bisect_left(offsets, offset)
    depth = 0
    start = -1
    for at in range(first - 1, -1, -1):
        if offsets[at] < offset - _BRACKET_REACH:
            break
        if kinds[at] not in _OPENERS:
            depth += 1
        elif depth == 0:
            start = offsets[at]
            break
        else:
            depth -= 1
    if start < 0:
        return 0, 0
    depth = 0
    for at in range(first, len(offsets)):
        if offsets[at] >= offset + _BRACKET_REACH:
            break
        if kinds[at] in _OPENERS:
            depth += 1
        elif depth == 0:
            return start, offsets[at] + 1
        else:
            depth -= 1
    return 0, 0


_BRACKET: Final = re.compile(rb"[][(){}]")
_BRACKET_REACH: Final = 2000
"""How many bytes `_bracket_span` looks at on each side: past that, the tree is walked instead, so
that a source of many lambdas outside brackets stays linear."""


class _Text:
    """A source as UTF-8 bytes, its lines, and where each line starts: the scan's positions (line *
    1000 + byte column) as offsets into the bytes."""

    def __init__(self, source: str) -> None:
        self.source = source.encode("utf-8", "surrogatepass")
        self.lines = self.source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self._brackets: tuple[list[int], bytes] | None = None

    def brackets(self) -> tuple[list[int], bytes]:
        """The offset of every bracket in the source, and which bracket each is (found once)."""
        if self._brackets is None:
            found = [match.start() for match in _BRACKET.finditer(self.source)]
            self._brackets = (found, bytes(self.source[at] for at in found))
        return self._brackets

    def offset(self, position: int) -> int:
        line, column = divmod(position, 1000)
        return self.starts[min(max(line - 1, 0), len(self.lines))] + column


def _maybe_inner_store(lines: list[bytes], position: int) -> bool:
    line, column = divmod(position, 1000)
    if not 0 < line <= len(lines):
        return False
    text = lines[line - 1]
    if text.startswith(b"lambda", column):
        return True
    if b"for" not in text[:column]:  # most stores: skip the decoding and the pattern
        return False
    before = text[:column].decode("utf-8", "replace")
    if _INNER_TARGET.search(before) is None:
        return False
    return not (_LOOP_START.match(before) and text.rstrip(b" \t\f\r\n").endswith(b":"))


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
    """The module, or the definition `unit` was scanned from: found by descending, statement list by
    statement list, into the statement that holds the definition's line (a binary search in each)."""
    if index == 0:
        return tree
    node: ast.AST = tree
    while True:
        holder = _statement_holding(node, unit.line)
        if holder is None:
            return None
        if isinstance(holder, _DEFINITIONS) and holder.lineno == unit.line and holder.name == unit.name:
            return holder
        node = holder


def _statement_holding(node: ast.AST, line: int) -> ast.AST | None:
    for field in ("body", "orelse", "finalbody", "handlers", "cases"):
        statements = getattr(node, field, None)
        if not statements or not isinstance(statements, list):
            continue
        if field == "cases":  # match_case has no position: its body does
            statements = [case for case in statements if case.body and case.body[0].lineno <= line]
            holder = statements[-1] if statements else None
            if holder is not None and line <= (holder.body[-1].end_lineno or 0):
                return holder
            continue
        at = bisect.bisect_right(statements, line, key=lambda statement: statement.lineno) - 1
        if at >= 0 and line <= (statements[at].end_lineno or statements[at].lineno):
            return statements[at]
    return None


def _scope_walk(node: ast.AST, names: set[str]) -> tuple[set[str], set[str]]:
    """(the `names` that no binding of the scope `node` opens reaches but those of its lambdas and
    comprehensions, those of them it reads where none of those binds them), in one walk of the
    node: its header, its body, not the bodies of the definitions inside it. A comprehension's first
    iterable and a lambda's defaults run outside them; a walrus target in a comprehension binds
    the enclosing scope."""
    bound: set[str] = set(_parameters(node)) & names
    read: set[str] = set()
    parts = [*_header_parts(node), *getattr(node, "body", ())] if not isinstance(node, ast.Module) else node.body
    stack: list[tuple[ast.AST, frozenset[str], bool]] = [(part, frozenset(), False) for part in parts]
    while stack:
        item, shadowed, in_lambda = stack.pop()
        if type(item) is ast.Name:
            if item.id in names:
                if type(item.ctx) is ast.Load:
                    if item.id not in shadowed:
                        read.add(item.id)
                elif not in_lambda:
                    bound.add(item.id)
        elif isinstance(item, _DEFINITIONS):
            bound.update({item.name} & names)  # its header and body are its own unit's
        elif type(item) is ast.Lambda:
            arguments = item.args
            stack += [(default, shadowed, in_lambda) for default in (*arguments.defaults, *arguments.kw_defaults)
                      if default is not None]
            stack.append((item.body, shadowed | (_argument_names(arguments) & names), True))
        elif isinstance(item, _COMPREHENSIONS):
            stack += _comprehension_parts(item, shadowed, names, in_lambda)
        else:
            bound.update(_declared_names(item) & names)
            stack += [(child, shadowed, in_lambda) for child in ast.iter_child_nodes(item)]
    phantom = names - bound
    return phantom, phantom & read


def _comprehension_parts(item: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp,
                         shadowed: frozenset[str], names: set[str], in_lambda: bool
                         ) -> list[tuple[ast.AST, frozenset[str], bool]]:
    """The first iterable runs outside the comprehension; the rest sees its variables (the targets
    themselves are not walked: they bind only here). A walrus inside still binds outside."""
    generators = item.generators
    targets = {n.id for g in generators for n in ast.walk(g.target) if type(n) is ast.Name}
    inner = shadowed | (targets & names)
    parts = [(generators[0].iter, shadowed, in_lambda)]
    parts += [(g.iter, inner, in_lambda) for g in generators[1:]]
    parts += [(condition, inner, in_lambda) for g in generators for condition in g.ifs]
    elements = [item.key, item.value] if isinstance(item, ast.DictComp) else [item.elt]
    return parts + [(element, inner, in_lambda) for element in elements]


def _header_parts(node: ast.AST) -> list[ast.AST]:
    """What a definition's header holds: decorators, bases and keywords, defaults, annotations."""
    if not isinstance(node, _DEFINITIONS):
        return []
    parts: list[ast.AST] = [*node.decorator_list]
    if isinstance(node, ast.ClassDef):
        return [*parts, *node.bases, *node.keywords]
    arguments = node.args
    every = (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg)
    parts += [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]
    parts += [a.annotation for a in every if a is not None and a.annotation is not None]
    return parts + ([node.returns] if node.returns is not None else [])


def _declared_names(item: ast.AST) -> set[str]:
    """What a statement or pattern binds without a `Name` store: imports, `global` and `nonlocal`
    (the name lives elsewhere, not in a lambda), `except ... as`, `match` captures."""
    if isinstance(item, ast.Import | ast.ImportFrom):
        return {(alias.asname or alias.name).partition(".")[0] for alias in item.names}
    if isinstance(item, ast.Global | ast.Nonlocal):
        return set(item.names)
    if isinstance(item, ast.ExceptHandler | ast.MatchAs | ast.MatchStar):
        return {item.name} if item.name else set()
    if isinstance(item, ast.MatchMapping):
        return {item.rest} if item.rest else set()
    return set()


def _parameters(node: ast.AST) -> set[str]:
    """A function's own parameters (the scan's `params` also hold its lambdas')."""
    return _argument_names(node.args) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else set()


def _argument_names(arguments: ast.arguments) -> set[str]:
    every = (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg)
    return {a.arg for a in every if a is not None}


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
