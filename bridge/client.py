"""A small client that spawns the daemon and calls its methods, for scripts and integration tests.

Owns the host side of the pipe: spawning `python -P -m bridge`, a reader thread that matches replies to
requests by id, blocking `call`s with timeouts, notifications, and raw access (send any bytes, read
any reply) for tests that speak malformed JSON-RPC on purpose. It depends on nothing but the standard
library, so it is usable from any script; the daemon's internals are not its business.
"""

from __future__ import annotations

import contextlib
import enum
import io
import itertools
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import IO, Any

__all__ = ["BridgeClient", "BridgeError", "ClientState", "decode_reply"]

DEFAULT_TIMEOUT_S = 10.0
_FIRST_ID = 1_000_000_001
"""The client numbers its requests from here: far from the small ids tests write by hand in raw
messages (`send`), whose replies must not resolve a call that happens to share the id."""


class ClientState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class BridgeError(Exception):
    """A JSON-RPC error reply, raised by `BridgeClient.call`."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data


def decode_reply(line: bytes) -> Any:
    """One reply line as Python values.

    The standard library's decoder, not orjson: orjson turns integers beyond 64 bits into floats
    without a word, and a client must see the ids it sent exactly.
    """
    return json.loads(line)


class BridgeClient:
    """A running daemon and the requests waiting for its replies.

    Replies to ids this client issued resolve their futures; everything else (replies to raw
    messages, batch arrays, notifications the server sends) is queued for `next_message`.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        stderr: int | IO[bytes] | None = subprocess.DEVNULL,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        base = list(command) if command is not None else [sys.executable, "-P", "-m", "bridge"]  # -P: no cwd import
        self.process = subprocess.Popen(
            [*base, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=dict(env) if env is not None else None,
            bufsize=0,
        )
        self.timeout = timeout
        self.state = ClientState.OPEN
        self.raw_lines: list[bytes] = []
        """Every line the daemon wrote to stdout, as it came (for tests of stdout purity)."""
        self._ids = itertools.count(_FIRST_ID)
        self._pending: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._unmatched: queue.Queue[Any] = queue.Queue()
        self._closed_stdout = threading.Event()
        self._reader = threading.Thread(target=self._read_replies, name="bridge-client-reader", daemon=True)
        self._reader.start()

    # -- sending --------------------------------------------------------------------------------

    def send_raw(self, data: bytes | str) -> None:
        """Write bytes to the daemon's stdin exactly as given (add the newline yourself)."""
        payload = data.encode() if isinstance(data, str) else data
        assert self.process.stdin is not None
        with self._write_lock:
            self.process.stdin.write(payload)
            self.process.stdin.flush()

    def send(self, message: Any) -> None:
        """Write one JSON value as one line; ValueError for a string that is not text (a lone
        surrogate, as `os.fsdecode` makes of an undecodable file name): the daemon would only refuse
        it (-32600), so it is refused here, before anything is sent."""
        self.send_raw(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")

    def request(self, method: str, params: Any = None) -> Future[Any]:
        """Send a request; the future resolves to the result or raises BridgeError (EOFError at once
        when the daemon has exited)."""
        request_id = next(self._ids)
        future: Future[Any] = Future()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        with self._lock:
            self._pending[request_id] = future
        try:
            if self._closed_stdout.is_set():  # checked once registered: the reader fails what it finds
                raise EOFError("the daemon exited")
            self.send(message)
        except (OSError, ValueError, EOFError) as exc:  # OSError: the daemon's stdin is gone
            with self._lock:
                self._pending.pop(request_id, None)
            if isinstance(exc, OSError):
                raise EOFError(f"the daemon exited ({exc})") from exc
            raise
        future.request_id = request_id  # type: ignore[attr-defined]
        return future

    def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Send a request and wait for its result (TimeoutError after `timeout` seconds; 0 does not
        wait). A request over the daemon's line limit raises its BridgeError at once: the daemon
        reads the id from the line's first bytes, where this client writes it."""
        return self.request(method, params).result(self._seconds(timeout))

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def close_stdin(self) -> None:
        """End the daemon's input (it answers what it has read, then exits 0)."""
        assert self.process.stdin is not None
        with self._write_lock:
            if not self.process.stdin.closed:
                self.process.stdin.close()

    # -- receiving ------------------------------------------------------------------------------

    def next_message(self, timeout: float | None = None) -> Any:
        """The next reply not matched to a `request` (TimeoutError, or EOFError once stdout closed)."""
        try:
            item = self._unmatched.get(timeout=self._seconds(timeout))
        except queue.Empty:
            raise TimeoutError(f"no message within {self._seconds(timeout)} s") from None
        if item is _EOF:
            self._unmatched.put(_EOF)  # keep telling later callers
            raise EOFError("the daemon closed its stdout")
        return item

    def wait_stdout_closed(self, timeout: float | None = None) -> bool:
        return self._closed_stdout.wait(self._seconds(timeout))

    def _seconds(self, timeout: float | None) -> float:
        """A method's timeout: the client's own when none is given (0 is one: do not wait)."""
        return self.timeout if timeout is None else timeout

    def _read_replies(self) -> None:
        assert self.process.stdout is not None
        # buffered: the pipe is unbuffered for writing, and reading lines from it raw costs a system call a byte
        for line in io.BufferedReader(self.process.stdout, 1 << 16):  # type: ignore[arg-type]
            self.raw_lines.append(line)
            try:
                message = decode_reply(line)
            except ValueError:
                message = _Garbage(line)
            if not self._resolve(message):
                self._unmatched.put(message)
        self._closed_stdout.set()
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(EOFError("the daemon exited before replying"))
        self._unmatched.put(_EOF)

    def _resolve(self, message: Any) -> bool:
        if not isinstance(message, dict) or not isinstance(message.get("id"), int):
            return False
        with self._lock:
            future = self._pending.pop(message["id"], None)
        if future is None:
            return False
        if "error" in message:
            error = message["error"]
            future.set_exception(BridgeError(error["code"], error["message"], error.get("data")))
        else:
            future.set_result(message.get("result"))
        return True

    # -- lifecycle ------------------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the daemon to exit and return its exit code (TimeoutExpired after `timeout`)."""
        return self.process.wait(self._seconds(timeout))

    def close(self, timeout: float | None = None) -> int | None:
        """Close stdin, wait for the exit (killing the daemon after `timeout`); safe to call twice."""
        if self.state is ClientState.CLOSED:
            return self.process.returncode
        self.state = ClientState.CLOSED
        with contextlib.suppress(OSError):  # the daemon may already be gone
            self.close_stdin()
        try:
            return self.process.wait(self._seconds(timeout))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
        finally:
            if self.process.stdout is not None:
                self._reader.join(self._seconds(timeout))

    def __enter__(self) -> BridgeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Garbage:
    """A stdout line that is not JSON (a purity failure the tests want to see)."""

    def __init__(self, line: bytes) -> None:
        self.line = line

    def __repr__(self) -> str:
        return f"_Garbage({self.line!r})"


_EOF = object()
