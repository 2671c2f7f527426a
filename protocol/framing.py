"""One JSON text per line: turning an input line into a JSON value and a message into an output line.

This module owns the byte-level rules of the wire: UTF-8, no NaN/Infinity, no lone surrogates,
bounded nesting, integers of any size kept exact, and output lines that never contain a raw newline;
and, for a line the transport dropped as too long, the id its first bytes hold (`id_of_line_head`).
A number too large for a double (`1e400`) is valid JSON: it reads as an infinite float, which no
member of a message accepts, so the request gets its own error with its id (a feature vector with
one is -32602) rather than a parse error that loses the id.
It leaves reading and writing the stream (the byte-order mark at its start, blank lines, line-size
limits, flushing) to the daemon's transport, and what the value means to `protocol.messages`.

Decoding takes orjson's path for almost every line (about 4 us for a 2 KB request, 1 us of it orjson's;
the rest is two C-speed pre-scans of the bytes). orjson turns integers beyond 64 bits into floats
silently, so a line holding a run of 19 or more digits is decoded by the standard library instead,
which keeps them exact, under the same rules.

Encoding refuses NaN and Infinity rather than writing them as null, as orjson would: a null where
the API promises a number would be a silent lie to the host, so `encode_message` raises
InternalError naming where the value sits, and the daemon answers that error instead.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator, Mapping, Sequence

import orjson

from protocol.errors import InternalError, InvalidRequest, LimitExceeded, ParseError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "MAX_SUPPORTED_DEPTH",
    "decode_line",
    "encode_message",
    "id_of_line_head",
]

DEFAULT_MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted by default; real requests need 5."""

MAX_SUPPORTED_DEPTH = 512
"""Largest `max_depth` decode_line accepts: deeper bounds could exhaust the C stack of the parsers."""

_LONG_DIGIT_RUN = b"0" * 19
"""19 digits in a row may be an integer beyond 64 bits, which orjson would turn into a float."""

_MAX_WALK_DEPTH = 1024
"""How deep the search for NaN/Infinity goes; orjson refuses to write anything deeper anyway."""

_ARRAYS = (list, tuple)
_CONTAINERS = (dict, list, tuple)
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})

_CLASS_TABLE = bytes(
    ord("0") if byte in b"0123456789" else ord("[") if byte in b"[{" else ord(".") for byte in range(256)
)
"""Maps digits to "0", openers to "[", the rest to ".", so one translate answers both pre-checks."""


def decode_line(line: bytes | bytearray | memoryview, *, max_depth: int = DEFAULT_MAX_DEPTH) -> object:
    """One input line (with or without its "\\n" or "\\r\\n") -> the JSON value it holds.

    Raises ParseError for anything but a single UTF-8 JSON text (the NaN and Infinity tokens and lone
    surrogate escapes included; a number that overflows a double reads as an infinite float), except
    that a single message with a valid id whose strings hold a lone surrogate is InvalidRequest with
    that id; and LimitExceeded(limit="json_depth") for nesting deeper
    than `max_depth`, found without recursion however deep the input goes. A line that is both
    malformed and too deep gets whichever error the parser meets first.
    """
    if not 1 <= max_depth <= MAX_SUPPORTED_DEPTH:
        raise ValueError(f"max_depth must be within 1..{MAX_SUPPORTED_DEPTH}, not {max_depth}")
    data = line if isinstance(line, bytes) else bytes(line)
    classes = data.translate(_CLASS_TABLE)
    may_be_deep = len(data) > max_depth and classes.count(b"[") > max_depth
    if _LONG_DIGIT_RUN in classes:
        return _decode_exactly(data, max_depth, may_be_deep)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in exc.msg:  # orjson stops at 1024 levels, past any bound we accept: say where ours was
            raise _too_deep(max_depth, _text_depth_exceeds(data.decode("utf-8", "replace"), max_depth)) from None
        if "UTF-8" in exc.msg:  # orjson says position 0 whatever the byte: find it
            _check_utf8(data)
        if "infinity when parsed as double" in exc.msg or "surrogate" in exc.msg:  # the exact path reads both
            return _decode_exactly(data, max_depth, may_be_deep)
        raise _parse_error(exc) from None
    if may_be_deep:
        depth = _depth_exceeds(value, max_depth)
        if depth is not None:  # read all the same: answer with the message's id, as for -32600
            raise _too_deep(max_depth, depth, request_id=_echoable_id(value))
    return value


def _id_of_deep_text(text: str) -> str | int | float | None:
    """The id a reply about a line nested deeper than its bound may echo, as `_echoable_id` gives on
    orjson's path: read by the standard library only when the line nests no deeper than
    MAX_SUPPORTED_DEPTH, so its recursive parser stays far from any stack limit; deeper, by orjson,
    as any line is, up to its 1,024 levels (`_id_read_by_orjson`)."""
    if _text_depth_exceeds(text, MAX_SUPPORTED_DEPTH) is not None:
        return _id_read_by_orjson(text)
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int)
    except (ValueError, RecursionError, ParseError, LimitExceeded):  # JSONDecodeError is a ValueError
        return None
    return _echoable_id(value)


def _id_read_by_orjson(text: str) -> str | int | float | None:
    """A deep line's id, read as orjson reads any line; None where orjson cannot read the line (past
    1,024 levels, a number beyond a double, a lone surrogate) or may have rounded the id (an integer
    beyond 64 bits reads as a whole float of at least 2**63, as `1e19` does: null for both, rather
    than another number)."""
    try:
        found = _echoable_id(orjson.loads(text))
    except orjson.JSONDecodeError:
        return None
    if isinstance(found, float) and found.is_integer() and abs(found) >= 2.0**63:
        return None
    return found


def id_of_line_head(head: bytes) -> str | int | float | None:
    """The id a reply about a line too long to read may echo, from the line's first bytes: a single
    message's top-level "id" when it, and every member before it, lies whole within them (the last
    such "id" counts, as when a whole line is read). None for anything else: a batch, an id past the
    cut or after a member cut short, an "id" member cut short or followed by what JSON does not
    allow there, an id that is not valid, bytes that are not UTF-8 JSON; never an id the line does
    not hold."""
    text = _utf8_head(head)
    position = _skip_space(text, 0) if text is not None else 0
    if text is None or not text.startswith("{", position):
        return None
    found: str | int | float | None = None
    position += 1
    while text.startswith('"', position := _skip_space(text, position)):
        key_start, key = position + 1, None
        try:
            key, position = json.decoder.scanstring(text, key_start)
            position = _skip_space(text, position)
            if not text.startswith(":", position):
                raise ValueError("no colon after the key")
            value, position = _HEAD_DECODER.raw_decode(text, _skip_space(text, position + 1))
        except (ValueError, RecursionError, ParseError, LimitExceeded):  # cut short, or not JSON
            return None if _may_name_id(key, text[key_start:]) else found
        position = _skip_space(text, position)
        if not text.startswith((",", "}"), position):  # cut (`12` of `1234`, `1.` of `1.5`), or not JSON
            return None if key == "id" else found
        if key == "id":
            found = _echoable_id({"id": value})
        if text.startswith("}", position):
            break
        position += 1
    return found


def _may_name_id(key: str | None, rest: str) -> bool:
    """Whether a member whose key is `key` (None: cut inside the key, whose text starts `rest`) may
    be an "id" member, so that no earlier "id" can be trusted to be the message's last."""
    if key is not None:
        return key == "id"
    return "\\" in rest or "id".startswith(rest)


def _utf8_head(head: bytes) -> str | None:
    """`head` as text, less a character the cut split; None when it is not UTF-8 before that."""
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":
            return None
        try:
            return head[: exc.start].decode("utf-8")
        except UnicodeDecodeError:
            return None


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _skip_space(text: str, position: int) -> int:
    return _JSON_SPACE.match(text, position).end()  # type: ignore[union-attr]  # `*` always matches


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _echoable_id(value: object) -> str | int | float | None:
    """The id a reply about `value` may echo: a single message's own id when that id is valid and can be
    written back (a string id with a lone surrogate cannot)."""
    from protocol.messages import is_valid_id  # here: the daemon reads its flags before pydantic loads

    found = value.get("id") if isinstance(value, dict) else None
    if not is_valid_id(found) or (isinstance(found, str) and not _is_text(found)):
        return None
    return found  # type: ignore[return-value]


def _depth_exceeds(value: object, max_depth: int) -> int | None:
    """The depth at which `value` first nests deeper than `max_depth`, or None if it never does.

    A scalar has depth 0, `[]` and `{}` depth 1. Iterative, so any depth is safe to measure.
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: object = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > max_depth:
            return depth
        stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return None


def encode_message(message: Mapping[str, object] | Sequence[Mapping[str, object]]) -> bytes:
    """A message (or a batch of them) -> one compact UTF-8 JSON line ending in b"\\n".

    Never writes a raw line break inside the line: JSON escapes newlines and other control
    characters in strings, and the Unicode ones that some line splitters honour (Python's
    `str.splitlines`, JavaScript before ES2019) are escaped here. Raises InternalError, with the path
    of the value in `data`, for NaN or Infinity, lone surrogates and values that are not JSON;
    integers of any size are written exactly.
    """
    payload = dict(message) if isinstance(message, Mapping) and not isinstance(message, dict) else message
    try:
        encoded = orjson.dumps(payload, option=orjson.OPT_APPEND_NEWLINE)
    except (TypeError, orjson.JSONEncodeError):
        return _escape_unicode_breaks(_encode_with_stdlib(payload))
    if b"null" in encoded and _holds_non_finite(payload):  # orjson wrote NaN or Infinity as null
        _refuse_non_finite(payload)
    return _escape_unicode_breaks(encoded)


_UNICODE_BREAKS = ((b"\xc2\x85", b"\\u0085"), (b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))
"""NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR in UTF-8, and their JSON escapes. In valid UTF-8
these bytes are never part of another character, and JSON's structure is ASCII, so each occurrence
is one of these characters inside a string."""


def _escape_unicode_breaks(encoded: bytes) -> bytes:
    if b"\xc2\x85" in encoded or b"\xe2\x80" in encoded:  # rare: most replies are scanned twice and kept
        for raw, escaped in _UNICODE_BREAKS:
            encoded = encoded.replace(raw, escaped)
    return encoded


def _check_utf8(data: bytes) -> str:
    """`data` decoded, or ParseError naming the first byte that is not UTF-8 (an encoded surrogate too)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"Parse error: invalid UTF-8 at byte {exc.start}", position=exc.start) from None


def _decode_exactly(data: bytes, max_depth: int, may_be_deep: bool) -> object:
    """The standard library's decoder, for lines whose integers orjson would round."""
    text = _check_utf8(data)
    if may_be_deep:
        depth = _text_depth_exceeds(text, max_depth)
        if depth is not None:
            raise _too_deep(max_depth, depth, request_id=_id_of_deep_text(text))
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int)
        _refuse_lone_surrogates(value, text)
    except json.JSONDecodeError as exc:
        raise _parse_error(exc) from None
    except RecursionError:  # only if the interpreter's recursion limit was set below max_depth
        raise _too_deep(max_depth, None) from None
    except ParseError as exc:  # NaN or a lone surrogate: the stdlib does not say where
        if exc.position is None:
            raise ParseError(str(exc), position=_first_refused(text, surrogate="surrogate" in str(exc))) from None
        raise
    return value


def _first_refused(text: str, *, surrogate: bool) -> int | None:
    """Where in `text` the first NaN or Infinity token (outside strings) or, with `surrogate`, the first
    lone surrogate escape (inside one) starts: the place the stdlib's error does not give."""
    if surrogate:
        return _first_lone_surrogate(text)
    for at, _, where in _scan(text):
        if where == "outside" and text.startswith(("NaN", "Infinity", "-Infinity"), at):
            return at
    return None


def _first_lone_surrogate(text: str) -> int | None:
    """Where the first `\\uXXXX` escape of a surrogate half without its other half starts. Only escapes
    the parser reads count (`_scan` says which), so the text of an escaped backslash (`\\\\ud800`) is
    never taken for a high half."""
    high_at: int | None = None  # a high half's escape, until the next one says whether it is paired
    for at, char, where in _scan(text):
        if where == "escaped" and char == "u":
            unit = _escaped_unit(text, at - 1)
            if high_at is not None:
                if unit is not None and 0xDC00 <= unit <= 0xDFFF and at - 1 == high_at + 6:
                    high_at = None  # a pair
                    continue
                return high_at
            if unit is not None and 0xD800 <= unit <= 0xDBFF:
                high_at = at - 1
            elif unit is not None and 0xDC00 <= unit <= 0xDFFF:
                return at - 1
        elif high_at is not None and at > high_at + 6:  # anything but an escape right after the high half
            return high_at
    return high_at


def _scan(text: str) -> Iterator[tuple[int, str, str]]:
    """Each character of `text` with where it stands by the parser's string rules: "outside" strings,
    "escaped" (just after a backslash in one) or "inside" one (its quotes too)."""
    in_string = escaped = False
    for at, char in enumerate(text):
        if not in_string:
            in_string = char == '"'
            yield at, char, "inside" if in_string else "outside"
        elif escaped:
            escaped = False
            yield at, char, "escaped"
        else:
            escaped = char == "\\"
            in_string = char != '"'
            yield at, char, "inside"


def _escaped_unit(text: str, at: int) -> int | None:
    if at < 0 or not text.startswith("\\u", at):
        return None
    digits = text[at + 2: at + 6]
    return int(digits, 16) if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits) else None


def _text_depth_exceeds(text: str, max_depth: int) -> int | None:
    """Like json_depth_exceeds, on the text itself, so the recursive parser never sees deep input.

    Follows the same string rules as the parser up to the first syntax error, which is as far as
    the parser goes. Its own loop rather than `_scan`'s: it reads every deep line of the exact path,
    where the generator took 2.5 times as long (0.66 s against 0.26 s for 6 MB of brackets).
    """
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return depth
        elif char in "]}":
            depth -= 1
    return None


def _refuse_constant(name: str) -> object:
    raise ParseError(f"Parse error: {name} is not a JSON number")


def _bounded_int(literal: str) -> int:
    """An integer of at most the interpreter's digit limit (4,300 by default: converting longer ones
    takes quadratic time, which is why Python refuses them); longer ones are a limit, not a crash."""
    limit = sys.get_int_max_str_digits()
    digits = len(literal) - literal.startswith("-")
    if limit and digits > limit:
        raise LimitExceeded(
            f"Limit exceeded: an integer of {digits} digits is longer than the {limit} digits read",
            limit="json_integer_digits",
            maximum=limit,
            actual=digits,
        )
    return int(literal)


_HEAD_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_int=_bounded_int)
"""Reads one member's value of a line's head, under decode_line's rules for numbers."""


def _refuse_lone_surrogates(value: object, text: str) -> None:
    """Strings from escapes like "\\ud800" cannot become UTF-8; orjson refuses them, so do we. The
    line is JSON all the same, so a single message with a valid id is told so with that id (-32600,
    naming where: `params.code`), where a parse error could only answer null and leave the host
    waiting (JavaScript's JSON.stringify writes such escapes); anything else is a parse error."""
    if not _SURROGATE_ESCAPE.search(text):  # the only way a lone surrogate gets in: most lines stop here
        return
    found = _lone_surrogate_at_path(value)
    if found is None:
        return
    where, in_a_name = found
    request_id = _echoable_id(value)
    if request_id is None:  # `_decode_exactly` finds where, as for NaN
        raise ParseError("Parse error: lone surrogate escape in a string")
    reason = "holds a lone surrogate escape, which is not text"
    subject = f"a member name of {where or 'the message'}" if in_a_name else where or "the message"
    raise InvalidRequest(f"Invalid Request: {subject} {reason}", field=where or None, reason=reason,
                         request_id=request_id)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""A \\uD800-\\uDFFF escape (the first backslash of an escaped backslash matches too, harmlessly:
the walk below then finds nothing)."""


def _lone_surrogate_at_path(value: object) -> tuple[str, bool] | None:
    """Where the first lone surrogate sits: the path of the value that holds it (`params.code`,
    `params.features[3]`; "" for the message itself) and whether it is in a member name of that
    value rather than in the value; None when there is none."""
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not _is_text(item):
                return path, False
        elif isinstance(item, dict):
            if not all(_is_text(key) for key in item):
                return path, True
            stack.extend((child, _member_path(path, key)) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]") for index, child in reversed(list(enumerate(item))))
    return None


def _member_path(path: str, key: str) -> str:
    """`params` + `code` -> `params.code`; a member named "" reads `[""]`, never the message itself."""
    if not key:
        return f'{path}[""]'
    return f"{path}.{key}" if path else key


def _parse_error(exc: json.JSONDecodeError) -> ParseError:
    message = exc.msg.removesuffix(" at")  # the standard library says "Invalid control character at"
    return ParseError(f"Parse error: {message} at character {exc.pos}", position=exc.pos)


def _too_deep(max_depth: int, actual: int | None, request_id: str | int | float | None = None) -> LimitExceeded:
    return LimitExceeded(
        f"Limit exceeded: JSON nests deeper than {max_depth} levels",
        limit="json_depth",
        maximum=max_depth,
        actual=actual,
        request_id=request_id,
    )


def _encode_with_stdlib(payload: object) -> bytes:
    """Slow path for what orjson refuses: integers beyond 64 bits, subclasses of float."""
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        raise InternalError("Internal error: a string in the reply is not valid Unicode") from None
    except ValueError as exc:  # NaN or Infinity (allow_nan=False), or a circular reference
        _refuse_non_finite(payload)
        raise InternalError(f"Internal error: the reply is not JSON ({exc})") from None
    except (TypeError, RecursionError) as exc:
        raise InternalError(f"Internal error: the reply is not JSON ({exc})") from None


def _holds_non_finite(payload: object) -> bool:
    """Whether a container orjson could encode holds NaN or Infinity (so no cycles, bounded depth).

    Tuned for the hot path: most leaves are strings and ints, skipped by one set lookup.
    """
    stack = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif _all_finite_numbers(item):
            continue
        for child in item:
            kind = child.__class__
            if kind in _PLAIN_SCALARS:
                continue
            if kind is float:
                if not math.isfinite(child):
                    return True
            elif isinstance(child, _CONTAINERS):
                stack.append(child)
    return False


def _refuse_non_finite(payload: object) -> None:
    """Raise InternalError naming the first NaN or Infinity in `payload`; return if there is none.

    Stops descending at _MAX_WALK_DEPTH, so a circular structure ends the walk instead of hanging it.
    """
    stack: list[tuple[object, str, int]] = [(payload, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            where = path or "the top level"
            raise InternalError(
                f"Internal error: the reply holds {item!r} at {where}, which JSON cannot carry", path=path
            )
        if depth >= _MAX_WALK_DEPTH:
            continue
        if isinstance(item, dict):
            stack.extend((value, f"{path}.{key}".lstrip("."), depth + 1) for key, value in item.items())
        elif isinstance(item, _ARRAYS) and not _all_finite_numbers(item):
            stack.extend((value, f"{path}[{index}]", depth + 1) for index, value in enumerate(item))


def _all_finite_numbers(items: list[object] | tuple[object, ...]) -> bool:
    """A C-speed shortcut for long lists of numbers: their sum is finite only if each one is.

    A sum can also overflow to infinity from finite numbers; then the caller checks one by one.
    """
    if not items or not isinstance(items[0], float):  # lists of strings or objects: no sum to try
        return False
    try:
        return math.isfinite(sum(items))  # type: ignore[arg-type]
    except (TypeError, OverflowError):
        return False
