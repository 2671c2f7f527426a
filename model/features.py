"""Code units -> one 978-d feature vector per unit, by the table in `model.layout`.

The module node's row summarises the whole source, the other rows their own unit's code. Counts and
hashed ranges arrive as bags of dimension indices from the walk (`model.scan`) and become numbers
in one `np.bincount`; scalar ranges (shape, complexity, def-use, smells, order, text, names) are
built per unit as one flat list and transformed for all units at once. This module owns that
arithmetic; what each dimension means is `model.layout`'s.

setup.py compiles this module with mypyc (model.native tells whether it is): hence the `Final`
constants and typed locals, which compiled code reads natively. It runs as plain Python too, bit for bit.
"""

from __future__ import annotations

import math
import struct
from typing import Final

import numpy as np

from model.hashing import (
    BUILTIN_NAMES,
    H_AVAILABLE,
    H_BASES,
    H_BUILTIN,
    H_CLASS,
    H_DECORATOR,
    H_FREE,
    H_FREE_ATTR,
    H_MODULE_DEFS,
    H_NAME,
    Memo,
    stable_hash,
    subtokens,
)
from model.layout import FEATURE_DIM, span
from model.scan import (
    KINDS,
    R_AFTER_LAST_RETURN,
    R_ANNOTATED_PARAMS,
    R_AWAITS,
    R_BARE_RETURNS,
    R_BODY_LEN,
    R_BOOLOPS,
    R_BRANCHES,
    R_COMPREHENSIONS,
    R_DEPTH_SUM,
    R_DOCSTRING,
    R_DOCSTRING_CHARS,
    R_EARLY_RETURNS,
    R_FIRST_LOOP_LINE,
    R_FIRST_RETURN_LINE,
    R_FROM_IMPORTS,
    R_HANDLERS,
    R_IFS,
    R_IMPORTS,
    R_LAMBDAS,
    R_LOOPS,
    R_NESTED_BRANCHES,
    R_NESTING_MAX,
    R_NODES,
    R_OPERATORS_TOTAL,
    R_PARAMS,
    R_RAISES,
    R_RELATIVE_IMPORTS,
    R_RETURN_ANNOTATION,
    R_RETURNS,
    R_STAR_IMPORTS,
    R_STATEMENTS,
    R_TRIES,
    R_TRY_BEFORE_RETURN,
    R_VALUED_RETURNS,
    R_WITHS,
    R_YIELDS,
    RAW,
    RAW_MAX,
    SourceContext,
    Unit,
)

__all__ = ["unit_vectors"]

# ---------------------------------------------------------------- vectors
#
# Scalars are produced per unit as one flat list in the order of _SCALAR_RANGES, then transformed and
# written for all units at once; bags of indices (counts and hashed ranges) go through one bincount.

_SCALAR_RANGES: Final[tuple[tuple[str, str], ...]] = (
    # (range, transform per value: "l" = log1p, "i" = as is)
    ("name_flags", "ii"),
    ("name_shape", "lliiiiii"),
    ("position", "illliiilllil"),
    ("shape", "l" * 30),
    ("metrics", "l" * 24),
    ("counts", "l" * 6),
    ("def_use", "l" * 12),
    ("smells", "llil" + "l" * 13 + "i" + "l" * 9 + "iil"),
    ("order", "liilllllll"),
    ("text", "lllllll" + "i" * 9),
    ("identifiers", "lilllliiii"),
)
for _name, _transform in _SCALAR_RANGES:
    assert len(_transform) == span(_name).size, (_name, len(_transform), span(_name).size)
_SCALAR_DIMS: Final = np.array([d for n, _ in _SCALAR_RANGES for d in range(span(n).start, span(n).end)],
                                dtype=np.intp)
_SCALAR_LOGGED: Final = np.array([c == "l" for _, t in _SCALAR_RANGES for c in t])
"""Which scalar columns, in layout order, are log1p-transformed."""
_KIND_START: Final = span("kind").start
_PARENT_START: Final = span("parent_kind").start
_LANGUAGE_PYTHON: Final = span("language").start


def _def_use(unit: Unit) -> tuple[list[float], list[int], float, float, int]:
    """Definition-use statistics, hashed free names, free-read counts and loop-carried names of a unit."""
    return _def_use_of(unit.params, unit.stores, unit.loads, unit.kind == "module", unit.loop_spans,
                       unit.attr_chains, unit.self_ops)


def _merged_def_use(units: list[Unit]) -> tuple[list[float], list[int], float, float, int]:
    """`_def_use` of every unit's names together (the whole source), each definition a store at its line."""
    stores: dict[str, list[int]] = {}
    loads: dict[str, list[int]] = {}
    params: list[str] = []
    attr_chains: list[tuple[str, str]] = []
    loop_spans: list[tuple[int, int]] = []
    self_ops = 0
    for unit in units:
        for name, positions in unit.stores.items():
            stores.setdefault(name, []).extend(positions)
        for name, positions in unit.loads.items():
            loads.setdefault(name, []).extend(positions)
        params.extend(unit.params)
        attr_chains.extend(unit.attr_chains)
        loop_spans.extend(unit.loop_spans)
        self_ops += unit.self_ops
    for unit in units[1:]:
        stores.setdefault(unit.name, []).append(unit.line * 1000)
    return _def_use_of(params, stores, loads, False, loop_spans, attr_chains, self_ops)


def _def_use_of(param_list: list[str], stores: dict[str, list[int]], loads: dict[str, list[int]], is_module: bool,
                loop_spans: list[tuple[int, int]], attr_chains: list[tuple[str, str]],
                self_ops: int) -> tuple[list[float], list[int], float, float, int]:
    """`_def_use` from the names themselves, so the whole source's merged names need no synthetic `Unit`.

    Written as plain loops over typed values: compiled, they run as native code."""
    params = set(param_list)
    locals_ = set(stores) | params
    unused_params = 0
    for p in params:
        if p not in loads and p not in _UNUSED_OK and not p.startswith("_"):
            unused_params += 1
    unused_locals = 0
    if not is_module:
        for n in stores:
            if n not in loads and n not in params and not n.startswith("_"):
                unused_locals += 1
    before = 0
    distances: list[float] = []
    loop_carried = 0
    for name, positions in loads.items():
        store_positions = stores.get(name)
        if store_positions is None or name in params:
            continue
        first_store, first_load = _smallest(store_positions), _smallest(positions)
        if first_load < first_store:
            before += 1
        else:
            distances.append((first_load - first_store) / 1000)
        for start, end in loop_spans:
            if _read_before_loop_store(positions, store_positions, start, end):
                loop_carried += 1
                break
    read_once = reads = most_reads = 0
    for positions in loads.values():
        count = len(positions)
        reads += count
        if count == 1:
            read_once += 1
        most_reads = max(most_reads, count)
    stored_once = stored_more = 0
    for positions in stores.values():
        if len(positions) == 1:
            stored_once += 1
        elif len(positions) > 1:
            stored_more += 1
    free: list[str] = []
    builtins_read: list[str] = []
    for n in loads:
        if n not in locals_:
            (builtins_read if n in BUILTIN_NAMES else free).append(n)
    counts = [H_FREE[n] for n in free]
    counts.extend([H_BUILTIN[n] for n in builtins_read])
    free_set = set(free)
    counts.extend([H_FREE_ATTR[f"{root}.{attr}"] for root, attr in attr_chains if root in free_set])
    stats = [
        len(locals_),
        len(params),
        unused_params,
        unused_locals,
        before,
        self_ops,
        read_once,
        stored_once,
        stored_more,
        most_reads,
        reads / len(loads) if loads else 0.0,
        sum(distances) / len(distances) if distances else 0.0,
    ]
    free_reads = 0
    for n in free:
        free_reads += len(loads[n])
    return stats, counts, free_reads, len(free), loop_carried


_UNUSED_OK: Final = frozenset({"self", "cls", "_"})
"""Parameters that are never counted as unused."""


def _smallest(positions: list[int]) -> int:
    """min() of a short non-empty list, as a native loop when compiled."""
    smallest = positions[0]
    for p in positions:
        if p < smallest:
            smallest = p
    return smallest


def _read_before_loop_store(loads: list[int], stores: list[int], start: int, end: int) -> bool:
    """Whether a name is read inside the loop [start, end] before its first store there (loop-carried)."""
    first_store = -1
    for p in stores:
        if start <= p <= end and (first_store < 0 or p < first_store):
            first_store = p
    if first_store < 0:
        return False
    return any(start <= p < first_store for p in loads)


_DIGITS: Final = b"0123456789"
_UPPER: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PUNCTUATION: Final = b"()[]{}:,."


def _deleted(encoded: bytes, characters: bytes) -> int:
    """How many of `characters` (ASCII) `encoded` holds: in UTF-8 an ASCII byte is only ever that character."""
    return len(encoded) - len(encoded.translate(None, characters))


def _text_stats(lines: list[str]) -> list[float]:
    """Character and line statistics of a span of source lines."""
    n = len(lines) or 1
    total_length = longest = squares = blank = comments = indent_sum = indent_max = indented_lines = 0
    for line in lines:
        length = len(line)
        stripped = line.lstrip()
        kept = len(stripped)
        total_length += length
        squares += length * length
        longest = max(longest, length)
        if kept:
            indent = length - kept
            indent_sum += indent
            indent_max = max(indent_max, indent)
            indented_lines += 1
            if stripped[0] == "#":
                comments += 1
        else:
            blank += 1
    text = "\n".join(lines)
    encoded = text.encode("utf-8", "surrogatepass")
    size = len(text)
    chars = size or 1
    mean = total_length / n
    var = max(squares / n - mean * mean, 0.0)
    return [
        chars,
        n,
        mean,
        longest,
        math.sqrt(var),
        indent_sum / (indented_lines or 1),
        indent_max,
        blank / n,
        comments / n,
        _deleted(encoded, _DIGITS) / chars,
        _deleted(encoded, _UPPER) / chars,
        text.count("_") / chars,
        _deleted(encoded, _PUNCTUATION) / chars,
        text.count(" ") / chars,
        (text.count("'") + text.count('"')) / chars,
        1.0 if "\n\t" in text or text.startswith("\t") else 0.0,
    ]


_NAME_FLAGS: Final = Memo(lambda name: (len(name), name.lower() != name, any(c.isdigit() for c in name),
                                         name.startswith("__"), name.islower() or "_" in name))
"""name -> (length, has uppercase, has digit, is dunder, is snake_case): names repeat across requests."""


def _name_counts(names: list[str]) -> dict[str, int]:
    """How often each name occurs, in order of first occurrence."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts


def _merged_counts(per_unit: list[dict[str, int]]) -> dict[str, int]:
    """The counts of all units' names together, in the order the concatenated sequences would give."""
    merged: dict[str, int] = {}
    for counts in per_unit:
        for name, count in counts.items():
            merged[name] = merged.get(name, 0) + count
    return merged


def _identifier_stats(distinct: dict[str, int]) -> list[float]:
    """The `identifiers` range (10 values, untransformed) and, last, the snake_case ratio for `smells`,
    from the counts of the names a unit uses (`_name_counts`)."""
    n = sum(distinct.values())
    if not n:
        return [0.0] * 11
    total_len = total_sq = longest = single = upper = digit = dunder = snake = 0
    entropy = 0.0
    for name, count in distinct.items():
        length, has_upper, has_digit, is_dunder, is_snake = _NAME_FLAGS[name]
        total_len += length * count
        total_sq += length * length * count
        longest = max(longest, length)
        single += count if length == 1 else 0
        upper += count if has_upper else 0
        digit += count if has_digit else 0
        dunder += count if is_dunder else 0
        snake += count if is_snake else 0
        p = count / n
        entropy -= p * math.log2(p)
    mean = total_len / n
    std = math.sqrt(max(total_sq / n - mean * mean, 0.0))
    return [n, len(distinct) / n, mean, std, longest, entropy / 8.0, single / n, upper / n, digit / n,
            dunder / n, snake / n]


def _identity(unit: Unit, bag: list[int]) -> list[float]:
    """Hashed name subtokens go to the bag; the name flags and shape are returned as scalars."""
    name = unit.name
    tokens = subtokens(name)
    bag.extend(H_NAME[token] for token in tokens)
    lower = name.lower()
    stripped = name.strip("_")
    return [
        float(name.startswith("__") and name.endswith("__")),
        float(name.startswith("_")),
        len(name),
        len(tokens),
        float(any(c.isdigit() for c in name)),
        float("_" in stripped),
        float(stripped != stripped.lower() and "_" not in stripped),
        float(lower.startswith("test")),
        float(lower.startswith(("is", "has", "can", "should"))),
        float(lower.startswith(("get", "set", "to", "from"))),
    ]


def _context(unit: Unit, index: int, units: list[Unit], ctx: SourceContext, bag: list[int],
             position: int) -> list[float]:
    """Hashed context of this unit goes to the bag (what the whole source imports and defines is
    shared by every node: `_source_counts`); the position scalars are returned."""
    if unit.class_name:
        bag.extend(H_CLASS[token] for token in subtokens(unit.class_name))
    bag.extend(H_DECORATOR[name] for name in unit.decorators)
    bag.extend(H_BASES[name] for name in unit.bases)
    total = len(ctx.lines) or 1
    parent = units[unit.parent] if unit.parent >= 0 else None
    siblings = parent.children if parent is not None else [index]
    first_param = unit.params[0] if unit.params else ""
    return [
        (unit.line - 1) / total,
        position,
        len(siblings),
        unit.unit_depth,
        float(first_param in ("self", "cls")),
        float(unit.uses_self),
        float(unit.uses_super),
        len(units[0].children),
        unit.line - 1,
        max(total - unit.end_line, 0),
        float(position == len(siblings) - 1),
        len(units),
    ]


def _parent_kind(units: list[Unit], unit: Unit) -> int:
    if unit.parent < 0:
        return 0
    kind = units[unit.parent].kind
    return 1 if kind == "module" else 2 if kind == "class" else 3


def _merge_raw(units: list[Unit]) -> list[float]:
    """Raw statistics of the whole source: sums over units, maxima where the statistic is a maximum."""
    merged = list(units[0].raw)
    for unit in units[1:]:
        raw = unit.raw
        for i in range(len(merged)):
            merged[i] += raw[i]
    for i in RAW_MAX:
        merged[i] = max([unit.raw[i] for unit in units])
    return merged


def _halstead(operators: set[str], operands: set[str], raw: list[float]) -> list[float]:
    n1, n2 = len(operators) or 1, len(operands) or 1
    big_n1 = raw[R_OPERATORS_TOTAL]
    big_n2 = max(raw[R_NODES] - big_n1, 0.0)
    vocabulary = n1 + n2
    length = big_n1 + big_n2
    volume = length * math.log2(vocabulary) if vocabulary > 1 else 0.0
    difficulty = (n1 / 2) * (big_n2 / n2)
    return [n1, n2, big_n1, big_n2, vocabulary, length, volume, difficulty, volume * difficulty]


_SHAPE_KEYS: Final = ("statements", "params", "posonly", "kwonly", "varargs", "kwargs", "defaults",
               "annotated_params", "decorators", "body_len", "child_units", "returns", "yields", "raises",
               "docstring", "depth_max")
_SHAPE_KEYS_2: Final = ("nodes", "bases", "methods", "awaits", "return_annotation", "docstring_chars", "lambdas",
                 "comprehensions", "handlers", "withs", "imports", "from_imports", "early_returns")
_SHAPE_IDX: Final = [RAW[k] for k in _SHAPE_KEYS]
_SHAPE_IDX_2: Final = [RAW[k] for k in _SHAPE_KEYS_2]
_SMELL_KEYS: Final = ("bare_except", "broad_except", "empty_except", "passes", "mutable_defaults", "none_eq",
               "is_literal", "shadowed_builtins", "global_stmts", "prints", "asserts", "magic_numbers",
               "unreachable")
_SMELL_KEYS_2: Final = ("percent_format", "format_calls", "fstrings", "range_len", "len_zero", "recursion",
                 "eval_exec", "deletes", "raises")
_SMELL_IDX: Final = [RAW[k] for k in _SMELL_KEYS]
_SMELL_IDX_2: Final = [RAW[k] for k in _SMELL_KEYS_2]


def _raw_scalars(raw: list[float], operators: set[str], operands: set[str], def_use: list[float],
                 free_reads: float, free_names: float, loop_carried: float, name_stats: list[float]) -> list[float]:
    """shape, metrics, counts, def_use, smells and order scalars, untransformed, in layout order."""
    nodes = raw[R_NODES] or 1
    body_len = max(1.0, raw[R_BODY_LEN])
    params = raw[R_PARAMS]
    out = [raw[i] for i in _SHAPE_IDX]
    out.append(raw[R_DEPTH_SUM] / nodes)
    out.extend(raw[i] for i in _SHAPE_IDX_2)
    branches, boolops = raw[R_BRANCHES], raw[R_BOOLOPS]
    out += [1 + branches + boolops, branches + raw[R_NESTED_BRANCHES], raw[R_NESTING_MAX], branches,
            raw[R_LOOPS], raw[R_TRIES], raw[R_HANDLERS], raw[R_WITHS], boolops,
            raw[R_COMPREHENSIONS], raw[R_LAMBDAS], raw[R_IFS], raw[R_RETURNS],
            raw[R_STATEMENTS] / body_len, raw[R_RAISES]]
    out += _halstead(operators, operands, raw)
    out += [free_reads, free_names, raw[R_IMPORTS], raw[R_FROM_IMPORTS], raw[R_RELATIVE_IMPORTS],
            raw[R_STAR_IMPORTS]]
    out += def_use
    out += [raw[R_DOCSTRING], raw[R_DOCSTRING_CHARS], raw[R_ANNOTATED_PARAMS] / params if params else 0.0,
            raw[R_RETURN_ANNOTATION]]
    out.extend(raw[i] for i in _SMELL_IDX)
    out.append(float(raw[R_VALUED_RETURNS] > 0 and raw[R_BARE_RETURNS] > 0))
    out.extend(raw[i] for i in _SMELL_IDX_2)
    out += [name_stats[6], name_stats[10], name_stats[2]]  # single-letter ratio, snake_case ratio, mean length
    out += [raw[R_EARLY_RETURNS], raw[R_FIRST_LOOP_LINE], raw[R_FIRST_RETURN_LINE], loop_carried,
            min(raw[R_LOOPS], raw[R_VALUED_RETURNS]), def_use[4], raw[R_AFTER_LAST_RETURN],
            raw[R_YIELDS], raw[R_AWAITS], raw[R_TRY_BEFORE_RETURN]]
    return out


_BIGRAM: Final = span("identifier_bigrams")
_CANONICAL: Final = span("canonical_bigrams")
_LAST_TOKEN_HASH: Final = Memo(lambda name: stable_hash(subtokens(name)[-1]))
_MAX_NUMBERED: Final = 32
_NUMBERED_HASH: Final = [stable_hash(f"#{index}") for index in range(_MAX_NUMBERED + 1)]
"""The hash standing for the node's k-th own variable (all past the 32nd share the last one)."""
_NUMBERED_MULTIPLIER: Final = 998_244_353
"""Not the plain pairs' multiplier, so a pair of names that are not the node's own lands in unrelated
dimensions of the two ranges rather than in the same place in both."""


def _ident_bigrams(unit: Unit, bag: list[int]) -> None:
    """Hashed pairs of consecutive identifiers' last subtokens (`self.count` -> "count self", as the
    walk meets the attribute before its base), and the same pairs with the unit's own variables
    numbered by first appearance. Renaming leaves the numbered pairs as they were; `f(b, a)` for
    `f(a, b)`, or one variable used for another, changes them, where a bag of names barely moves.
    An attribute is never numbered, even when a variable has its name (`self.count = count`)."""
    start, size = _BIGRAM.start, _BIGRAM.size
    numbered_start, numbered_size = _CANONICAL.start, _CANONICAL.size
    own = set(unit.params)
    own.update(unit.stores)
    attributes = set(unit.attribute_indices)
    numbers: dict[str, int] = {}
    prev = 0x9E3779B1
    numbered_prev = 0x9E3779B1
    for position, name in enumerate(unit.ident_sequence):
        token: int = _LAST_TOKEN_HASH[name]
        bag.append(start + ((prev * 1_000_003) ^ token) % size)
        prev = token
        if name in own and position not in attributes:
            number = numbers.setdefault(name, len(numbers))
            token = _NUMBERED_HASH[min(number, _MAX_NUMBERED)]
        bag.append(numbered_start + ((numbered_prev * _NUMBERED_MULTIPLIER) ^ token) % numbered_size)
        numbered_prev = token


def unit_vectors(units: list[Unit], ctx: SourceContext) -> np.ndarray:
    """The (len(units), 978) float32 matrix; row 0 is the module node (the whole source)."""
    rows: list[list[float]] = []
    own_bags: list[list[int]] = []
    extra_bags: list[list[int]] = []
    name_counts: list[dict[str, int]] = []
    positions = {child: i for unit in units for i, child in enumerate(unit.children)}
    whole_text = _text_stats(ctx.lines)
    for i, unit in enumerate(units):
        def_use, derived, free_reads, free_names, loop_carried = _def_use(unit)
        own = unit.counts + derived
        _ident_bigrams(unit, own)
        own_bags.append(own)
        counts = _name_counts(unit.ident_sequence)
        name_counts.append(counts)
        extra: list[int] = []
        extra_bags.append(extra)
        if i == 0:
            rows.append([])
            continue
        # A unit spanning the whole source (a snippet that is one function) shares the module's text.
        spans_source = unit.line == 1 and unit.end_line >= len(ctx.lines)
        text = whole_text if spans_source else _text_stats(ctx.lines[unit.line - 1: unit.end_line])
        rows.append(_unit_scalars(unit, i, units, ctx, extra, unit.raw, unit.operator_kinds, unit.operand_kinds,
                                  (def_use, free_reads, free_names, loop_carried), counts, text,
                                  positions.get(i, 0)))
    module = units[0]
    stats = _merged_def_use(units)
    operators = set().union(*(u.operator_kinds for u in units))
    operands = set().union(*(u.operand_kinds for u in units))
    rows[0] = _unit_scalars(module, 0, units, ctx, extra_bags[0], _merge_raw(units), operators, operands,
                            (stats[0], stats[2], stats[3], stats[4]), _merged_counts(name_counts), whole_text, 0)
    out = _counted(own_bags, extra_bags, ctx)
    _write_scalars(out, rows)
    _write_one_hots(out, units)
    return out


def _counted(own_bags: list[list[int]], extra_bags: list[list[int]], ctx: SourceContext) -> np.ndarray:
    """log1p of each row's counted dimension indices.

    Row i counts its unit's own bag, its extra bag (name and context) and the dimensions every row shares
    (`_shared_dims`); the module row also counts every other unit's own bag, as it stands for the whole
    source. All bags go to numpy as one list, converted once, then one bincount counts every row.
    """
    n = len(own_bags)
    bags = [*own_bags, *extra_bags, _shared_dims(ctx)]
    row_starts = [i * FEATURE_DIM for i in range(n)] * 2 + [n * FEATURE_DIM]  # the shared bag counts once, as row n
    flat: list[int] = []
    for bag in bags:
        flat.extend(bag)
    dims = _int64_array(flat)
    placed = dims + np.array(row_starts, dtype=np.int64).repeat([len(bag) for bag in bags])
    own_end = 0
    for bag in own_bags:
        own_end += len(bag)
    other_units = dims[len(own_bags[0]):own_end]  # counted in row 0 too
    counts = np.bincount(np.concatenate((placed, other_units)), minlength=(n + 1) * FEATURE_DIM)
    counts = counts.reshape(n + 1, FEATURE_DIM)
    return np.log1p(counts[:n] + counts[n], dtype=np.float32)


def _int64_array(values: list[int]) -> np.ndarray:
    """`np.array(values, dtype=np.int64)`, read-only, in half the time: `struct` packs the ints in C, without
    numpy's per-element type discovery."""
    return np.frombuffer(struct.pack(f"{len(values)}q", *values), dtype=np.int64)


def _float32_array(values: list[float]) -> np.ndarray:
    """`np.array(values, dtype=np.float32)`, faster (see `_int64_array`); the same values, as numpy too
    converts each number to a C double, then to float32."""
    return np.frombuffer(struct.pack(f"{len(values)}d", *values), dtype=np.float64).astype(np.float32)


def _write_scalars(out: np.ndarray, rows: list[list[float]]) -> None:
    """Scalar ranges into their dimensions: log1p (floored at 0) where the layout says "l", else as is."""
    flat: list[float] = []
    for row in rows:
        flat.extend(row)
    scalars = _float32_array(flat).reshape(len(rows), -1)
    logged = np.maximum(scalars, 0.0)
    np.log1p(logged, out=logged)
    np.copyto(scalars, logged, where=_SCALAR_LOGGED)
    out[:, _SCALAR_DIMS] = scalars


def _write_one_hots(out: np.ndarray, units: list[Unit]) -> None:
    """Each row's kind, parent kind and language one-hots."""
    flat_positions: list[int] = []
    for i, unit in enumerate(units):
        row = i * FEATURE_DIM
        flat_positions.append(row + _KIND_START + KINDS.index(unit.kind))
        flat_positions.append(row + _PARENT_START + _parent_kind(units, unit))
        flat_positions.append(row + _LANGUAGE_PYTHON)
    out.reshape(-1)[flat_positions] = 1.0


def _shared_dims(ctx: SourceContext) -> list[int]:
    """Dimensions every node counts: the names the source imports and the names it defines at top level.

    Counted once, as a row every row adds, rather than per node: a file of n functions costs O(n), not O(n^2).
    """
    dims = [H_AVAILABLE[name] for name in ctx.available_imports]
    dims.extend([H_MODULE_DEFS[name] for name in ctx.module_defs])
    return dims


def _unit_scalars(unit: Unit, index: int, units: list[Unit], ctx: SourceContext, bag: list[int],
                  raw: list[float], operators: set[str], operands: set[str],
                  def_use: tuple[list[float], float, float, float], names: dict[str, int],
                  text: list[float], sibling_position: int) -> list[float]:
    identity = _identity(unit, bag)
    position = _context(unit, index, units, ctx, bag, sibling_position)
    stats, free_reads, free_names, loop_carried = def_use
    name_stats = _identifier_stats(names)
    middle = _raw_scalars(raw, operators, operands, stats, free_reads, free_names, loop_carried, name_stats)
    return identity + position + middle + text + name_stats[:10]
