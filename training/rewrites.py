"""Semantics-preserving variants of Python code: positives for the contrastive embedding loss.

Owns four rewrites that keep behaviour: consistent renaming of a function's local variables and
parameters, swapping adjacent independent assignments, removing docstrings, and re-laying out the code
(indentation width, blank lines). Leaves to others: bug-introducing rewrites (training/mutations.py)
and pairing variants with anchors and hard negatives (training/datasets.py).

Every rewrite is conservative. Renaming skips a function that calls ``locals``/``vars``/``eval``/
``exec``, and any name that is declared global/nonlocal, bound by an import, a nested ``def``/``class``
or a comprehension, or seen inside a nested function, lambda or class (closures). Default values,
decorators and annotations run in the enclosing scope and are left alone. ``self``/``cls`` keep their
names. Statements are swapped only when both are plain assignments to distinct names, free of calls,
awaits, yields and walruses, and neither reads what the other writes.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import random
import tokenize
from collections.abc import Iterator

__all__ = [
    "relayout",
    "remove_docstrings",
    "rename_locals",
    "semantic_variants",
    "swap_independent_statements",
]

_FRESH_NAMES = (
    "value", "item", "result", "count", "index", "data", "temp", "acc", "elem", "key", "node", "arg",
    "buf", "total", "current", "entry", "obj", "part", "piece", "state", "token", "target", "other",
    "first", "second", "left", "right", "size", "pos", "res", "out", "tmp", "val", "x", "y", "z", "k",
)  # fmt: skip
_DYNAMIC_SCOPE_CALLS = frozenset({"locals", "vars", "eval", "exec", "globals", "dir"})
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_KEPT_PARAMETERS = frozenset({"self", "cls"})


# --- renaming --------------------------------------------------------------------------------------


def _own_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function's body in its own scope (comprehensions included, nested defs excluded)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _NESTED_SCOPES):
            continue
        yield child
        yield from _own_scope(child)


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    a = function.args
    extras = [x for x in (a.vararg, a.kwarg) if x is not None]
    return [*a.posonlyargs, *a.args, *a.kwonlyargs, *extras]


def _pattern_names(node: ast.AST) -> set[str]:
    """Names a ``match`` pattern binds (strings on the pattern nodes, not ``Name`` nodes)."""
    names = {getattr(node, "name", None), getattr(node, "rest", None)}
    return {n for n in names if isinstance(n, str)}


def _names_in(node: ast.AST) -> set[str]:
    """Every identifier a nested scope mentions or binds: those may be closures over our locals."""
    names = {getattr(node, "name", None)}
    for inner in ast.walk(node):
        names.add(inner.id if isinstance(inner, ast.Name) else getattr(inner, "arg", None))
    return {n for n in names if isinstance(n, str)}


def _unsafe_names(function: ast.FunctionDef | ast.AsyncFunctionDef, body: list[ast.AST]) -> set[str]:
    """Names that must keep their spelling: see the module docstring."""
    unsafe: set[str] = set(_KEPT_PARAMETERS)
    for node in body:
        if isinstance(node, ast.Global | ast.Nonlocal):
            unsafe.update(node.names)
        elif isinstance(node, ast.alias):
            unsafe.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.comprehension | ast.NamedExpr):
            unsafe.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.pattern):
            unsafe.update(_pattern_names(node))
    for statement in function.body:
        for nested in ast.walk(statement):
            if isinstance(nested, _NESTED_SCOPES):
                unsafe.update(_names_in(nested))
    return unsafe


def _uses_dynamic_scope(body: list[ast.AST]) -> bool:
    calls = (node.func for node in body if isinstance(node, ast.Call))
    return any(isinstance(func, ast.Name) and func.id in _DYNAMIC_SCOPE_CALLS for func in calls)


def _fresh_name(taken: set[str], rng: random.Random) -> str:
    base = rng.choice(_FRESH_NAMES)
    candidate, suffix = base, 1
    while candidate in taken or keyword.iskeyword(candidate) or hasattr(builtins, candidate):
        suffix += 1
        candidate = f"{base}{suffix}"
    taken.add(candidate)
    return candidate


def _rename_function(
    function: ast.FunctionDef | ast.AsyncFunctionDef, taken: set[str], rng: random.Random
) -> bool:
    """Rename the locals of one function in place; True when anything changed."""
    body = [n for statement in function.body for n in (statement, *_own_scope(statement))]
    if _uses_dynamic_scope(body):
        return False
    unsafe = _unsafe_names(function, body)
    locals_ = {a.arg for a in _parameters(function)}
    locals_.update(n.id for n in body if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    locals_.update(n.name for n in body if isinstance(n, ast.ExceptHandler) and n.name)
    renamable = sorted(locals_ - unsafe)
    if not renamable:
        return False
    chosen = rng.sample(renamable, rng.randint(1, len(renamable)))
    mapping = {old: _fresh_name(taken, rng) for old in chosen}
    for parameter in _parameters(function):
        parameter.arg = mapping.get(parameter.arg, parameter.arg)
    for node in body:
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
        elif isinstance(node, ast.ExceptHandler) and node.name in mapping:
            node.name = mapping[node.name]
    return True


def _all_identifiers(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        for field in ("id", "arg", "name", "attr", "asname"):
            value = getattr(node, field, None)
            if isinstance(value, str):
                names.add(value)
    return names


def rename_locals(tree: ast.Module, rng: random.Random) -> bool:
    """Consistently rename some locals/parameters of every function in ``tree`` (in place)."""
    taken = _all_identifiers(tree)
    changed = False
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            changed |= _rename_function(node, taken, rng)
    return changed


# --- reordering ------------------------------------------------------------------------------------

_PURE_EXPRESSIONS = (
    ast.Constant, ast.Name, ast.Load, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.BinOp, ast.UnaryOp,
    ast.BoolOp, ast.Compare, ast.Attribute, ast.Subscript, ast.Slice, ast.IfExp, ast.operator,
    ast.unaryop, ast.boolop, ast.cmpop, ast.expr_context,
)  # fmt: skip


def _assignment_names(statement: ast.stmt) -> tuple[set[str], set[str]] | None:
    """(written, read) names of a side-effect-free ``name = expr``, else None."""
    if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
        return None
    target = statement.targets[0]
    if not isinstance(target, ast.Name):
        return None
    if not all(isinstance(n, _PURE_EXPRESSIONS) for n in ast.walk(statement.value)):
        return None
    read = {n.id for n in ast.walk(statement.value) if isinstance(n, ast.Name)}
    return {target.id}, read


def _independent(first: ast.stmt, second: ast.stmt) -> bool:
    a, b = _assignment_names(first), _assignment_names(second)
    if a is None or b is None:
        return False
    (written_a, read_a), (written_b, read_b) = a, b
    return not (written_a & written_b or written_a & read_b or written_b & read_a)


def swap_independent_statements(tree: ast.Module, rng: random.Random) -> bool:
    """Swap one pair of adjacent independent assignments (in place); True when one was found."""
    pairs: list[tuple[list[ast.stmt], int]] = []
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                swappable = (i for i in range(len(block) - 1) if _independent(block[i], block[i + 1]))
                pairs.extend((block, i) for i in swappable)
    if not pairs:
        return False
    block, i = rng.choice(pairs)
    block[i], block[i + 1] = block[i + 1], block[i]
    return True


# --- docstrings and layout -------------------------------------------------------------------------


def remove_docstrings(tree: ast.Module) -> bool:
    """Drop docstrings of the module, classes and functions (unless it is the only statement)."""
    changed = False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if (
            len(body) > 1
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            del body[0]
            changed = True
    return changed


def _lines_inside_strings(source: str) -> set[int]:
    """1-based lines that start inside a multi-line string token: their indentation is content."""
    inside: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            inside.update(range(token.start[0] + 1, token.end[0] + 1))
    return inside


def relayout(source: str, *, indent: int = 2, blank_after_blocks: bool = False) -> str:
    """Re-indent ``ast.unparse`` output (4 spaces per level) to ``indent`` spaces; same program."""
    protected = _lines_inside_strings(source)
    out: list[str] = []
    for number, line in enumerate(source.splitlines(), start=1):
        if number in protected:
            out.append(line)
            continue
        stripped = line.lstrip(" ")
        level = (len(line) - len(stripped)) // 4
        if blank_after_blocks and out and level == 0 and stripped and out[-1] != "":
            out.append("")
        out.append(" " * (indent * level) + stripped)
    return "\n".join(out) + "\n"


# --- variants --------------------------------------------------------------------------------------


def _variant(source: str, rng: random.Random) -> str:
    tree = ast.parse(source)
    changed = False
    if rng.random() < 0.8:
        changed |= rename_locals(tree, rng)
    if rng.random() < 0.5:
        changed |= swap_independent_statements(tree, rng)
    if rng.random() < 0.5:
        changed |= remove_docstrings(tree)
    if not changed:
        changed = (
            rename_locals(tree, rng) or swap_independent_statements(tree, rng) or remove_docstrings(tree)
        )
    text = ast.unparse(tree)
    if not changed or rng.random() < 0.5:
        text = relayout(text, indent=rng.choice((2, 3, 8)), blank_after_blocks=rng.random() < 0.5)
    return text


def semantic_variants(source: str, *, rng: random.Random, n: int = 3) -> list[str]:
    """Up to ``n`` distinct variants of ``source`` that behave the same, each differing from it.

    Fewer come back when the code offers too little to rewrite (e.g. no locals, nothing to reorder).
    """
    original = ast.unparse(ast.parse(source))
    seen = {original, source}
    variants: list[str] = []
    for _ in range(4 * n):
        candidate = _variant(original, rng)
        if candidate not in seen:
            seen.add(candidate)
            variants.append(candidate)
            if len(variants) == n:
                break
    return variants
