"""Bug injection: one small, realistic rewrite of a Python source, labelled with its kind and place.

Owns the rewrites used by BugLab (Allamanis et al., 2021) and DeepBugs (Pradel & Sen, 2018): variable
misuse, wrong binary / comparison / boolean operator, off-by-one, wrong literal, swapped arguments,
swapped operands and negated condition. Leaves to others: choosing which units to mutate and pairing
them with clean negatives (training/datasets.py), and running mutants against tests (training/humaneval.py).

Artefact rules, because a detector must not learn the injection instead of the bug:
- clean and buggy code share formatting: both are ``normalise_source`` output, so the two texts differ
  only in the rewritten tokens;
- no statement is replaced by ``pass`` and no ``not (...)`` wrapper is ever added (negation removes an
  existing ``not`` or flips a comparison);
- string constants (docstrings included) are never touched, and a rewrite that leaves the text unchanged
  is dropped;
- no rewrite may leave an operation that does nothing where the code had none (`x + 0`, `x - 0`,
  `x * 1`, `x ** 1`, `x += 0`, `s[0:]`, `range(0, n)`, `enumerate(xs, 0)`), nor `x & 0`, which is
  always 0: real code hardly ever holds one, so it would give the mutant away (a review found 22
  such mutants among the test split's 2,729, scored at AUROC 0.93-0.96);
- no rewrite may be equivalent by construction: `|` and `^` between two flag constants (`re.I | re.M`,
  `os.O_WRONLY | os.O_TRUNC`) give the same number, so neither turns into the other there.

Sites are addressed by their index in a pre-order walk of the tree. Nodes before a site in that order
are its ancestors or lie in earlier subtrees, so re-parsing the mutant finds the rewritten node at the
same index: that is where ``Mutant.line`` and ``Mutant.column`` come from.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from model.sites import character_column
from model.vocabulary import BUG_KINDS

__all__ = [
    "BUG_KINDS",
    "MUTATIONS_VERSION",
    "Mutant",
    "kinds_admitted",
    "mutants",
    "normalise_source",
    "one_mutant",
    "site_counts",
]

# The kinds, in the order of the bugs head, are the model's vocabulary; this module knows how to make them.

MUTATIONS_VERSION = 3
"""Part of the cache key of every data set made of mutants (training/datasets.py): bump whenever the
rewrites would make other mutants. 2: no idle operations (`x + 0`). 3: nor `range(0, n)`,
`enumerate(xs, 0)` or `x & 0`, and no `|` <-> `^` between flags."""


@dataclass(frozen=True)
class Mutant:
    """One injected bug: the buggy source and where the rewritten node starts in it (1-based)."""

    source: str
    kind: str
    line: int
    column: int
    description: str


def normalise_source(source: str) -> str:
    """``ast.unparse(ast.parse(source))``, iterated to a fixed point so re-normalising is a no-op."""
    text = ast.unparse(ast.parse(source))
    again = ast.unparse(ast.parse(text))
    return again if again == text else normalise_source(again)


# --- operator tables -------------------------------------------------------------------------------

_BINARY_SWAPS: dict[type[ast.operator], tuple[type[ast.operator], ...]] = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Div, ast.FloorDiv),
    ast.Div: (ast.Mult, ast.FloorDiv),
    ast.FloorDiv: (ast.Div, ast.Mod),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
    ast.LShift: (ast.RShift,),
    ast.RShift: (ast.LShift,),
    ast.BitAnd: (ast.BitOr,),
    ast.BitOr: (ast.BitAnd, ast.BitXor),
    ast.BitXor: (ast.BitOr,),
}
_COMPARISON_SWAPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.Gt),
    ast.LtE: (ast.Lt, ast.GtE),
    ast.Gt: (ast.GtE, ast.Lt),
    ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
_COMPARISON_NEGATIONS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.LtE: ast.Gt,
    ast.Gt: ast.LtE,
    ast.GtE: ast.Lt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_NON_COMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift, ast.MatMult)
_ORDERED_COMPARISONS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_ORDER_FREE_CALLS = frozenset({"max", "min", "set", "frozenset", "print", "hash", "id"})
_LITERAL_SWAPS: dict[object, object] = {True: False, False: True, None: False}


# --- the tree, walked in a stable order ------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    kind: str
    index: int


def _preorder(tree: ast.AST) -> list[tuple[ast.AST, ast.AST | None]]:
    """(node, parent) pairs in pre-order over child fields: stable under the rewrites made here."""
    order: list[tuple[ast.AST, ast.AST | None]] = []
    stack: list[tuple[ast.AST, ast.AST | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        order.append((node, parent))
        children = list(ast.iter_child_nodes(node))
        stack.extend((child, node) for child in reversed(children))
    return order


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _signed_int(node: ast.AST) -> int | None:
    """The value of ``n`` or ``-n`` for an integer literal n, else None."""
    if _is_int(node):
        return node.value  # type: ignore[attr-defined]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and _is_int(node.operand):
        return -node.operand.value  # type: ignore[attr-defined]
    return None


def _int_node(value: int) -> ast.expr:
    """The literal for ``value`` shaped as ``ast.parse`` shapes it (negative numbers are ``-n``)."""
    if value < 0:
        return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(-value))
    return ast.Constant(value)


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)
    )


def _is_bound_context(node: ast.AST, parent: ast.AST | None) -> bool:
    """An integer literal used as an index, slice bound, range argument, comparison operand or bound."""
    if parent is None:
        return False
    if isinstance(parent, ast.Subscript) and parent.slice is node:
        return True
    if isinstance(parent, ast.Slice) and node in (parent.lower, parent.upper):
        return True
    if isinstance(parent, ast.Compare):
        return True
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add | ast.Sub):
        return True
    return (
        isinstance(parent, ast.Call)
        and isinstance(parent.func, ast.Name)
        and parent.func.id in {"range", "enumerate", "islice"}
        and node in parent.args
    )


# --- variable misuse: which locals are in scope and bound before a read ----------------------------


def _scope_children(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes of one function scope: nested functions, lambdas, classes and comprehensions excluded."""
    for child in ast.iter_child_nodes(node):
        if isinstance(
            child,
            ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef | ast.comprehension,
        ):
            continue
        if isinstance(child, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            continue
        yield child
        yield from _scope_children(child)


def _misuse_candidates(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[int, list[str]]:
    """Map id(read Name) -> the other locals bound before that read (parameters are bound at entry)."""
    arguments = function.args
    extras = [x for x in (arguments.vararg, arguments.kwarg) if x is not None]
    parameters = [a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, *extras)]
    first_binding: dict[str, tuple[int, int]] = {name: (0, 0) for name in parameters}
    declared_outside: set[str] = set()
    body_nodes = [n for statement in function.body for n in (statement, *_scope_children(statement))]
    for node in body_nodes:
        if isinstance(node, ast.Global | ast.Nonlocal):
            declared_outside.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            position = (node.lineno, node.col_offset)
            first_binding[node.id] = min(first_binding.get(node.id, position), position)
    candidates: dict[int, list[str]] = {}
    for node in body_nodes:
        if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
            continue
        if node.id not in first_binding or node.id in declared_outside:
            continue
        others = sorted(
            name
            for name, (bound_line, _) in first_binding.items()
            if name != node.id and name not in declared_outside and bound_line < node.lineno
        )
        if others:
            candidates[id(node)] = others
    return candidates


# --- site discovery --------------------------------------------------------------------------------


def _inside(node_span: tuple[int, int], scope: ast.AST | None) -> bool:
    if scope is None:
        return True
    return scope.lineno <= node_span[0] <= (scope.end_lineno or scope.lineno)  # type: ignore[attr-defined]


def _find_scope(tree: ast.Module, name: str | None) -> ast.AST | None:
    if name is None:
        return None
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and (
            statement.name == name
        ):
            return statement
    raise ValueError(f"no top-level function or class named {name!r}")


def _condition_tests(tree: ast.AST) -> set[int]:
    """ids of comparisons that are an if/while test or a direct operand of a boolean test."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If | ast.While | ast.IfExp):
            tests = node.test.values if isinstance(node.test, ast.BoolOp) else [node.test]
            found.update(id(t) for t in tests if isinstance(t, ast.Compare) and len(t.ops) == 1)
    return found


def _collect_sites(tree: ast.Module, order: list[tuple[ast.AST, ast.AST | None]], scope: ast.AST | None):
    """Every place each kind of rewrite applies, as (kind, pre-order index) sites."""
    misuse: dict[int, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            misuse.update(_misuse_candidates(node))
    conditions = _condition_tests(tree)
    sites: dict[str, list[int]] = {kind: [] for kind in BUG_KINDS}
    for index, (node, parent) in enumerate(order):
        if not hasattr(node, "lineno") or not _inside((node.lineno, 0), scope):  # type: ignore[attr-defined]
            continue
        for kind in _kinds_at(node, parent, misuse, conditions):
            sites[kind].append(index)
    return sites, misuse


def _kinds_at(node: ast.AST, parent: ast.AST | None, misuse: dict, conditions: set[int]) -> Iterator[str]:
    if isinstance(node, ast.Name) and id(node) in misuse:
        yield "variable_misuse"
    if isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in _BINARY_SWAPS:
        operands = (node.left, node.right) if isinstance(node, ast.BinOp) else (node.value,)
        if not any(_is_text(o) for o in operands):
            yield "wrong_binary_operator"
    if isinstance(node, ast.Compare) and any(type(op) in _COMPARISON_SWAPS for op in node.ops):
        yield "wrong_comparison_operator"
    if isinstance(node, ast.BoolOp):
        yield "wrong_boolean_operator"
    value = _signed_int(node)
    if (
        value is not None
        and not (isinstance(parent, ast.UnaryOp) and _is_int(node))
        and _is_bound_context(node, parent)
    ):
        yield "off_by_one"
    if _is_swappable_literal(node) and not isinstance(parent, ast.UnaryOp):
        yield "wrong_literal"
    if isinstance(node, ast.Call) and _swappable_argument_pairs(node):
        yield "swapped_arguments"
    if _swappable_operands(node):
        yield "swapped_operands"
    removable_not = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
    if removable_not or (id(node) in conditions and type(node.ops[0]) in _COMPARISON_NEGATIONS):  # type: ignore[attr-defined]
        yield "negated_condition"


def _is_swappable_literal(node: ast.AST) -> bool:
    """True / False / None, or the integers 0 and 1."""
    if not isinstance(node, ast.Constant):
        return False
    value = node.value
    return type(value) is bool or value is None or (type(value) is int and value in (0, 1))


def _swappable_argument_pairs(call: ast.Call) -> list[int]:
    """Positions i such that positional arguments i and i + 1 can be swapped to a different call."""
    if isinstance(call.func, ast.Name) and call.func.id in _ORDER_FREE_CALLS:
        return []
    if any(isinstance(a, ast.Starred) for a in call.args):
        return []
    return [
        i for i in range(len(call.args) - 1) if ast.dump(call.args[i]) != ast.dump(call.args[i + 1])
    ]


def _swappable_operands(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp) and isinstance(node.op, _NON_COMMUTATIVE):
        return ast.dump(node.left) != ast.dump(node.right)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], _ORDERED_COMPARISONS):
        return ast.dump(node.left) != ast.dump(node.comparators[0])
    return False


# --- rewrites: each mutates the tree at one node and returns (replacement node, description) -------


def _replace_child(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for field, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, field, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise LookupError("node is not a child of its parent")


def _rewrite(kind: str, node: ast.AST, parent: ast.AST | None, rng: random.Random, misuse: dict) -> ast.AST:
    """Apply one rewrite of ``kind`` at ``node`` (in place or by replacing it); returns the new node."""
    if kind == "variable_misuse":
        node.id = rng.choice(misuse[id(node)])  # type: ignore[attr-defined]
        return node
    if kind == "wrong_binary_operator":
        node.op = rng.choice(_BINARY_SWAPS[type(node.op)])()  # type: ignore[attr-defined]
        return node
    if kind == "wrong_comparison_operator":
        positions = [i for i, op in enumerate(node.ops) if type(op) in _COMPARISON_SWAPS]  # type: ignore[attr-defined]
        i = rng.choice(positions)
        node.ops[i] = rng.choice(_COMPARISON_SWAPS[type(node.ops[i])])()  # type: ignore[attr-defined]
        return node
    if kind == "wrong_boolean_operator":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()  # type: ignore[attr-defined]
        return node
    if kind == "off_by_one":
        value = _signed_int(node)
        assert value is not None
        new: ast.AST = _int_node(value + rng.choice((-1, 1)))
    elif kind == "wrong_literal":
        current = node.value  # type: ignore[attr-defined]
        new = ast.Constant(_LITERAL_SWAPS[current] if type(current) is not int else 1 - current)
    elif kind == "swapped_arguments":
        i = rng.choice(_swappable_argument_pairs(node))  # type: ignore[arg-type]
        node.args[i], node.args[i + 1] = node.args[i + 1], node.args[i]  # type: ignore[attr-defined]
        return node
    elif kind == "swapped_operands":
        if isinstance(node, ast.BinOp):
            node.left, node.right = node.right, node.left
        else:
            node.left, node.comparators[0] = node.comparators[0], node.left  # type: ignore[attr-defined]
        return node
    elif kind == "negated_condition":
        if isinstance(node, ast.UnaryOp):
            new = node.operand
        else:
            node.ops[0] = _COMPARISON_NEGATIONS[type(node.ops[0])]()  # type: ignore[attr-defined]
            return node
    else:
        raise ValueError(f"unknown bug kind {kind!r}")
    assert parent is not None
    _replace_child(parent, node, new)
    return new


_ZERO_IDLE = (ast.Add, ast.Sub, ast.BitOr, ast.BitXor, ast.LShift, ast.RShift)
"""Operators that do nothing with 0 on the right (`+` and `|`, `^` on the left too)."""
_ONE_IDLE = (ast.Mult, ast.Div, ast.FloorDiv, ast.Pow)
"""Operators that do nothing with 1 on the right (`*` on the left too)."""
_SYMMETRIC_IDLE = (ast.Add, ast.BitOr, ast.BitXor, ast.Mult)
_FLAG_OPERATORS = (ast.BitOr, ast.BitXor)


def _is_literal(node: ast.AST | None, value: int) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value == value


def _idle_with(op: ast.operator, operand: ast.AST | None) -> bool:
    """Whether `op` with `operand` on its right does nothing: `+ 0`, `* 1` and their kin."""
    return (isinstance(op, _ZERO_IDLE) and _is_literal(operand, 0)) or \
        (isinstance(op, _ONE_IDLE) and _is_literal(operand, 1))


def _always_zero(op: ast.operator, operand: ast.AST | None) -> bool:
    """Whether `op` with `operand` on either side gives 0 whatever the other is: `& 0`."""
    return isinstance(op, ast.BitAnd) and _is_literal(operand, 0)


def _is_flag(node: ast.AST) -> bool:
    """A flag constant by its name, or flags joined: `re.I`, `stat.S_IEXEC`, `O_RDONLY`, `os.O_WRONLY |
    os.O_CREAT` (a bare capital letter is as often a variable, `N | M`)."""
    if isinstance(node, ast.Attribute):
        return node.attr.isupper()
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, _FLAG_OPERATORS) and _is_flag(node.left) and _is_flag(node.right)
    return isinstance(node, ast.Name) and len(node.id) > 1 and node.id.isupper()


def _idle_operations(tree: ast.AST) -> int:
    """How many operations in `tree` do nothing or always give 0: `x + 0`, `0 + x`, `x - 0`, `x * 1`,
    `x ** 1`, `x += 0`, `s[0:]`, `range(0, n)`, `x & 0`. A rewrite must not add one (see the module's
    artefact rules)."""
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            count += _idle_with(node.op, node.right) or _always_zero(node.op, node.right) or (
                isinstance(node.op, _SYMMETRIC_IDLE) and _idle_with(node.op, node.left)) or \
                _always_zero(node.op, node.left)
        elif isinstance(node, ast.AugAssign):
            count += _idle_with(node.op, node.value) or _always_zero(node.op, node.value)
        elif isinstance(node, ast.Slice):
            count += _is_literal(node.lower, 0) and node.step is None
        elif isinstance(node, ast.Call):
            count += _idle_start(node)
    return count


def _idle_start(call: ast.Call) -> bool:
    """`range(0, n)` and `enumerate(xs, 0)`: a start that is the default."""
    if not isinstance(call.func, ast.Name) or call.keywords or len(call.args) != 2:
        return False
    start = {"range": 0, "enumerate": 1}.get(call.func.id)
    return start is not None and _is_literal(call.args[start], 0)


def _equivalent(was: ast.AST, node: ast.AST) -> bool:
    """Whether `node`, rewritten from an operator `was`, computes what it did: `|` <-> `^` between two
    flag constants."""
    return isinstance(was, _FLAG_OPERATORS) and isinstance(node, ast.BinOp) and \
        isinstance(node.op, _FLAG_OPERATORS) and _is_flag(node.left) and _is_flag(node.right)


def _location(source: str, index: int) -> tuple[int, int]:
    """1-based line and character column of the pre-order node ``index`` in ``source``."""
    node, _ = _preorder(ast.parse(source))[index]
    line = node.lineno  # type: ignore[attr-defined]
    return line, character_column(source.splitlines()[line - 1], node.col_offset)  # type: ignore[attr-defined]


def _apply(clean: str, site: _Site, rng: random.Random) -> Mutant | None:
    """The mutant of ``clean`` at ``site``, or None when the rewrite breaks an artefact rule."""
    tree = ast.parse(clean)
    order = _preorder(tree)
    _, misuse = _collect_sites(tree, order, None)
    node, parent = order[site.index]
    before = ast.unparse(node)
    operator = getattr(node, "op", None)
    idle_before = _idle_operations(tree)
    after_node = _rewrite(site.kind, node, parent, rng, misuse)
    after = ast.unparse(after_node)
    source = ast.unparse(tree)
    if source == clean or before == after or _idle_operations(tree) > idle_before or \
            _equivalent(operator, after_node):
        return None
    try:
        line, column = _location(source, site.index)
    except SyntaxError:
        return None
    return Mutant(source, site.kind, line, column, f"`{before}` -> `{after}`")


def _sites(clean: str, kinds: Sequence[str], scope: str | None) -> list[_Site]:
    unknown = set(kinds) - set(BUG_KINDS)
    if unknown:
        raise ValueError(f"unknown bug kinds: {sorted(unknown)}")
    tree = ast.parse(clean)
    found, _ = _collect_sites(tree, _preorder(tree), _find_scope(tree, scope))
    return [_Site(kind, index) for kind in kinds for index in found[kind]]


def kinds_admitted(source: str) -> frozenset[str]:
    """The bug kinds a mutant of ``source`` can be made of, trying every site with a fixed seed: what
    `site_counts` offers less the kinds whose every rewrite is dropped (an idle `n + 0` from `n + 1`)."""
    return frozenset(m.kind for m in mutants(source, rng=random.Random(0)))


def site_counts(source: str, *, scope: str | None = None) -> dict[str, int]:
    """How many places each kind of bug could be injected into ``normalise_source(source)``."""
    sites = _sites(normalise_source(source), BUG_KINDS, scope)
    return {kind: sum(1 for s in sites if s.kind == kind) for kind in BUG_KINDS}


def _first_success(
    clean: str, sites: list[_Site], rng: random.Random, limit: int, seen: set[str]
) -> list[Mutant]:
    """Up to ``limit`` mutants from ``sites`` in random order, skipping sources already in ``seen``."""
    made: list[Mutant] = []
    for site in rng.sample(sites, len(sites)):
        mutant = _apply(clean, site, rng)
        if mutant is not None and mutant.source not in seen:
            made.append(mutant)
            seen.add(mutant.source)
            if len(made) == limit:
                break
    return made


def mutants(
    source: str,
    *,
    rng: random.Random,
    max_per_kind: int = 1,
    kinds: Sequence[str] = BUG_KINDS,
    scope: str | None = None,
) -> list[Mutant]:
    """Up to ``max_per_kind`` distinct mutants of each kind, of ``normalise_source(source)``.

    ``scope`` restricts rewrites to one top-level function or class (e.g. a HumanEval entry point, so
    helpers given in the prompt stay intact). Deterministic for a given ``rng`` state.
    """
    clean = normalise_source(source)
    sites = _sites(clean, kinds, scope)
    made: list[Mutant] = []
    seen: set[str] = set()  # two kinds can make the same text (`a != b` -> `a == b`): keep the first
    for kind in kinds:
        of_kind = [s for s in sites if s.kind == kind]
        made.extend(_first_success(clean, of_kind, rng, max_per_kind, seen))
    return made


def one_mutant(
    source: str,
    *,
    rng: random.Random,
    kinds: Sequence[str] = BUG_KINDS,
    scope: str | None = None,
) -> Mutant | None:
    """One mutant: a kind drawn uniformly among those that apply, then a site of that kind.

    Drawing the kind first keeps kinds balanced (reads of names vastly outnumber ``and``/``or``).
    """
    clean = normalise_source(source)
    sites = _sites(clean, kinds, scope)
    available = [kind for kind in kinds if any(s.kind == kind for s in sites)]
    for kind in rng.sample(available, len(available)):
        made = _first_success(clean, [s for s in sites if s.kind == kind], rng, 1, set())
        if made:
            return made[0]
    return None

