"""The Examples section of the JSON-RPC 2.0 specification, at the level of this package.

A toy server of a dozen lines, made only of protocol's pieces (decode_line, parse_message, the
error classes, result_response/error_response, encode_message) and the specification's own
methods, must give the specification's answers: the same ids, the same codes, messages that start
with the standard phrase, and nothing at all for notifications. The real daemon runs the same
cases end to end in tests/bridge.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocol.errors import InvalidRequest, JsonRpcError, MethodNotFound
from protocol.framing import decode_line, encode_message
from protocol.messages import Request, error_response, parse_message, result_response
from protocol.methods import validate_params

SPEC_METHODS = {
    "subtract": lambda p: p[0] - p[1] if isinstance(p, list) else p["minuend"] - p["subtrahend"],
    "sum": lambda p: sum(p),
    "get_data": lambda p: ["hello", 5],
    "update": lambda p: None,
    "notify_hello": lambda p: None,
    "notify_sum": lambda p: None,
}
STANDARD_PHRASES = {-32700: "Parse error", -32600: "Invalid Request", -32601: "Method not found"}


def answer_one(value: object) -> dict[str, Any] | None:
    try:
        message = parse_message(value)
    except InvalidRequest as exc:
        return error_response(exc.request_id, exc)
    try:
        handler = SPEC_METHODS.get(message.method)
        if handler is None:
            raise MethodNotFound(f"Method not found: {message.method!r}", method=message.method)
        result = handler(message.params)
    except JsonRpcError as exc:
        return error_response(message.id, exc) if isinstance(message, Request) else None
    return result_response(message.id, result) if isinstance(message, Request) else None


def answer_line(line: bytes) -> bytes:
    """What a server writes for one input line: one reply line, or nothing."""
    try:
        value = decode_line(line)
    except JsonRpcError as exc:
        return encode_message(error_response(None, exc))
    if not isinstance(value, list):
        reply = answer_one(value)
        return b"" if reply is None else encode_message(reply)
    if not value:
        return encode_message(error_response(None, InvalidRequest("Invalid Request: an empty batch")))
    replies = [reply for reply in map(answer_one, value) if reply is not None]
    return encode_message(replies) if replies else b""


def comparable(reply: object) -> object:
    """A reply with each error message checked against its standard phrase, then set to it."""
    if isinstance(reply, list):
        return [comparable(item) for item in reply]
    if isinstance(reply, dict) and "error" in reply:
        error = reply["error"]
        assert error["message"].startswith(STANDARD_PHRASES[error["code"]])
        return {**reply, "error": {"code": error["code"], "message": STANDARD_PHRASES[error["code"]]}}
    return reply


SPEC_CASES = [
    (
        "positional params",
        b'{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
        {"jsonrpc": "2.0", "result": 19, "id": 1},
    ),
    (
        "positional params, reversed",
        b'{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
        {"jsonrpc": "2.0", "result": -19, "id": 2},
    ),
    (
        "named params",
        b'{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}',
        {"jsonrpc": "2.0", "result": 19, "id": 3},
    ),
    (
        "named params, reordered",
        b'{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}',
        {"jsonrpc": "2.0", "result": 19, "id": 4},
    ),
    ("notification", b'{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', None),
    ("notification of an unknown method", b'{"jsonrpc": "2.0", "method": "foobar"}', None),
    (
        "non-existent method",
        b'{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"},
    ),
    (
        "invalid JSON",
        b'{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
        {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None},
    ),
    (
        "invalid Request object",
        b'{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None},
    ),
    (
        "batch, invalid JSON",
        b'[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method"]',
        {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None},
    ),
    (
        "empty array",
        b"[]",
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None},
    ),
    (
        "invalid batch, not empty",
        b"[1]",
        [{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}],
    ),
    (
        "invalid batch",
        b"[1,2,3]",
        [{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}] * 3,
    ),
    (
        "mixed batch",
        b"""[
            {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
            {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]""".replace(b"\n", b""),
        [
            {"jsonrpc": "2.0", "result": 7, "id": "1"},
            {"jsonrpc": "2.0", "result": 19, "id": "2"},
            {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None},
            {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
            {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"},
        ],
    ),
    (
        "all notifications",
        b'[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},'
        b' {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]',
        None,
    ),
]


@pytest.mark.parametrize(("case", "line", "expected"), SPEC_CASES, ids=[case[0] for case in SPEC_CASES])
def test_the_specification_example_gets_the_specified_answer(case: str, line: bytes, expected: object) -> None:
    written = answer_line(line + b"\n")
    if expected is None:
        assert written == b""
    else:
        assert written.endswith(b"\n") and written.count(b"\n") == 1
        assert comparable(decode_line(written)) == expected


def test_the_real_method_table_also_answers_an_unknown_method_with_method_not_found() -> None:
    message = parse_message(decode_line(b'{"jsonrpc": "2.0", "method": "foobar", "id": "1"}'))
    with pytest.raises(MethodNotFound) as caught:
        validate_params(message.method, message.params)
    assert error_response(message.id, caught.value)["error"]["code"] == -32601
