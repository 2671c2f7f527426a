"""The early reader: plain pings answered before the dispatcher exists, everything else held in order."""

from __future__ import annotations

import json
import os
import threading

import pytest

from bridge.early import EarlyReader, plain_ping_reply
from bridge.stopping import StopRequest
from bridge.transport import LineTooLong, Writer
from tests.bridge.conftest import chunked_reader


@pytest.mark.parametrize(
    "line",
    [
        b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
        b'{"jsonrpc": "2.0", "id": "a", "method": "ping", "params": []}',
        b'{"method":"ping","params":{},"id":-7,"jsonrpc":"2.0"}',
    ],
)
def test_a_plain_ping_is_answered_pong_with_its_id(line):
    reply = json.loads(plain_ping_reply(line, 2))
    assert reply == {"jsonrpc": "2.0", "id": json.loads(line)["id"], "result": "pong"}


@pytest.mark.parametrize(
    "line",
    [
        b'{"jsonrpc":"2.0","method":"ping"}',
        b'{"jsonrpc":"1.0","id":1,"method":"ping"}',
        b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
        b'{"jsonrpc":"2.0","id":true,"method":"ping"}',
        b'{"jsonrpc":"2.0","id":null,"method":"ping"}',
        b'{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}',
        b'{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}',
        b'{"jsonrpc":"2.0","id":1,"method":"ping","extra":0}',
        b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
        b'{"jsonrpc":"2.0","id":1,"method":"ping"',
        b'{"jsonrpc":"2.0","id":1,"method":"predict","params":["ping"]}',
    ],
    ids=[
        "notification",
        "version",
        "float-id",
        "bool-id",
        "null-id",
        "huge-id",
        "params",
        "extra",
        "batch",
        "broken",
        "other-method",
    ],
)
def test_anything_but_a_plain_ping_is_left_to_the_dispatcher(line):
    assert plain_ping_reply(line, 2) is None


def test_a_ping_deeper_than_the_depth_limit_is_left_to_the_dispatcher_which_refuses_it():
    """`--max-json-depth 1` allows the message but not params inside it: the late answer is an error."""
    assert plain_ping_reply(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}', 1) is None
    assert plain_ping_reply(b'{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}', 1) is None
    assert json.loads(plain_ping_reply(b'{"jsonrpc":"2.0","id":1,"method":"ping"}', 1))["result"] == "pong"


class Recorder:
    def __init__(self) -> None:
        self.lines: list = []

    def __call__(self, line) -> None:
        self.lines.append(line)


def test_held_lines_are_dispatched_in_order_at_hand_over_and_later_lines_directly():
    read_fd, write_fd = os.pipe()
    out_read, out_write = os.pipe()
    reader = EarlyReader(lambda n: os.read(read_fd, n), Writer(out_write), max_line_bytes=100, max_json_depth=2)
    os.write(write_fd, b'[1]\n{"jsonrpc":"2.0","id":9,"method":"ping"}\n' + b"x" * 200 + b"\n[2]\n")
    assert json.loads(os.read(out_read, 1000)) == {"jsonrpc": "2.0", "id": 9, "result": "pong"}
    dispatched, ended = Recorder(), threading.Event()
    reader.hand_over(dispatched, on_end=ended.set)
    os.write(write_fd, b"[3]\n")
    os.close(write_fd)
    assert ended.wait(10)
    assert dispatched.lines == [b"[1]", LineTooLong(200, b"x" * 200), b"[2]", b"[3]"]
    for fd in (read_fd, out_read, out_write):
        os.close(fd)


def test_end_of_input_before_hand_over_is_reported_at_hand_over():
    reader = EarlyReader(chunked_reader([b"[1]\n"]), Writer(os.open(os.devnull, os.O_WRONLY)),
                         max_line_bytes=100, max_json_depth=2)
    reader._thread.join(10)
    dispatched, ended = Recorder(), threading.Event()
    reader.hand_over(dispatched, on_end=ended.set)
    assert ended.is_set() and dispatched.lines == [b"[1]"]


def test_after_close_no_line_is_dispatched():
    read_fd, write_fd = os.pipe()
    reader = EarlyReader(lambda n: os.read(read_fd, n), Writer(os.open(os.devnull, os.O_WRONLY)),
                         max_line_bytes=99, max_json_depth=2)
    dispatched = Recorder()
    reader.hand_over(dispatched, on_end=lambda: None)
    reader.close()
    os.write(write_fd, b"[1]\n")
    os.close(write_fd)
    reader._thread.join(10)
    assert dispatched.lines == []
    os.close(read_fd)


def test_close_does_not_wait_for_ever_on_a_dispatch_stuck_behind_a_full_stdout():
    read_fd, write_fd = os.pipe()
    reader = EarlyReader(lambda n: os.read(read_fd, n), Writer(os.open(os.devnull, os.O_WRONLY)),
                         max_line_bytes=99, max_json_depth=2)
    stuck, release = threading.Event(), threading.Event()
    dispatched: list[bytes] = []

    def dispatch(line: bytes) -> None:  # the reply write of a host that stopped reading stdout
        dispatched.append(line)
        stuck.set()
        release.wait(30)

    reader.hand_over(dispatch, on_end=lambda: None)
    os.write(write_fd, b"[1]\n")
    assert stuck.wait(10)
    closer = threading.Thread(target=reader.close, kwargs={"timeout": 0.2})
    closer.start()
    closer.join(10)
    assert not closer.is_alive()  # returned though the dispatch is still stuck
    os.write(write_fd, b"[2]\n")
    release.set()
    os.close(write_fd)
    reader._thread.join(10)
    assert dispatched == [b"[1]"]
    os.close(read_fd)


def test_the_first_stop_reason_wins():
    stop = StopRequest()
    stop.set("received SIGTERM")
    stop.set("exit", 1)
    assert stop.is_set() and (stop.reason, stop.exit_code) == ("received SIGTERM", 0)
