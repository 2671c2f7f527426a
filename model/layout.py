"""The 978-dimension feature layout: ten categories, every range named and described.

This module is the one table that says what each dimension of a node's feature vector holds. The
extractor (`model.scan` and `model.features`) writes by the names defined here, the checkpoint records
`FEATURE_LAYOUT_VERSION`, and `extract_features` reports `CATEGORIES` to the host. Changing a range
changes what a trained model sees, so any change bumps the version.

Conventions: counts are stored as log1p(count); "hashed" ranges are bags of stable CRC32 hashes of
strings (names, operators in context, ...) folded into the range, stored as log1p(count); ratios lie
in [0, 1]; other scalars are log1p of a non-negative quantity unless the description says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CATEGORIES",
    "CATEGORY_SIZES",
    "FEATURE_DIM",
    "FEATURE_LAYOUT_VERSION",
    "LAYOUT",
    "FeatureRange",
    "layout_markdown",
    "span",
]

FEATURE_LAYOUT_VERSION = "yantra-978-v2"
FEATURE_DIM = 978

CATEGORY_SIZES: tuple[tuple[str, int], ...] = (
    ("identity", 50),
    ("structural", 100),
    ("complexity", 100),
    ("dependency", 150),
    ("context", 100),
    ("semantic", 200),
    ("quality", 100),
    ("temporal", 50),
    ("statistical", 124),
    ("language", 4),
)


@dataclass(frozen=True, slots=True)
class FeatureRange:
    """A named half-open range [start, end) of the vector inside one category."""

    name: str
    category: str
    start: int
    end: int
    description: str

    @property
    def size(self) -> int:
        return self.end - self.start


# (category, name, size, description), in vector order. Sizes must add up to each category's size.
_SPEC: tuple[tuple[str, str, int, str], ...] = (
    # identity 50: what the node is and what it is called.
    ("identity", "kind", 8, "one-hot node kind: module, class, function, method, async function, "
     "async method, nested function, property/static/class method"),
    ("identity", "name_flags", 2, "name is a dunder; name is private (leading underscore)"),
    ("identity", "name_subtokens", 32, "hashed subtokens of the node's name (snake_case and camelCase split)"),
    ("identity", "name_shape", 8, "log name length, subtoken count, has digit, snake_case, camelCase, "
     "test_ prefix, predicate prefix (is/has/can), accessor prefix (get/set/to/from)"),
    # structural 100: what the code is made of.
    ("structural", "ast_node_types", 70, "counts of each statement, expression, pattern and helper AST node "
     "type (Assign, Call, Name, comprehension, match_case, ...)"),
    ("structural", "shape", 30, "statements, lines, parameters (positional-only, keyword-only, *args, "
     "**kwargs, defaults, annotated), decorators, body length, child units, returns, yields, raises, "
     "docstring, AST depth (max and mean), class bases and methods"),
    # complexity 100: how hard the control flow and expressions are.
    ("complexity", "metrics", 24, "cyclomatic complexity, nesting-weighted branches, max block nesting, "
     "branches, loops, try/except/with, boolean operators, comprehensions, lambdas, Halstead distinct and "
     "total operators and operands, vocabulary, length, volume, difficulty, effort"),
    ("complexity", "nesting_histogram", 10, "statements at block nesting depth 0..9 (9 = deeper)"),
    ("complexity", "statement_at_depth", 40, "hashed (statement type, nesting depth) pairs"),
    ("complexity", "control_bigrams", 26, "hashed (outer control block, inner control block) pairs"),
    # dependency 150: what the code needs from outside itself.
    ("dependency", "free_names", 64, "hashed names read but bound neither locally nor as builtins "
     "(modules, globals, imported names)"),
    ("dependency", "free_attribute_chains", 40, "hashed `root.attr` chains rooted at free names"),
    ("dependency", "imported_modules", 24, "hashed modules imported inside the node's own code"),
    ("dependency", "builtins", 16, "hashed builtins used (len, range, isinstance, ...)"),
    ("dependency", "counts", 6, "free names, distinct free names, imports, from-imports, relative imports, "
     "star imports"),
    # context 100: where the node sits.
    ("context", "parent_kind", 4, "one-hot parent: none (root), module, class, function"),
    ("context", "class_name", 16, "hashed subtokens of the enclosing class name"),
    ("context", "available_imports", 32, "hashed names the whole source binds by import (what is already "
     "imported)"),
    ("context", "module_definitions", 16, "hashed names of the source's top-level functions, classes and "
     "globals"),
    ("context", "decorators", 12, "hashed decorator names"),
    ("context", "bases", 8, "hashed base-class names (own bases for a class, the enclosing class's for a "
     "method)"),
    ("context", "position", 12, "relative line position, sibling index and count, unit nesting depth, "
     "first parameter is self/cls, uses self, uses super(), top-level units in the source, lines before and "
     "after, is last sibling, node count of the graph"),
    # semantic 200: names, operators and the relations between definitions and uses.
    ("semantic", "identifier_subtokens", 40, "hashed subtokens of every identifier read or written"),
    ("semantic", "operators", 29, "counts of the 13 binary, 10 comparison, 2 boolean and 4 unary operators"),
    ("semantic", "operator_context", 40, "hashed (operator, left operand shape, right operand shape), shapes "
     "such as name subtoken, small constant, call of f, attribute, subscript"),
    ("semantic", "def_use", 12, "locals, parameters, unused parameters, assigned-but-never-read locals, reads "
     "before any assignment, self-comparisons and self-operations, names read once, names written once, "
     "reassigned names, max reads of one name, mean reads, mean line distance from definition to first use"),
    ("semantic", "call_arguments", 24, "hashed (callee, argument position, argument name subtoken)"),
    ("semantic", "name_roles", 32, "hashed (name subtoken, role): parameter, store, load, call target, "
     "attribute base, argument, returned, compared, subscripted, iterated"),
    ("semantic", "callees", 23, "hashed names of called functions and methods"),
    # quality 100: smells and hygiene.
    ("quality", "smells", 30, "docstring and its length, annotated-parameter ratio, return annotation, bare "
     "and broad excepts, empty except bodies, pass statements, mutable defaults, comparisons to None with "
     "==, `is` with a literal, shadowed builtins, global/nonlocal, print calls, asserts, magic numbers, "
     "unreachable statements, mixed bare and valued returns, %-format, str.format, f-strings, "
     "range(len(...)), len(...) == 0, recursion, eval/exec, del, raise, single-letter names, snake_case "
     "ratio, mean name length"),
    ("quality", "statement_child_pairs", 50, "hashed (statement type, type of its first expression child)"),
    ("quality", "constant_kinds", 20, "constants by kind: 0, 1, -1, 2, other small ints, large ints, floats, "
     "empty string, short strings, long strings, f-string parts, bytes, None, True, False, Ellipsis, "
     "containers of constants, negative numbers, string with format braces, numeric strings"),
    # temporal 50: order of execution.
    ("temporal", "first_statement", 8, "hashed type of the body's first statement (after the docstring)"),
    ("temporal", "last_statement", 8, "hashed type of the body's last statement"),
    ("temporal", "statement_bigrams", 24, "hashed consecutive statement-type pairs within each block"),
    ("temporal", "order", 10, "early returns, relative line of the first loop and first return, loop-carried "
     "names, names read after the loop that assigned them, reads before definition in line order, "
     "statements after the last return, yields, awaits, try blocks before the first return"),
    # statistical 124: distributions over text, tokens and tree.
    ("statistical", "text", 16, "characters, lines, mean/max/std line length, mean/max indentation, blank "
     "and comment line ratios, digit, uppercase, underscore, punctuation, whitespace and quote character "
     "ratios, tab indentation"),
    ("statistical", "identifiers", 10, "identifier occurrences, distinct ratio, mean/std/max length, entropy "
     "of the name distribution, single-character ratio, uppercase ratio, digit ratio, dunder ratio"),
    ("statistical", "identifier_bigrams", 24, "hashed consecutive identifier-subtoken pairs in source order"),
    ("statistical", "canonical_bigrams", 24, "the same pairs with the node's own variables (parameters and "
     "names it binds, not attributes) numbered by first appearance: unchanged by renaming, changed by swapping "
     "two of its first 32 variables or using one for another"),
    ("statistical", "ast_parent_child", 50, "hashed (parent AST type, child AST type) edges"),
    # language 4.
    ("language", "language", 4, "one-hot source language: python, javascript, typescript, other"),
)


def _build_layout() -> tuple[FeatureRange, ...]:
    ranges: list[FeatureRange] = []
    start = 0
    for category, name, size, description in _SPEC:
        ranges.append(FeatureRange(name, category, start, start + size, description))
        start += size
    sizes = dict(CATEGORY_SIZES)
    for category, expected in sizes.items():
        got = sum(r.size for r in ranges if r.category == category)
        if got != expected:
            raise AssertionError(f"category {category} holds {got} dimensions, layout says {expected}")
    if start != FEATURE_DIM:
        raise AssertionError(f"layout covers {start} dimensions, expected {FEATURE_DIM}")
    return tuple(ranges)


LAYOUT: tuple[FeatureRange, ...] = _build_layout()
_BY_NAME = {r.name: r for r in LAYOUT}


def _category_bounds() -> tuple[tuple[str, int, int], ...]:
    bounds = []
    start = 0
    for name, size in CATEGORY_SIZES:
        bounds.append((name, start, start + size))
        start += size
    return tuple(bounds)


CATEGORIES: tuple[tuple[str, int, int], ...] = _category_bounds()
"""(name, start, end) of each of the ten categories, in vector order."""


def span(name: str) -> FeatureRange:
    """The range called `name` (raises KeyError with the known names if there is none)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no feature range {name!r}; known: {sorted(_BY_NAME)}") from None


def layout_markdown() -> str:
    """The layout as a Markdown table, for the documentation."""
    rows = ["| dims | category | range | what it holds |", "|---|---|---|---|"]
    for r in LAYOUT:
        rows.append(f"| {r.start}-{r.end - 1} | {r.category} | {r.name} | {r.description} |")
    return "\n".join(rows)
