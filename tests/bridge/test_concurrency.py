"""Many requests at once: pipelining, threads sharing one daemon, cancellation, a full queue."""

from __future__ import annotations

import json
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bridge.client import BridgeError
from bridge.methods import BULK_CODE_CHARS
from model.predictor import Predictor
from tests.bridge.conftest import FUNCTION, WAIT_S, WORKERS_READY, assert_silent, serving, spawn, watch_stderr

SLOW_CODE = "".join(f"value_{i} = [value_{i - 1}, {i}, 'text']\n" for i in range(1, 10_000))
"""About 0.3 MB of module-level code: a large module, scored in the slow lane in about a second."""

BUSY_CODE = SLOW_CODE[: BULK_CODE_CHARS - 100]
"""Just small enough for the forward lane, where it keeps the batch thread busy for tens of ms."""


def variant(i: int) -> str:
    return FUNCTION.replace("mean_of", f"mean_{i}").replace("total = 0", f"total = {i}")


def test_pipelined_requests_each_get_exactly_one_reply_with_their_id(daemon):
    futures = {i: daemon.request("predict", {"code": variant(i)}) for i in range(300)}
    for future in futures.values():
        assert 0.0 <= future.result(WAIT_S)["confidence"] <= 1.0
    assert_silent(daemon)


def test_threads_sharing_one_daemon_each_get_their_own_replies(daemon):
    def work(thread: int) -> list:
        return [daemon.call("embed", {"code": variant(thread * 100 + i)})["dim"] for i in range(20)]

    with ThreadPoolExecutor(4) as pool:
        dims = [dim for dims in pool.map(work, range(4)) for dim in dims]
    assert len(dims) == 80 and len(set(dims)) == 1


def test_ping_is_answered_while_predictions_are_queued(daemon):
    slow = daemon.request("predict", {"code": SLOW_CODE})
    assert daemon.call("ping") == "pong"
    assert daemon.call("health")["live"] is True
    assert "confidence" in slow.result(WAIT_S)


def test_a_running_request_can_be_cancelled_and_is_answered_cancelled_once(daemon):
    target = daemon.request("predict", {"code": SLOW_CODE})
    daemon.notify("$/cancelRequest", {"id": target.request_id})
    error = target.exception(WAIT_S)
    assert isinstance(error, BridgeError) and error.code == -32800
    assert_silent(daemon)


def test_a_request_still_queued_can_be_cancelled_and_the_others_are_served(daemon):
    ahead = [daemon.request("embed", {"code": SLOW_CODE + f"# {i}\n"}) for i in range(2)]  # both slow threads
    target = daemon.request("embed", {"code": SLOW_CODE + "# queued\n"})
    daemon.notify("$/cancelRequest", {"id": target.request_id})
    error = target.exception(WAIT_S)
    assert isinstance(error, BridgeError) and error.code == -32800
    assert all(future.result(WAIT_S)["dim"] > 0 for future in ahead)
    assert_silent(daemon)


def test_a_large_module_does_not_hold_up_small_predictions(daemon):
    large = daemon.request("predict", {"code": SLOW_CODE})
    small = daemon.request("predict", {"code": variant(2)})
    order = []
    small.add_done_callback(lambda _: order.append("small"))
    large.add_done_callback(lambda _: order.append("large"))
    assert "confidence" in large.result(WAIT_S) and "confidence" in small.result(WAIT_S)
    assert order == ["small", "large"]


def test_cancelling_a_request_that_already_finished_sends_nothing(daemon):
    done = daemon.request("ping")
    assert done.result(WAIT_S) == "pong"
    daemon.notify("$/cancelRequest", {"id": done.request_id})
    assert_silent(daemon)


def test_cancel_sent_as_a_request_is_answered_too(daemon):
    assert daemon.call("$/cancelRequest", {"id": "nothing-in-flight"}) is None


def test_a_full_queue_answers_busy_and_every_request_still_gets_one_reply():
    with serving("--queue-size=1") as client:
        futures = [client.request("predict", {"code": BUSY_CODE})]
        futures += [client.request("predict", {"code": variant(i)}) for i in range(6)]
        outcomes = [future.exception(WAIT_S) for future in futures]
        busy = [o for o in outcomes if isinstance(o, BridgeError) and o.code == -32000]
        served = [o for o in outcomes if o is None]
        assert busy, "a queue of one never refused anything"
        assert len(busy) + len(served) == len(futures)
        assert client.call("ping") == "pong"


def test_replies_come_out_of_order_when_a_fast_method_overtakes_a_slow_one(daemon):
    slow = daemon.request("predict", {"code": SLOW_CODE})
    fast = daemon.request("ping")
    arrival = []
    fast.add_done_callback(lambda _: arrival.append("fast"))
    slow.add_done_callback(lambda _: arrival.append("slow"))
    slow.result(WAIT_S)
    fast.result(WAIT_S)
    assert arrival == ["fast", "slow"]


def test_stdout_carries_only_protocol_lines_after_all_that(daemon):
    lines = list(daemon.raw_lines)
    assert lines, "no output was recorded"
    for line in lines:
        assert line.endswith(b"\n") and b"\r" not in line
        json.loads(line)


def test_many_threads_writing_notifications_and_requests_never_interleave_lines(daemon):
    barrier = threading.Barrier(4, timeout=WAIT_S)

    def hammer(thread: int) -> list:
        barrier.wait()
        futures = []
        for _ in range(50):
            daemon.notify("ping")
            futures.append(daemon.request("health"))
        return [future.result(WAIT_S)["live"] for future in futures]

    with ThreadPoolExecutor(4) as pool:
        assert all(all(live) for live in pool.map(hammer, range(4)))


def test_predictions_from_worker_processes_match_the_daemons_own(daemon):
    codes = [variant(i) for i in range(40)] + ["def broken(:\n", "x = 1\n"]
    expected = [daemon.call("predict", {"code": code, "top_k": 3}) for code in codes]
    with spawn("--workers=1", "--log-level=debug", stderr=subprocess.PIPE) as client:
        ready, used = watch_stderr(client, WORKERS_READY, b"sent to the prediction workers")
        burst = [client.request("predict", {"code": variant(100 + i)}) for i in range(40)]
        [future.result(WAIT_S) for future in burst]  # a burst starts the workers
        assert ready.wait(WAIT_S), "the prediction workers never started"
        again = [client.request("predict", {"code": code, "top_k": 3}) for code in codes]
        for want, future in zip(expected, again, strict=True):
            got = future.result(WAIT_S)
            assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-5)
            assert got["predicted_imports"] == want["predicted_imports"]
            assert got["potential_bugs"] == want["potential_bugs"]
        assert used.wait(WAIT_S), "no prediction went to the workers"


def test_a_large_modules_predict_embed_and_features_run_in_a_worker_process():
    """Its parse holds the interpreter lock for its whole length: in a worker it holds up nothing here.
    The first large module starts the workers and waits for them."""
    module = "".join(variant(i) for i in range(500))
    assert len(module) > BULK_CODE_CHARS
    predictor = Predictor()
    predictor.load()
    with serving("--workers=0") as alone:
        in_daemon = alone.call("predict", {"code": module})
    with spawn("--log-level=debug", "--workers=1", stderr=subprocess.PIPE) as client:
        (in_worker,) = watch_stderr(client, b"was handled in a worker process")
        assert client.call("predict", {"code": module}) == in_daemon
        assert in_worker.wait(WAIT_S), "the large module was not sent to the worker"
        in_worker.clear()
        embedding = client.call("embed", {"code": module})["embedding"]
        assert in_worker.wait(WAIT_S), "the large module's embedding was not computed in the worker"
        assert embedding == pytest.approx(predictor.embed_sources([module])[0].tolist(), abs=1e-6)
        in_worker.clear()
        extraction = client.call("extract_features", {"code": module})
        assert in_worker.wait(WAIT_S), "the large module's features were not extracted in the worker"
        assert extraction["features"] == pytest.approx(predictor.extract_features(module).features.tolist(), abs=1e-6)
        assert len(extraction["nodes"]) == len(predictor.extract_features(module).nodes)
