"""The dispatcher with a fake router and an in-memory writer: routing, batches, the in-flight table."""

from __future__ import annotations

import json
import threading

import pytest

from bridge.dispatcher import Dispatcher, Job, Lane, Route, to_wire_error
from bridge.transport import LineTooLong
from model.errors import CheckpointError, FeatureVectorError, SourceLimitError, SourceSyntaxError
from protocol.errors import MethodNotFound, ServerBusy
from tests.bridge.conftest import request_line
from tests.error_checks import assert_documented_error


class MemoryWriter:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write(self, data: bytes) -> bool:
        self.lines.extend(data.splitlines())
        return True

    def replies(self) -> list:
        replies = [json.loads(line) for line in self.lines]
        for reply in replies:
            if "error" in reply:
                assert_documented_error(reply["error"])
        return replies


class FakeRouter:
    """echo (inline), later (queued: the test settles the jobs), boom (inline, a bug), busy (refused)."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def route(self, method: str) -> Route:
        if method == "echo":
            return Route(Lane.INLINE, lambda params: params)
        if method == "later":
            return Route(Lane.QUEUED, lambda params, job: self.jobs.append(job))
        if method == "boom":
            return Route(Lane.INLINE, lambda params: 1 / 0)
        if method == "busy":

            def refuse(params, job):
                raise ServerBusy("Server busy: full", queue_size=1)

            return Route(Lane.QUEUED, refuse)
        raise MethodNotFound(f"Method not found: {method!r}", method=method)


@pytest.fixture
def wired():
    writer, router = MemoryWriter(), FakeRouter()
    dispatcher = Dispatcher(writer, router, max_batch=10, max_json_depth=8, max_line_bytes=100)
    return dispatcher, writer, router


def line(request_id, method, params=None) -> bytes:
    """A request as the transport hands it over: bytes without the newline."""
    return request_line(request_id, method, params).rstrip("\n").encode()


def test_an_inline_method_is_answered_at_once_with_its_id(wired):
    dispatcher, writer, _ = wired
    dispatcher.dispatch_line(line("a", "echo", [1, 2]))
    assert writer.replies() == [{"jsonrpc": "2.0", "id": "a", "result": [1, 2]}]


def test_a_queued_method_is_answered_when_its_job_finishes_and_only_once(wired):
    dispatcher, writer, router = wired
    dispatcher.dispatch_line(line(7, "later"))
    assert writer.lines == [] and dispatcher.in_flight == 1
    router.jobs[0].finish("done")
    router.jobs[0].finish("again")
    router.jobs[0].fail(RuntimeError("late"))
    assert writer.replies() == [{"jsonrpc": "2.0", "id": 7, "result": "done"}]
    assert dispatcher.in_flight == 0


def test_cancelling_a_queued_request_answers_it_cancelled_and_drops_its_result(wired):
    dispatcher, writer, router = wired
    dispatcher.dispatch_line(line(7, "later"))
    assert dispatcher.cancel(7) is True
    assert router.jobs[0].cancelled
    router.jobs[0].finish("too late")
    assert [r["error"]["code"] for r in writer.replies()] == [-32800]


def test_cancelling_a_finished_request_changes_nothing(wired):
    dispatcher, writer, router = wired
    dispatcher.dispatch_line(line(7, "later"))
    router.jobs[0].finish("done")
    assert dispatcher.cancel(7) is False
    assert len(writer.lines) == 1


def test_a_committed_request_cannot_be_cancelled_and_its_owner_still_answers_it(wired):
    dispatcher, writer, router = wired
    dispatcher.dispatch_line(line(7, "later"))
    job = router.jobs[0]
    assert job.commit() is True
    assert dispatcher.cancel(7) is False and not job.cancelled
    assert writer.lines == [] and dispatcher.in_flight == 1  # a drain still waits for the reply
    job.finish("swapped")
    job.finish("again")
    assert writer.replies() == [{"jsonrpc": "2.0", "id": 7, "result": "swapped"}]
    assert dispatcher.in_flight == 0


def test_a_cancelled_request_cannot_be_committed(wired):
    dispatcher, writer, router = wired
    dispatcher.dispatch_line(line(7, "later"))
    dispatcher.cancel(7)
    assert router.jobs[0].commit() is False
    router.jobs[0].finish("too late")
    assert [r["error"]["code"] for r in writer.replies()] == [-32800]


def _race_with_a_cancel(action) -> tuple[Job, MemoryWriter]:
    """A queued request (id 1) whose job `action(job)` runs on one thread while a cancel runs on another."""
    writer, router = MemoryWriter(), FakeRouter()
    dispatcher = Dispatcher(writer, router, max_batch=10, max_json_depth=8, max_line_bytes=100)
    dispatcher.dispatch_line(line(1, "later"))
    job = router.jobs[0]
    threads = [threading.Thread(target=action, args=(job,)), threading.Thread(target=dispatcher.cancel, args=(1,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    return job, writer


def test_a_commit_and_a_cancellation_racing_give_exactly_one_reply_that_matches_the_commit():
    for _ in range(200):
        committed = []
        job, writer = _race_with_a_cancel(lambda job, c=committed: c.append(job.commit()))
        job.finish("r")
        (reply,) = writer.replies()
        assert ("result" in reply) == committed[0]
        assert job.cancelled == (not committed[0])  # a handler that drops cancelled jobs never drops this one


def test_a_string_id_and_a_number_id_with_the_same_digits_are_different_requests(wired):
    dispatcher, writer, router = wired
    dispatcher.dispatch_line(line(1, "later"))
    dispatcher.dispatch_line(line("1", "later"))
    dispatcher.cancel("1")
    router.jobs[0].finish("kept")
    assert {(r["id"], "result" in r) for r in writer.replies()} == {("1", False), (1, True)}


def test_a_result_and_a_cancellation_racing_give_exactly_one_reply():
    for _ in range(200):
        _, writer = _race_with_a_cancel(lambda job: job.finish("r"))
        assert len(writer.lines) == 1


def test_a_batch_is_answered_as_one_array_once_its_last_request_finishes(wired):
    dispatcher, writer, router = wired
    batch = b"[" + b",".join([line(1, "later"), line(2, "echo", {"x": 1}), b'{"jsonrpc":"2.0","method":"echo"}']) + b"]"
    dispatcher.dispatch_line(batch)
    assert writer.lines == []
    router.jobs[0].finish("late")
    (reply,) = writer.replies()
    assert sorted(r["id"] for r in reply) == [1, 2]


def test_a_queued_method_refused_at_once_is_answered_with_that_error(wired):
    dispatcher, writer, _ = wired
    dispatcher.dispatch_line(line(3, "busy"))
    (reply,) = writer.replies()
    assert reply["error"]["code"] == -32000 and reply["error"]["data"] == {"queue_size": 1}
    assert dispatcher.in_flight == 0


def test_an_unexpected_exception_is_an_internal_error_and_the_next_line_is_served(wired):
    dispatcher, writer, _ = wired
    dispatcher.dispatch_line(line(4, "boom"))
    dispatcher.dispatch_line(line(5, "echo", [5]))
    first, second = writer.replies()
    assert first["error"]["code"] == -32603 and "ZeroDivisionError" in first["error"]["message"]
    assert second["result"] == [5]


def test_a_line_too_long_is_limit_exceeded_with_its_size(wired):
    dispatcher, writer, _ = wired
    dispatcher.dispatch_line(LineTooLong(500))
    (reply,) = writer.replies()
    assert reply["id"] is None
    assert reply["error"]["data"] == {"limit": "line_bytes", "maximum": 100, "actual": 500}


def test_a_line_too_long_is_answered_with_the_id_its_first_bytes_hold(wired):
    dispatcher, writer, _ = wired
    dispatcher.dispatch_line(LineTooLong(500, b'{"jsonrpc": "2.0", "id": "r-7", "method": "predict", "params": {"co'))
    dispatcher.dispatch_line(LineTooLong(500, b'{"jsonrpc": "2.0", "params": {"code": "def f(): ...'))
    first, second = writer.replies()
    assert first["id"] == "r-7" and first["error"]["code"] == -32002
    assert second["id"] is None and second["error"]["code"] == -32002


def test_a_batch_longer_than_the_limit_is_a_single_error(wired):
    dispatcher, writer, _ = wired
    dispatcher.dispatch_line(b"[" + b",".join(line(i, "echo") for i in range(10)) + b"]")
    dispatcher.dispatch_line(b"[" + b",".join(line(i, "echo") for i in range(11)) + b"]")
    at_limit, over_limit = writer.replies()
    assert isinstance(at_limit, list) and len(at_limit) == 10
    assert over_limit["error"]["data"] == {"limit": "batch", "maximum": 10, "actual": 11}


def test_waiting_for_idle_times_out_while_a_request_is_in_flight(wired):
    dispatcher, _, router = wired
    assert dispatcher.wait_idle(0.01) is True
    dispatcher.dispatch_line(line(1, "later"))
    assert dispatcher.wait_idle(0.01) is False
    router.jobs[0].finish(None)
    assert dispatcher.wait_idle(0.01) is True


@pytest.mark.parametrize(
    ("exc", "code", "data"),
    [
        (SourceSyntaxError("invalid syntax", line=3, column=5), -32003, {"line": 3, "column": 5}),
        (
            SourceLimitError("too deep", limit="nesting", maximum=100, actual=150),
            -32002,
            {"limit": "nesting"},
        ),
        (
            SourceLimitError("too deep", limit="nesting", maximum=200, line=1, column=205),
            -32002,
            {"limit": "nesting", "maximum": 200, "line": 1, "column": 205},  # where, for the host's editor
        ),
        (FeatureVectorError("wrong length", expected=978), -32602, {"field": "features", "expected": 978}),
        (FeatureVectorError("feature 3 is too large", expected=978, index=3), -32602,
         {"field": "features[3]", "index": 3}),
        (CheckpointError("corrupt", path="/x.safetensors"), -32004, {"path": "/x.safetensors"}),
        (KeyError("surprise"), -32603, {}),
    ],
)
def test_every_failure_maps_to_its_wire_error(exc, code, data):
    error = to_wire_error(exc).to_error()
    assert error["code"] == code
    assert_documented_error(error)
    assert data.items() <= error.get("data", {}).items()
    if isinstance(exc, FeatureVectorError) and exc.index is not None:
        assert "expected" not in error["data"]  # the length was right: only the entry is named


def test_a_message_nested_too_deep_is_answered_with_its_own_id_when_that_id_is_valid(wired):
    dispatcher, writer, _ = wired
    deep = [[[[[[[[[1]]]]]]]]]  # 9 levels, inside params: 10 with the message itself
    dispatcher.dispatch_line(line(14, "echo", {"a": deep}))
    dispatcher.dispatch_line(b'{"jsonrpc": "2.0", "id": true, "method": "echo", "params": {"a": ' +
                             str(deep).replace(" ", "").encode() + b"}}")
    dispatcher.dispatch_line(b"[" + line(15, "echo", {"a": deep}) + b"]")  # a batch: no single id to echo
    replies = writer.replies()
    assert [r["id"] for r in replies] == [14, None, None]
    assert {r["error"]["data"]["limit"] for r in replies} == {"json_depth"}
