"""The Python client: ids apart from hand-written ones, a dead daemon told at once, timeouts as given,
an over-long request failed at once."""

from __future__ import annotations

import pytest

from bridge.client import BridgeError
from tests.bridge.conftest import FUNCTION, WAIT_S, serving, spawn


def test_a_hand_written_message_sharing_a_small_id_never_answers_a_call(daemon):
    pending = daemon.request("predict", {"code": FUNCTION})
    daemon.send({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    daemon.send({"jsonrpc": "2.0", "id": 2, "method": "ping"})
    assert 0.0 <= pending.result(WAIT_S)["confidence"] <= 1.0  # not "pong"
    assert sorted(daemon.next_message(WAIT_S)["id"] for _ in range(2)) == [1, 2]


def test_a_string_that_is_not_text_is_refused_before_it_is_sent_and_leaves_nothing_pending(daemon):
    with pytest.raises(ValueError, match="surrogate"):
        daemon.call("predict", {"code": "x = 1\n", "path": "/tmp/pkg/\udcff.py"})
    assert not daemon._pending
    assert daemon.call("ping") == "pong"


def test_a_call_after_the_daemon_has_exited_says_so_at_once_and_leaves_nothing_pending():
    client = spawn()
    with client:
        assert client.call("ping") == "pong"
        client.process.kill()
        assert client.wait_stdout_closed(WAIT_S)
        with pytest.raises(EOFError):
            client.call("ping")
        assert not client._pending


def test_a_timeout_of_zero_does_not_wait():
    with serving() as client:
        slow = "".join(FUNCTION.replace("mean_of", f"mean_{i}") for i in range(300))
        with pytest.raises(TimeoutError):
            client.call("extract_features", {"code": slow}, timeout=0)
        assert client.call("ping") == "pong"


def test_a_call_over_the_daemons_line_limit_fails_at_once_with_its_error():
    with serving("--max-line-bytes=4096") as client:
        with pytest.raises(BridgeError) as caught:
            client.call("predict", {"code": "x = 1\n" * 2000}, timeout=WAIT_S)
        assert caught.value.code == -32002 and caught.value.data["limit"] == "line_bytes"
        assert not client._pending and client.call("ping") == "pong"
