"""Python AST -> code units: one pass that gives every AST node to its innermost unit.

A *unit* is a graph node: the module (the whole source), each class, each function and method. The
walk is iterative, touches each AST node once and, on the hot path, only appends integers (dimension
indices of `model.layout`) and records the names, operators and definitions each unit holds. Turning
units into vectors is `model.features`'; edges are `model.graph`'s.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from model.hashing import (
    BUILTIN_NAMES,
    CACHE_LIMIT,
    H_CALLARG,
    H_CALLEE,
    H_CONTROL,
    H_FIRST,
    H_IDENT,
    H_IMPORTED,
    H_LAST,
    H_OPCTX,
    H_PARENT_CHILD,
    H_ROLE,
    H_STMT_BIGRAM,
    H_STMT_CHILD,
    H_STMT_DEPTH,
    Memo,
    subtokens,
)
from model.layout import span

__all__ = ["KINDS", "RAW", "RAW_MAX", "RAW_NAMES", "SourceContext", "Unit", "scan_units"]

# ---------------------------------------------------------------- AST type tables

# Written out, not read from `vars(ast)`, so the layout does not move when Python adds node types.
_STRUCTURAL_TYPE_NAMES = (
    # statements (27)
    "FunctionDef", "AsyncFunctionDef", "ClassDef", "Return", "Delete", "Assign", "AugAssign", "AnnAssign",
    "For", "AsyncFor", "While", "If", "With", "AsyncWith", "Match", "Raise", "Try", "TryStar", "Assert",
    "Import", "ImportFrom", "Global", "Nonlocal", "Expr", "Pass", "Break", "Continue",
    # expressions (27)
    "BoolOp", "NamedExpr", "BinOp", "UnaryOp", "Lambda", "IfExp", "Dict", "Set", "ListComp", "SetComp",
    "DictComp", "GeneratorExp", "Await", "Yield", "YieldFrom", "Compare", "Call", "FormattedValue",
    "JoinedStr", "Constant", "Attribute", "Subscript", "Starred", "Name", "List", "Tuple", "Slice",
    # helpers (8) and patterns (8)
    "ExceptHandler", "arguments", "arg", "keyword", "alias", "comprehension", "withitem", "match_case",
    "MatchValue", "MatchSingleton", "MatchSequence", "MatchMapping", "MatchClass", "MatchStar", "MatchAs",
    "MatchOr",
)
_STRUCTURAL_TYPES: tuple[type, ...] = tuple(getattr(ast, name) for name in _STRUCTURAL_TYPE_NAMES)
_TYPE_SPAN = span("ast_node_types")
assert len(_STRUCTURAL_TYPES) <= _TYPE_SPAN.size, len(_STRUCTURAL_TYPES)
TYPE_DIM: dict[type, int] = {t: _TYPE_SPAN.start + i for i, t in enumerate(_STRUCTURAL_TYPES)}

_SKIP_FIELDS = frozenset({"ctx", "op", "ops", "type_comment", "kind", "id", "attr", "arg", "module",
                          "level", "asname", "conversion", "is_async", "simple"})
_LEAVES = (ast.Name, ast.Constant, ast.Pass, ast.Break, ast.Continue, ast.Global, ast.Nonlocal, ast.alias)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {t: () for t in _LEAVES}


def _child_fields(t: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(t)
    if fields is None:
        names: tuple[str, ...] = t._fields  # type: ignore[attr-defined]
        fields = _CHILD_FIELDS[t] = tuple(reversed([f for f in names if f not in _SKIP_FIELDS]))
    return fields


_STMT_DEPTH_DIMS = Memo(lambda key: H_STMT_DEPTH[f"{key[0].__name__}@{key[1]}"])
_STMT_CHILD_DIMS = Memo(lambda key: H_STMT_CHILD[key[0].__name__ + ":" + key[1]])
_OPCTX_DIMS = Memo(lambda key: H_OPCTX[f"{key[0]} {key[1]} {key[2]}"])


class _ChildDims(dict):
    """child type -> its dimension in the `ast_parent_child` range under one parent type, memoised."""

    def __init__(self, parent: type) -> None:
        super().__init__()
        self.parent = parent.__name__ + ">"

    def __missing__(self, child: type) -> int:
        dim: int = H_PARENT_CHILD[self.parent + child.__name__]
        self[child] = dim
        return dim


class _ParentChild(dict):
    """parent type -> its `_ChildDims` (a table per parent: no (parent, child) tuple per AST node)."""

    def __missing__(self, parent: type) -> _ChildDims:
        row = self[parent] = _ChildDims(parent)
        return row


_PARENT_CHILD = _ParentChild()


_OPERATORS: tuple[type, ...] = (
    ast.Add, ast.Sub, ast.Mult, ast.MatMult, ast.Div, ast.Mod, ast.Pow, ast.LShift, ast.RShift,
    ast.BitOr, ast.BitXor, ast.BitAnd, ast.FloorDiv,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn,
    ast.And, ast.Or,
    ast.Invert, ast.Not, ast.UAdd, ast.USub,
)
_OP_SPAN = span("operators")
OP_DIM: dict[type, int] = {t: _OP_SPAN.start + i for i, t in enumerate(_OPERATORS)}
OP_SYMBOL: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.MatMult: "@", ast.Div: "/", ast.Mod: "%",
    ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
    ast.FloorDiv: "//", ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
    ast.GtE: ">=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.And: "and",
    ast.Or: "or", ast.Invert: "~", ast.Not: "not", ast.UAdd: "+u", ast.USub: "-u",
}

_BRANCHES = (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler, ast.With,
             ast.AsyncWith, ast.Assert, ast.comprehension, ast.match_case)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_CONTROL = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.TryStar, ast.With, ast.AsyncWith,
            ast.Match, ast.ExceptHandler)
_UNIT_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_TERMINAL = (ast.Return, ast.Raise, ast.Continue, ast.Break)
_BLOCK_FIELDS = ("body", "orelse", "finalbody")
_MUTABLE_DEFAULTS = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)

KINDS = ("module", "class", "function", "method", "async_function", "async_method", "nested_function",
         "decorated_method")

# ---------------------------------------------------------------- raw statistics

# Raw per-unit statistics: summed over units for the module node, except the maxima.
RAW_NAMES = (
    # shape
    "statements", "params", "posonly", "kwonly", "varargs", "kwargs", "defaults", "annotated_params",
    "decorators", "body_len", "child_units", "returns", "yields", "raises", "docstring", "depth_max",
    "depth_sum", "nodes", "bases", "methods", "awaits", "return_annotation", "docstring_chars",
    # complexity
    "branches", "nested_branches", "nesting_max", "ifs", "loops", "tries", "handlers", "withs",
    "boolops", "comprehensions", "lambdas", "operators_total", "operands_total",
    # dependency
    "imports", "from_imports", "relative_imports", "star_imports",
    # quality
    "bare_except", "broad_except", "empty_except", "passes", "mutable_defaults", "none_eq", "is_literal",
    "shadowed_builtins", "global_stmts", "prints", "asserts", "magic_numbers", "unreachable",
    "valued_returns", "bare_returns", "percent_format", "format_calls", "fstrings", "range_len",
    "len_zero", "recursion", "eval_exec", "deletes",
    # temporal
    "early_returns", "first_loop_line", "first_return_line", "after_last_return", "try_before_return",
)
RAW = {name: i for i, name in enumerate(RAW_NAMES)}
RAW_MAX = frozenset({RAW["depth_max"], RAW["nesting_max"]})
_NODES, _DEPTH_SUM, _DEPTH_MAX = RAW["nodes"], RAW["depth_sum"], RAW["depth_max"]


@dataclass(slots=True)
class Unit:
    """One graph node's worth of code: identity, position, and what the walk collected."""

    name: str
    kind: str
    line: int
    column: int
    end_line: int
    parent: int
    unit_depth: int
    class_name: str = ""
    decorators: list[str] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    raw: list[float] = field(default_factory=lambda: [0.0] * len(RAW_NAMES))
    params: list[str] = field(default_factory=list)
    stores: dict[str, list[int]] = field(default_factory=dict)
    loads: dict[str, list[int]] = field(default_factory=dict)
    attr_chains: list[tuple[str, str]] = field(default_factory=list)
    callees: set[str] = field(default_factory=set)
    self_calls: set[str] = field(default_factory=set)
    self_attr_reads: set[str] = field(default_factory=set)
    self_attr_writes: set[str] = field(default_factory=set)
    global_writes: set[str] = field(default_factory=set)
    loop_spans: list[tuple[int, int]] = field(default_factory=list)
    ident_sequence: list[str] = field(default_factory=list)
    node_count: int = 0
    depth_sum: int = 0
    depth_max: int = 0
    operator_kinds: set[str] = field(default_factory=set)
    operand_kinds: set[str] = field(default_factory=set)
    self_ops: int = 0
    uses_self: bool = False
    uses_super: bool = False
    children: list[int] = field(default_factory=list)


# ---------------------------------------------------------------- the walk


def _shape(node: Any) -> str:
    """A coarse, name-aware description of an operand, for operator-in-context features."""
    t = type(node)
    if t is ast.Name:
        return "n:" + subtokens(node.id)[-1]
    if t is ast.Constant:
        v = node.value
        if isinstance(v, bool) or v is None:
            return f"c:{v}"
        if isinstance(v, int):
            return f"i:{v}" if -1000 < v < 1000 else "i:big"
        return "c:" + type(v).__name__
    if t is ast.Call:
        f = node.func
        if type(f) is ast.Name:
            return "f:" + f.id
        if type(f) is ast.Attribute:
            return "m:" + f.attr
        return "call"
    if t is ast.Attribute:
        return "a:" + subtokens(node.attr)[-1]
    if t is ast.UnaryOp and type(node.operand) is ast.Constant:
        return "neg"
    return t.__name__


def _constant_dim(value: object, start: int) -> int:
    if value is None:
        return start + 12
    if value is True:
        return start + 13
    if value is False:
        return start + 14
    if value is Ellipsis:
        return start + 15
    if isinstance(value, int):
        return start + {0: 0, 1: 1, -1: 2, 2: 3}.get(value, 4 if -100 < value < 100 else 5)
    if isinstance(value, float | complex):
        return start + 6
    if isinstance(value, bytes):
        return start + 11
    if isinstance(value, str):
        if not value:
            return start + 7
        if "{" in value and "}" in value:
            return start + 18
        if value.isdigit():
            return start + 19
        return start + (8 if len(value) <= 20 else 9)
    return start + 16


_CONST_START = span("constant_kinds").start


class _Scanner:
    """Walks one module's AST once and fills a list of `Unit`s."""

    def __init__(self, tree: ast.Module, source: str) -> None:
        self.tree = tree
        self.lines = source.splitlines()
        total = len(self.lines) or 1
        self.units: list[Unit] = [Unit("<module>", "module", 1, 1, total, -1, 0)]
        self.available_imports: list[str] = []
        self.imported_modules: set[str] = set()
        self.module_defs: list[str] = []

    # -- driver

    def run(self) -> list[Unit]:
        units = self.units
        type_table = _TYPE_TABLE
        load_bags, store_bags = _LOAD_BAGS, _STORE_BAGS
        name_type, load_type = ast.Name, ast.Load
        AST = ast.AST
        stack: list[tuple[Any, int, int, int, str]] = [(self.tree, 0, 0, 0, "")]
        while stack:
            node, u, depth, nest, ctrl = stack.pop()
            t = type(node)
            unit = units[u]
            unit.node_count += 1
            unit.depth_sum += depth
            if depth > unit.depth_max:
                unit.depth_max = depth
            if t is name_type:  # a quarter of all nodes: handled inline
                name: str = node.id
                unit.ident_sequence.append(name)
                unit.operand_kinds.add(name)
                position = node.lineno * 1000 + node.col_offset
                if type(node.ctx) is load_type:
                    unit.counts.extend(load_bags[name])
                    seen = unit.loads.get(name)
                    if seen is None:
                        unit.loads[name] = [position]
                    else:
                        seen.append(position)
                    if name == "self":
                        unit.uses_self = True
                else:
                    unit.counts.extend(store_bags[name])
                    _store(unit, name, position)
                continue
            dim, handler, fields, child_dims = type_table[t]
            if dim >= 0:
                unit.counts.append(dim)
            if handler is not None:
                result = handler(self, node, unit, u, depth, nest, ctrl)
                if result is not None:
                    u, nest, ctrl = result
                    unit = units[u]
            if not fields:
                continue
            depth += 1
            counts = unit.counts
            for fname in fields:  # reversed field order, reversed lists: children pop in source order
                value = getattr(node, fname, None)
                if type(value) is list:
                    for child in reversed(value):
                        if isinstance(child, AST):
                            counts.append(child_dims[type(child)])
                            stack.append((child, u, depth, nest, ctrl))
                elif isinstance(value, AST):
                    counts.append(child_dims[type(value)])
                    stack.append((value, u, depth, nest, ctrl))
        for unit in units:
            unit.raw[_NODES] = unit.node_count
            unit.raw[_DEPTH_SUM] = unit.depth_sum
            unit.raw[_DEPTH_MAX] = unit.depth_max
        return units

    # -- helpers used by handlers

    def new_unit(self, node: Any, parent: int, kind: str, class_name: str) -> int:
        p = self.units[parent]
        unit = Unit(
            name=getattr(node, "name", "<lambda>"),
            kind=kind,
            line=node.lineno,
            column=node.col_offset + 1,
            end_line=getattr(node, "end_lineno", node.lineno) or node.lineno,
            parent=parent,
            unit_depth=p.unit_depth + 1,
            class_name=class_name,
        )
        self.units.append(unit)
        index = len(self.units) - 1
        p.children.append(index)
        p.raw[RAW["child_units"]] += 1
        return index

    def statement(self, node: Any, unit: Unit, nest: int) -> None:
        """Bookkeeping every statement shares: counts by depth and its first expression child."""
        raw = unit.raw
        raw[RAW["statements"]] += 1
        if nest > raw[RAW["nesting_max"]]:
            raw[RAW["nesting_max"]] = nest
        t = type(node)
        counts = unit.counts
        counts.append(_NEST_START + min(nest, 9))
        counts.append(_STMT_DEPTH_DIMS[t, min(nest, 6)])
        counts.append(_STMT_CHILD_DIMS[t, _first_expr_child(node)])

    def block(self, statements: list[ast.stmt], unit: Unit) -> None:
        """Order within one block: bigrams of statement types and unreachable statements."""
        prev = "<start>"
        terminated = False
        counts = unit.counts
        for stmt in statements:
            tname = type(stmt).__name__
            counts.append(H_STMT_BIGRAM[prev + ">" + tname])
            if terminated:
                unit.raw[RAW["unreachable"]] += 1
            if isinstance(stmt, _TERMINAL):
                terminated = True
            prev = tname

    def note_module(self, dotted: str) -> None:
        """Record an imported module and its parents (`import a.b` imports a and a.b)."""
        parts = dotted.split(".")
        self.imported_modules.update(".".join(parts[: i + 1]) for i in range(len(parts)))

    def name_role(self, unit: Unit, name: str, role: str) -> None:
        unit.counts.append(H_ROLE[subtokens(name)[-1] + "@" + role])


_NEST_START = span("nesting_histogram").start


def _first_expr_child(node: ast.stmt) -> str:
    for fname in _child_fields(type(node)):
        value = getattr(node, fname, None)
        if isinstance(value, ast.expr):
            return _shape(value) if type(value) is ast.Call else type(value).__name__
        if type(value) is list and value and isinstance(value[0], ast.expr):
            return type(value[0]).__name__
    return "-"


def _docstring_of(body: list[ast.stmt]) -> str | None:
    if body and type(body[0]) is ast.Expr:
        value = body[0].value
        if type(value) is ast.Constant and isinstance(value.value, str):
            return value.value
    return None


# ---------------------------------------------------------------- handlers


def _on_module(s: _Scanner, node: ast.Module, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    s.block(node.body, unit)
    doc = _docstring_of(node.body)
    if doc is not None:
        unit.raw[RAW["docstring"]] += 1
        unit.raw[RAW["docstring_chars"]] += len(doc)
    stmt: Any
    for stmt in node.body:
        t = type(stmt)
        if t in _UNIT_DEFS:
            s.module_defs.append(stmt.name)
        elif t is ast.Assign:
            for target in stmt.targets:
                if type(target) is ast.Name:
                    s.module_defs.append(target.id)
    return None


def _on_def(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    s.statement(node, unit, nest)
    t = type(node)
    if t is ast.ClassDef:
        kind, class_name = "class", node.name
    else:
        is_async = t is ast.AsyncFunctionDef
        if unit.kind == "class":
            decorated = any(_decorator_name(d) in ("property", "staticmethod", "classmethod")
                            for d in node.decorator_list)
            kind = "decorated_method" if decorated else ("async_method" if is_async else "method")
        elif unit.kind == "module" and not _first_param_is_self(node):
            kind = "async_function" if is_async else "function"
        elif unit.kind == "module":  # a method lifted out of its class, as editors often send them
            kind = "async_method" if is_async else "method"
        else:
            kind = "nested_function"
        class_name = unit.class_name
    index = s.new_unit(node, u, kind, class_name)
    new = s.units[index]
    new.decorators = [_decorator_name(d) for d in node.decorator_list]
    new.raw[RAW["decorators"]] = len(node.decorator_list)
    new.raw[RAW["body_len"]] = len(node.body)
    if t is ast.ClassDef:
        new.bases = [_dotted(b) for b in node.bases]
        new.raw[RAW["bases"]] = len(node.bases)
        new.raw[RAW["methods"]] = sum(type(b) in (ast.FunctionDef, ast.AsyncFunctionDef) for b in node.body)
    else:
        if unit.kind == "class":
            new.bases = list(unit.bases)
        if node.returns is not None:
            new.raw[RAW["return_annotation"]] = 1
        _function_order(new, node)
    doc = _docstring_of(node.body)
    if doc is not None:
        new.raw[RAW["docstring"]] = 1
        new.raw[RAW["docstring_chars"]] = len(doc)
    s.block(node.body, new)
    return index, 0, ""


def _first_param_is_self(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    args = node.args.posonlyargs or node.args.args
    return bool(args) and args[0].arg in ("self", "cls")


def _function_order(unit: Unit, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    """Temporal features of the body: first/last statement, early returns, what follows the last return."""
    body = node.body[1:] if _docstring_of(node.body) is not None else node.body
    if not body:
        return
    unit.counts.append(H_FIRST[type(body[0]).__name__])
    unit.counts.append(H_LAST[type(body[-1]).__name__])
    span_lines = max(1, (node.end_lineno or node.lineno) - node.lineno)
    raw = unit.raw
    first_loop = first_return = None
    last_return_index = -1
    tries_before_return = 0
    for i, stmt in enumerate(body):
        t = type(stmt)
        if first_loop is None and t in _LOOPS:
            first_loop = stmt.lineno
        if t is ast.Return:
            last_return_index = i
            if first_return is None:
                first_return = stmt.lineno
        if t in (ast.Try, ast.TryStar) and first_return is None:
            tries_before_return += 1
    if first_loop is not None:
        raw[RAW["first_loop_line"]] = (first_loop - node.lineno) / span_lines
    if first_return is not None:
        raw[RAW["first_return_line"]] = (first_return - node.lineno) / span_lines
    if last_return_index >= 0:
        raw[RAW["after_last_return"]] = len(body) - 1 - last_return_index
    raw[RAW["try_before_return"]] = tries_before_return


def _decorator_name(node: ast.expr) -> str:
    if type(node) is ast.Call:
        node = node.func
    return _dotted(node)


def _dotted(node: ast.expr) -> str:
    parts = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is ast.Name:
        parts.append(node.id)
    elif not parts:
        return type(node).__name__
    return ".".join(reversed(parts))


def _on_arguments(s: _Scanner, node: ast.arguments, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    raw = unit.raw
    all_args = [*node.posonlyargs, *node.args, *node.kwonlyargs]
    if node.vararg:
        all_args.append(node.vararg)
        raw[RAW["varargs"]] += 1
    if node.kwarg:
        all_args.append(node.kwarg)
        raw[RAW["kwargs"]] += 1
    raw[RAW["params"]] += len(all_args)
    raw[RAW["posonly"]] += len(node.posonlyargs)
    raw[RAW["kwonly"]] += len(node.kwonlyargs)
    defaults = [*node.defaults, *(d for d in node.kw_defaults if d is not None)]
    raw[RAW["defaults"]] += len(defaults)
    raw[RAW["mutable_defaults"]] += sum(type(d) in _MUTABLE_DEFAULTS for d in defaults)
    for a in all_args:
        unit.params.append(a.arg)
        if a.annotation is not None:
            raw[RAW["annotated_params"]] += 1
        if a.arg in BUILTIN_NAMES:
            raw[RAW["shadowed_builtins"]] += 1
        s.name_role(unit, a.arg, "param")
        unit.ident_sequence.append(a.arg)
    return None


def _store(unit: Unit, name: str, position: int) -> None:
    """A name bound by assignment, loop target, `with ... as`, ... (the rarer half of Name nodes)."""
    unit.stores.setdefault(name, []).append(position)
    if unit.kind == "module":
        unit.global_writes.add(name)
    if name in BUILTIN_NAMES:
        unit.raw[RAW["shadowed_builtins"]] += 1


class _NameBags(dict):
    """name -> every dimension a Name node in one context adds: its node type, its subtokens, and its
    (last subtoken, role) pair; memoised, as names repeat within and across requests."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def __missing__(self, name: str) -> tuple[int, ...]:
        if len(self) > CACHE_LIMIT:
            self.clear()
        tokens = subtokens(name)
        bag = (_NAME_DIM, *(H_IDENT[token] for token in tokens), H_ROLE[tokens[-1] + "@" + self.role])
        self[name] = bag
        return bag


_NAME_DIM = TYPE_DIM[ast.Name]
_LOAD_BAGS = _NameBags("load")
_STORE_BAGS = _NameBags("store")


class _TypeTable(dict):
    """AST node type -> (its count dimension or -1, its handler or None, child fields, child dimensions):
    everything the walk needs of a type, in one lookup per node."""

    def __missing__(self, t: type) -> tuple[int, Any, tuple[str, ...], _ChildDims]:
        entry = (TYPE_DIM.get(t, -1), _HANDLERS.get(t), _child_fields(t), _PARENT_CHILD[t])
        self[t] = entry
        return entry


_TYPE_TABLE = _TypeTable()


def _on_attribute(s: _Scanner, node: ast.Attribute, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    for token in subtokens(node.attr):
        unit.counts.append(H_IDENT[token])
    unit.ident_sequence.append(node.attr)
    base = node.value
    if type(base) is ast.Name:
        if base.id in ("self", "cls"):
            if type(node.ctx) is ast.Load:
                unit.self_attr_reads.add(node.attr)
            else:
                unit.self_attr_writes.add(node.attr)
        else:
            unit.attr_chains.append((base.id, node.attr))
        s.name_role(unit, base.id, "attr_base")
    return None


def _on_call(s: _Scanner, node: ast.Call, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    func = node.func
    raw = unit.raw
    if type(func) is ast.Name:
        callee = func.id
        unit.callees.add(callee)
        s.name_role(unit, callee, "call")
        if callee == "print":
            raw[RAW["prints"]] += 1
        elif callee in ("eval", "exec"):
            raw[RAW["eval_exec"]] += 1
        elif callee == "range" and node.args and type(node.args[-1]) is ast.Call:
            inner = node.args[-1].func
            if type(inner) is ast.Name and inner.id == "len":
                raw[RAW["range_len"]] += 1
        elif callee == "super":
            unit.uses_super = True
        if callee == unit.name:
            raw[RAW["recursion"]] += 1
    elif type(func) is ast.Attribute:
        callee = func.attr
        if type(func.value) is ast.Name and func.value.id in ("self", "cls"):
            unit.self_calls.add(callee)
        if callee == "format" and type(func.value) is ast.Constant:
            raw[RAW["format_calls"]] += 1
    else:
        callee = type(func).__name__
    counts = unit.counts
    counts.append(H_CALLEE[callee])
    for i, arg in enumerate(node.args[:6]):
        shape = _shape(arg)
        counts.append(H_CALLARG[f"{callee}#{i}:{shape}"])
        if type(arg) is ast.Name:
            s.name_role(unit, arg.id, "argument")
    for kw in node.keywords:
        if kw.arg is not None:
            counts.append(H_CALLARG[f"{callee}#{kw.arg}:{_shape(kw.value)}"])
    return None


def _operator(unit: Unit, op: ast.AST, left: ast.AST, right: ast.AST | None) -> None:
    counts = unit.counts
    t = type(op)
    counts.append(OP_DIM[t])
    symbol = OP_SYMBOL[t]
    unit.operator_kinds.add(symbol)
    counts.append(_OPCTX_DIMS[_shape(left), symbol, _shape(right) if right is not None else "-"])
    raw = unit.raw
    raw[RAW["operators_total"]] += 1
    if right is not None and type(left) is ast.Name and type(right) is ast.Name and left.id == right.id:
        unit.self_ops += 1


def _on_binop(s: _Scanner, node: ast.BinOp, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    _operator(unit, node.op, node.left, node.right)
    if type(node.op) is ast.Mod and type(node.left) is ast.Constant and isinstance(node.left.value, str):
        unit.raw[RAW["percent_format"]] += 1
    return None


def _on_augassign(s: _Scanner, node: ast.AugAssign, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    s.statement(node, unit, nest)
    _operator(unit, node.op, node.target, node.value)
    target = node.target
    if type(target) is ast.Name:
        # `x += 1` reads x before it writes it.
        unit.loads.setdefault(target.id, []).append(target.lineno * 1000 + target.col_offset)
    return None


def _on_compare(s: _Scanner, node: ast.Compare, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    left = node.left
    raw = unit.raw
    for op, right in zip(node.ops, node.comparators, strict=False):
        _operator(unit, op, left, right)
        t = type(op)
        if t in (ast.Eq, ast.NotEq) and type(right) is ast.Constant and right.value is None:
            raw[RAW["none_eq"]] += 1
        if t in (ast.Is, ast.IsNot) and type(right) is ast.Constant and right.value not in (None, True, False):
            raw[RAW["is_literal"]] += 1
        if (t in (ast.Eq, ast.NotEq) and type(right) is ast.Constant and right.value == 0
                and type(left) is ast.Call and type(left.func) is ast.Name and left.func.id == "len"):
            raw[RAW["len_zero"]] += 1
        for side in (left, right):
            if type(side) is ast.Name:
                s.name_role(unit, side.id, "compared")
        left = right
    return None


def _on_boolop(s: _Scanner, node: ast.BoolOp, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[RAW["boolops"]] += len(node.values) - 1
    for left, right in zip(node.values, node.values[1:], strict=False):
        _operator(unit, node.op, left, right)
    return None


def _on_unaryop(s: _Scanner, node: ast.UnaryOp, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    _operator(unit, node.op, node.operand, None)
    return None


def _on_constant(s: _Scanner, node: ast.Constant, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    value = node.value
    unit.counts.append(_constant_dim(value, _CONST_START))
    unit.operand_kinds.add(repr(value)[:20])
    if isinstance(value, int | float) and not isinstance(value, bool) and value not in (0, 1, -1, 2):
        unit.raw[RAW["magic_numbers"]] += 1
    return None


def _on_control(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    t = type(node)
    tname = t.__name__
    raw = unit.raw
    if t is not ast.ExceptHandler:
        s.statement(node, unit, nest)
    raw[RAW["branches"]] += 1 if t not in (ast.Try, ast.TryStar, ast.Match) else 0
    raw[RAW["nested_branches"]] += nest
    unit.counts.append(H_CONTROL[f"{ctrl or 'body'}>{tname}"])
    if t in _LOOPS:
        raw[RAW["loops"]] += 1
        unit.loop_spans.append((node.lineno * 1000, (node.end_lineno or node.lineno) * 1000 + 999))
        if t is not ast.While and type(node.iter) is ast.Name:
            s.name_role(unit, node.iter.id, "iterated")
    elif t is ast.If:
        raw[RAW["ifs"]] += 1
    elif t in (ast.Try, ast.TryStar):
        raw[RAW["tries"]] += 1
    elif t in (ast.With, ast.AsyncWith):
        raw[RAW["withs"]] += 1
    elif t is ast.ExceptHandler:
        raw[RAW["handlers"]] += 1
        if node.type is None:
            raw[RAW["bare_except"]] += 1
        elif type(node.type) is ast.Name and node.type.id in ("Exception", "BaseException"):
            raw[RAW["broad_except"]] += 1
        if all(type(b) is ast.Pass for b in node.body):
            raw[RAW["empty_except"]] += 1
    for fname in _BLOCK_FIELDS:
        block = getattr(node, fname, None)
        if block:
            s.block(block, unit)
    for handler in getattr(node, "handlers", ()):
        s.block(handler.body, unit)
    return u, nest + 1, tname


def _on_simple_statement(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    s.statement(node, unit, nest)
    t = type(node)
    raw = unit.raw
    if t is ast.Return:
        raw[RAW["returns"]] += 1
        if node.value is None:
            raw[RAW["bare_returns"]] += 1
        else:
            raw[RAW["valued_returns"]] += 1
            if type(node.value) is ast.Name:
                s.name_role(unit, node.value.id, "returned")
        if nest > 0:
            raw[RAW["early_returns"]] += 1
    elif t is ast.Raise:
        raw[RAW["raises"]] += 1
    elif t is ast.Pass:
        raw[RAW["passes"]] += 1
    elif t is ast.Assert:
        raw[RAW["asserts"]] += 1
        raw[RAW["branches"]] += 1
    elif t in (ast.Global, ast.Nonlocal):
        raw[RAW["global_stmts"]] += 1
    elif t is ast.Delete:
        raw[RAW["deletes"]] += 1
    elif t is ast.Import:
        raw[RAW["imports"]] += 1
        for alias in node.names:
            s.note_module(alias.name)
            unit.counts.append(H_IMPORTED[alias.name])
            s.available_imports.append(alias.asname or alias.name.partition(".")[0])
            unit.stores.setdefault(alias.asname or alias.name.partition(".")[0], []).append(node.lineno * 1000)
    elif t is ast.ImportFrom:
        raw[RAW["from_imports"]] += 1
        if node.level:
            raw[RAW["relative_imports"]] += 1
        elif node.module:
            s.note_module(node.module)
        unit.counts.append(H_IMPORTED["." * node.level + (node.module or "")])
        for alias in node.names:
            if alias.name == "*":
                raw[RAW["star_imports"]] += 1
                continue
            bound = alias.asname or alias.name
            s.available_imports.append(bound)
            unit.stores.setdefault(bound, []).append(node.lineno * 1000)
    return None


def _on_yield(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[RAW["yields"]] += 1
    return None


def _on_await(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[RAW["awaits"]] += 1
    return None


def _on_comprehension(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[RAW["comprehensions"]] += 1
    unit.raw[RAW["branches"]] += 1 + len(node.ifs)
    return None


def _on_lambda(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[RAW["lambdas"]] += 1
    for a in node.args.args:
        unit.stores.setdefault(a.arg, []).append(node.lineno * 1000 + node.col_offset)
    return None


def _on_joinedstr(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[RAW["fstrings"]] += 1
    unit.counts.append(_CONST_START + 10)
    return None


def _on_subscript(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    if type(node.value) is ast.Name:
        s.name_role(unit, node.value.id, "subscripted")
    return None


def _on_assign(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    s.statement(node, unit, nest)
    return None


def _on_excepthandler(s: _Scanner, node: ast.ExceptHandler, unit: Unit, u: int, depth: int, nest: int,
                      ctrl: str):
    if node.name:
        unit.stores.setdefault(node.name, []).append(node.lineno * 1000)
    return _on_control(s, node, unit, u, depth, nest, ctrl)


_HANDLERS: dict[type, Any] = {
    ast.Module: _on_module,
    ast.FunctionDef: _on_def,
    ast.AsyncFunctionDef: _on_def,
    ast.ClassDef: _on_def,
    ast.arguments: _on_arguments,
    ast.Attribute: _on_attribute,
    ast.Call: _on_call,
    ast.BinOp: _on_binop,
    ast.AugAssign: _on_augassign,
    ast.Compare: _on_compare,
    ast.BoolOp: _on_boolop,
    ast.UnaryOp: _on_unaryop,
    ast.Constant: _on_constant,
    ast.JoinedStr: _on_joinedstr,
    ast.Subscript: _on_subscript,
    ast.Yield: _on_yield,
    ast.YieldFrom: _on_yield,
    ast.Await: _on_await,
    ast.comprehension: _on_comprehension,
    ast.Lambda: _on_lambda,
    ast.ExceptHandler: _on_excepthandler,
    ast.Assign: _on_assign,
    ast.AnnAssign: _on_assign,
}
for _control in (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.TryStar, ast.With, ast.AsyncWith,
                 ast.Match):
    _HANDLERS[_control] = _on_control
for _simple in (ast.Return, ast.Raise, ast.Pass, ast.Assert, ast.Global, ast.Nonlocal, ast.Delete, ast.Import,
                ast.ImportFrom, ast.Expr, ast.Break, ast.Continue):
    _HANDLERS[_simple] = _on_simple_statement


def scan_units(tree: ast.Module, source: str) -> tuple[list[Unit], SourceContext]:
    """Walk the parsed source once; return its units (module first) and source-wide context."""
    scanner = _Scanner(tree, source)
    units = scanner.run()
    return units, SourceContext(scanner.lines, scanner.available_imports, scanner.module_defs, len(units),
                                frozenset(scanner.imported_modules))


@dataclass(slots=True)
class SourceContext:
    """What the whole source says beyond its units: lines, imports, top-level names."""

    lines: list[str]
    available_imports: list[str]
    module_defs: list[str]
    unit_count: int
    imported_modules: frozenset[str]
