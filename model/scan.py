"""Python AST -> code units: one pass that gives every AST node to its innermost unit.

A *unit* is a graph node: the module (the whole source), each class, each function and method. The
walk is iterative, touches each AST node once and, on the hot path, only appends integers (dimension
indices of `model.layout`) and records the names, operators and definitions each unit holds. Turning
units into vectors is `model.features`'; edges are `model.graph`'s.

setup.py compiles this module with mypyc (model.native tells whether it is): hence the `Final`
constants and typed locals, which compiled code reads natively. It runs as plain Python too, bit for bit.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, Final

from model.hashing import (
    BUILTIN_NAMES,
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
    Hashed,
    Memo,
    subtokens,
)
from model.layout import span

__all__ = ["KINDS", "LINE_BREAK", "MAX_PATH_ATTRIBUTES", "RAW", "RAW_MAX", "RAW_NAMES", "SourceContext", "Unit",
           "operand_shape", "repr_start", "scan_units", "source_lines"]

# ---------------------------------------------------------------- AST type tables

# The AST classes the handlers compare node types with, bound once. Final: compiled, each is a C static,
# where `ast.Name` looks `Name` up in the module's dict at every comparison.
AST: Final = ast.AST
Assert: Final = ast.Assert
Assign: Final = ast.Assign
AnnAssign: Final = ast.AnnAssign
AsyncFunctionDef: Final = ast.AsyncFunctionDef
AsyncWith: Final = ast.AsyncWith
Attribute: Final = ast.Attribute
Call: Final = ast.Call
ClassDef: Final = ast.ClassDef
Constant: Final = ast.Constant
Delete: Final = ast.Delete
Eq: Final = ast.Eq
ExceptHandler: Final = ast.ExceptHandler
Expr: Final = ast.Expr
FunctionDef: Final = ast.FunctionDef
Global: Final = ast.Global
If: Final = ast.If
Import: Final = ast.Import
ImportFrom: Final = ast.ImportFrom
Is: Final = ast.Is
IsNot: Final = ast.IsNot
Load: Final = ast.Load
Match: Final = ast.Match
Mod: Final = ast.Mod
Name: Final = ast.Name
Nonlocal: Final = ast.Nonlocal
NotEq: Final = ast.NotEq
Pass: Final = ast.Pass
Raise: Final = ast.Raise
Return: Final = ast.Return
Try: Final = ast.Try
TryStar: Final = ast.TryStar
UnaryOp: Final = ast.UnaryOp
While: Final = ast.While
With: Final = ast.With
ExprNode: Final = ast.expr  # any expression; `Expr` is the expression statement


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
_STRUCTURAL_TYPES: Final[tuple[type, ...]] = tuple(getattr(ast, name) for name in _STRUCTURAL_TYPE_NAMES)
_TYPE_SPAN: Final = span("ast_node_types")
assert len(_STRUCTURAL_TYPES) <= _TYPE_SPAN.size, len(_STRUCTURAL_TYPES)
TYPE_DIM: Final[dict[type, int]] = {t: _TYPE_SPAN.start + i for i, t in enumerate(_STRUCTURAL_TYPES)}

# Fields the walk does not descend into: identifiers and flags, and operators and contexts (their handlers read them).
_SKIP_FIELDS: Final = frozenset({"ctx", "op", "ops", "type_comment", "kind", "id", "attr", "arg", "module",
                                 "level", "asname", "conversion", "is_async", "simple", "name"})
_LEAVES: Final = (ast.Name, ast.Constant, ast.Pass, ast.Break, ast.Continue, ast.Global, ast.Nonlocal,
                  ast.alias)
_CHILD_FIELDS: Final[dict[type, tuple[str, ...]]] = {t: () for t in _LEAVES}


def _child_fields(t: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(t)
    if fields is None:
        names: tuple[str, ...] = t._fields  # type: ignore[attr-defined]
        fields = _CHILD_FIELDS[t] = tuple(reversed([f for f in names if f not in _SKIP_FIELDS]))
    return fields


_OPCTX_DIMS: Final = Memo(lambda key: H_OPCTX[f"{key[0]} {key[1]} {key[2]}"])


def _name_of(part: type | str) -> str:
    """A type's name; a string as it is."""
    return part if isinstance(part, str) else part.__name__


def _pair_table(hashed: Hashed, separator: str) -> Memo:
    """first -> second -> the dimension `hashed` gives "first<separator>second". A type stands for its
    name; keyed by types, a lookup hashes a pointer: no string or tuple is built per AST node."""

    def row(first: type | str) -> Memo:
        prefix = _name_of(first) + separator
        return Memo(lambda second: hashed[prefix + _name_of(second)])

    return Memo(row)


_PARENT_CHILD: Final = _pair_table(H_PARENT_CHILD, ">")
_STMT_BIGRAMS: Final = _pair_table(H_STMT_BIGRAM, ">")
_CONTROL_PAIRS: Final = _pair_table(H_CONTROL, ">")
_STMT_CHILD: Final = _pair_table(H_STMT_CHILD, ":")
_STMT_DEPTH: Final = Memo(lambda t: tuple(H_STMT_DEPTH[f"{t.__name__}@{depth}"] for depth in range(7)))
"""statement type -> its `statement_at_depth` dimensions at nesting 0 to 6."""


_OPERATORS: Final[tuple[type, ...]] = (
    ast.Add, ast.Sub, ast.Mult, ast.MatMult, ast.Div, ast.Mod, ast.Pow, ast.LShift, ast.RShift,
    ast.BitOr, ast.BitXor, ast.BitAnd, ast.FloorDiv,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn,
    ast.And, ast.Or,
    ast.Invert, ast.Not, ast.UAdd, ast.USub,
)
_OP_SPAN: Final = span("operators")
OP_DIM: Final[dict[type, int]] = {t: _OP_SPAN.start + i for i, t in enumerate(_OPERATORS)}
OP_SYMBOL: Final[dict[type, str]] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.MatMult: "@", ast.Div: "/", ast.Mod: "%",
    ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
    ast.FloorDiv: "//", ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
    ast.GtE: ">=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.And: "and",
    ast.Or: "or", ast.Invert: "~", ast.Not: "not", ast.UAdd: "+u", ast.USub: "-u",
}

_LOOPS: Final = (ast.For, ast.AsyncFor, ast.While)
_CONTROL: Final = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.TryStar, ast.With, ast.AsyncWith,
                   ast.Match, ast.ExceptHandler)
_UNIT_DEFS: Final = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_TERMINAL: Final = (ast.Return, ast.Raise, ast.Continue, ast.Break)
_BLOCKS: Final[dict[type, tuple[str, ...]]] = {
    t: tuple(f for f in ("body", "orelse", "finalbody") if f in t._fields)  # type: ignore[attr-defined]
    for t in _CONTROL
}
"""Each control statement's blocks of statements: only the fields its type has, so none is missing."""
_MUTABLE_DEFAULTS: Final = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)

KINDS: Final = ("module", "class", "function", "method", "async_function", "async_method", "nested_function",
                "decorated_method")

# ---------------------------------------------------------------- raw statistics

# Raw per-unit statistics: summed over units for the module node, except the maxima.
RAW_NAMES: Final = (
    # shape
    "statements", "params", "posonly", "kwonly", "varargs", "kwargs", "defaults", "annotated_params",
    "decorators", "body_len", "child_units", "returns", "yields", "raises", "docstring", "depth_max",
    "depth_sum", "nodes", "bases", "methods", "awaits", "return_annotation", "docstring_chars",
    # complexity
    "branches", "nested_branches", "nesting_max", "ifs", "loops", "tries", "handlers", "withs",
    "boolops", "comprehensions", "lambdas", "operators_total",
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
RAW: Final = {name: i for i, name in enumerate(RAW_NAMES)}
RAW_MAX: Final = frozenset({RAW["depth_max"], RAW["nesting_max"]})

# Each statistic's index in `Unit.raw`. Final: compiled, a handler's `raw[R_PASSES] += 1` reads a C constant, not
# the `RAW` dict.
R_STATEMENTS: Final = RAW["statements"]
R_PARAMS: Final = RAW["params"]
R_POSONLY: Final = RAW["posonly"]
R_KWONLY: Final = RAW["kwonly"]
R_VARARGS: Final = RAW["varargs"]
R_KWARGS: Final = RAW["kwargs"]
R_DEFAULTS: Final = RAW["defaults"]
R_ANNOTATED_PARAMS: Final = RAW["annotated_params"]
R_DECORATORS: Final = RAW["decorators"]
R_BODY_LEN: Final = RAW["body_len"]
R_CHILD_UNITS: Final = RAW["child_units"]
R_RETURNS: Final = RAW["returns"]
R_YIELDS: Final = RAW["yields"]
R_RAISES: Final = RAW["raises"]
R_DOCSTRING: Final = RAW["docstring"]
R_DEPTH_MAX: Final = RAW["depth_max"]
R_DEPTH_SUM: Final = RAW["depth_sum"]
R_NODES: Final = RAW["nodes"]
R_BASES: Final = RAW["bases"]
R_METHODS: Final = RAW["methods"]
R_AWAITS: Final = RAW["awaits"]
R_RETURN_ANNOTATION: Final = RAW["return_annotation"]
R_DOCSTRING_CHARS: Final = RAW["docstring_chars"]
R_BRANCHES: Final = RAW["branches"]
R_NESTED_BRANCHES: Final = RAW["nested_branches"]
R_NESTING_MAX: Final = RAW["nesting_max"]
R_IFS: Final = RAW["ifs"]
R_LOOPS: Final = RAW["loops"]
R_TRIES: Final = RAW["tries"]
R_HANDLERS: Final = RAW["handlers"]
R_WITHS: Final = RAW["withs"]
R_BOOLOPS: Final = RAW["boolops"]
R_COMPREHENSIONS: Final = RAW["comprehensions"]
R_LAMBDAS: Final = RAW["lambdas"]
R_OPERATORS_TOTAL: Final = RAW["operators_total"]
R_IMPORTS: Final = RAW["imports"]
R_FROM_IMPORTS: Final = RAW["from_imports"]
R_RELATIVE_IMPORTS: Final = RAW["relative_imports"]
R_STAR_IMPORTS: Final = RAW["star_imports"]
R_BARE_EXCEPT: Final = RAW["bare_except"]
R_BROAD_EXCEPT: Final = RAW["broad_except"]
R_EMPTY_EXCEPT: Final = RAW["empty_except"]
R_PASSES: Final = RAW["passes"]
R_MUTABLE_DEFAULTS: Final = RAW["mutable_defaults"]
R_NONE_EQ: Final = RAW["none_eq"]
R_IS_LITERAL: Final = RAW["is_literal"]
R_SHADOWED_BUILTINS: Final = RAW["shadowed_builtins"]
R_GLOBAL_STMTS: Final = RAW["global_stmts"]
R_PRINTS: Final = RAW["prints"]
R_ASSERTS: Final = RAW["asserts"]
R_MAGIC_NUMBERS: Final = RAW["magic_numbers"]
R_UNREACHABLE: Final = RAW["unreachable"]
R_VALUED_RETURNS: Final = RAW["valued_returns"]
R_BARE_RETURNS: Final = RAW["bare_returns"]
R_PERCENT_FORMAT: Final = RAW["percent_format"]
R_FORMAT_CALLS: Final = RAW["format_calls"]
R_FSTRINGS: Final = RAW["fstrings"]
R_RANGE_LEN: Final = RAW["range_len"]
R_LEN_ZERO: Final = RAW["len_zero"]
R_RECURSION: Final = RAW["recursion"]
R_EVAL_EXEC: Final = RAW["eval_exec"]
R_DELETES: Final = RAW["deletes"]
R_EARLY_RETURNS: Final = RAW["early_returns"]
R_FIRST_LOOP_LINE: Final = RAW["first_loop_line"]
R_FIRST_RETURN_LINE: Final = RAW["first_return_line"]
R_AFTER_LAST_RETURN: Final = RAW["after_last_return"]
R_TRY_BEFORE_RETURN: Final = RAW["try_before_return"]


@dataclass(slots=True, init=False)
class Unit:
    """One graph node's worth of code: identity, position, and what the walk collected."""

    name: str
    kind: str
    line: int
    column: int
    end_line: int
    parent: int
    unit_depth: int
    class_name: str
    decorators: list[str]
    bases: list[str]
    counts: list[int]
    raw: list[float]
    params: list[str]
    stores: dict[str, list[int]]
    loads: dict[str, list[int]]
    attr_chains: list[tuple[str, str]]
    header_end: int
    """Where the body starts (line * 1000 + column, as `loads`): a read before it is in the header
    (decorators, bases, annotations, defaults), run in the enclosing scope. 0 for the module. Like
    every position here, it is exact only on lines under 1,000 bytes (a longer line's columns spill
    into the next line's numbers)."""
    declared: list[str]
    """Each name an annotation without a value declares (`x: int`), once per such statement: in a
    module or class body it binds nothing, though the scan counts its target among the stores."""
    callees: set[str]
    self_calls: set[str]
    self_attr_reads: set[str]
    self_attr_writes: set[str]
    loop_spans: list[tuple[int, int]]
    ident_sequence: list[str]
    attribute_indices: list[int]  # where ident_sequence holds an attribute name, not a variable
    node_count: int
    depth_sum: int
    depth_max: int
    operator_kinds: set[str]
    operand_kinds: set[str]
    self_ops: int
    uses_self: bool
    uses_super: bool
    children: list[int]

    def __init__(self, name: str, kind: str, line: int, column: int, end_line: int, parent: int, unit_depth: int,
                 class_name: str = "") -> None:
        """Written out rather than generated by `dataclass`: compiled, it runs as native code, where the
        generated one stays interpreted Python, microseconds per unit."""
        self.name = name
        self.kind = kind
        self.line = line
        self.column = column
        self.end_line = end_line
        self.parent = parent
        self.unit_depth = unit_depth
        self.class_name = class_name
        self.decorators = []
        self.bases = []
        self.counts = []
        self.raw = [0.0] * len(RAW_NAMES)
        self.params = []
        self.stores = {}
        self.loads = {}
        self.attr_chains = []
        self.header_end = 0
        self.declared = []
        self.callees = set()
        self.self_calls = set()
        self.self_attr_reads = set()
        self.self_attr_writes = set()
        self.loop_spans = []
        self.ident_sequence = []
        self.attribute_indices = []
        self.node_count = 0
        self.depth_sum = 0
        self.depth_max = 0
        self.operator_kinds = set()
        self.operand_kinds = set()
        self.self_ops = 0
        self.uses_self = False
        self.uses_super = False
        self.children = []


# ---------------------------------------------------------------- the walk


def operand_shape(node: Any) -> str:
    """A coarse, name-aware description of an operand, for operator-in-context features."""
    t = type(node)
    if t is Name:
        return _NAME_SHAPES[node.id]
    if t is Constant:
        v = node.value
        if isinstance(v, bool) or v is None:
            return f"c:{v}"
        if isinstance(v, int):
            return f"i:{v}" if -1000 < v < 1000 else "i:big"
        return "c:" + type(v).__name__
    if t is Call:
        f = node.func
        if type(f) is Name:
            return "f:" + f.id
        if type(f) is Attribute:
            return "m:" + f.attr
        return "call"
    if t is Attribute:
        return _ATTRIBUTE_SHAPES[node.attr]
    if t is UnaryOp and type(node.operand) is Constant:
        return "neg"
    return t.__name__


# name -> a shape of `_shape`: a prefix and the name's last subtoken (one string object per name)
_NAME_SHAPES: Final = Memo(lambda name: "n:" + subtokens(name)[-1])
_ATTRIBUTE_SHAPES: Final = Memo(lambda name: "a:" + subtokens(name)[-1])


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


_CONST_START: Final = span("constant_kinds").start


LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")
"""Where Python's tokenizer ends a line, so where AST line numbers count from (str.splitlines also
splits at form feeds and other separators)."""

_OTHER_SEPARATORS: Final = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def source_lines(source: str) -> list[str]:
    """The source's lines without their ends, as the tokenizer counts them: AST line N is item N - 1."""
    if _OTHER_SEPARATORS.search(source) is None:
        return source.splitlines()  # the same lines, faster
    lines = LINE_BREAK.split(source)
    if lines and not lines[-1]:  # a final line end starts no line
        lines.pop()
    return lines


class _Scanner:
    """Walks one module's AST once and fills a list of `Unit`s."""

    def __init__(self, tree: ast.Module, source: str) -> None:
        self.tree = tree
        self.lines = source_lines(source)
        total = len(self.lines) or 1
        self.units: list[Unit] = [Unit("<module>", "module", 1, 1, total, -1, 0)]
        self.available_imports: list[str] = []
        self.imported_modules: set[str] = set()
        self.attribute_paths: set[tuple[str, str]] = set()
        self.module_defs: list[str] = []

    # -- driver

    def run(self) -> list[Unit]:
        units = self.units
        type_table = _TYPE_TABLE
        load_bags, store_bags = _LOAD_BAGS, _STORE_BAGS
        name_type, load_type, node_type = Name, Load, AST
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
                line: int = node.lineno
                column: int = node.col_offset
                position = line * 1000 + column
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
            entry: _TypeEntry = type_table[t]
            dim, handler, fields, child_dims = entry
            if dim is not None:
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
                    children: list[object] = value
                    for child in reversed(children):
                        if isinstance(child, node_type):
                            counts.append(child_dims[type(child)])
                            stack.append((child, u, depth, nest, ctrl))
                elif isinstance(value, node_type):
                    counts.append(child_dims[type(value)])
                    stack.append((value, u, depth, nest, ctrl))
        for unit in units:
            unit.raw[R_NODES] = unit.node_count
            unit.raw[R_DEPTH_SUM] = unit.depth_sum
            unit.raw[R_DEPTH_MAX] = unit.depth_max
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
        p.raw[R_CHILD_UNITS] += 1
        return index

    def statement(self, node: Any, unit: Unit, nest: int) -> None:
        """Bookkeeping every statement shares: counts by depth and its first expression child."""
        raw = unit.raw
        raw[R_STATEMENTS] += 1
        if nest > raw[R_NESTING_MAX]:
            raw[R_NESTING_MAX] = nest
        t = type(node)
        counts = unit.counts
        counts.append(_NEST_START + min(nest, 9))
        counts.append(_STMT_DEPTH[t][min(nest, 6)])
        counts.append(_STMT_CHILD[t][_first_expr_child(node, t)])

    def block(self, statements: list[ast.stmt], unit: Unit) -> None:
        """Order within one block: bigrams of statement types and unreachable statements."""
        bigrams = _STMT_BIGRAMS
        after = bigrams["<start>"]
        terminated = False
        counts = unit.counts
        for stmt in statements:
            t = type(stmt)
            counts.append(after[t])
            if terminated:
                unit.raw[R_UNREACHABLE] += 1
            if isinstance(stmt, _TERMINAL):
                terminated = True
            after = bigrams[t]

    def note_module(self, dotted: str) -> None:
        """Record an imported module and its parents (`import a.b` imports a and a.b)."""
        parts = dotted.split(".")
        self.imported_modules.update(".".join(parts[: i + 1]) for i in range(len(parts)))

    def name_role(self, unit: Unit, name: str, role: str) -> None:
        unit.counts.append(_ROLE_DIMS[role][name])


_NEST_START: Final = span("nesting_histogram").start


def _first_expr_child(node: Any, t: type) -> type | str:
    """A statement's first expression child (fields in walk order): its type, a call's shape, or "-"."""
    for fname in _expression_fields(t):
        value = getattr(node, fname, None)
        if isinstance(value, ExprNode):
            return operand_shape(value) if type(value) is Call else type(value)
        if type(value) is list and value and isinstance(value[0], ExprNode):
            return type(value[0])
    return "-"


# Statement fields that hold statements, handlers, names or other non-expressions, never an expression.
_NEVER_EXPRESSIONS: Final = frozenset({"body", "orelse", "finalbody", "handlers", "args", "keywords", "items",
                                       "cases", "names"})
_EXPRESSION_FIELDS: Final[dict[type, tuple[str, ...]]] = {}


def _expression_fields(t: type) -> tuple[str, ...]:
    """A statement type's child fields that may hold an expression, in walk order (memoised)."""
    fields = _EXPRESSION_FIELDS.get(t)
    if fields is None:
        fields = _EXPRESSION_FIELDS[t] = tuple(f for f in _child_fields(t) if f not in _NEVER_EXPRESSIONS)
    return fields


def _docstring_of(body: list[ast.stmt]) -> str | None:
    if body and type(body[0]) is Expr:
        value = body[0].value
        if type(value) is Constant and isinstance(value.value, str):
            return value.value
    return None


# ---------------------------------------------------------------- handlers


def _on_module(s: _Scanner, node: ast.Module, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    s.block(node.body, unit)
    doc = _docstring_of(node.body)
    if doc is not None:
        unit.raw[R_DOCSTRING] += 1
        unit.raw[R_DOCSTRING_CHARS] += len(doc)
    stmt: Any
    for stmt in node.body:
        t = type(stmt)
        if t in _UNIT_DEFS:
            s.module_defs.append(stmt.name)
        elif t is Assign:
            for target in stmt.targets:
                if type(target) is Name:
                    s.module_defs.append(target.id)
    return None


def _on_def(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    s.statement(node, unit, nest)
    t = type(node)
    if t is ClassDef:
        kind, class_name = "class", node.name
    else:
        is_async = t is AsyncFunctionDef
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
    first = node.body[0]
    new.header_end = first.lineno * 1000 + first.col_offset
    doc = _docstring_of(node.body)
    new.decorators = [_decorator_name(d) for d in node.decorator_list]
    new.raw[R_DECORATORS] = len(node.decorator_list)
    new.raw[R_BODY_LEN] = len(node.body)
    if t is ClassDef:
        new.bases = [_dotted(b) for b in node.bases]
        new.raw[R_BASES] = len(node.bases)
        new.raw[R_METHODS] = sum(type(b) in (FunctionDef, AsyncFunctionDef) for b in node.body)
    else:
        if unit.kind == "class":
            new.bases = list(unit.bases)
        if node.returns is not None:
            new.raw[R_RETURN_ANNOTATION] = 1
        _function_order(new, node, node.body[1:] if doc is not None else node.body)
    if doc is not None:
        new.raw[R_DOCSTRING] = 1
        new.raw[R_DOCSTRING_CHARS] = len(doc)
    s.block(node.body, new)
    return index, 0, ""


def _first_param_is_self(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    args = node.args.posonlyargs or node.args.args
    return bool(args) and args[0].arg in ("self", "cls")


def _function_order(unit: Unit, node: ast.FunctionDef | ast.AsyncFunctionDef, body: list[Any]) -> None:
    """Temporal features of the body (without its docstring): first/last statement, early returns, what
    follows the last return."""
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
        if t is Return:
            last_return_index = i
            if first_return is None:
                first_return = stmt.lineno
        if t in (Try, TryStar) and first_return is None:
            tries_before_return += 1
    if first_loop is not None:
        raw[R_FIRST_LOOP_LINE] = (first_loop - node.lineno) / span_lines
    if first_return is not None:
        raw[R_FIRST_RETURN_LINE] = (first_return - node.lineno) / span_lines
    if last_return_index >= 0:
        raw[R_AFTER_LAST_RETURN] = len(body) - 1 - last_return_index
    raw[R_TRY_BEFORE_RETURN] = tries_before_return


def _decorator_name(node: ast.expr) -> str:
    if type(node) is Call:
        node = node.func
    return _dotted(node)


def _dotted(node: ast.expr) -> str:
    parts = []
    while type(node) is Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is Name:
        parts.append(node.id)
    elif not parts:
        return type(node).__name__
    return ".".join(reversed(parts))


def _on_arguments(s: _Scanner, node: ast.arguments, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    raw = unit.raw
    all_args = [*node.posonlyargs, *node.args, *node.kwonlyargs]
    if node.vararg:
        all_args.append(node.vararg)
        raw[R_VARARGS] += 1
    if node.kwarg:
        all_args.append(node.kwarg)
        raw[R_KWARGS] += 1
    raw[R_PARAMS] += len(all_args)
    raw[R_POSONLY] += len(node.posonlyargs)
    raw[R_KWONLY] += len(node.kwonlyargs)
    defaults = [*node.defaults, *(d for d in node.kw_defaults if d is not None)]
    raw[R_DEFAULTS] += len(defaults)
    raw[R_MUTABLE_DEFAULTS] += sum(type(d) in _MUTABLE_DEFAULTS for d in defaults)
    for a in all_args:
        unit.params.append(a.arg)
        if a.annotation is not None:
            raw[R_ANNOTATED_PARAMS] += 1
        if a.arg in BUILTIN_NAMES:
            raw[R_SHADOWED_BUILTINS] += 1
        s.name_role(unit, a.arg, "param")
        unit.ident_sequence.append(a.arg)
    return None


def _store(unit: Unit, name: str, position: int) -> None:
    """A name bound by assignment, loop target, `with ... as`, ... (the rarer half of Name nodes)."""
    unit.stores.setdefault(name, []).append(position)
    if name in BUILTIN_NAMES:
        unit.raw[R_SHADOWED_BUILTINS] += 1


def _role_dims(role: str) -> Memo:
    """name -> its (last subtoken, role) dimension in `name_roles`, for one role."""
    suffix = "@" + role
    return Memo(lambda name: H_ROLE[subtokens(name)[-1] + suffix])


_ROLE_DIMS: Final = Memo(_role_dims)
_IDENT_DIMS: Final = Memo(lambda name: tuple(H_IDENT[token] for token in subtokens(name)))
"""identifier -> the `identifier_subtokens` dimensions of its subtokens."""
_NAME_DIM: Final = TYPE_DIM[ast.Name]
# name -> every dimension a Name node in one context adds: its node type, its subtokens, its role
_LOAD_BAGS: Final = Memo(lambda name: (_NAME_DIM, *_IDENT_DIMS[name], _ROLE_DIMS["load"][name]))
_STORE_BAGS: Final = Memo(lambda name: (_NAME_DIM, *_IDENT_DIMS[name], _ROLE_DIMS["store"][name]))


_TypeEntry = tuple[int | None, Any, tuple[str, ...], Memo]  # typed, so the walk unpacks it natively
_TYPE_TABLE: Final = Memo(lambda t: (TYPE_DIM.get(t), _HANDLERS.get(t), _child_fields(t), _PARENT_CHILD[t]))
"""AST node type -> (its count dimension or None, its handler or None, child fields, child dimensions):
everything the walk needs of a type, in one lookup per node."""


MAX_PATH_ATTRIBUTES: Final = 16
"""Attributes an attribute path holds at most: deeper chains are no module's path, and each node's path
is built by walking down its chain, so a bound keeps `a.b.b.b...` (thousands deep) linear."""


def _on_attribute(s: _Scanner, node: ast.Attribute, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    attr: str = node.attr
    unit.counts.extend(_IDENT_DIMS[attr])
    unit.attribute_indices.append(len(unit.ident_sequence))
    unit.ident_sequence.append(attr)
    base = node.value
    if type(base) is Attribute:  # `a.b.c`: this node reads "b.c" off `a` (the inner one, "b")
        names = [attr]
        inner: Any = base
        while type(inner) is Attribute and len(names) < MAX_PATH_ATTRIBUTES:
            names.append(inner.attr)
            inner = inner.value
        if type(inner) is Name:  # joined only for a name's chain within the bound
            s.attribute_paths.add((inner.id, ".".join(reversed(names))))
    if type(base) is Name:
        s.attribute_paths.add((base.id, attr))
        base_name: str = base.id
        if base_name in ("self", "cls"):
            if type(node.ctx) is Load:
                unit.self_attr_reads.add(attr)
            else:
                unit.self_attr_writes.add(attr)
        else:
            unit.attr_chains.append((base_name, attr))
        s.name_role(unit, base_name, "attr_base")
    return None


def _on_call(s: _Scanner, node: ast.Call, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    func = node.func
    args: list[Any] = node.args
    raw = unit.raw
    callee: str
    if type(func) is Name:
        callee = func.id
        unit.callees.add(callee)
        s.name_role(unit, callee, "call")
        if callee == "print":
            raw[R_PRINTS] += 1
        elif callee in ("eval", "exec"):
            raw[R_EVAL_EXEC] += 1
        elif callee == "range" and args and type(args[-1]) is Call:
            inner = args[-1].func
            if type(inner) is Name and inner.id == "len":
                raw[R_RANGE_LEN] += 1
        elif callee == "super":
            unit.uses_super = True
        if callee == unit.name:
            raw[R_RECURSION] += 1
    elif type(func) is Attribute:
        callee = func.attr
        receiver = func.value
        if type(receiver) is Name and receiver.id in ("self", "cls"):
            unit.self_calls.add(callee)
        if callee == "format" and type(receiver) is Constant:
            raw[R_FORMAT_CALLS] += 1
    else:
        callee = type(func).__name__
    counts = unit.counts
    counts.append(H_CALLEE[callee])
    for i, arg in enumerate(args[:6]):
        shape = operand_shape(arg)
        counts.append(H_CALLARG[f"{callee}#{i}:{shape}"])
        if type(arg) is Name:
            s.name_role(unit, arg.id, "argument")
    for kw in node.keywords:
        if kw.arg is not None:
            counts.append(H_CALLARG[f"{callee}#{kw.arg}:{operand_shape(kw.value)}"])
    return None


def _operator(unit: Unit, op: ast.AST, left: ast.AST, right: ast.AST | None) -> None:
    counts = unit.counts
    t = type(op)
    counts.append(OP_DIM[t])
    symbol = OP_SYMBOL[t]
    unit.operator_kinds.add(symbol)
    counts.append(_OPCTX_DIMS[operand_shape(left), symbol, operand_shape(right) if right is not None else "-"])
    raw = unit.raw
    raw[R_OPERATORS_TOTAL] += 1
    if right is not None and type(left) is Name and type(right) is Name and left.id == right.id:
        unit.self_ops += 1


def _on_binop(s: _Scanner, node: ast.BinOp, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    _operator(unit, node.op, node.left, node.right)
    if type(node.op) is Mod and type(node.left) is Constant and isinstance(node.left.value, str):
        unit.raw[R_PERCENT_FORMAT] += 1
    return None


def _on_augassign(s: _Scanner, node: ast.AugAssign, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    s.statement(node, unit, nest)
    _operator(unit, node.op, node.target, node.value)
    target = node.target
    if type(target) is Name:
        # `x += 1` reads x before it writes it.
        unit.loads.setdefault(target.id, []).append(target.lineno * 1000 + target.col_offset)
    return None


def _on_compare(s: _Scanner, node: ast.Compare, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    left = node.left
    raw = unit.raw
    for op, right in zip(node.ops, node.comparators, strict=False):
        _operator(unit, op, left, right)
        t = type(op)
        if t in (Eq, NotEq) and type(right) is Constant and right.value is None:
            raw[R_NONE_EQ] += 1
        if t in (Is, IsNot) and type(right) is Constant and right.value not in (None, True, False):
            raw[R_IS_LITERAL] += 1
        if (t in (Eq, NotEq) and type(right) is Constant and right.value == 0
                and type(left) is Call and type(left.func) is Name and left.func.id == "len"):
            raw[R_LEN_ZERO] += 1
        for side in (left, right):
            if type(side) is Name:
                s.name_role(unit, side.id, "compared")
        left = right
    return None


def _on_boolop(s: _Scanner, node: ast.BoolOp, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[R_BOOLOPS] += len(node.values) - 1
    for left, right in zip(node.values, node.values[1:], strict=False):
        _operator(unit, node.op, left, right)
    return None


def _on_unaryop(s: _Scanner, node: ast.UnaryOp, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    _operator(unit, node.op, node.operand, None)
    return None


def repr_start(value: object, length: int = 20) -> str:
    """`repr(value)[:length]`, without writing out all of a long string's repr (a docstring's, say),
    and "bigint" for an integer too long for repr (over 4,300 digits raises ValueError).

    repr escapes each character on its own but picks its quote from the whole string; a prefix that holds
    the same kinds of quote characters gets the same quote, so its repr starts the same way."""
    if type(value) is str and len(value) > length:
        value = value[:length] + ("'" if "'" in value else "") + ('"' if '"' in value else "")
    try:
        return repr(value)[:length]
    except ValueError:
        return "bigint"


def _on_constant(s: _Scanner, node: ast.Constant, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    value = node.value
    unit.counts.append(_constant_dim(value, _CONST_START))
    unit.operand_kinds.add(repr_start(value))
    if isinstance(value, int | float) and not isinstance(value, bool) and value not in (0, 1, -1, 2):
        unit.raw[R_MAGIC_NUMBERS] += 1
    return None


def _on_control(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    t = type(node)
    tname = t.__name__
    raw = unit.raw
    if t is not ExceptHandler:
        s.statement(node, unit, nest)
    raw[R_BRANCHES] += 1 if t not in (Try, TryStar, Match) else 0
    raw[R_NESTED_BRANCHES] += nest
    unit.counts.append(_CONTROL_PAIRS[ctrl or "body"][t])
    if t in _LOOPS:
        raw[R_LOOPS] += 1
        unit.loop_spans.append((node.lineno * 1000, (node.end_lineno or node.lineno) * 1000 + 999))
        if t is not While and type(node.iter) is Name:
            s.name_role(unit, node.iter.id, "iterated")
    elif t is If:
        raw[R_IFS] += 1
    elif t in (Try, TryStar):
        raw[R_TRIES] += 1
    elif t in (With, AsyncWith):
        raw[R_WITHS] += 1
    elif t is ExceptHandler:
        raw[R_HANDLERS] += 1
        if node.type is None:
            raw[R_BARE_EXCEPT] += 1
        elif type(node.type) is Name and node.type.id in ("Exception", "BaseException"):
            raw[R_BROAD_EXCEPT] += 1
        if all(type(b) is Pass for b in node.body):
            raw[R_EMPTY_EXCEPT] += 1
    for fname in _BLOCKS[t]:
        block = getattr(node, fname)
        if block:
            s.block(block, unit)
    if t is Try or t is TryStar:
        for handler in node.handlers:
            s.block(handler.body, unit)
    return u, nest + 1, tname


def _on_simple_statement(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    s.statement(node, unit, nest)
    t = type(node)
    raw = unit.raw
    if t is Return:
        raw[R_RETURNS] += 1
        if node.value is None:
            raw[R_BARE_RETURNS] += 1
        else:
            raw[R_VALUED_RETURNS] += 1
            if type(node.value) is Name:
                s.name_role(unit, node.value.id, "returned")
        if nest > 0:
            raw[R_EARLY_RETURNS] += 1
    elif t is Raise:
        raw[R_RAISES] += 1
    elif t is Pass:
        raw[R_PASSES] += 1
    elif t is Assert:
        raw[R_ASSERTS] += 1
        raw[R_BRANCHES] += 1
    elif t in (Global, Nonlocal):
        raw[R_GLOBAL_STMTS] += 1
    elif t is Delete:
        raw[R_DELETES] += 1
    elif t is Import:
        raw[R_IMPORTS] += 1
        for alias in node.names:
            s.note_module(alias.name)
            unit.counts.append(H_IMPORTED[alias.name])
            s.available_imports.append(alias.asname or alias.name.partition(".")[0])
            unit.stores.setdefault(alias.asname or alias.name.partition(".")[0], []).append(node.lineno * 1000)
    elif t is ImportFrom:
        raw[R_FROM_IMPORTS] += 1
        if node.level:
            raw[R_RELATIVE_IMPORTS] += 1
        elif node.module:
            s.note_module(node.module)
        unit.counts.append(H_IMPORTED["." * node.level + (node.module or "")])
        for alias in node.names:
            if alias.name == "*":
                raw[R_STAR_IMPORTS] += 1
                continue
            bound = alias.asname or alias.name
            s.available_imports.append(bound)
            unit.stores.setdefault(bound, []).append(node.lineno * 1000)
    return None


def _on_yield(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[R_YIELDS] += 1
    return None


def _on_await(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[R_AWAITS] += 1
    return None


def _on_comprehension(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[R_COMPREHENSIONS] += 1
    unit.raw[R_BRANCHES] += 1 + len(node.ifs)
    return None


def _on_lambda(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[R_LAMBDAS] += 1
    for a in node.args.args:
        unit.stores.setdefault(a.arg, []).append(node.lineno * 1000 + node.col_offset)
    return None


def _on_joinedstr(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    unit.raw[R_FSTRINGS] += 1
    unit.counts.append(_CONST_START + 10)
    return None


def _on_subscript(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    if type(node.value) is Name:
        s.name_role(unit, node.value.id, "subscripted")
    return None


def _on_assign(s: _Scanner, node, unit: Unit, u: int, depth: int, nest: int, ctrl: str):
    s.statement(node, unit, nest)
    if type(node) is AnnAssign and node.value is None and type(node.target) is Name:
        unit.declared.append(node.target.id)
    return None


def _on_excepthandler(s: _Scanner, node: ast.ExceptHandler, unit: Unit, u: int, depth: int, nest: int,
                      ctrl: str):
    if node.name:
        unit.stores.setdefault(node.name, []).append(node.lineno * 1000)
    return _on_control(s, node, unit, u, depth, nest, ctrl)


_HANDLERS: Final[dict[type, Any]] = {
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
    return units, SourceContext(scanner.lines, scanner.available_imports, scanner.module_defs,
                                frozenset(scanner.imported_modules), scanner.attribute_paths)


@dataclass(slots=True, init=False)
class SourceContext:
    """What the whole source says beyond its units: lines, imports, top-level names."""

    lines: list[str]
    available_imports: list[str]
    module_defs: list[str]
    imported_modules: frozenset[str]
    attribute_paths: set[tuple[str, str]]
    """(name, path) for each attribute read off a name, at every depth up to MAX_PATH_ATTRIBUTES: `a.b.c`
    gives ("a", "b.c") and ("a", "b"). Self and cls included: whose reads matter is the caller's question."""

    def __init__(self, lines: list[str], available_imports: list[str], module_defs: list[str],
                 imported_modules: frozenset[str], attribute_paths: set[tuple[str, str]]) -> None:
        """Written out, as `Unit.__init__` is, so that compiled it runs as native code."""
        self.lines = lines
        self.available_imports = available_imports
        self.module_defs = module_defs
        self.imported_modules = imported_modules
        self.attribute_paths = attribute_paths
