"""The JSON-RPC 2.0 specification's Examples section, end to end against the real daemon.

The specification calls `subtract`, `update` and friends; here each call goes to one of our methods
in the same shape (positional, named, notification, batch), and the replies must have the shape the
specification shows.
"""

from __future__ import annotations

from tests.bridge.conftest import FUNCTION, assert_silent, exchange, request_line

PARSE_ERROR = {"code": -32700}
INVALID_REQUEST = {"code": -32600}


def error_of(reply: dict) -> dict:
    assert reply["jsonrpc"] == "2.0"
    assert set(reply) == {"jsonrpc", "id", "error"}
    return reply["error"]


def test_a_call_with_positional_params_is_answered_with_its_id(daemon):
    (reply,) = exchange(daemon, request_line(1, "predict", [FUNCTION]))
    assert reply["id"] == 1 and 0.0 <= reply["result"]["confidence"] <= 1.0


def test_a_call_with_named_params_is_answered_with_its_id(daemon):
    (reply,) = exchange(daemon, request_line(3, "predict", {"code": FUNCTION, "top_k": 2}))
    assert reply["id"] == 3 and "confidence" in reply["result"]


def test_a_notification_is_never_answered(daemon):
    daemon.send_raw('{"jsonrpc": "2.0", "method": "predict", "params": {"code": "x = 1"}}\n')
    daemon.send_raw('{"jsonrpc": "2.0", "method": "ping"}\n')
    assert_silent(daemon)


def test_a_call_to_a_method_that_does_not_exist_is_method_not_found(daemon):
    (reply,) = exchange(daemon, '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}\n')
    assert reply["id"] == "1"
    assert error_of(reply)["code"] == -32601


def test_invalid_json_is_a_parse_error_with_a_null_id(daemon):
    (reply,) = exchange(daemon, '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]\n')
    assert reply["id"] is None
    assert error_of(reply)["code"] == -32700


def test_an_invalid_request_object_is_invalid_request_with_a_null_id(daemon):
    (reply,) = exchange(daemon, '{"jsonrpc": "2.0", "method": 1, "params": "bar"}\n')
    assert reply["id"] is None
    assert error_of(reply)["code"] == -32600


def test_a_batch_that_is_invalid_json_is_one_parse_error(daemon):
    line = '[{"jsonrpc": "2.0", "method": "ping", "id": "1"},{"jsonrpc": "2.0", "method"]\n'
    (reply,) = exchange(daemon, line)
    assert isinstance(reply, dict) and reply["id"] is None
    assert error_of(reply)["code"] == -32700


def test_an_empty_batch_is_one_invalid_request(daemon):
    (reply,) = exchange(daemon, "[]\n")
    assert isinstance(reply, dict) and reply["id"] is None
    assert error_of(reply)["code"] == -32600


def test_a_batch_of_one_non_request_is_an_array_of_one_invalid_request(daemon):
    (reply,) = exchange(daemon, "[1]\n")
    assert isinstance(reply, list) and len(reply) == 1
    assert reply[0]["id"] is None and error_of(reply[0])["code"] == -32600


def test_a_batch_of_three_non_requests_is_an_array_of_three_invalid_requests(daemon):
    (reply,) = exchange(daemon, "[1,2,3]\n")
    assert isinstance(reply, list) and len(reply) == 3
    assert all(r["id"] is None and error_of(r)["code"] == -32600 for r in reply)


def test_a_mixed_batch_answers_each_request_and_no_notification(daemon):
    line = (
        "["
        '{"jsonrpc": "2.0", "method": "predict", "params": ["def f(a, b): return a - b"], "id": "1"},'
        '{"jsonrpc": "2.0", "method": "ping"},'
        '{"jsonrpc": "2.0", "method": "embed", "params": {"code": "x = 42"}, "id": "2"},'
        '{"foo": "boo"},'
        '{"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},'
        '{"jsonrpc": "2.0", "method": "health", "id": "9"}'
        "]\n"
    )
    (reply,) = exchange(daemon, line)
    assert isinstance(reply, list) and len(reply) == 5
    by_id = {}
    for item in reply:
        by_id.setdefault(item["id"], []).append(item)
    assert "confidence" in by_id["1"][0]["result"]
    assert by_id["2"][0]["result"]["dim"] == len(by_id["2"][0]["result"]["embedding"])
    assert error_of(by_id[None][0])["code"] == -32600
    assert error_of(by_id["5"][0])["code"] == -32601
    assert by_id["9"][0]["result"]["live"] is True


def test_a_batch_of_notifications_prints_nothing(daemon):
    daemon.send_raw('[{"jsonrpc": "2.0", "method": "ping", "params": []},{"jsonrpc": "2.0", "method": "health"}]\n')
    assert_silent(daemon)
