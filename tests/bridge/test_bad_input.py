"""Bad input never kills the daemon: each gets its error (none for notifications), then service goes on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.client import BridgeClient
from tests.bridge.conftest import assert_silent, exchange, request_line, serving
from tests.error_checks import assert_documented_error

MAX_LINE = 16384
MAX_BATCH = 5
MAX_DEPTH = 16
MAX_CODE = 2000


@pytest.fixture(scope="module")
def daemon() -> Iterator[BridgeClient]:
    """A daemon with small limits, so breaking each one is cheap."""
    with serving(
        f"--max-line-bytes={MAX_LINE}",
        f"--max-batch={MAX_BATCH}",
        f"--max-json-depth={MAX_DEPTH}",
        f"--max-code-bytes={MAX_CODE}",
    ) as client:
        yield client


def error_after(daemon: BridgeClient, line: str | bytes) -> dict:
    """The error reply to `line`, after checking that the daemon still answers a ping."""
    (reply,) = exchange(daemon, line)
    assert daemon.call("ping") == "pong"
    assert set(reply) == {"jsonrpc", "id", "error"}, reply
    assert_documented_error(reply["error"])
    return reply


@pytest.mark.parametrize(
    "line",
    [
        b"{not json}\n",
        b'{"jsonrpc": "2.0", "method": "ping", "id": 1\n',
        b"\xff\xfe{}\n",
        b'{"jsonrpc": "2.0", "method": "ping", "id": "\xc3\x28"}\n',
        b'{"jsonrpc": "2.0", "method": "predict", "params": {"code": "\\ud800"}}\n',  # no id to answer with
        b'{"jsonrpc": "2.0", "method": "predict", "params": {"features": [NaN]}, "id": 1}\n',
        b'{"jsonrpc": "2.0", "method": "predict", "params": {"features": [Infinity]}, "id": 1}\n',
        b"\x00\x01\x02\n",
    ],
    ids=[
        "garbage",
        "truncated",
        "bad-utf8-start",
        "bad-utf8-inside",
        "lone-surrogate",
        "nan",
        "infinity",
        "nul",
    ],
)
def test_input_that_is_not_json_we_accept_is_a_parse_error(daemon, line):
    reply = error_after(daemon, line)
    assert reply["id"] is None and reply["error"]["code"] == -32700


def test_a_lone_surrogate_in_a_request_with_an_id_is_an_invalid_request_answered_with_that_id(daemon):
    # JavaScript's JSON.stringify writes such escapes: the host must get its reply, not wait it out
    reply = error_after(daemon, b'{"jsonrpc": "2.0", "method": "predict", "params": {"code": "x\\ud800"}, "id": 9}\n')
    assert reply["id"] == 9 and reply["error"]["code"] == -32600
    assert reply["error"]["data"]["field"] == "params.code"


def test_a_line_over_the_size_limit_is_limit_exceeded_naming_the_limit(daemon):
    code = "x" * (MAX_LINE * 3)
    reply = error_after(daemon, request_line(7, "predict", {"code": code}))
    error = reply["error"]
    assert error["code"] == -32002 and reply["id"] == 7  # read from the line's first bytes
    assert error["data"]["limit"] == "line_bytes" and error["data"]["maximum"] == MAX_LINE


def test_nesting_deeper_than_the_limit_is_limit_exceeded(daemon):
    reply = error_after(daemon, "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n")
    assert reply["error"]["code"] == -32002 and reply["error"]["data"]["limit"] == "json_depth"


def test_a_hundred_thousand_open_brackets_do_not_crash_it(daemon):
    reply = error_after(daemon, "[" * 100_000 + "\n")
    assert reply["error"]["code"] in (-32700, -32002)


def test_a_batch_longer_than_the_limit_is_one_limit_exceeded(daemon):
    batch = "[" + ",".join(request_line(i, "ping").strip() for i in range(MAX_BATCH + 1)) + "]\n"
    reply = error_after(daemon, batch)
    assert reply["error"]["code"] == -32002 and reply["error"]["data"]["limit"] == "batch"


def test_code_over_the_size_limit_is_limit_exceeded(daemon):
    reply = error_after(daemon, request_line(8, "predict", {"code": "# " + "é" * (MAX_CODE // 2)}))
    assert reply["id"] == 8
    assert reply["error"]["code"] == -32002 and reply["error"]["data"]["limit"] == "code_bytes"


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "1.0", "method": "ping", "id": 1},
        {"method": "ping", "id": 1},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "method": "ping", "id": 1, "params": "text"},
        {"jsonrpc": "2.0", "method": "ping", "id": 1, "params": 3},
    ],
    ids=["wrong-version", "no-version", "no-method", "string-params", "number-params"],
)
def test_a_malformed_request_with_a_valid_id_is_invalid_request_echoing_the_id(daemon, message):
    import json

    reply = error_after(daemon, json.dumps(message) + "\n")
    assert reply["error"]["code"] == -32600 and reply["id"] == 1


@pytest.mark.parametrize("bad_id", ["true", "{}", "[1]", "1e400"])
def test_a_request_whose_id_is_not_a_string_number_or_null_is_invalid_request_with_a_null_id(daemon, bad_id):
    reply = error_after(daemon, f'{{"jsonrpc": "2.0", "method": "ping", "id": {bad_id}}}\n')
    assert reply["error"]["code"] == -32600 and reply["id"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"code": 42},
        {"code": "x = 1", "features": [0.0] * 978},
        {},
        {"code": "x = 1", "top_k": -1},
        {"code": "x = 1", "unknown": True},
        {"features": [1.0, 2.0]},
    ],
    ids=[
        "code-not-a-string",
        "both-code-and-features",
        "neither",
        "negative-top-k",
        "unknown-param",
        "short-vector",
    ],
)
def test_params_of_the_wrong_shape_are_invalid_params_naming_the_field(daemon, params):
    reply = error_after(daemon, request_line("p", "predict", params))
    assert reply["id"] == "p" and reply["error"]["code"] == -32602
    assert reply["error"].get("data"), reply


@pytest.mark.parametrize("number", [b"1e400", b"-1e999"])
def test_a_number_beyond_a_double_in_params_is_invalid_params_and_the_id_comes_back(daemon, number):
    vector = b"[" + number + b", 0" * 977 + b"]"
    for params in (b'{"features": ' + vector + b"}", b'{"code": "x = 1", "top_k": ' + number + b"}"):
        reply = error_after(daemon, b'{"jsonrpc": "2.0", "method": "predict", "id": 7, "params": ' + params + b"}\n")
        assert reply["id"] == 7 and reply["error"]["code"] == -32602


def test_an_unknown_method_is_method_not_found_naming_it(daemon):
    reply = error_after(daemon, request_line(9, "no_such_method"))
    assert reply["error"]["code"] == -32601 and reply["error"]["data"]["method"] == "no_such_method"


def test_code_that_does_not_parse_gets_a_syntax_error_bug_from_predict(daemon):
    result = daemon.call("predict", {"code": "def broken(:\n    pass\n"})
    assert result["confidence"] == 0.0
    assert result["potential_bugs"][0] == "syntax_error"
    bug = result["bugs"][0]
    assert bug["kind"] == "syntax_error" and bug["line"] == 1 and bug["column"] >= 1


def test_code_that_does_not_parse_is_a_syntax_error_for_extract_features(daemon):
    reply = error_after(daemon, request_line("s", "extract_features", {"code": "x = (1,\n"}))
    assert reply["error"]["code"] == -32003 and reply["error"]["data"]["line"] >= 1


def test_code_nested_too_deep_is_answered_and_service_goes_on(daemon):
    code = "x = " + "(" * 150 + "1" + ")" * 150 + "\n"
    (reply,) = exchange(daemon, request_line("deep", "extract_features", {"code": code[: MAX_CODE - 10]}))
    assert reply["id"] == "deep"
    assert reply.get("error", {}).get("code") in (None, -32002, -32003)
    assert daemon.call("ping") == "pong"


def test_bad_notifications_are_never_answered(daemon):
    daemon.send_raw('{"jsonrpc": "2.0", "method": "no_such_method"}\n')
    daemon.send_raw('{"jsonrpc": "2.0", "method": "predict", "params": {"code": 1}}\n')
    daemon.send_raw('{"jsonrpc": "2.0", "method": "extract_features", "params": {"code": "def (:"}}\n')
    assert_silent(daemon)


def test_big_integer_ids_are_echoed_exactly(daemon):
    big = 123456789012345678901234567890
    (reply,) = exchange(daemon, f'{{"jsonrpc": "2.0", "method": "ping", "id": {big}}}\n')
    assert reply == {"jsonrpc": "2.0", "id": big, "result": "pong"}


def test_a_line_ending_in_crlf_is_accepted(daemon):
    (reply,) = exchange(daemon, request_line("crlf", "ping").replace("\n", "\r\n"))
    assert reply["result"] == "pong"
