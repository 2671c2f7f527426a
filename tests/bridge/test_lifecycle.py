"""Start, stop and exit codes of the real daemon: end of input, signals, shutdown/exit, dead peers."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.bridge.conftest import FUNCTION, WAIT_S, WORKERS_READY, exchange, request_line, spawn, watch_stderr


def test_end_of_input_answers_every_request_already_read_then_exits_zero():
    with spawn() as client:
        codes = [FUNCTION.replace("mean_of", f"mean_{i}") for i in range(20)]
        futures = [client.request("predict", {"code": code}) for code in codes]
        client.close_stdin()
        assert all("confidence" in future.result(WAIT_S) for future in futures)
        assert client.wait() == 0


def test_end_of_input_with_nothing_pending_exits_zero_promptly():
    with spawn() as client:
        assert client.call("ping") == "pong"
        client.close_stdin()
        assert client.wait(5) == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_answers_the_requests_already_read_then_exits_zero(signum):
    with spawn() as client:
        codes = [FUNCTION.replace("mean_of", f"f{i}") for i in range(10)]
        futures = [client.request("predict", {"code": code}) for code in codes]
        assert client.call("ping") == "pong"  # read after the predictions, so they are in hand
        client.process.send_signal(signum)
        assert all("confidence" in future.result(WAIT_S) for future in futures)
        assert client.wait() == 0


def test_a_stop_signal_ends_it_though_the_host_never_reads_its_stdout():
    # thousands of pings whose replies fill the pipe: the reply writes block, the signal must not
    process = subprocess.Popen([sys.executable, "-m", "bridge", "--workers", "0"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    try:
        pings = "".join(request_line(i, "ping") for i in range(5000)).encode()
        writer = threading.Thread(target=_write_quietly, args=(process.stdin, pings), daemon=True)
        writer.start()
        writer.join(2)  # long enough to fill stdout's pipe, the first replies written before start-up ends
        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT_S) == 0
    finally:
        process.kill()
        process.wait()


def test_a_stop_signal_ends_it_promptly_when_the_host_stopped_reading_with_predictions_in_flight():
    # once serving, a host stops reading and sends predictions: their replies cannot be written, and
    # the drain must not wait its whole bound (60 s) for them
    process = subprocess.Popen([sys.executable, "-m", "bridge", "--workers", "0"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    try:
        process.stdin.write(request_line(0, "predict", {"code": "x = 1"}).encode())
        assert b'"id":0' in process.stdout.readline()  # serving, the model loaded
        lines = "".join(request_line(i, "predict", {"code": f"x = {i}"}) for i in range(1, 20_000)).encode()
        threading.Thread(target=_write_quietly, args=(process.stdin, lines), daemon=True).start()
        time.sleep(2)  # stdout's pipe fills, and the reply writes block
        process.send_signal(signal.SIGTERM)
        assert process.wait(WAIT_S) == 0
    finally:
        process.kill()
        process.wait()


def test_a_host_that_pauses_before_reading_still_gets_every_reply_at_end_of_input(tmp_path):
    # stdout's pipe fills while the host is away; once it reads, slowly or not, nothing is dropped
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(request_line(i, "predict", {"code": f"x = {i}\n"}) for i in range(600)))
    with requests.open("rb") as stdin:
        process = subprocess.Popen([sys.executable, "-m", "bridge", "--workers", "0"], stdin=stdin,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            time.sleep(4)  # the replies fill the pipe, and the daemon reaches the end of input meanwhile
            replies = process.stdout.read().splitlines()
            assert process.wait(WAIT_S) == 0
        finally:
            process.kill()
            process.wait()
    assert sum(b'"result"' in reply for reply in replies) == 600


def test_after_a_stop_signal_a_host_reading_one_large_reply_slowly_gets_all_of_it():
    # one batch's reply of about half a megabyte: the write blocks for seconds while the host reads it
    # in pieces, and each piece the host takes is progress, not a stopped host
    process = subprocess.Popen([sys.executable, "-m", "bridge", "--workers", "0"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    try:
        process.stdin.write(request_line(0, "predict", {"code": "x = 1\n"}).encode())
        assert b'"id":0' in process.stdout.readline()
        batch = [{"jsonrpc": "2.0", "id": i, "method": "predict",
                  "params": {"code": f"def f{i}(a):\n    return a + {i}\n", "include_embedding": True}}
                 for i in range(1, 101)]
        process.stdin.write((json.dumps(batch) + "\n").encode())
        time.sleep(1)  # the reply fills the pipe
        process.send_signal(signal.SIGTERM)
        received = b""
        while chunk := os.read(process.stdout.fileno(), 16384):
            received += chunk
            time.sleep(0.1)
        assert process.wait(WAIT_S) == 0
        assert len(json.loads(received)) == 100
    finally:
        process.kill()
        process.wait()


def test_a_stop_signal_at_start_up_still_answers_the_lines_read_before_it():
    # more lines than the hand-over dispatches in the reader's close timeout (2 s): those held at
    # start-up are all served; only what was still in the pipe, or in the reader's last chunk, when
    # the daemon stopped reading may go unanswered (or be told -32005, shutting down)
    count = 100_000
    lines = "".join(request_line(i, "predict", {"code": 1}) for i in range(count)).encode()
    process = subprocess.Popen([sys.executable, "-m", "bridge", "--workers", "0"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    replies: list[bytes] = []
    stdout = io.BufferedReader(process.stdout, 1 << 16)  # (the pipe itself is unbuffered: a read a byte)
    reader = threading.Thread(target=lambda: replies.extend(stdout), daemon=True)
    reader.start()
    try:
        process.stdin.write(lines)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        reader.join(WAIT_S)
        codes = {json.loads(reply)["error"]["code"] for reply in replies}
        unread_at_most = 2 * 65536 // min(len(line) for line in lines.splitlines(keepends=True))  # pipe, chunk
        assert count - len(replies) <= unread_at_most and codes <= {-32602, -32005}, (len(replies), codes)
    finally:
        process.kill()
        process.wait()


def test_the_drain_waits_for_the_hand_over_of_the_lines_read_at_start_up_unless_a_write_is_stuck():
    from types import SimpleNamespace

    from bridge.server import Server

    slow = threading.Thread(target=threading.Event().wait, args=(0.5,))  # dispatching many held lines
    slow.start()
    writing = SimpleNamespace(blocked_for=lambda: 0.0, unread=lambda: None)
    signalled = SimpleNamespace(signalled_at=time.monotonic())
    Server._finish_hand_over(SimpleNamespace(_hand_over=slow, _writer=writing, _stop=signalled),
                             deadline=time.monotonic() + 30)
    assert not slow.is_alive()  # the drain went on only once every held line was dispatched
    stuck = threading.Thread(target=threading.Event().wait, args=(8,))  # its reply write blocked
    stuck.start()
    started = time.monotonic()
    blocked = SimpleNamespace(blocked_for=lambda: 3.0, unread=lambda: 4096)  # nothing read from the pipe
    Server._finish_hand_over(SimpleNamespace(_hand_over=stuck, _writer=blocked, _stop=signalled),
                             deadline=time.monotonic() + 30)
    waited = time.monotonic() - started
    assert 1.9 < waited < 4 and stuck.is_alive()  # the host had 2 s after the signal to read again


def _write_quietly(stream, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the daemon may stop reading, or exit, first
        stream.write(data)


def test_shutdown_then_exit_exits_zero_and_refuses_work_in_between():
    with spawn() as client:
        assert client.call("shutdown") is None
        (refused,) = exchange(client, request_line("late", "predict", {"code": "x = 1"}))
        assert refused["error"]["code"] == -32005
        assert client.call("ping") == "pong"
        client.notify("exit")
        assert client.wait() == 0


def test_exit_without_shutdown_exits_one():
    with spawn() as client:
        assert client.call("ping") == "pong"
        client.notify("exit")
        assert client.wait() == 1


@pytest.mark.parametrize("params", [[1], {"code": 0}], ids=["array", "object"])
def test_exit_with_params_still_exits_since_a_notification_cannot_be_told_they_are_wrong(params):
    with spawn() as client:
        assert client.call("ping") == "pong"
        client.notify("exit", params)
        assert client.wait() == 1


def test_exit_sent_as_a_request_is_answered_before_the_daemon_exits():
    with spawn() as client:
        assert client.call("exit") is None
        assert client.wait() == 1


def test_a_broken_stdout_makes_it_exit_quietly():
    pipe = subprocess.PIPE
    process = subprocess.Popen([sys.executable, "-m", "bridge"], stdin=pipe, stdout=pipe, stderr=pipe)
    process.stdout.close()
    process.stdin.write(request_line(1, "ping").encode())
    process.stdin.flush()
    _, stderr = process.communicate(timeout=WAIT_S)
    assert process.returncode == 0
    assert b"Traceback" not in stderr


def test_a_stdout_broken_before_the_server_is_up_still_makes_it_exit_while_stdin_stays_open():
    pipe = subprocess.PIPE
    process = subprocess.Popen([sys.executable, "-m", "bridge"], stdin=pipe, stdout=pipe, stderr=pipe)
    process.stdout.close()  # at once: the early reader answers this ping, before the server exists
    process.stdin.write(request_line(1, "ping").encode())
    process.stdin.flush()
    try:
        assert process.wait(timeout=WAIT_S) == 0
    finally:
        process.kill()
        process.stdin.close()
        process.stderr.close()


def test_stdin_and_stdout_handed_over_non_blocking_are_waited_on_not_taken_for_closed():
    """A host may pass pipes in non-blocking mode: an empty stdin is no end of input, and a full stdout
    (the host reads later) no broken one. Twenty feature replies (~40 KB each) overflow a pipe's buffer."""
    stdin_read, stdin_write = os.pipe()
    stdout_read, stdout_write = os.pipe()
    os.set_blocking(stdin_read, False)
    os.set_blocking(stdout_write, False)
    process = subprocess.Popen([sys.executable, "-m", "bridge", "--workers=0"], stdin=stdin_read,
                               stdout=stdout_write, stderr=subprocess.DEVNULL)
    os.close(stdin_read)
    os.close(stdout_write)
    try:
        threading.Event().wait(0.5)  # the daemon meets an empty stdin first
        requests = [request_line(i, "extract_features", {"code": FUNCTION}) for i in range(20)]
        os.write(stdin_write, "".join(requests).encode())
        threading.Event().wait(1.0)  # and then a full stdout, read by nobody yet
        os.close(stdin_write)
        with os.fdopen(stdout_read, "rb") as replies:
            ids = [json.loads(line)["id"] for line in replies]
        assert process.wait(timeout=WAIT_S) == 0
    finally:
        process.kill()
    assert sorted(ids) == list(range(20))


def test_when_its_parent_dies_it_exits():
    middle = textwrap.dedent(
        f"""
        import subprocess, sys
        daemon = subprocess.Popen([sys.executable, "-m", "bridge"], stdin=subprocess.PIPE)
        daemon.stdin.write({request_line("from-middle", "ping")!r}.encode())
        daemon.stdin.flush()
        sys.stdin.read()  # wait to be killed
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", middle], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    pong = parent.stdout.readline()  # the daemon writes to the stdout it inherited: ours
    assert json.loads(pong)["result"] == "pong"
    parent.kill()
    parent.wait(WAIT_S)
    reader = _read_to_end(parent.stdout)
    reader.join(WAIT_S)
    assert not reader.is_alive(), "the orphaned daemon kept our pipe open: it did not exit"
    parent.stdin.close()


def _read_to_end(stream):
    import threading

    thread = threading.Thread(target=stream.read, daemon=True)
    thread.start()
    return thread


def test_a_stderr_nobody_reads_never_blocks_it_even_at_debug_level():
    with spawn("--log-level=debug", stderr=subprocess.PIPE) as client:  # stderr is never read
        futures = [client.request("ping") for _ in range(1500)]
        futures += [client.request("predict", {"code": f"x_{i} = {i}\n"}) for i in range(500)]
        results = [future.result(WAIT_S) for future in futures]
        assert results[:1500] == ["pong"] * 1500
        assert all("confidence" in result for result in results[1500:])
        client.close_stdin()
        assert client.wait() == 0
    client.process.stderr.close()


def test_a_byte_order_mark_at_the_start_of_the_stream_is_skipped():
    with spawn() as client:
        (reply,) = exchange(client, b"\xef\xbb\xbf" + request_line("bom", "ping").encode())
        assert reply["result"] == "pong"


def test_the_console_script_answers_a_piped_request_and_exits_at_end_of_input():
    script = shutil.which("yantra-bridge", path=str(Path(sys.executable).parent))
    assert script, "the yantra-bridge console script is not installed"
    done = subprocess.run(
        [script], input=request_line(1, "ping").encode(), capture_output=True, timeout=WAIT_S, check=False
    )
    assert done.returncode == 0
    assert json.loads(done.stdout) == {"jsonrpc": "2.0", "id": 1, "result": "pong"}


def test_print_schema_prints_the_schema_of_every_method_and_exits_zero():
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "--print-schema"], capture_output=True, timeout=WAIT_S, check=False
    )
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    for method in ("initialize", "ping", "health", "predict", "extract_features", "embed", "reload"):
        assert {"params", "result"} <= set(schema["methods"][method])


def test_a_bad_flag_is_refused_with_exit_code_two():
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "--max-batch=0"], capture_output=True, timeout=WAIT_S, check=False
    )
    assert done.returncode == 2 and b"--max-batch" in done.stderr


def test_the_daemon_serves_predictions_without_ever_loading_torch():
    with spawn() as client:
        assert "confidence" in client.call("predict", {"code": FUNCTION})
        assert "libtorch" not in Path(f"/proc/{client.process.pid}/maps").read_text()


def _descendants(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, its_parent in parents.items() if its_parent == parent]
        found += children
        frontier += children
    return found


def _wait_gone(pid: int, timeout: float) -> bool:
    import select

    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def test_prediction_workers_exit_when_the_daemon_is_killed():
    with spawn("--log-level=info", "--workers=2", stderr=subprocess.PIPE) as client:
        codes = [FUNCTION.replace("mean_of", f"burst_{i}") for i in range(64)]
        for future in [client.request("predict", {"code": code}) for code in codes]:
            future.result(WAIT_S)  # a burst starts the prediction workers
        (ready,) = watch_stderr(client, WORKERS_READY)
        assert ready.wait(WAIT_S), "the prediction workers never started"
        helpers = _descendants(client.process.pid)
        assert len(helpers) >= 2
        client.process.kill()
        assert client.wait() != 0
        assert all(_wait_gone(pid, WAIT_S) for pid in helpers), "a helper process outlived the daemon"


def test_a_daemon_whose_prediction_workers_are_killed_answers_every_request_itself():
    """A worker killed (the OOM killer, a crash) breaks the pool, while requests stream in; the daemon
    predicts in-process from then on, and every request gets its one reply."""
    with spawn("--log-level=info", "--workers=1", stderr=subprocess.PIPE) as client:
        ready, given_up = watch_stderr(client, WORKERS_READY, b"predicting in the daemon from now on")
        codes = [FUNCTION.replace("mean_of", f"burst_{i}") for i in range(2_000)]
        for future in [client.request("predict", {"code": code}) for code in codes[:64]]:
            future.result(WAIT_S)  # a burst starts the prediction workers
        assert ready.wait(WAIT_S), "the prediction workers never started"
        stream = [client.request("predict", {"code": code}) for code in codes[64:1_000]]
        for pid in _descendants(client.process.pid):  # while that stream is being served
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stream += [client.request("predict", {"code": code}) for code in codes[1_000:]]
        assert all(0.0 <= future.result(WAIT_S)["confidence"] <= 1.0 for future in stream)
        assert given_up.wait(WAIT_S), "the daemon never noticed its workers were gone"
        assert client.call("health")["queue_depth"] == 0


def test_the_hosts_working_directory_is_never_imported_from(tmp_path):
    # a host may spawn the daemon in the user's workspace: a `model/` or `protocol/` folder there must
    # not stand in for ours, in the daemon (`python -m bridge` puts the working directory first on
    # sys.path) or in the worker pool's fork server (started by `python -c`, which does the same)
    marker = tmp_path / "imported"
    for package in ("model", "protocol"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f"open({str(marker)!r}, 'a').write('{package}')\n")
    large = "".join(f"def f{i}(a, b):\n    return a + b * {i}\n\n" for i in range(3000))  # for a worker
    lines = request_line(1, "predict", {"code": "x = 1\n"}) + request_line(2, "predict", {"code": large})
    done = subprocess.run([sys.executable, "-m", "bridge", "--log-level", "info"], input=lines.encode(),
                          capture_output=True, cwd=tmp_path, timeout=60)
    answered = sorted(json.loads(line)["id"] for line in done.stdout.splitlines() if b'"result"' in line)
    assert answered == [1, 2] and done.returncode == 0
    assert b"prediction worker(s) ready" in done.stderr  # the large module went to a worker
    assert not marker.exists(), marker.read_text()


def test_a_working_directory_removed_before_start_up_does_not_stop_the_daemon(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
            "from bridge.__main__ import main; sys.exit(main(['--workers', '0']))")
    done = subprocess.run([sys.executable, "-c", code], input=request_line(1, "ping").encode(),
                          capture_output=True, timeout=WAIT_S)
    assert json.loads(done.stdout)["result"] == "pong", done.stderr
