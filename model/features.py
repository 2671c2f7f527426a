"""Code units -> one 978-d feature vector per unit, by the table in `model.layout`.

The module node's row summarises the whole source, the other rows their own unit's code. Counts and
hashed ranges arrive as bags of dimension indices from the walk (`model.scan`) and become numbers
in one `np.bincount`; scalar ranges (shape, complexity, def-use, smells, order, text, names) are
built per unit as one flat list and transformed for all units at once. This module owns that
arithmetic; what each dimension means is `model.layout`'s.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from model.hashing import (
    BUILTIN_NAMES,
    CACHE_LIMIT,
    H_AVAILABLE,
    H_BASES,
    H_BUILTIN,
    H_CLASS,
    H_DECORATOR,
    H_FREE,
    H_FREE_ATTR,
    H_MODULE_DEFS,
    H_NAME,
    stable_hash,
    subtokens,
)
from model.layout import FEATURE_DIM, span
from model.scan import KINDS, RAW, RAW_MAX, SourceContext, Unit

__all__ = ["unit_vectors"]

# ---------------------------------------------------------------- vectors
#
# Scalars are produced per unit as one flat list in the order of _SCALAR_RANGES, then transformed and
# written for all units at once; bags of indices (counts and hashed ranges) go through one bincount.

_SCALAR_RANGES: tuple[tuple[str, str], ...] = (
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
_SCALAR_DIMS = [d for n, _ in _SCALAR_RANGES for d in range(span(n).start, span(n).end)]
_SCALAR_LOG = [c == "l" for _, t in _SCALAR_RANGES for c in t]
_LOGGED_ORDER = [i for i, logged in enumerate(_SCALAR_LOG) if logged] + [
    i for i, logged in enumerate(_SCALAR_LOG) if not logged]
_LOGGED_COUNT = sum(_SCALAR_LOG)
_LOGGED_FIRST = operator.itemgetter(*_LOGGED_ORDER)
"""A row of scalars in layout order -> the same values, log1p columns first."""
_LOGGED_FIRST_DIMS = np.array([_SCALAR_DIMS[i] for i in _LOGGED_ORDER], dtype=np.intp)
_KIND_START = span("kind").start
_PARENT_START = span("parent_kind").start
_LANGUAGE_PYTHON = span("language").start


def _def_use(unit: Unit) -> tuple[list[float], list[int], float, float, int]:
    """Definition-use statistics, hashed free names, free-read counts and loop-carried names of a unit."""
    params = set(unit.params)
    stores, loads = unit.stores, unit.loads
    locals_ = set(stores) | params
    skip = {"self", "cls", "_"}
    unused_params = sum(1 for p in params if p not in loads and p not in skip and not p.startswith("_"))
    unused_locals = 0
    if unit.kind != "module":
        unused_locals = sum(1 for n in stores if n not in loads and n not in params and not n.startswith("_"))
    before = 0
    distances = []
    loop_carried = 0
    for name, positions in loads.items():
        store_positions = stores.get(name)
        if store_positions is None or name in params:
            continue
        first_store, first_load = min(store_positions), min(positions)
        if first_load < first_store:
            before += 1
        else:
            distances.append((first_load - first_store) / 1000)
        for start, end in unit.loop_spans:
            in_loop = [p for p in store_positions if start <= p <= end]
            if in_loop and any(start <= p < min(in_loop) for p in positions):
                loop_carried += 1
                break
    read_counts = [len(v) for v in loads.values()]
    free = [n for n in loads if n not in locals_ and n not in BUILTIN_NAMES]
    counts = [H_FREE[n] for n in free]
    counts.extend(H_BUILTIN[n] for n in loads if n in BUILTIN_NAMES and n not in locals_)
    free_set = set(free)
    counts.extend(H_FREE_ATTR[f"{root}.{attr}"] for root, attr in unit.attr_chains if root in free_set)
    store_counts = [len(v) for v in stores.values()]
    stats = [
        len(locals_),
        len(params),
        unused_params,
        unused_locals,
        before,
        unit.self_ops,
        read_counts.count(1),
        store_counts.count(1),
        sum(1 for c in store_counts if c > 1),
        max(read_counts, default=0),
        sum(read_counts) / len(read_counts) if read_counts else 0.0,
        sum(distances) / len(distances) if distances else 0.0,
    ]
    free_reads = sum(len(loads[n]) for n in free)
    return stats, counts, free_reads, len(free), loop_carried


_DIGITS = b"0123456789"
_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PUNCTUATION = b"()[]{}:,."


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
    count = len(lines) or 1
    text = "\n".join(lines)
    encoded = text.encode("utf-8", "surrogatepass")
    size = len(text)
    chars = size or 1
    mean = total_length / count
    var = max(squares / count - mean * mean, 0.0)
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


_NAME_FLAGS: dict[str, tuple[int, bool, bool, bool, bool]] = {}


def _name_flags(name: str) -> tuple[int, bool, bool, bool, bool]:
    """(length, has uppercase, has digit, is dunder, is snake_case), cached: names repeat across requests."""
    flags = _NAME_FLAGS.get(name)
    if flags is None:
        if len(_NAME_FLAGS) > CACHE_LIMIT:
            _NAME_FLAGS.clear()
        flags = _NAME_FLAGS[name] = (len(name), name.lower() != name, any(c.isdigit() for c in name),
                                     name.startswith("__"), name.islower() or "_" in name)
    return flags


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
        length, has_upper, has_digit, is_dunder, is_snake = _name_flags(name)
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
        ctx.unit_count,
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
    big_n1 = raw[RAW["operators_total"]]
    big_n2 = max(raw[RAW["nodes"]] - big_n1, 0.0)
    vocabulary = n1 + n2
    length = big_n1 + big_n2
    volume = length * math.log2(vocabulary) if vocabulary > 1 else 0.0
    difficulty = (n1 / 2) * (big_n2 / n2)
    return [n1, n2, big_n1, big_n2, vocabulary, length, volume, difficulty, volume * difficulty]


_SHAPE_KEYS = ("statements", "params", "posonly", "kwonly", "varargs", "kwargs", "defaults",
               "annotated_params", "decorators", "body_len", "child_units", "returns", "yields", "raises",
               "docstring", "depth_max")
_SHAPE_KEYS_2 = ("nodes", "bases", "methods", "awaits", "return_annotation", "docstring_chars", "lambdas",
                 "comprehensions", "handlers", "withs", "imports", "from_imports", "early_returns")
_SHAPE_IDX = [RAW[k] for k in _SHAPE_KEYS]
_SHAPE_IDX_2 = [RAW[k] for k in _SHAPE_KEYS_2]
_SMELL_KEYS = ("bare_except", "broad_except", "empty_except", "passes", "mutable_defaults", "none_eq",
               "is_literal", "shadowed_builtins", "global_stmts", "prints", "asserts", "magic_numbers",
               "unreachable")
_SMELL_KEYS_2 = ("percent_format", "format_calls", "fstrings", "range_len", "len_zero", "recursion",
                 "eval_exec", "deletes", "raises")
_SMELL_IDX = [RAW[k] for k in _SMELL_KEYS]
_SMELL_IDX_2 = [RAW[k] for k in _SMELL_KEYS_2]


def _raw_scalars(raw: list[float], operators: set[str], operands: set[str], def_use: list[float],
                 free_reads: float, free_names: float, loop_carried: float, name_stats: list[float]) -> list[float]:
    """shape, metrics, counts, def_use, smells and order scalars, untransformed, in layout order."""
    R = RAW
    nodes = raw[R["nodes"]] or 1
    body_len = max(1.0, raw[R["body_len"]])
    params = raw[R["params"]]
    out = [raw[i] for i in _SHAPE_IDX]
    out.append(raw[R["depth_sum"]] / nodes)
    out.extend(raw[i] for i in _SHAPE_IDX_2)
    branches, boolops = raw[R["branches"]], raw[R["boolops"]]
    out += [1 + branches + boolops, branches + raw[R["nested_branches"]], raw[R["nesting_max"]], branches,
            raw[R["loops"]], raw[R["tries"]], raw[R["handlers"]], raw[R["withs"]], boolops,
            raw[R["comprehensions"]], raw[R["lambdas"]], raw[R["ifs"]], raw[R["returns"]],
            raw[R["statements"]] / body_len, raw[R["raises"]]]
    out += _halstead(operators, operands, raw)
    out += [free_reads, free_names, raw[R["imports"]], raw[R["from_imports"]], raw[R["relative_imports"]],
            raw[R["star_imports"]]]
    out += def_use
    out += [raw[R["docstring"]], raw[R["docstring_chars"]], raw[R["annotated_params"]] / params if params else 0.0,
            raw[R["return_annotation"]]]
    out.extend(raw[i] for i in _SMELL_IDX)
    out.append(float(raw[R["valued_returns"]] > 0 and raw[R["bare_returns"]] > 0))
    out.extend(raw[i] for i in _SMELL_IDX_2)
    out += [name_stats[6], name_stats[10], name_stats[2]]  # single-letter ratio, snake_case ratio, mean length
    out += [raw[R["early_returns"]], raw[R["first_loop_line"]], raw[R["first_return_line"]], loop_carried,
            min(raw[R["loops"]], raw[R["valued_returns"]]), def_use[4], raw[R["after_last_return"]],
            raw[R["yields"]], raw[R["awaits"]], raw[R["try_before_return"]]]
    return out


_BIGRAM = span("identifier_bigrams")
_LAST_TOKEN_HASH: dict[str, int] = {}


def _last_token_hash(name: str) -> int:
    value = _LAST_TOKEN_HASH.get(name)
    if value is None:
        if len(_LAST_TOKEN_HASH) > CACHE_LIMIT:
            _LAST_TOKEN_HASH.clear()
        value = _LAST_TOKEN_HASH[name] = stable_hash(subtokens(name)[-1])
    return value


def _ident_bigrams(names: list[str], bag: list[int]) -> None:
    """Hashed pairs of consecutive identifiers' last subtokens (`self.count` -> "self count")."""
    start, size = _BIGRAM.start, _BIGRAM.size
    prev = 0x9E3779B1
    for name in names:
        token = _last_token_hash(name)
        bag.append(start + ((prev * 1_000_003) ^ token) % size)
        prev = token


def unit_vectors(units: list[Unit], ctx: SourceContext) -> np.ndarray:
    """The (len(units), 978) float32 matrix; row 0 is the module node (the whole source)."""
    rows: list[list[float]] = []
    bags: list[list[int]] = []
    module_bag: list[int] = []
    name_counts: list[dict[str, int]] = []
    positions = {child: i for unit in units for i, child in enumerate(unit.children)}
    whole_text = _text_stats(ctx.lines)
    for i, unit in enumerate(units):
        def_use, derived, free_reads, free_names, loop_carried = _def_use(unit)
        own = unit.counts + derived
        _ident_bigrams(unit.ident_sequence, own)
        module_bag.extend(own)
        counts = _name_counts(unit.ident_sequence)
        name_counts.append(counts)
        if i == 0:
            bags.append([])
            rows.append([])
            continue
        # A unit spanning the whole source (a snippet that is one function) shares the module's text.
        spans_source = unit.line == 1 and unit.end_line >= len(ctx.lines)
        text = whole_text if spans_source else _text_stats(ctx.lines[unit.line - 1: unit.end_line])
        rows.append(_unit_scalars(unit, i, units, ctx, own, unit.raw, unit.operator_kinds, unit.operand_kinds,
                                  (def_use, free_reads, free_names, loop_carried), counts, text,
                                  positions.get(i, 0)))
        bags.append(own)
    module = units[0]
    stats = _def_use(_merged_names(units))
    operators = set().union(*(u.operator_kinds for u in units))
    operands = set().union(*(u.operand_kinds for u in units))
    rows[0] = _unit_scalars(module, 0, units, ctx, module_bag, _merge_raw(units), operators, operands,
                            (stats[0], stats[2], stats[3], stats[4]), _merged_counts(name_counts), whole_text, 0)
    bags[0] = module_bag
    out = _counted(bags, ctx)
    _write_scalars(out, rows)
    _write_one_hots(out, units)
    return out


def _counted(bags: list[list[int]], ctx: SourceContext) -> np.ndarray:
    """log1p of each row's bag of dimension indices counted, plus the counts every row shares."""
    n = len(bags)
    flat = list(bags[0])
    for i in range(1, n):
        offset = i * FEATURE_DIM
        flat.extend([dim + offset for dim in bags[i]])
    counts = np.bincount(np.array(flat, dtype=np.intp), minlength=n * FEATURE_DIM).reshape(n, FEATURE_DIM)
    counts += _source_counts(ctx)  # (978,), the same for every node
    return np.log1p(counts, dtype=np.float32)


def _write_scalars(out: np.ndarray, rows: list[list[float]]) -> None:
    """Scalar ranges into their dimensions; columns reordered so the log1p ones are one slice."""
    scalars = np.array([_LOGGED_FIRST(row) for row in rows], dtype=np.float32)
    logged = scalars[:, :_LOGGED_COUNT]
    np.maximum(logged, 0.0, out=logged)
    np.log1p(logged, out=logged)
    out[:, _LOGGED_FIRST_DIMS] = scalars


def _write_one_hots(out: np.ndarray, units: list[Unit]) -> None:
    """Each row's kind, parent kind and language one-hots."""
    flat_positions: list[int] = []
    for i, unit in enumerate(units):
        row = i * FEATURE_DIM
        flat_positions.append(row + _KIND_START + KINDS.index(unit.kind))
        flat_positions.append(row + _PARENT_START + _parent_kind(units, unit))
        flat_positions.append(row + _LANGUAGE_PYTHON)
    out.reshape(-1)[flat_positions] = 1.0


def _source_counts(ctx: SourceContext) -> np.ndarray:
    """Counts every node shares: the names the source imports and the names it defines at top level.

    Added once as a row vector rather than per node, so a file of n functions costs O(n), not O(n^2).
    """
    dims = [H_AVAILABLE[name] for name in ctx.available_imports]
    dims.extend(H_MODULE_DEFS[name] for name in ctx.module_defs)
    return np.bincount(np.array(dims, dtype=np.intp), minlength=FEATURE_DIM)


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


def _merged_names(units: list[Unit]) -> Unit:
    """A synthetic unit holding every unit's names, for whole-source def-use statistics."""
    merged = Unit("<all>", "function", 1, 1, 1, -1, 0)
    for unit in units:
        for name, positions in unit.stores.items():
            merged.stores.setdefault(name, []).extend(positions)
        for name, positions in unit.loads.items():
            merged.loads.setdefault(name, []).extend(positions)
        merged.params.extend(unit.params)
        merged.attr_chains.extend(unit.attr_chains)
        merged.loop_spans.extend(unit.loop_spans)
        merged.self_ops += unit.self_ops
    for unit in units[1:]:
        merged.stores.setdefault(unit.name, []).append(unit.line * 1000)
    return merged
