"""Property tests: whatever lines arrive, the daemon lives, replies valid JSON-RPC, once per request id.

Hypothesis generates lines of valid and invalid requests, notifications, cancellations of requests
just sent, batches of them, JSON that is no request at all, and raw garbage bytes. Every request id
in the run is unique, so a ledger kept across all examples can tell a missing reply from a duplicate
one; the last test closes the input, reads everything left, and checks that the ledger balances and
the daemon exits 0.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from bridge.client import BridgeClient
from protocol.errors import ERRORS_BY_CODE
from protocol.messages import ErrorResponse, Response
from protocol.methods import METHODS
from tests.bridge.conftest import WAIT_S, request_line, spawn
from tests.error_checks import assert_documented_error

REPLY = TypeAdapter(Response | ErrorResponse)
_ids = itertools.count(1)


class Ledger:
    """Which ids were sent expecting a reply, for which method, and how many replies each got."""

    def __init__(self) -> None:
        self.methods: dict[Any, str | None] = {}
        self.replies: Counter = Counter()

    def expect(self, request_id: Any, method: str | None) -> None:
        self.methods[_key(request_id)] = method

    def record(self, reply: dict) -> None:
        REPLY.validate_python(reply)
        if "error" in reply:
            assert reply["error"]["code"] in ERRORS_BY_CODE, reply
            assert_documented_error(reply["error"])
        if reply["id"] is None:
            return
        key = _key(reply["id"])
        assert key in self.methods, f"a reply to an id never sent: {reply}"
        self.replies[key] += 1
        assert self.replies[key] == 1, f"a second reply for id {reply['id']!r}"
        method = self.methods[key]
        if "result" in reply and method in METHODS:
            METHODS[method].validate_result(reply["result"])

    def unanswered(self) -> list:
        return [key for key in self.methods if self.replies[key] == 0]


def _key(request_id: Any) -> tuple[str, Any]:
    return (type(request_id).__name__, request_id)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[BridgeClient, Ledger]]:
    client = spawn("--max-line-bytes=65536", "--max-batch=20")
    yield client, Ledger()
    client.close()


def fresh_id(draw) -> Any:
    n = next(_ids)
    return draw(st.sampled_from([f"h{n}", n, 10**30 + n, n + 0.5]))


code_text = st.text(max_size=120) | st.sampled_from(
    ["def f(x):\n    return x + 1\n", "import os\nos.getcwd()\n", "class A:\n    def m(self): pass\n", "def (:"]
)

valid_calls = st.one_of(
    st.just(("ping", None)),
    st.just(("health", {})),
    st.just(("model_info", [])),
    code_text.map(lambda code: ("predict", {"code": code})),
    st.tuples(code_text, st.integers(0, 100), st.booleans()).map(
        lambda t: ("predict", {"code": t[0], "top_k": t[1], "include_embedding": t[2]})
    ),
    code_text.map(lambda code: ("embed", [code])),
    code_text.map(lambda code: ("extract_features", {"code": code})),
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=978, max_size=978).map(lambda v: ("predict", {"features": v})),
    st.sampled_from([("no_such_method", None), ("predict", {"code": 3}), ("predict", {}), ("ping", {"x": 1})]),
)


@st.composite
def request(draw) -> tuple[dict, Any, str | None]:
    """A message with a fresh id (valid or broken in its envelope), its id, and its method."""
    method, params = draw(valid_calls)
    request_id = fresh_id(draw)
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    breakage = draw(st.sampled_from([None, None, None, "version", "method", "params", "extra"]))
    if breakage == "version":
        message["jsonrpc"] = draw(st.sampled_from(["1.0", 2.0, None]))
    elif breakage == "method":
        message["method"] = draw(st.sampled_from([1, None, ["ping"]]))
    elif breakage == "params":
        message["params"] = draw(st.sampled_from(["text", 3, True]))
    elif breakage == "extra":
        message["surprise"] = 1
    return message, request_id, method if breakage is None else None


@st.composite
def notification(draw) -> tuple[dict, None, None]:
    method, params = draw(valid_calls)
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message, None, None


@st.composite
def cancellation(draw) -> tuple[dict, None, None]:
    """`$/cancelRequest` for an id sent a moment ago (it may be in flight, answered, or never used)."""
    n = next(_ids) - draw(st.integers(1, 6))
    target = draw(st.sampled_from([f"h{n}", n, 10**30 + n, n + 0.5]))
    return {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": target}}, None, None


json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5).filter(lambda key: key != "id"), inner, max_size=3)
    ),
    max_leaves=6,
).map(lambda value: (value, None, None))

element = st.one_of(request(), request(), notification(), cancellation(), json_junk)


@st.composite
def line(draw) -> tuple[bytes, list[tuple[Any, str | None]]]:
    """One input line and the (id, method) pairs it must be answered for."""
    kind = draw(st.sampled_from(["single", "single", "batch", "garbage"]))
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=60).filter(lambda b: b"\n" not in b)), []
    items = [draw(element)] if kind == "single" else draw(st.lists(element, min_size=0, max_size=6))
    value = items[0][0] if kind == "single" else [item[0] for item in items]
    if kind == "single" and isinstance(value, list):
        return json.dumps(value).encode(), []  # a junk list is a batch of junk: no ids to expect
    expected = [(request_id, method) for _, request_id, method in items if request_id is not None]
    return json.dumps(value).encode(), expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(line(), min_size=1, max_size=5))
def test_every_request_id_gets_one_valid_reply_and_the_daemon_keeps_serving(fuzzed, lines):
    exchange_and_check(fuzzed, lines)


@pytest.mark.slow
@settings(max_examples=2_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(line(), min_size=1, max_size=8))
def test_the_same_holds_over_thousands_of_examples(fuzzed, lines):
    exchange_and_check(fuzzed, lines)


def exchange_and_check(fuzzed: tuple[BridgeClient, Ledger], lines: list) -> None:
    """Send the lines and a probe ping; read until every expected id and the probe are answered."""
    client, ledger = fuzzed
    waiting = set()
    for data, expected in lines:
        for request_id, method in expected:
            ledger.expect(request_id, method)
            waiting.add(_key(request_id))
        client.send_raw(data + b"\n")
    probe = f"probe{next(_ids)}"
    ledger.expect(probe, "ping")
    client.send_raw(request_line(probe, "ping"))
    waiting.add(_key(probe))
    while waiting:
        for reply in _flatten(client.next_message(WAIT_S)):
            ledger.record(reply)
            if reply["id"] is not None:
                waiting.discard(_key(reply["id"]))


def _flatten(message: Any) -> list[dict]:
    assert isinstance(message, dict | list), f"not a JSON-RPC reply: {message!r}"
    if isinstance(message, list):
        assert message, "an empty array is never a valid reply"
        return message
    return [message]


def test_after_all_that_the_ledger_balances_and_end_of_input_exits_zero(fuzzed):
    client, ledger = fuzzed
    client.close_stdin()
    try:
        while True:
            for reply in _flatten(client.next_message(WAIT_S)):
                ledger.record(reply)
    except EOFError:
        pass
    assert client.wait() == 0
    assert ledger.unanswered() == []
