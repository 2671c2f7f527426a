"""Python source -> `CodeGraph`: one node per code unit, typed edges, a 978-d feature row per node.

Nodes are the units that matter to a reader of code: the module (node 0, standing for the whole
source), each class, each function, method and nested function. Edges, added in both directions so
that GraphSAGE's mean aggregation sees them from either end:

- contains: a unit and the units defined directly inside it;
- calls: a unit and the units it calls (`f()`, `self.f()`, `Class()`), resolved by name;
- data flow: a unit that binds a name and the units that read it (module globals, `self.attr`
  written in one method and read in another).

Finer facts (names, operators, definitions and uses inside a unit) live in the features, which
`model.scan` and `model.features` compute, and in the bug sites `model.sites` finds; the names it
leaves to imports are `model.scopes`'. This module owns parsing, limits and edges. `build_graph` is
pure and its result is picklable, so callers may build graphs in worker processes.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Mapping, Set
from dataclasses import dataclass, field

import numpy as np

from model.errors import SourceLimitError, SourceSyntaxError
from model.features import unit_vectors
from model.layout import FEATURE_DIM
from model.parsing import parse
from model.scan import LINE_BREAK, R_STAR_IMPORTS, Unit, scan_units, source_lines
from model.scopes import attribute_reads, free_names
from model.sites import BugSites, character_column, find_sites

__all__ = [
    "EDGE_TYPES",
    "CodeGraph",
    "GraphNode",
    "SourceLimits",
    "build_graph",
    "unit_edges",
    "vector_graph",
]

EDGE_TYPES: tuple[str, ...] = ("contains", "calls", "data_flow")


@dataclass(frozen=True, slots=True)
class SourceLimits:
    """Bounds that keep one request's extraction fast and its memory small."""

    max_bytes: int = 4 * 1024 * 1024
    max_units: int = 20_000
    """Functions and classes (the graph's nodes but the module's own)."""


DEFAULT_LIMITS = SourceLimits()


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A unit of code: its name, kind and 1-based position."""

    name: str
    kind: str
    line: int
    column: int
    end_line: int


@dataclass(slots=True)
class CodeGraph:
    """A code graph ready for the network.

    features: (nodes, 978) float32; edge_index: (2, edges) int64, messages flow row 0 -> row 1;
    edge_type: (edges,) int8 indexing EDGE_TYPES.
    """

    nodes: list[GraphNode]
    features: np.ndarray
    edge_index: np.ndarray
    edge_type: np.ndarray
    imported: frozenset[str] = frozenset()
    free_names: frozenset[str] = frozenset()
    sites: BugSites | None = None
    """Where a one-token bug could hide (model/sites.py); None for a graph built from a host's vector
    or without them (`build_graph(..., sites=False)`)."""
    star_import: bool = False
    """Whether the code has `from m import *`, which may bind any of its free names."""
    attribute_paths: Set[tuple[str, str]] = field(default=frozenset(), repr=False, compare=False)
    """(name, dotted attribute) for each attribute read off a name (`SourceContext.attribute_paths`)."""
    _attribute_reads: Mapping[str, frozenset[str]] | None = field(default=None, init=False, repr=False,
                                                                  compare=False)

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    def attribute_reads(self) -> Mapping[str, frozenset[str]]:
        """For each free name the code reads attributes of, those attributes (`copy.deepcopy(x)`:
        "copy" -> {"deepcopy"}), which tell a name used as a module from one imported from a module.
        Gathered on first use, since the ranking asks only in some cases."""
        if self._attribute_reads is None:
            self._attribute_reads = attribute_reads(self.attribute_paths, self.free_names)
        return self._attribute_reads


def parse_source(source: str, limits: SourceLimits = DEFAULT_LIMITS) -> ast.Module:
    """Parse with bounded size and nesting; errors name the line, column or limit."""
    # at most 4 UTF-8 bytes per character: only code that could be over the limit is encoded to measure it
    size = len(source.encode("utf-8", "surrogatepass")) if len(source) * 4 > limits.max_bytes else 0
    if size > limits.max_bytes:
        raise SourceLimitError(
            f"code is {size} bytes, more than the limit of {limits.max_bytes}",
            limit="code_bytes", maximum=limits.max_bytes, actual=size,
        )
    try:
        return parse(source)  # serialised with the daemon's other parses (model/parsing.py says why)
    except (RecursionError, MemoryError):  # MemoryError: "parser stack overflowed", not a lack of memory
        depth = _AST_DEPTH_SCALE * sys.getrecursionlimit()
        raise SourceLimitError(f"code nests deeper than the parser's {depth} levels", limit="nesting",
                               maximum=depth) from None
    except (SyntaxError, ValueError) as exc:
        raise _syntax_error(exc, source) from None


_AST_DEPTH_SCALE = 3
"""CPython 3.11 builds an AST at most 3 x the recursion limit deep (about 3,000 nested expressions)."""
_TOKENIZER_LIMITS = {"too many nested parentheses": 200, "too many levels of indentation": 100}
"""CPython's tokenizer's bounds (MAXLEVEL, MAXINDENT), by the message it raises."""


def _syntax_error(exc: SyntaxError | ValueError, source: str) -> SourceSyntaxError | SourceLimitError:
    message = (exc.msg if isinstance(exc, SyntaxError) else str(exc)) or "invalid syntax"
    line = exc.lineno if isinstance(exc, SyntaxError) and exc.lineno and exc.lineno >= 1 else None
    column = exc.offset if isinstance(exc, SyntaxError) and line and exc.offset and exc.offset >= 1 else None
    if line is None and "null bytes" in message:  # raised before tokenizing, with no position
        line, column = _position(source, source.find("\0"))
    elif isinstance(exc, UnicodeEncodeError):  # a lone surrogate: compile() encodes the source first
        line, column = _position(source, exc.start)
        message = f"lone surrogate U+{ord(source[exc.start]):04X} is not text"  # the codec's message quotes it raw
    elif line is not None and column is None and "integer string conversion" in message:
        column = _long_literal_column(source, line)
    elif line is not None and (place := _in_fstring_expression(source, exc, line)) is not None:
        line, column = place
    elif line is not None:
        if message.startswith("unexpected EOF while parsing"):  # at a backslash ending the last line; CPython's
            column = sys.maxsize  # count is off where an earlier line of the statement has wide characters
        line, column = _within_source(source, line, column, in_bytes=message.startswith(_COUNTED_IN_BYTES))
    where = f" at line {line}, column {column}" if line else ""
    for text, maximum in _TOKENIZER_LIMITS.items():
        if text in message:
            return SourceLimitError(f"code nests too deeply: {message}{where}", limit="nesting", maximum=maximum,
                                    line=line, column=column)
    return SourceSyntaxError(f"code does not parse: {message}{where}", line=line, column=column)


_COUNTED_IN_BYTES = ("leading zeros in decimal integer literals",)
"""CPython 3.11 errors whose column counts UTF-8 bytes, not characters (`日日=07`: 8, where the
literal starts at character 4); every other column counts characters."""


def _within_source(source: str, line: int, column: int | None, *, in_bytes: bool = False
                   ) -> tuple[int, int | None]:
    """A position moved inside the source: past the last line (CPython puts an error at the end of
    input on the line after it when lines end in "\r\n") to the end of the last line, where it is
    with "\n"; a column counted in bytes (`in_bytes`) to the character it falls in; and a column past
    its line's end (after a string that spans lines CPython counts from the string's first line) to
    that end."""
    lines = source_lines(source)
    if lines and line > len(lines):
        return len(lines), len(lines[-1]) + 1
    if column is None or not lines:
        return line, column
    text = lines[line - 1]
    if in_bytes:
        column = len(text.encode("utf-8", "surrogatepass")[: column - 1].decode("utf-8", "ignore")) + 1
    return line, min(column, len(text) + 1)


def _in_fstring_expression(source: str, exc: SyntaxError | ValueError, line: int
                           ) -> tuple[int | None, int | None] | None:
    """Where in the source an error inside an f-string's expression is. CPython 3.11 parses each such
    expression on its own: the error's text is the expression in parentheses, `(name name)`, and its
    column counts into that text (2 for `name name` at column 21), whatever the message ("f-string:
    invalid syntax", "invalid hexadecimal literal"). None for any other error, when the expression
    is not found, and on 3.12, which parses f-strings with the rest and gives the source line."""
    text = (exc.text or "").rstrip("\r\n") if isinstance(exc, SyntaxError) else ""
    offset = exc.offset if isinstance(exc, SyntaxError) else None
    if not (offset and len(text) >= 2 and text[0] == "(" and text[-1] == ")"):
        return None
    lines = source_lines(source)
    if line <= len(lines) and lines[line - 1] == text:
        return None  # a position in the source line already
    at = _expression_start(source, text[1:-1], _line_start(source, line), _line_start(source, line + 1))
    if at is None:
        return None
    if exc.msg.startswith(("f-string", "unexpected EOF", *_COUNTED_IN_BYTES)):  # type: ignore[union-attr]  # the parser's: bytes
        offset = character_column(text, offset - 1)
    found_line, column = _position(source, at + max(offset - 2, 0))
    return _within_source(source, found_line or line, column)


def _expression_start(source: str, expression: str, start: int, end: int) -> int | None:
    """Where `expression` starts after a `{` on the error's line (`start` to `end`): a `{` that opens
    a replacement field (not `{{`), whose expression ends there (`{a +}`, not `{a + 1}`), inside an
    f-string literal where the source tokenizes that far (`"{a b}" + f"{a b}"`: the second)."""
    every = [index + 1 for index in _occurrences(source[:end], "{" + expression, start)]
    found = [index for index in every if _opens_field(source, index - 1)
             and source[index + len(expression): index + len(expression) + 1] in ("}", "!", ":", "=")] or every
    if len(found) < 2:  # one place or none: nothing to choose, and no need to tokenize a large module
        return found[0] if found else None
    spans = _fstring_spans(source)
    inside = [index for index in found if any(first <= index < end for first, end in spans)]
    return (inside or found)[0]


def _opens_field(source: str, brace: int) -> bool:
    """Whether the `{` at `brace` opens a replacement field: an odd run of braces ends there (`{{`
    is a literal brace)."""
    run = 0
    while brace - run >= 0 and source[brace - run] == "{":
        run += 1
    return run % 2 == 1


def _occurrences(text: str, needle: str, start: int) -> list[int]:
    found, index = [], text.find(needle, start)
    while index >= 0:
        found.append(index)
        index = text.find(needle, index + 1)
    return found


def _fstring_spans(source: str) -> list[tuple[int, int]]:
    """(start, end) in `source` of each f-string literal the tokenizer reads before any error."""
    lines = io.StringIO(source).readlines()
    offsets = [0]
    for text in lines:
        offsets.append(offsets[-1] + len(text))
    spans = []
    try:
        for token in tokenize.generate_tokens(iter(lines).__next__):
            if token.type == tokenize.STRING and "f" in token.string[:_quote(token.string)].lower():
                spans.append((offsets[token.start[0] - 1] + token.start[1], offsets[token.end[0] - 1] + token.end[1]))
    except (tokenize.TokenError, SyntaxError, StopIteration):
        pass
    return spans


def _quote(literal: str) -> int:
    return min((i for i in (literal.find("'"), literal.find('"')) if i >= 0), default=0)


def _line_start(source: str, line: int) -> int:
    """The index in `source` where its 1-based `line` starts (lines ending as the tokenizer ends them)."""
    for number, match in enumerate(LINE_BREAK.finditer(source), start=2):
        if number == line:
            return match.end()
    return 0 if line <= 1 else len(source)


def _position(source: str, index: int) -> tuple[int | None, int | None]:
    """The 1-based line and column (in characters) of `source[index]`, lines ending as Python's
    tokenizer ends them; (None, None) for index -1."""
    if index < 0:
        return None, None
    breaks = [match.end() for match in LINE_BREAK.finditer(source, 0, index)]
    return len(breaks) + 1, index - (breaks[-1] if breaks else 0) + 1


_DECIMAL_LITERAL = re.compile(r"(?<![\w.])[0-9][0-9_]*")


def _long_literal_column(source: str, line: int) -> int | None:
    """The 1-based column of the first integer literal on `line` with more digits than the
    interpreter converts (CPython reports that error at column 0), when one is found there."""
    lines = source_lines(source)
    limit = sys.get_int_max_str_digits()
    if not (0 < line <= len(lines)) or not limit:
        return None
    for found in _DECIMAL_LITERAL.finditer(lines[line - 1]):
        if len(found.group()) - found.group().count("_") > limit:
            return found.start() + 1
    return None


_BOM = "\ufeff"


def build_graph(source: str, *, limits: SourceLimits = DEFAULT_LIMITS, sites: bool = True) -> CodeGraph:
    """Parse `source` and return its graph; raises SourceSyntaxError or SourceLimitError. With `sites`
    False the graph has no bug sites (None): a caller that will not score them skips their cost.
    A leading byte-order mark is dropped, as Python drops it from a file (an editor that decodes
    with "utf-8" rather than "utf-8-sig" sends it): lines and columns count from after it."""
    source = source.removeprefix(_BOM)
    tree = parse_source(source, limits)
    units, context = scan_units(tree, source)
    definitions = len(units) - 1  # the first unit is the module itself
    if definitions > limits.max_units:
        raise SourceLimitError(
            f"code defines {definitions} functions and classes, more than the limit of {limits.max_units}",
            limit="units", maximum=limits.max_units, actual=definitions,
        )
    features = unit_vectors(units, context)
    edge_index, edge_type = unit_edges(units)
    nodes = [GraphNode(u.name, u.kind, u.line, u.column, u.end_line) for u in units]
    return CodeGraph(nodes, features, edge_index, edge_type, context.imported_modules,
                     free_names(units, tree, source), find_sites(tree, source) if sites else None,
                     units[0].raw[R_STAR_IMPORTS] > 0, context.attribute_paths)


def vector_graph(vector: np.ndarray) -> CodeGraph:
    """A one-node graph around a host-supplied 978-d vector."""
    features = np.asarray(vector, dtype=np.float32).reshape(1, FEATURE_DIM)
    node = GraphNode("<vector>", "vector", 0, 0, 0)
    return CodeGraph([node], features, np.zeros((2, 0), np.int64), np.zeros(0, np.int8))


_MAX_FAN_OUT = 32
"""Units one call name or one `self.attr` read links to at most (the first in the source): a name
defined a thousand times and called a thousand times would otherwise make a million edges from
26 KB of code (seconds and a GB here). Real code rarely comes near: of 13,341 files of the standard
library and site-packages, 12 have a call name and 2 a class attribute beyond it."""
_CALL_AND_FLOW_EDGES_PER_UNIT = 64
"""Call and flow links a graph may have per unit, the first found kept: with `_MAX_FAN_OUT`, the
edges stay linear in the code's size whatever its shape."""


def unit_edges(units: list[Unit]) -> tuple[np.ndarray, np.ndarray]:
    """The graph's edges between `units` (both directions) and each one's EDGE_TYPES index: (2, E), (E,)."""
    pairs: dict[tuple[int, int], int] = {}
    budget = _CALL_AND_FLOW_EDGES_PER_UNIT * len(units)

    def link(a: int, b: int, kind: int) -> None:
        nonlocal budget
        if a != b and (kind == 0 or budget > 0) and (a, b) not in pairs:  # the first kind found stays
            budget -= kind != 0
            pairs[(a, b)] = pairs[(b, a)] = kind

    for child, unit in enumerate(units):
        if unit.parent >= 0:
            link(unit.parent, child, 0)
    _call_edges(units, link)
    _flow_edges(units, link)
    if not pairs:
        return np.zeros((2, 0), np.int64), np.zeros(0, np.int8)
    keys = sorted(pairs)
    edge_index = np.array(keys, dtype=np.int64).T.copy()
    edge_type = np.array([pairs[k] for k in keys], dtype=np.int8)
    return edge_index, edge_type


def _call_edges(units: list[Unit], link) -> None:
    by_name: dict[str, list[int]] = {}
    methods: dict[int, dict[str, int]] = {}
    for i, unit in enumerate(units[1:], start=1):
        parent = units[unit.parent]
        if parent.kind == "class":
            methods.setdefault(unit.parent, {})[unit.name] = i
        else:
            by_name.setdefault(unit.name, []).append(i)
    for i, unit in enumerate(units):
        for callee in unit.callees:
            for target in by_name.get(callee, ())[:_MAX_FAN_OUT]:
                link(i, target, 1)
        if unit.self_calls:
            own_class = _enclosing_class(units, i)
            table = methods.get(own_class, {})
            for callee in unit.self_calls:
                target = table.get(callee)
                if target is not None:
                    link(i, target, 1)


def _flow_edges(units: list[Unit], link) -> None:
    module_names = set(units[0].stores) - {u.name for u in units[1:]}
    for i, unit in enumerate(units[1:], start=1):
        if module_names.intersection(unit.loads):
            link(0, i, 2)
    writers: dict[tuple[int, str], list[int]] = {}
    for i, unit in enumerate(units):
        if unit.self_attr_writes:
            cls = _enclosing_class(units, i)
            for attr in unit.self_attr_writes:
                writers.setdefault((cls, attr), []).append(i)
    for i, unit in enumerate(units):
        if unit.self_attr_reads:
            cls = _enclosing_class(units, i)
            for attr in unit.self_attr_reads:
                for writer in writers.get((cls, attr), ())[:_MAX_FAN_OUT]:
                    link(writer, i, 2)


def _enclosing_class(units: list[Unit], index: int) -> int:
    parent = units[index].parent
    while parent >= 0 and units[parent].kind != "class":
        parent = units[parent].parent
    return parent
