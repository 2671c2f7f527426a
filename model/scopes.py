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
    (`_read_before_bound` and `_header_reads_before_bound`, given `tree`). A lambda's parameters and a
    comprehension's variables bind only inside them, though the scan files them under the unit
    (`_inner_scope_only`, given `tree` and `source`)."""
    bound = [_bindings(units, unit) for unit in units]
    early = _read_before_bound(tree, units) if tree is not None else {}
    inner = _inner_scope_only(units, tree, source) if tree is not None and source else {}
    for index, (phantom, _) in inner.items():
        bound[index] -= phantom
    bindings: dict[int, dict[str, list[int]]] = {}
    free: set[str] = set()
    for index, unit in enumerate(units):
        unread = unit.loads.keys() - bound[index]
        if index in inner:
            phantom, escaped = inner[index]
            unread -= phantom - escaped
        header = _own_header_reads(units, index, tree)
        unread |= header & bound[index]
        if index in early:
            unread |= early[index]
        scope = unit.parent
        if unread and scope >= 0:
            before = unread & _header_reads_before_bound(units, index, tree, header, bindings)
            unread -= bound[scope]
            unread |= before
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


def _own_header_reads(units: list[Unit], index: int, tree: ast.AST | None) -> set[str]:
    """`_header_reads`, less the `*args`, `**kwargs`, keyword- and positional-only parameters of a
    lambda in the header, which the scan files among the definition's parameters but not among its
    stores (`@parametrize("f", [lambda *args: sum(args)])`): looked up in the tree only when a
    header reads a name the unit's parameters hold."""
    unit = units[index]
    reads = _header_reads(unit)
    if tree is None or not reads.intersection(unit.params):
        return reads
    node = _unit_node(tree, unit, index)
    if not isinstance(node, _DEFINITIONS):
        return reads
    in_lambdas = {name for part in _run_where_defined(node) for lam in ast.walk(part) if type(lam) is ast.Lambda
                  for name in _argument_names(lam.args)}
    return reads - (in_lambdas - _parameters(node))


def _header_reads_before_bound(units: list[Unit], index: int, tree: ast.AST | None, header: set[str],
                               bindings: dict[int, dict[str, list[int]]]) -> set[str]:
    """What the header of `units[index]` runs in a module or class body before that body binds it: a
    body runs in order, so those come from further out (`@cache` above `def cache()`, `def f(x=later)`
    or `class A(Base)` above the line that binds `later` or `Base`). Annotations are not counted
    (under `from __future__ import annotations` they are never run), nor what a lambda in the header
    reads (it runs later). A header reading the definition's own name other than as the decorator
    itself (`@name.setter` above `def name(self, value)`, `@wraps(wrapper)`) reads a binding from the
    class or function it was cut from, and stays bound. `header`: what the header reads
    (`_own_header_reads`); `bindings`: each body's binding positions by name, filled as needed
    (`_body_bindings`)."""
    unit = units[index]
    parent = units[unit.parent]
    if not header or parent.kind not in ("module", "class"):
        return set()
    own = unit.line * 1000  # where the definition binds its own name: after its header, always
    body = _body_bindings(units, unit.parent, bindings)
    early: set[str] = set()
    for name in header:
        if name == unit.name and name not in unit.decorators:
            continue
        positions = body.get(name, ())
        first = next((bound for bound in positions if bound != own), None)
        if (positions or name == unit.name) and (first is None or first > min(unit.loads[name])):
            early.add(name)
    if early and tree is not None:  # confirm on what the header runs where it stands
        node = _unit_node(tree, unit, index)
        early &= {n.id for n in _walk_scope(node) if type(n) is ast.Name} if node is not None else set()
    return early


def _body_bindings(units: list[Unit], index: int, cache: dict[int, dict[str, list[int]]]) -> dict[str, list[int]]:
    """name -> where the body of `units[index]` binds it (its stores and the definitions directly in
    it, line * 1000 + column), in order; made once per body."""
    if index not in cache:
        unit = units[index]
        positions = {name: list(stores) for name, stores in unit.stores.items()}
        for child in unit.children:
            positions.setdefault(units[child].name, []).append(units[child].line * 1000)
        cache[index] = {name: sorted(where) for name, where in positions.items()}
    return cache[index]


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
    value binds nothing), what `_binds_by_name` gives, and whatever a compound statement binds inside."""
    if isinstance(statement, ast.AnnAssign) and statement.value is None:
        return set()
    names: set[str] = set()
    for node in _walk_scope(statement):
        if type(node) is ast.Name:
            if type(node.ctx) is ast.Store:
                names.add(node.id)
        else:
            names.update(_binds_by_name(node))
    return names


def _binds_by_name(node: ast.AST) -> set[str]:
    """What a node binds without a `Name` store: imports, definitions, `except ... as`, `match`
    captures, and `global` and `nonlocal` (which say the name lives elsewhere)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(alias.asname or alias.name).partition(".")[0] for alias in node.names}
    if isinstance(node, _DEFINITIONS):
        return {node.name}
    if isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar):
        return {node.name} if node.name else set()
    if isinstance(node, ast.MatchMapping):
        return {node.rest} if node.rest else set()
    if isinstance(node, ast.Global | ast.Nonlocal):
        return set(node.names)
    return set()


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_INNER_SCOPES = (ast.Lambda, *_COMPREHENSIONS)


def _walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and what it holds, not inside lambdas, comprehensions, or the bodies of functions and
    classes (their names, decorators, defaults and bases are run where they stand)."""
    yield node
    if isinstance(node, _DEFINITIONS):
        children = _run_where_defined(node)
    elif isinstance(node, _INNER_SCOPES):
        return
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from _walk_scope(child)


def _run_where_defined(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[ast.AST]:
    """What a definition runs where it stands: decorators, defaults, bases and keywords (not its
    annotations, which `from __future__ import annotations` never runs)."""
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *node.keywords]
    return [*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]


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


def _inner_scope_only(units: list[Unit], tree: ast.AST, source: str) -> dict[int, tuple[set[str], set[str]]]:
    """unit index -> (the names the scan files among the unit's stores that only its lambdas'
    parameters or its comprehensions' variables bind, those of them the unit reads outside every
    lambda or comprehension that binds them). `[path for path in paths]` then `path.join(...)`
    leaves `path` to an import. The unit's tree is walked (`_walk_inner_scopes`) only for names the
    source text shows stored at a `lambda` or a `for` that does not start a loop, and read on a line
    without such a store or by an inner definition: a read on the store's own line, after the
    comprehension (`[y for x in xs for y in x], y`), is missed and stays bound, as before. A
    lambda's `*args`, `**kwargs`, keyword- and positional-only parameters, which the scan files
    among the unit's parameters only, stay bound throughout the unit."""
    found: dict[int, tuple[set[str], set[str]]] = {}
    lines: list[bytes] | None = None
    for index, unit in enumerate(units):
        if not unit.stores:
            continue
        if lines is None:
            lines = source.encode("utf-8", "surrogatepass").splitlines()
        candidates = _inner_candidates(units, unit, lines)
        node = _unit_node(tree, unit, index) if candidates else None
        if node is not None:
            phantom, escaped = _walk_inner_scopes(node, candidates - _parameters(node))
            if phantom:
                found[index] = (phantom, escaped)
    return found


def _inner_candidates(units: list[Unit], unit: Unit, lines: list[bytes]) -> set[str]:
    """The names whose every store, read off the source text, may be a lambda's parameter or a
    comprehension's target, and that the unit reads on another line or an inner definition reads:
    the cheap gate before the tree is walked."""
    definitions = {units[child].name for child in unit.children}
    candidates = {name for name, positions in unit.stores.items()
                  if name not in definitions and all(_maybe_inner_store(lines, position) for position in positions)}
    if not candidates:
        return candidates
    read = {name for name in candidates if _read_off_its_lines(unit, name)}
    if candidates - read:
        read |= candidates & _descendant_loads(units, unit)
    return read


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
    return not (_LOOP_START.match(before) and text.rstrip().endswith(b":"))


def _read_off_its_lines(unit: Unit, name: str) -> bool:
    stored = {position // 1000 for position in unit.stores[name]}
    return any(position // 1000 not in stored for position in unit.loads.get(name, ()))


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


def _walk_inner_scopes(node: ast.AST, names: set[str]) -> tuple[set[str], set[str]]:
    """(the `names` that no binding of the scope `node` opens reaches but those of its lambdas and
    comprehensions, those of them it reads where none of those binds them), in one walk: the node's
    header and body, and what the definitions inside it run where they stand, not their bodies. A
    comprehension's first iterable and a lambda's defaults run outside them; a walrus target in a
    comprehension binds the enclosing scope."""
    bound: set[str] = set()
    read: set[str] = set()
    parts = node.body if isinstance(node, ast.Module) else [*_run_where_defined(node), *node.body]  # type: ignore[arg-type, attr-defined]
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
            bound.update({item.name} & names)
            stack += [(part, shadowed, in_lambda) for part in _run_where_defined(item)]
        elif type(item) is ast.Lambda:
            arguments = item.args
            stack += [(default, shadowed, in_lambda) for default in (*arguments.defaults, *arguments.kw_defaults)
                      if default is not None]
            stack.append((item.body, shadowed | (_argument_names(arguments) & names), True))
        elif isinstance(item, _COMPREHENSIONS):
            stack += _comprehension_parts(item, shadowed, names, in_lambda)
        else:
            bound.update(_binds_by_name(item) & names)
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


def _parameters(node: ast.AST | None) -> set[str]:
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
