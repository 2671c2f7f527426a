"""Bug sites: the expressions where a one-token bug can hide, scored one by one from what surrounds them.

Owns `find_sites` (a parsed source -> `BugSites`: each site's type, 1-based line and column, and the
hashed ids of its local features), `SiteModel` (a logit per site: a weight per id summed, plus an optional
hidden layer over the same ids; a combiner joins it with the bugs head and the site count into one
probability per site) and the tables that say which bug kinds each site type
can hold. Why: a graph node is a whole function, so `f(b, a)` for `f(a, b)` or `<` for `<=` is a few
counts among hundreds in its vector. Scored where it happens, from the names and operators around
it, the same change stands out, and the report can name the line and column.

Leaves to others: parsing (model/graph.py), training the weights (training/sites.py), turning the
scores into reports (model/predictor.py). Feature ids are CRC32 hashes of short strings, so they are
the same on every machine and run; `SITE_FEATURES_VERSION` changes whenever what is hashed changes.
"""

from __future__ import annotations

import ast
import bisect
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from model.config import MAX_WEIGHT_MAGNITUDE
from model.hashing import remember
from model.scan import OP_SYMBOL, operand_shape, repr_start, source_lines

__all__ = [
    "HIDDEN_TENSORS",
    "LOGIT_CLIP",
    "SITE_BUCKETS",
    "SITE_FEATURES_VERSION",
    "SITE_KINDS",
    "SITE_TYPES",
    "BugSites",
    "SiteHidden",
    "SiteModel",
    "bounded",
    "character_column",
    "find_sites",
    "floats",
    "head_logit",
    "kind_at",
    "logistic",
    "site_logits",
    "site_model_from",
]

SITE_FEATURES_VERSION = "sites-v11"
SITE_BITS = 18
SITE_BUCKETS = 1 << SITE_BITS
_MASK = SITE_BUCKETS - 1

SITE_TYPES: tuple[str, ...] = ("name", "binary", "compare", "boolean", "constant", "call", "condition")
SITE_KINDS: Mapping[str, tuple[str, ...]] = {
    "name": ("variable_misuse",),
    "binary": ("wrong_binary_operator", "swapped_operands"),
    "compare": ("wrong_comparison_operator", "swapped_operands", "negated_condition"),
    "boolean": ("wrong_boolean_operator",),
    "constant": ("off_by_one", "wrong_literal"),
    "call": ("swapped_arguments",),
    "condition": ("negated_condition",),
}
"""The bug kinds a site of each type can hold; a reported site takes the one the bugs head favours."""

_NAME, _BINARY, _COMPARE, _BOOLEAN, _CONSTANT, _CALL, _CONDITION = range(len(SITE_TYPES))

_NEGATED_COMPARISONS: Final = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "is": "is not",
                                "is not": "is", "in": "not in", "not in": "in"}
"""The operator a `not` in front of a comparison makes of it: `not x is None` tests `x is not None`."""
_MAX_ARGUMENTS = 4
"""Positional arguments of a call that get features of their own."""
_SMALL_INT = 16
"""Integer constants up to this size are features by value; larger ones are one "big" feature."""


@dataclass
class BugSites:
    """Parallel lists, one entry per site: its type (an index into SITE_TYPES), 1-based line and
    column (in characters, as Python's tracebacks count them, when `find_sites` was given the
    source; else the AST's UTF-8 byte offset + 1) and how many feature ids it has; `ids` holds every
    site's ids, one site after another (flat, so scoring is one gather). Not frozen: a compiled
    frozen dataclass cannot be unpickled, and graphs travel between processes."""

    types: list[int]
    lines: list[int]
    columns: list[int]
    sizes: list[int]
    ids: list[int]

    def __len__(self) -> int:
        return len(self.types)

    def features(self, site: int) -> list[int]:
        """The feature ids of one site."""
        start = sum(self.sizes[:site])
        return self.ids[start: start + self.sizes[site]]


_IDS: dict[str, int] = {}
"""Feature text -> id, remembered (`model.hashing.remember`: short texts, a bounded table): most
texts recur from one request to the next ("b\x1f+")."""


def _hash(text: str) -> int:
    known = _IDS.get(text)
    if known is not None:
        return known
    return remember(_IDS, text, zlib.crc32(text.encode("utf-8", "surrogatepass")) & _MASK)


_MAX_LABEL_DEPTH = 8
"""Calls and subscripts a label looks through (`g()()()...` may nest thousands deep)."""


def _label(node: ast.AST) -> str:
    """What a reader calls an operand: its name, attribute, callee, constant or node type, through at
    most `_MAX_LABEL_DEPTH` calls and subscripts (then "deep"), so a label stays short."""
    prefix = ""
    for _ in range(_MAX_LABEL_DEPTH + 1):
        if isinstance(node, ast.Call):
            prefix += "call:"
            node = node.func
        elif isinstance(node, ast.Subscript):
            prefix += "sub:"
            node = node.value
        elif isinstance(node, ast.Name):
            return prefix + node.id
        elif isinstance(node, ast.Attribute):
            return prefix + "." + node.attr
        elif isinstance(node, ast.Constant):
            return prefix + "c:" + repr_start(node.value, 12)
        elif _is_negative_literal(node):
            return prefix + "c:-" + repr_start(node.operand.value, 12)  # type: ignore[attr-defined]
        else:
            return prefix + type(node).__name__
    return prefix + "deep"


_NOT_SITES = frozenset({"ctx", "op", "ops"})
"""Fields that only hold operator and context singletons: never a site, never above one."""
_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}


def _fields(node_type: type[ast.AST]) -> tuple[str, ...]:
    fields = _FIELDS.get(node_type)
    if fields is None:
        fields = _FIELDS[node_type] = tuple(f for f in node_type._fields if f not in _NOT_SITES)
    return fields


_CONDITIONS = (ast.If, ast.While, ast.IfExp, ast.Assert)

# The AST classes the walk compares node types with, bound once: compiled, each is a C static, where
# `ast.Name` looks `Name` up in the module's dict at every comparison (as in model/scan.py).
_AST_NODE: Final = ast.AST
_NAME_NODE: Final = ast.Name
_ARG_NODE: Final = ast.arg
_CONSTANT_NODE: Final = ast.Constant
_BINOP_NODE: Final = ast.BinOp
_COMPARE_NODE: Final = ast.Compare
_CALL_NODE: Final = ast.Call
_ATTRIBUTE_NODE: Final = ast.Attribute
_SUBSCRIPT_NODE: Final = ast.Subscript
_SLICE_NODE: Final = ast.Slice
_NAMED_EXPR_NODE: Final = ast.NamedExpr
_AUGASSIGN_NODE: Final = ast.AugAssign
_BOOLOP_NODE: Final = ast.BoolOp
_LOAD: Final = ast.Load
_DEL: Final = ast.Del
_LAMBDA_NODE: Final = ast.Lambda
_RETURN_NODE: Final = ast.Return
_UNARYOP_NODE: Final = ast.UnaryOp
_USUB: Final = ast.USub
_NOT: Final = ast.Not
_FUNCTION_NODE: Final = ast.FunctionDef
_ASYNC_FUNCTION_NODE: Final = ast.AsyncFunctionDef
_RECENCY_HORIZON = 4
"""How many other variables bound since a read's own binding the recency feature tells apart."""
_LOOK_BACK = 64
"""Bindings a read looks back through for its own variable's: a long file stays linear."""
_SHORT_CALL = 8
"""Calls with up to this many positional arguments are searched; longer ones get an index, built once."""
_OTHER_CALLS = 64
"""Calls a pair of arguments is looked for in (the first that pass its first label, the call itself
among them): a module with thousands of calls stays linear."""


class _Finder:
    """One walk over the tree; returned constants, calls and variable reads are finished afterwards,
    once every return, binding, signature and role is known."""

    def __init__(self) -> None:
        self.sites = BugSites([], [], [], [], [])
        self.first_store: dict[str, tuple[int, int]] = {}
        self.read_counts: dict[str, int] = {}
        self.unused = False
        self.params: set[str] = set()
        self.counts: dict[str, int] = {}
        self.reads: list[tuple[ast.Name, ast.AST | None]] = []
        self.calls: list[tuple[ast.Call, dict[str, int]]] = []
        """Each call with two or more arguments, and its enclosing function's parameter positions."""
        self.bindings: list[tuple[int, int, str]] = []
        """(line, column, name) of each parameter and each name stored to (not deleted), sorted after the
        walk. Source order, by the name's own place: in `total = total + x` the read of total comes
        after the binding of total, which marks an update in place as well as a recent binding
        (binding at the statement's end, as execution would, scored 0.005 lower on validation)."""
        self.signatures: dict[str, tuple[dict[str, int], bool] | None] = {}
        """Function name -> its positional parameters' positions, and whether the first is self or cls;
        None for a name defined twice with different parameters."""
        self.roles: dict[tuple[str, tuple[str, str, int]], int] = {}
        """(variable, role) -> how many reads of the variable play that role."""
        self.role_players: dict[tuple[str, str, int], int] = {}
        """Role -> how many distinct variables play it."""
        self.callees: dict[int, str] = {}
        """id(call) -> the label of what it calls, made once per call."""
        self.argument_index: dict[int, dict[int, int]] = {}
        """id(call) -> {id(argument): position}, for long calls only."""
        self.argument_names: dict[int, dict[str, int]] = {}
        """id(call) -> {variable: how many of its positional arguments read it}, for long calls only."""
        self.first_seen: dict[str, tuple[int, int]] = {}
        """Variable -> (line, column) of its first parameter, read or binding in the source."""
        self.argument_labels: list[tuple[str, list[str], dict[str, int]]] = []
        """Each call's callee, the labels of its first `_MAX_ARGUMENTS` arguments and {label: its first
        position} among them, in `calls`' order: made once, for the call's own features and the others'."""
        self.calls_passing: dict[str, list[int]] = {}
        """Label -> the indices into `argument_labels` of the calls that pass it."""
        self.scopes: list[dict[str, int]] = []
        """Every function's parameter positions, kept alive so that their ids name the functions."""
        self.returned: dict[int, dict[str, int]] = {}
        """id(a function's parameter positions) -> how many of its returns give each text (`_returned_text`)."""
        self.returned_constants: list[tuple[ast.Constant | ast.UnaryOp, ast.Return, int]] = []
        """Constants that a return gives, with the return and its function's key into `returned`:
        scored after the walk, once every return of the function is known."""
        self.last_statements: set[int] = set()
        """id() of each function's last statement."""
        self.boolean_rests: dict[int, tuple[str, list[ast.expr], int, ast.AST | None]] = {}
        """id() of a comparison that is a boolean's operand -> the boolean's operator, its operands,
        the comparison's position among them and the condition the boolean is the test of (or None):
        made once per boolean (no search, no copy), so `a == 1 or a == 2 or ...` stays linear in time
        and memory."""
        self.tested_by: dict[int, ast.AST] = {}
        """id() of a boolean that is a condition's test -> that condition. Conditions come before their
        tests in the walk."""
        self.outer: dict[int, ast.AST | None] = {}
        """id() of a slice, or of an addition or subtraction -> its parent: where a literal inside it
        is used (`len(x) - 1` in `range(...)`, `1` in `s[1:]`), which an off-by-one bug changes."""
        self.branch_uses: dict[int, tuple[bool, str, str]] = {}
        """id() of a comparison that is a condition's test, alone or under a `not` -> whether under a
        `not`, and what the then and else branches do with its subject: the condition's own site
        reads them first, and the comparison's site takes them from here instead of walking again."""

    def add(self, kind: int, node: ast.AST, features: list[str]) -> None:
        self.sites.types.append(kind)
        self.sites.lines.append(node.lineno)  # type: ignore[attr-defined]
        self.sites.columns.append(node.col_offset + 1)  # type: ignore[attr-defined]
        self.sites.sizes.append(len(features))
        ids = self.sites.ids
        for text in features:
            ids.append(_hash(text))

    def walk(self, tree: ast.AST) -> BugSites:
        """Each node with its parent and the parameter positions of the function it is in."""
        top: dict[str, int] = {}
        self.scopes.append(top)  # alive to the end, as every function's are: no id is reused
        stack: list[tuple[ast.AST, ast.AST | None, dict[str, int]]] = [(tree, None, top)]
        while stack:
            node, parent, scope = stack.pop()
            self.visit(node, parent, scope)
            t = type(node)
            if t is _FUNCTION_NODE or t is _ASYNC_FUNCTION_NODE or t is _LAMBDA_NODE:
                scope = _parameter_positions(node.args)  # type: ignore[attr-defined]
                self.scopes.append(scope)
                if t is not _LAMBDA_NODE:
                    self.signature(node.name, scope)  # type: ignore[attr-defined]
                    self.last_statements.add(id(node.body[-1]))  # type: ignore[attr-defined]
            for field in _fields(t):
                value = getattr(node, field, None)
                if type(value) is list:
                    for item in value:
                        if isinstance(item, _AST_NODE):
                            stack.append((item, node, scope))
                elif isinstance(value, _AST_NODE):
                    stack.append((value, node, scope))
        for constant, returned, function in self.returned_constants:
            self.returned_constant(constant, returned, self.returned[function])
        for index, (call, _) in enumerate(self.calls):
            self.index_arguments(index, call)
        for index, (call, enclosing) in enumerate(self.calls):
            self.call(index, call, enclosing)
        self.bindings.sort()
        roles = [self.count_read(name, parent) for name, parent in self.reads]
        self.unused = any(n not in self.read_counts for n in (*self.params, *self.first_store))
        for (name, parent), (role, position) in zip(self.reads, roles, strict=True):
            self.read(name, parent, role, position)
        return self.sites

    def count_read(self, node: ast.Name, parent: ast.AST | None) -> tuple[tuple[str, str, int] | None, int]:
        """Count a read of a variable and the role it plays; the role (None for none) and the read's
        position among its parent call's arguments (-1 for none)."""
        name = node.id
        self.read_counts[name] = self.read_counts.get(name, 0) + 1
        position = self.position_in(node, parent)
        role = _role(node, parent, position, self.callee_of(parent))
        if role is not None:
            key = (name, role)
            seen = self.roles.get(key, 0)
            self.roles[key] = seen + 1
            if seen == 0:
                self.role_players[role] = self.role_players.get(role, 0) + 1
        return role, position

    def visit(self, node: ast.AST, parent: ast.AST | None, scope: dict[str, int]) -> None:
        t = type(node)
        if t is _NAME_NODE:
            self.name(node, parent)  # type: ignore[arg-type]
        elif t is _ARG_NODE:
            self.params.add(node.arg)  # type: ignore[attr-defined]
            self.seen(node.arg, node)  # type: ignore[attr-defined]
            self.bindings.append((node.lineno, node.col_offset, node.arg))  # type: ignore[attr-defined]
        elif t is _CONSTANT_NODE or (t is _UNARYOP_NODE and _is_negative_literal(node)):
            if t is _CONSTANT_NODE and _is_negative_literal(parent):
                pass  # the digits of `-1`: the literal was sited at its sign, with its own context
            elif type(parent) is _RETURN_NODE:
                self.returned_constants.append((node, parent, id(scope)))  # type: ignore[arg-type]
            else:
                self.constant(node, parent)  # type: ignore[arg-type]
        elif t is _RETURN_NODE:
            counts = self.returned.setdefault(id(scope), {})
            text = _returned_text(node.value)  # type: ignore[attr-defined]
            counts[text] = counts.get(text, 0) + 1
        elif t is _BINOP_NODE:
            if type(node.op) in _BOUND_OPS:  # type: ignore[attr-defined]
                self.outer[id(node)] = parent
            self.operator(node, node.left, node.right, parent)  # type: ignore[arg-type, attr-defined]
        elif t is _SLICE_NODE:
            self.outer[id(node)] = parent
        elif t is _COMPARE_NODE:
            self.compare(node, parent)  # type: ignore[arg-type]
        elif t is _CALL_NODE:
            if len(node.args) >= 2:  # type: ignore[attr-defined]
                self.calls.append((node, scope))  # type: ignore[arg-type]
        elif t is _AUGASSIGN_NODE:
            self.operator(node, node.target, node.value, parent)  # type: ignore[arg-type, attr-defined]
        elif t is _BOOLOP_NODE:
            self.boolean(node, parent)  # type: ignore[arg-type]
        if t in _CONDITIONS:
            self.condition(node)  # type: ignore[arg-type]

    def seen(self, name: str, node: ast.AST) -> None:
        """Keep the earliest place `name` appears (the walk is not in source order)."""
        place = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
        first = self.first_seen.get(name)
        if first is None or place < first:
            self.first_seen[name] = place

    def name(self, node: ast.Name, parent: ast.AST | None) -> None:
        name = node.id
        self.counts[name] = self.counts.get(name, 0) + 1
        self.seen(name, node)
        if type(node.ctx) is _LOAD:
            self.reads.append((node, parent))
        else:
            place = (node.lineno, node.col_offset)
            if type(node.ctx) is not _DEL:
                self.bindings.append((node.lineno, node.col_offset, name))
            first = self.first_store.get(name)
            if first is None or place < first:
                self.first_store[name] = place

    def signature(self, name: str, positions: dict[str, int]) -> None:
        """Record a function the code defines, by its name and its parameters' positions."""
        signature = (positions, positions.get("self", -1) == 0 or positions.get("cls", -1) == 0)
        if name in self.signatures and self.signatures[name] != signature:
            self.signatures[name] = None  # defined twice, differently: no telling which is called
        else:
            self.signatures[name] = signature

    def read(self, node: ast.Name, parent: ast.AST | None, role: tuple[str, str, int] | None, position: int
             ) -> None:
        """A read of one of the code's own variables (a parameter or a name it binds)."""
        name = node.id
        first_store = self.first_store.get(name)
        is_param = name in self.params
        if first_store is None and not is_param:
            return
        where = _type_name(parent)
        count = self.counts[name]
        bound_before = is_param or (first_store is not None and first_store < (node.lineno, node.col_offset))
        features = [f"n\x1f{name}", f"n-par\x1f{where}", f"n-v-par\x1f{name}\x1f{where}", f"n-once\x1f{count == 1}",
                    f"n-param\x1f{is_param}", f"n-cnt\x1f{min(count, 5)}", f"n-def-before\x1f{bound_before}"]
        features.extend(_read_context(node, parent, position, self.callee_of(parent)))
        # a misused variable often leaves the one it replaced unread, or is read twice (`w * w`)
        features.append(f"n-unused\x1f{self.unused}")
        features.append(f"n-unused-reads\x1f{self.unused}\x1f{min(self.read_counts[name], 4)}")
        if isinstance(parent, ast.BinOp | ast.Compare):
            features.append(f"n-self-op\x1f{_label(_other_operand(node, parent)) == name}\x1f{self.unused}")
        # a misused variable is seldom the one bound last, often stands where it never does elsewhere,
        # and the one it replaced may sit unread between its binding and the read
        recency, unread_since = self.since_binding(node)
        features.append(f"n-recency\x1f{recency}")
        features.append(f"n-recency-par\x1f{recency}\x1f{where}")
        features.append(f"n-unread-since\x1f{unread_since}")
        # whether the variable plays this read's role in other reads too, and how many others play it
        if role is None:
            kind, again = where, -1
            features.append("n-role\x1fnone")
        else:
            kind, again = role[0], min(self.roles[(name, role)] - 1, 2)
            features.append(f"n-role\x1f{kind}\x1f{again}\x1f{min(self.role_players[role] - 1, 2)}")
        features.append(f"n-x-role\x1f{recency}\x1f{kind}\x1f{again}\x1f{self.unused}")
        features.append(f"n-x-bound\x1f{recency}\x1f{bound_before}\x1f{is_param}\x1f{min(count, 3)}")
        if isinstance(parent, ast.Call):
            features.append(f"n-dup-arg\x1f{self.times_passed(name, parent) > 1}")
        elif isinstance(parent, ast.Assign | ast.AugAssign):
            target = parent.targets[0] if isinstance(parent, ast.Assign) else parent.target
            assigned_to_itself = isinstance(target, ast.Name) and target.id == name
            features.append(f"n-self-asg\x1f{assigned_to_itself}\x1f{type(parent).__name__}")
        self.add(_NAME, node, features)

    def position_in(self, node: ast.AST, parent: ast.AST | None) -> int:
        """`node`'s index among its parent call's positional arguments; -1 when it is none of them.
        A long call is indexed once, so a call with thousands of arguments stays linear."""
        if not isinstance(parent, ast.Call):
            return -1
        arguments = parent.args
        if len(arguments) <= _SHORT_CALL:
            for position, argument in enumerate(arguments):
                if argument is node:
                    return position
            return -1
        index = self.argument_index.get(id(parent))
        if index is None:
            index = self.argument_index[id(parent)] = {id(a): i for i, a in enumerate(arguments)}
        return index.get(id(node), -1)

    def callee_of(self, parent: ast.AST | None) -> str:
        """The label of what `parent` calls ("" when it is no call), made once per call: a call with
        many arguments asks once for each."""
        if not isinstance(parent, ast.Call):
            return ""
        label = self.callees.get(id(parent))
        if label is None:
            label = self.callees[id(parent)] = _label(parent.func)
        return label

    def times_passed(self, name: str, call: ast.Call) -> int:
        """How many of the call's positional arguments read the variable (`max(total, total)`: 2)."""
        if len(call.args) <= _SHORT_CALL:
            return sum(1 for a in call.args if isinstance(a, ast.Name) and a.id == name)
        counts = self.argument_names.get(id(call))
        if counts is None:
            counts = {}
            for argument in call.args:
                if isinstance(argument, ast.Name):
                    counts[argument.id] = counts.get(argument.id, 0) + 1
            self.argument_names[id(call)] = counts
        return counts.get(name, 0)

    def since_binding(self, node: ast.Name) -> tuple[int, str]:
        """What came between the read's variable's last binding (in source order, see `bindings`) and
        the read: how many other variables were bound (0 to `_RECENCY_HORIZON`, which also stands for
        further or never) and whether one of them is never read ("yes"/"no"; "far-yes"/"far-no" when
        its own binding is not within `_LOOK_BACK` bindings)."""
        at = bisect.bisect_left(self.bindings, (node.lineno, node.col_offset, ""))
        since: set[str] = set()
        unread = False
        for i in range(at - 1, max(at - _LOOK_BACK, 0) - 1, -1):
            bound = self.bindings[i][2]
            if bound == node.id:
                return min(len(since), _RECENCY_HORIZON), "yes" if unread else "no"
            since.add(bound)
            unread = unread or bound not in self.read_counts
        return _RECENCY_HORIZON, "far-yes" if unread else "far-no"

    def operator(self, node: ast.BinOp | ast.AugAssign, left: ast.AST, right: ast.AST, parent: ast.AST | None) -> None:
        op = OP_SYMBOL.get(type(node.op), "?")
        self.add(_BINARY, node, _operands("b", op, left, right, parent))

    def compare(self, node: ast.Compare, parent: ast.AST | None) -> None:
        op = OP_SYMBOL.get(type(node.ops[0]), "?")
        features = _operands("c", op, node.left, node.comparators[0], parent)
        features.append(f"c-n\x1f{len(node.ops)}")
        if id(node) in self.branch_uses:  # `if not x is None:` tests `x is not None`
            negated, then_use, else_use = self.branch_uses[id(node)]
            features.extend(_branch_uses(_NEGATED_COMPARISONS.get(op, op) if negated else op, node, then_use,
                                         else_use))
        elif id(node) in self.boolean_rests:
            boolean_op, operands, index, condition = self.boolean_rests[id(node)]
            later = operands[index + 1: index + 1 + _BRANCH_LOOK]
            subject = _subject(op, node)
            features.append(f"c-bool\x1f{op}\x1f{boolean_op}\x1f{_use_of(subject, later)}")
            if condition is not None:  # `if x is None or ...:` what the branches do with x
                then_branch, else_branch = _branches(condition)  # type: ignore[arg-type]
                features.append(f"c-bt\x1f{boolean_op}\x1f{op}\x1f{_use_of(subject, then_branch)}"
                                f"\x1f{_use_of(subject, else_branch)}")
        self.add(_COMPARE, node, features)

    def boolean(self, node: ast.BoolOp, parent: ast.AST | None) -> None:
        op = OP_SYMBOL.get(type(node.op), "?")
        where = _type_name(parent)
        types = "\x1f".join(type(v).__name__ for v in node.values[:3])
        labels = "\x1f".join(_label(v) for v in node.values[:2])
        guard, subject = _guard(node.values[0])
        use = _use_of(subject, node.values[1: 1 + _BRANCH_LOOK])
        condition = self.tested_by.get(id(node))
        for index, value in enumerate(node.values):
            if type(value) is _COMPARE_NODE:
                self.boolean_rests[id(value)] = (op, node.values, index, condition)
        self.add(_BOOLEAN, node, [f"o\x1f{op}", f"o-par\x1f{op}\x1f{where}", f"o-ty\x1f{op}\x1f{types}",
                                  f"o-nm\x1f{op}\x1f{labels}", f"o-guard\x1f{op}\x1f{guard}\x1f{use}"])

    def constant(self, node: ast.Constant | ast.UnaryOp, parent: ast.AST | None, extra: list[str] | None = None
                 ) -> None:
        """A literal: a constant, or a negative number (`-1`, one literal to a reader and to the rewrites
        of training/mutations.py, so one site at its sign, seen in the context around the minus)."""
        text = _literal_text(node)
        if text is None:
            return
        where = _type_name(parent)
        features = [f"k\x1f{text}", f"k-par\x1f{text}\x1f{where}"]
        features.extend(_constant_context(node, text, parent, self.position_in(node, parent), self.callee_of(parent)))
        outer = self.outer.get(id(parent), _NOT_A_BOUND)
        if type(parent) is _SLICE_NODE:
            features.extend(_slice_context(node, text, parent, outer))  # type: ignore[arg-type]
        elif outer is not _NOT_A_BOUND:
            features.extend(self.sum_context(node, text, parent, outer))  # type: ignore[arg-type]
        if extra:
            features.extend(extra)
        self.add(_CONSTANT, node, features)

    def sum_context(self, node: ast.AST, text: str, parent: ast.BinOp, outer: ast.AST | None) -> list[str]:
        """Where a sum or difference holding a literal is used: `len(x) - 1` as `range`'s first
        argument or as an index of `x`. An off-by-one bug moves such a literal."""
        op = OP_SYMBOL.get(type(parent.op), "?")
        where = _type_name(outer)
        if type(outer) is _CALL_NODE:
            where = f"{self.callee_of(outer)}:{self.position_in(parent, outer)}"
        elif type(outer) is _SUBSCRIPT_NODE:
            where = f"[]:{_label(outer.value)}"  # type: ignore[attr-defined]
        return [f"k-bin-g\x1f{text}\x1f{op}\x1f{where}",
                f"k-bin-go\x1f{text}\x1f{op}\x1f{_label(_other_operand(node, parent))}\x1f{_type_name(outer)}"]

    def returned_constant(self, node: ast.Constant | ast.UnaryOp, returned: ast.Return, returns: dict[str, int]
                          ) -> None:
        """A constant a function returns, against what its other returns give (`returns`: how many give
        each text): after `return True` in a loop, a function ends `return False`; a wrong literal
        makes the two alike. Probed on validation and on held-out training packages: wrong literal
        +0.016, bugs AUROC +0.0015."""
        text = _literal_text(node)
        if text is None:
            return
        same = returns.get(text, 0) - 1
        opposite = _OPPOSITE_LITERALS.get(text, "")
        several = same > 0 or len(returns) > 1
        self.constant(node, returned, [f"k-ret-same\x1f{text}\x1f{min(same, 2)}",
                                       f"k-ret-opp\x1f{text}\x1f{opposite in returns}",
                                       f"k-ret-last\x1f{text}\x1f{id(returned) in self.last_statements}"
                                       f"\x1f{several}"])

    def index_arguments(self, index: int, node: ast.Call) -> None:
        """Record which labels call `index` passes and where, for `order_features` of the others."""
        labels = [_label(argument) for argument in node.args[:_MAX_ARGUMENTS]]
        positions: dict[str, int] = {}
        for position, label in enumerate(labels):
            if label not in positions:
                positions[label] = position
                self.calls_passing.setdefault(label, []).append(index)
        self.argument_labels.append((self.callee_of(node), labels, positions))

    def call(self, index: int, node: ast.Call, enclosing: dict[str, int]) -> None:
        callee = self.callee_of(node)
        args = node.args[:_MAX_ARGUMENTS]
        labels = self.argument_labels[index][1]
        features = [f"a\x1f{callee}", f"a-n\x1f{callee}\x1f{len(node.args)}"]
        features.extend(f"a-pos\x1f{callee}\x1f{i}\x1f{label}" for i, label in enumerate(labels))
        for i in range(len(labels) - 1):
            features.append(f"a-pair\x1f{callee}\x1f{labels[i]}\x1f{labels[i + 1]}")
            features.append(f"a-ord\x1f{labels[i]}\x1f{labels[i + 1]}")
        features.extend(f"a-sh\x1f{callee}\x1f{i}\x1f{operand_shape(a)}" for i, a in enumerate(args))
        features.extend(self.parameter_features(node, labels, callee, enclosing))
        for i in range(len(labels) - 1):
            if labels[i] != labels[i + 1]:
                features.extend(self.order_features(index, labels[i], labels[i + 1], callee))
        self.add(_CALL, node, features)

    def order_features(self, index: int, first: str, second: str, callee: str) -> list[str]:
        """Two neighbouring arguments against the code's own habits: whether the first variable appeared
        in the source before the second (code tends to pass things in the order it made them), and the
        order in which other calls pass the same two (`g(a, b)` after three `f(a, b)`). Probed on
        validation: bugs AUROC +0.005 over three seeds, swapped arguments +0.02."""
        features = []
        first_place, second_place = self.first_seen.get(first), self.first_seen.get(second)
        if first_place is not None and second_place is not None:
            features.append(f"a-seen\x1f{first_place < second_place}")
            features.append(f"a-seen-c\x1f{callee}\x1f{first_place < second_place}")
        same = reversed_ = 0
        same_callee = False
        for other in self.calls_passing.get(first, [])[:_OTHER_CALLS]:
            if other == index:
                continue
            other_callee, _, positions = self.argument_labels[other]
            at = positions.get(second, -1)
            if at < 0:
                continue
            if positions[first] < at:
                same += 1
            else:
                reversed_ += 1
            same_callee = same_callee or other_callee == callee
        if same or reversed_:
            order = "mixed" if same and reversed_ else "same" if same else "reversed"
            features.append(f"a-again\x1f{same_callee}\x1f{order}")
        return features

    def parameter_features(self, node: ast.Call, labels: list[str], callee: str, enclosing: dict[str, int]
                           ) -> list[str]:
        """Arguments against parameters the code itself declares: a wrapper passes the parameters of
        the function it is in on in their order, and a call to a function defined here (once) should
        match its signature."""
        features = []
        positions = [enclosing.get(label, -1) for label in labels]
        for i in range(len(positions) - 1):
            first, second = positions[i], positions[i + 1]
            if first >= 0 and second >= 0 and first != second:
                features.append(f"a-porder\x1f{first < second}")
                features.append(f"a-porder-c\x1f{callee}\x1f{first < second}")
        func = node.func
        is_method = isinstance(func, ast.Attribute)
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        signature = self.signatures.get(name)
        if signature is not None:
            declared, takes_self = signature
            shift = 1 if is_method and takes_self else 0
            for position, label in enumerate(labels):
                at = declared.get(label, -1) - shift
                features.append(f"a-sig\x1f{at == position}" if at >= 0 else "a-sig\x1fabsent")
        return features

    def condition(self, node: ast.If | ast.While | ast.IfExp | ast.Assert) -> None:
        test = node.test
        negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        tested = test.operand if isinstance(test, ast.UnaryOp) and negated else test
        body = node.body if isinstance(node, ast.If | ast.While) else [node.body] if isinstance(node, ast.IfExp) else []
        first = type(body[0]).__name__ if body else "-"
        features = [f"t\x1f{type(node).__name__}\x1f{negated}", f"t-sh\x1f{negated}\x1f{operand_shape(tested)}",
                    f"t-first\x1f{negated}\x1f{first}", f"t-nm\x1f{negated}\x1f{_label(tested)}"]
        if not isinstance(node, ast.Assert):
            features += self.branch_features(node, tested, negated)
        if isinstance(node, ast.If) and isinstance(node.body[0], ast.Return | ast.Raise):
            exit_ = node.body[0]
            value = exit_.value if isinstance(exit_, ast.Return) else None
            features.append(f"t-exit\x1f{negated}\x1f{type(exit_).__name__}\x1f{_label(value) if value else '-'}")
        self.add(_CONDITION, test, features)


    def branch_features(self, node: ast.If | ast.While | ast.IfExp, tested: ast.AST, negated: bool) -> list[str]:
        """What a condition's branches do with what its test checks. A boolean or comparison test also
        has a site of its own, told here which condition it tests or what the branches do with its
        subject (it comes later in the walk). A negated chain (`not a < b < c`) is told too, and reads
        its branches as `a >= b` would: a gap, since it means `a >= b or b >= c`."""
        guard, subject = _guard(tested.values[0] if type(tested) is _BOOLOP_NODE else tested)  # type: ignore[attr-defined]
        then_branch, else_branch = _branches(node)
        then_use, else_use = _use_of(subject, then_branch), _use_of(subject, else_branch)
        if type(tested) is _BOOLOP_NODE:
            if not negated:
                self.tested_by[id(tested)] = node
            guard = f"{OP_SYMBOL.get(type(tested.op), '?')}:{guard}"  # type: ignore[attr-defined]
        elif type(tested) is _COMPARE_NODE:
            self.branch_uses[id(tested)] = (negated, then_use, else_use)
        else:
            return [f"t-then\x1f{negated}\x1f{then_use}", f"t-else\x1f{negated}\x1f{else_use}\x1f{then_use}"]
        return [f"t-then-g\x1f{negated}\x1f{guard}\x1f{then_use}",
                f"t-else-g\x1f{negated}\x1f{guard}\x1f{else_use}\x1f{then_use}"]


def _operands(prefix: str, op: str, left: ast.AST, right: ast.AST, parent: ast.AST | None) -> list[str]:
    """An operator with what it applies to: shapes, labels, each side alone, its parent, node types."""
    where = _type_name(parent)
    left_label, right_label = _label(left), _label(right)
    return [f"{prefix}\x1f{op}", f"{prefix}-sh\x1f{op}\x1f{operand_shape(left)}\x1f{operand_shape(right)}",
            f"{prefix}-nm\x1f{op}\x1f{left_label}\x1f{right_label}", f"{prefix}-l\x1f{op}\x1f{left_label}",
            f"{prefix}-r\x1f{op}\x1f{right_label}", f"{prefix}-par\x1f{op}\x1f{where}",
            f"{prefix}-ty\x1f{op}\x1f{type(left).__name__}\x1f{type(right).__name__}"]


def _slice_context(node: ast.AST, text: str, parent: ast.Slice, outer: ast.AST | None) -> list[str]:
    """Which bound of a slice a literal is (`s[1:]` against `s[:1]`), what bounds the other end and
    what is sliced. An off-by-one bug moves such a literal."""
    which = "lower" if node is parent.lower else "upper" if node is parent.upper else "step"
    other = parent.upper if which == "lower" else parent.lower
    sliced = _label(outer.value) if type(outer) is _SUBSCRIPT_NODE else "-"  # type: ignore[attr-defined]
    return [f"k-sl\x1f{text}\x1f{which}\x1f{_label(other) if other is not None else '-'}",
            f"k-sl-v\x1f{text}\x1f{which}\x1f{sliced}"]


_BOUND_OPS: Final = (ast.Add, ast.Sub)
"""The operators whose literal operand an off-by-one bug changes (training/mutations.py)."""

_NOT_A_BOUND: Final = ast.Pass()
"""`_Finder.outer`'s answer for a parent that is no slice, sum or difference (None is a real outer:
the tree's root)."""

_OPPOSITE_LITERALS: Final = {"True": "False", "False": "True", "None": "False", "0": "1", "1": "0"}
"""The literal a wrong-literal bug most often stands for (see training/mutations.py's swaps)."""


def _constant_text(value: object) -> str | None:
    """How features name a None, bool or int constant (None for any other constant: not a site)."""
    if value is None or type(value) is bool:
        return repr(value)
    if type(value) is int:
        return "bigint" if abs(value) > _SMALL_INT else repr(value)  # type: ignore[arg-type]
    return None


def _returned_text(value: ast.AST | None) -> str:
    """What a return gives, as `returned_constant` compares it: a site literal's text, else "-"."""
    if value is None:
        return "None"
    return _literal_text(value) or "-" if type(value) is _CONSTANT_NODE or _is_negative_literal(value) else "-"


def _is_negative_literal(node: ast.AST | None) -> bool:
    """`-1`: a unary minus on an integer constant (the negative numbers the rewrites make)."""
    return (type(node) is _UNARYOP_NODE and type(node.op) is _USUB  # type: ignore[attr-defined]
            and type(node.operand) is _CONSTANT_NODE and type(node.operand.value) is int)  # type: ignore[attr-defined]


def _literal_text(node: ast.AST) -> str | None:
    """How features name a literal site: a constant's `_constant_text`, with a minus for a negative one."""
    if type(node) is _CONSTANT_NODE:
        return _constant_text(node.value)  # type: ignore[attr-defined]
    text = _constant_text(node.operand.value)  # type: ignore[attr-defined]  # a negative literal
    return "-" + text if text is not None else None


_BRANCH_LOOK = 48
"""AST nodes of a branch (or of a boolean's later operands) that `_use_of` looks through: enough for
its first statements, and a condition around a whole function body stays cheap."""


def _branch_uses(op: str, test: ast.Compare, then_use: str, else_use: str) -> list[str]:
    """What each branch of a condition does with what it compares (`_use_of` its subject): `if x is
    None: x = []` stores it, `if x is not None: x.close()` uses what it holds, and `if x is None:
    x.close()` is a negated condition or a wrong operator; `if len(s) == 0: s[0]` likewise."""
    right = _label(test.comparators[0])
    return [f"c-then\x1f{op}\x1f{then_use}", f"c-then-r\x1f{op}\x1f{right}\x1f{then_use}",
            f"c-else\x1f{op}\x1f{else_use}\x1f{then_use}"]


def _subject(op: str, test: ast.Compare) -> str | None:
    """The path of what a comparison is about: the container of `in`, else its left side, or its right
    one where the left is a literal (`None is x`); None when it is about no variable or attribute."""
    if op in ("in", "not in"):
        return _path(test.comparators[0])
    if type(test.left) is _CONSTANT_NODE:
        return _compared(test.comparators[0])
    return _compared(test.left)


def _guard(first: ast.AST) -> tuple[str, str | None]:
    """How a test (a boolean's first operand, a condition) checks something, and the path of what
    it checks: ("is not", "x") for `x is not None`, ("not", "x") for `not x`, ("truth", "x") for `x`."""
    if type(first) is _COMPARE_NODE:
        op = OP_SYMBOL.get(type(first.ops[0]), "?")  # type: ignore[attr-defined]
        return op, _subject(op, first)  # type: ignore[arg-type]
    if type(first) is _UNARYOP_NODE and type(first.op) is _NOT:  # type: ignore[attr-defined]
        return "not", _compared(first.operand)  # type: ignore[attr-defined]
    return "truth", _compared(first)


def _compared(left: ast.AST) -> str | None:
    """The path of what a test is about: `len(s) == 0` and `s.strip()` are about `s`, `(m := f()) is
    None` about `m`; None for no variable or attribute."""
    if type(left) is _NAMED_EXPR_NODE:
        return _path(left.target)  # type: ignore[attr-defined]
    if type(left) is _CALL_NODE:
        if left.args:  # type: ignore[attr-defined]
            return _path(left.args[0])  # type: ignore[attr-defined]
        func = left.func  # type: ignore[attr-defined]
        return _path(func.value) if type(func) is _ATTRIBUTE_NODE else None
    return _path(left)


def _path(node: ast.AST) -> str | None:
    """A variable or attribute as a reader names it, `self.buf` (so it differs from `other.buf`),
    `d[]` for any item of `d`; None for anything else or past `_MAX_LABEL_DEPTH` steps."""
    suffix = ""
    for _ in range(_MAX_LABEL_DEPTH + 1):
        t = type(node)
        if t is _NAME_NODE:
            return node.id + suffix  # type: ignore[attr-defined]
        if t is _ATTRIBUTE_NODE:
            suffix = "." + node.attr + suffix  # type: ignore[attr-defined]
        elif t is _SUBSCRIPT_NODE:
            suffix = "[]" + suffix
        else:
            return None
        node = node.value  # type: ignore[attr-defined]
    return None


def _branches(condition: ast.If | ast.While | ast.IfExp) -> tuple[Sequence[ast.AST], Sequence[ast.AST]]:
    """A condition's then and else branches, each cut to the first `_BRANCH_LOOK` statements (all a
    walk of `_use_of` can reach)."""
    if isinstance(condition, ast.IfExp):
        return [condition.body], [condition.orelse]
    return condition.body[:_BRANCH_LOOK], condition.orelse[:_BRANCH_LOOK]


def _use_of(subject: str | None, branch: Sequence[ast.AST]) -> str:
    """How the first `_BRANCH_LOOK` nodes of `branch` treat the variable, attribute or item at path
    `subject`: "store" (assigned, or an item of it), else "deref" (its attribute, item or call taken),
    else "del" (deleted), "read" (passed or compared), "none"; "-" for no branch, "?" for no subject."""
    if not branch:
        return "-"
    if subject is None:
        return "?"
    use = "none"
    stack = list(reversed(branch))
    seen = 0
    while stack and seen < _BRANCH_LOOK:
        node = stack.pop()
        seen += 1
        t = type(node)
        if t is _NAME_NODE or t is _ATTRIBUTE_NODE or t is _SUBSCRIPT_NODE:
            context = type(node.ctx)  # type: ignore[attr-defined]
            if _path(node) == subject:
                if context is _DEL:
                    use = "del" if use in ("none", "read") else use
                elif context is not _LOAD:
                    return "store"
                else:
                    use = "read" if use == "none" else use
            elif t is not _NAME_NODE and _path(node.value) == subject:  # type: ignore[attr-defined]
                if t is _SUBSCRIPT_NODE and context is not _LOAD and context is not _DEL:
                    return "store"  # `d[k] = v`: filled, as `x = v` assigns
                use = "deref"
        elif t is _CALL_NODE and _path(node.func) == subject:  # type: ignore[attr-defined]
            use = "deref"
        for field in _fields(t):
            value = getattr(node, field, None)
            if type(value) is list:  # past its first `_BRANCH_LOOK` items, no walk this short gets
                stack.extend(item for item in reversed(value[:_BRANCH_LOOK]) if isinstance(item, _AST_NODE))
            elif isinstance(value, _AST_NODE):
                stack.append(value)
    return use


def _type_name(node: ast.AST | None) -> str:
    """A parent's node type, as features name it ("-" for the tree's root)."""
    return type(node).__name__ if node is not None else "-"


def _other_operand(node: ast.AST, parent: ast.BinOp | ast.Compare) -> ast.AST:
    if isinstance(parent, ast.BinOp):
        return parent.right if parent.left is node else parent.left
    return parent.comparators[0] if parent.left is node else parent.left


def _parameter_positions(arguments: ast.arguments) -> dict[str, int]:
    """Positional parameter -> its position."""
    names = [a.arg for a in arguments.posonlyargs] + [a.arg for a in arguments.args]
    return {name: position for position, name in enumerate(names)}


def _read_context(node: ast.Name, parent: ast.AST | None, position: int, callee: str) -> list[str]:
    """What a variable read is part of: an attribute, a call argument (at `position` of `callee`), an
    operation, an index, an assignment."""
    name = node.id
    if isinstance(parent, ast.Attribute):
        return [f"n-attr\x1f{name}\x1f{parent.attr}", f"n-attr2\x1f{parent.attr}"]
    if isinstance(parent, ast.Call):
        if position < 0:
            return []
        return [f"n-arg\x1f{callee}\x1f{position}\x1f{name}", f"n-argc\x1f{callee}\x1f{name}"]
    if isinstance(parent, ast.BinOp):
        return [f"n-bin\x1f{OP_SYMBOL.get(type(parent.op), '?')}\x1f{name}\x1f{_label(_other_operand(node, parent))}"]
    if isinstance(parent, ast.Compare):
        return [f"n-cmp\x1f{name}\x1f{_label(_other_operand(node, parent))}"]
    if isinstance(parent, ast.Subscript):
        other = parent.value if parent.slice is node else parent.slice
        return [f"n-sub\x1f{name}\x1f{_label(other)}"]
    if isinstance(parent, ast.Assign):
        return [f"n-asg\x1f{name}\x1f{_label(parent.targets[0])}"]
    return []


def _role(node: ast.Name, parent: ast.AST | None, position: int, callee: str) -> tuple[str, str, int] | None:
    """The part a variable read plays for its parent (`position`: among the positional arguments of
    `callee`), when it is one worth comparing across reads: (kind, detail, position)."""
    if isinstance(parent, ast.Attribute):
        return ("attr", parent.attr, 0)
    if isinstance(parent, ast.Call):
        if parent.func is node:
            return ("callee", "", 0)
        return ("arg", callee, position) if position >= 0 else None
    if isinstance(parent, ast.Subscript):
        return ("container", "", 0) if parent.value is node else ("index", "", 0)
    if isinstance(parent, ast.For | ast.AsyncFor | ast.comprehension):
        return ("iterated", "", 0) if parent.iter is node else None
    return None


def _constant_context(node: ast.Constant | ast.UnaryOp, text: str, parent: ast.AST | None, position: int, callee: str
                      ) -> list[str]:
    """What a constant is part of: an operation, a comparison, a call argument (at `position`), a
    keyword, an index, a return."""
    if isinstance(parent, ast.BinOp):
        other = _label(_other_operand(node, parent))
        return [f"k-bin\x1f{text}\x1f{OP_SYMBOL.get(type(parent.op), '?')}\x1f{other}"]
    if isinstance(parent, ast.Compare):
        other = _label(_other_operand(node, parent))
        return [f"k-cmp\x1f{text}\x1f{OP_SYMBOL.get(type(parent.ops[0]), '?')}\x1f{other}"]
    if isinstance(parent, ast.Call):
        return [f"k-arg\x1f{callee}\x1f{position}\x1f{text}"] if position >= 0 else []
    if isinstance(parent, ast.keyword):
        return [f"k-kw\x1f{parent.arg}\x1f{text}"]
    if isinstance(parent, ast.Subscript):
        return [f"k-sub\x1f{text}\x1f{_label(parent.value)}"]
    if isinstance(parent, ast.Return):
        return [f"k-ret\x1f{text}"]
    return []


def find_sites(tree: ast.AST, source: str | None = None) -> BugSites:
    """Every bug site of a parsed source, in the order a pre-order walk meets them (returned constants,
    then calls, then variable reads, after the rest): among sites of one type, an enclosing site comes
    before the sites inside it. With `source`, columns count characters."""
    sites = _Finder().walk(tree)
    if source is not None and not source.isascii():
        _to_character_columns(sites, source_lines(source))
    return sites


def _to_character_columns(sites: BugSites, lines: list[str]) -> None:
    """The AST's columns are UTF-8 byte offsets; on lines with other characters, count characters."""
    for i, line in enumerate(sites.lines):
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        if not text.isascii():
            sites.columns[i] = character_column(text, sites.columns[i] - 1)


def character_column(line: str, byte_offset: int) -> int:
    """The 1-based character column of an AST's UTF-8 byte offset into `line` (what sites, mutants and
    Python's tracebacks count)."""
    return len(line.encode("utf-8", "surrogatepass")[:byte_offset].decode("utf-8", "replace")) + 1


@dataclass(frozen=True)
class SiteHidden:
    """The scorer's nonlinear part: each site's feature ids summed as vectors (`embedding`, one row
    per bucket of the ids' low bits, a power of two) plus its type's vector, through a ReLU, then
    `out_weight` and `out_bias`. A sum of weights cannot say "this callee with these two names in
    this order"; a hidden layer over the same ids can (swapped arguments: test AUROC 0.59 -> 0.70)."""

    embedding: np.ndarray
    type_embedding: np.ndarray
    out_weight: np.ndarray
    out_bias: float

    def __post_init__(self) -> None:
        rows, width = self.embedding.shape
        if rows < 1 or rows & (rows - 1) or self.type_embedding.shape != (len(SITE_TYPES), width) or \
                self.out_weight.shape != (width,):
            raise ValueError(f"site hidden layer shapes do not fit: embedding {self.embedding.shape} (rows a "
                             f"power of two), types {self.type_embedding.shape}, out {self.out_weight.shape}")

    def logits(self, ids: np.ndarray, counts: np.ndarray, types: np.ndarray, *, chunk_ids: int = 1 << 16
               ) -> np.ndarray:
        """(sites,) the hidden part of each site's logit; `counts[i]` ids per site, one site after another.
        Sites are taken about `chunk_ids` ids at a time, so the rows gathered stay a few MB however
        many sites come (a whole split offline; a hostile module's hundreds of thousands online)."""
        if len(ids) <= chunk_ids:  # one function's few hundred ids: no slicing
            return self._chunk(ids, counts, types)
        ends = np.cumsum(counts)
        out: np.ndarray = np.empty(len(counts), dtype=np.float64)
        first = 0
        while first < len(counts):
            done = int(ends[first - 1]) if first else 0
            last = max(int(np.searchsorted(ends, done + chunk_ids, side="right")), first + 1)
            out[first:last] = self._chunk(ids[done: int(ends[last - 1])], counts[first:last], types[first:last])
            first = last
        return out

    def _chunk(self, ids: np.ndarray, counts: np.ndarray, types: np.ndarray) -> np.ndarray:
        summed: np.ndarray = self.type_embedding.take(types, axis=0)  # (sites, width), a fresh array
        # (take: about a quarter faster than fancy indexing for these few hundred rows)
        _add_per_site(summed, self.embedding.take(np.bitwise_and(ids, self.embedding.shape[0] - 1), axis=0), counts)
        np.maximum(summed, 0.0, out=summed)
        return (summed @ self.out_weight).astype(np.float64) + self.out_bias


@dataclass(frozen=True)
class SiteModel:
    """Per-site logits: a weight per hashed feature, summed, plus a bias per site type, plus the
    `hidden` part when the checkpoint has one. `combiner` (site logit weight, bugs-head logit weight,
    bias, site-count weight) turns a site's logit, the head's strongest kind and how many sites the
    code has into the probability that the bug is there; fitted on validation code (training/sites.py).
    A combiner of three weights (checkpoints before the count) has a count weight of 0."""

    weight: np.ndarray
    type_bias: np.ndarray
    combiner: tuple[float, ...]
    hidden: SiteHidden | None = None

    def __post_init__(self) -> None:
        if self.weight.shape != (SITE_BUCKETS,) or self.type_bias.shape != (len(SITE_TYPES),):
            raise ValueError(f"site model weights must be ({SITE_BUCKETS},) and ({len(SITE_TYPES)},), "
                             f"got {self.weight.shape} and {self.type_bias.shape}")
        if len(self.combiner) not in (3, 4):
            raise ValueError(f"the site combiner has 3 or 4 weights, got {len(self.combiner)}")

    def logits(self, sites: BugSites) -> np.ndarray:
        """(len(sites),) float64 logit of each site holding a bug, before the combiner."""
        return self.logits_of(sites.ids, sites.sizes, sites.types)

    def logits_of(self, ids: Sequence[int] | np.ndarray, sizes: Sequence[int] | np.ndarray,
                  types: Sequence[int] | np.ndarray) -> np.ndarray:
        """As `logits`, for sites given as flat arrays (one request's in the daemon, a split's in training)."""
        id_array = np.asarray(ids, dtype=np.intp)
        counts = np.asarray(sizes, dtype=np.intp)
        type_array = np.asarray(types, dtype=np.intp)
        logits = site_logits(self.weight, self.type_bias, id_array, counts, type_array)
        if self.hidden is not None:
            logits += self.hidden.logits(id_array, counts, type_array)
        return logits

    def combine(self, site_logit: np.ndarray, head_probability: np.ndarray | float,
                site_count: np.ndarray | int) -> np.ndarray:
        """The probability that the bug is at a site, from its logit, the bugs head's strongest kind and
        the number of sites in its code (elementwise: one function's sites with one head probability
        and count, or many functions' best sites). The count enters as log(1 + count): the strongest
        of many sites in clean code is high by chance alone, so the same logit means less there
        (probed: clean-vs-buggy AUROC +0.012 by sites alone in a cross-validation over training packages,
        +0.003 with the head on validation)."""
        w_site, w_head, bias = self.combiner[:3]
        w_count = self.combiner[3] if len(self.combiner) > 3 else 0.0
        count_term = w_count * np.log1p(np.asarray(site_count, dtype=np.float64))
        return logistic(w_site * site_logit + w_head * head_logit(head_probability) + count_term + bias)

    def probabilities(self, sites: BugSites, head_probability: float) -> np.ndarray:
        """(len(sites),) probability that the bug is at each site, given the head's strongest kind."""
        return self.combine(self.logits(sites), head_probability, len(sites))


def site_logits(weight: np.ndarray, type_bias: np.ndarray, ids: Sequence[int] | np.ndarray,
                sizes: Sequence[int] | np.ndarray, types: Sequence[int] | np.ndarray) -> np.ndarray:
    """Each site's logit: the weights of its `sizes[i]` feature ids (one site after another in `ids`)
    summed, plus its type's bias. One request's sites in the daemon, a whole split's in training."""
    logits = type_bias[np.asarray(types, dtype=np.intp)].astype(np.float64)
    _add_per_site(logits, weight[ids].astype(np.float64), np.asarray(sizes, dtype=np.intp))
    return logits


def _add_per_site(into: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> None:
    """Add to each site's entry of `into` the sum of its `counts[i]` rows (one site after another in
    `rows`); a site without ids keeps its entry."""
    starts = np.cumsum(counts) - counts
    if counts.all():  # the usual case (every site has ids): no mask to build and index with
        if len(counts):
            into += np.add.reduceat(rows, starts, axis=0)
        return
    present = counts > 0
    if present.any():
        into[present] += np.add.reduceat(rows, starts[present], axis=0)


LOGIT_CLIP: Final = 30.0
"""How far from 0 a combiner's logit may go before `logistic` (beyond it, exp could overflow)."""


def logistic(z: np.ndarray | float) -> np.ndarray:
    """A combiner's logit as a probability (the bug sites', the confidence scorer's, the imports'),
    clipped at +-LOGIT_CLIP."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(z, dtype=np.float64), -LOGIT_CLIP, LOGIT_CLIP)))


def head_logit(probability: np.ndarray | float) -> np.ndarray:
    """A head's probability as a combiner reads it (the bugs head's here, the imports head's in
    model/imports.py): a logit, clipped at 1e-6 from 0 and 1."""
    p = np.clip(np.asarray(probability, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def kind_at(site_type: int, kind_probabilities: Mapping[str, float]) -> str:
    """The kind a site of `site_type` most likely holds, by the bugs head's probabilities."""
    kinds = SITE_KINDS[SITE_TYPES[site_type]]
    return max(kinds, key=lambda kind: kind_probabilities.get(kind, 0.0))


def site_model_from(tensors: Mapping[str, np.ndarray], meta: object) -> SiteModel | None:
    """The scorer a checkpoint holds (its "bug_sites." tensors and `training["bug_sites"]`), or None when
    it holds none, or one fitted on other site features (an older SITE_FEATURES_VERSION)."""
    if not tensors or not isinstance(meta, dict) or meta.get("version") != SITE_FEATURES_VERSION:
        return None
    combiner = meta.get("combiner")
    weight, type_bias = tensors.get("weight"), tensors.get("type_bias")
    if weight is None or type_bias is None or not isinstance(combiner, list) or not floats(weight, type_bias):
        return None
    try:
        scorer = SiteModel(np.asarray(weight, np.float32), np.asarray(type_bias, np.float64),
                           tuple(float(w) for w in combiner), _hidden_from(tensors))  # type: ignore[arg-type]
    except (ValueError, TypeError, OverflowError):
        return None
    numbers = [scorer.weight, scorer.type_bias, np.asarray(scorer.combiner)]
    return scorer if all(bounded(part) for part in numbers) else None


def floats(*tensors: object) -> bool:
    """Whether each tensor holds real floating-point numbers (not bools, integers or complex ones,
    which a cast would take without a word or with only a warning)."""
    return all(isinstance(t, np.ndarray) and t.dtype.kind == "f" for t in tensors)


def bounded(values: object) -> bool:
    """Finite and within MAX_WEIGHT_MAGNITUDE (False for NaN and inf too): the check every checkpoint
    number passes. By the extremes, not `abs(values) <= bound`: the hidden embedding is 8 MB, and a
    temporary that size at load leaves the daemon's resident memory that much higher for good (the
    allocator keeps it)."""
    array = np.asarray(values)
    return array.size == 0 or bool(array.max() <= MAX_WEIGHT_MAGNITUDE and array.min() >= -MAX_WEIGHT_MAGNITUDE)


HIDDEN_TENSORS = ("embedding", "type_embedding", "out_weight", "out_bias")
"""A checkpoint's "bug_sites." tensors of the hidden part (`SiteHidden`'s fields), when it has one."""


def _hidden_from(tensors: Mapping[str, np.ndarray]) -> SiteHidden | None:
    """The hidden part, or None when the checkpoint has none (a linear scorer); float16 is widened.
    Some but not all of its tensors, a bias that is not one number, or a value that is not finite
    raise ValueError: the combiner was fitted for the whole scorer, so no scorer is better than half."""
    present = [name for name in HIDDEN_TENSORS if name in tensors]
    if not present:
        return None
    if len(present) < len(HIDDEN_TENSORS):
        raise ValueError(f"the site scorer's hidden part lacks {sorted(set(HIDDEN_TENSORS) - set(present))}")
    if not floats(*(tensors[name] for name in HIDDEN_TENSORS)):
        raise ValueError("the site scorer's hidden part holds values that are not floating-point numbers")
    embedding, type_embedding, out_weight, out_bias = (np.asarray(tensors[name], np.float32) for name in HIDDEN_TENSORS)
    if out_bias.size != 1 or not all(bounded(part) for part in (embedding, type_embedding, out_weight, out_bias)):
        raise ValueError("the site scorer's hidden part has a bias that is not one number, or values not finite "
                         "or beyond MAX_WEIGHT_MAGNITUDE")
    return SiteHidden(np.ascontiguousarray(embedding), type_embedding, out_weight, float(out_bias.reshape(-1)[0]))
