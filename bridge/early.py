"""What runs before the heavy imports: the reader thread, early pings, and the stop signals.

Owns the read loop for the daemon's whole life. Until the dispatcher exists (pydantic and the
protocol models take ~100 ms to import) it answers plain pings itself and holds every other line;
`hand_over` then dispatches the held lines in order and routes every later line straight to the
dispatcher. `close` stops dispatching for good: once it returns, no later line will be dispatched,
and none is being dispatched unless its reply write was stuck past close's timeout (a host that
stopped reading stdout). The daemon lets `hand_over` finish before it closes, unless a reply write
is stuck. Only the standard library, orjson and bridge.transport are imported here (the stop request
and its signals are bridge.stopping's, set up before even this module loads).

A "plain ping" is the exact shape the full protocol layer would answer "pong" to:
`{"jsonrpc": "2.0", "id": <string or integer>, "method": "ping"}`, with no params or empty ones and
nothing else, and no deeper than `--max-json-depth` allows (`{}` params nest 2 deep). Anything else
(a batch, a notification, a float or 64-bit-overflowing id, any doubt) is held for the dispatcher,
so the early answer is never different from the late one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import orjson

from bridge.transport import LineTooLong, Writer, read_lines

__all__ = ["EarlyReader", "plain_ping_reply"]

logger = logging.getLogger(__name__)

Line = bytes | LineTooLong
_PING_KEYS = frozenset({"jsonrpc", "id", "method"})
_MAX_EXACT_INT = 2**63 - 1
_CLOSE_WAIT_S = 2.0
"""How long `EarlyReader.close` waits for a line's dispatch; dispatching takes microseconds unless a
reply write is blocked on a full stdout."""


def plain_ping_reply(line: bytes, max_depth: int) -> bytes | None:
    """The encoded "pong" reply when `line` is a plain ping request no deeper than `max_depth` (the
    protocol's JSON depth: the message 1, params inside it 2), else None."""
    if b'"ping"' not in line:
        return None
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(message) is not dict or message.get("method") != "ping" or message.get("jsonrpc") != "2.0":
        return None
    if message.keys() - {"params"} != _PING_KEYS or message.get("params", []) not in ([], {}):
        return None
    if ("params" in message) + 1 > max_depth:
        return None  # the protocol layer refuses it as too deep
    request_id = message["id"]
    if type(request_id) is int and abs(request_id) > _MAX_EXACT_INT:
        return None  # orjson may have read a longer run of digits: leave exactness to the protocol layer
    if type(request_id) not in (str, int) or (type(request_id) is str and not request_id.isascii()):
        return None  # (a string id with a Unicode line break must be escaped: the protocol layer does that)
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": "pong"}) + b"\n"


class EarlyReader:
    """Reads stdin on its own thread from the first moment; see the module docstring."""

    def __init__(self, read: Callable[[int], bytes], writer: Writer, *, max_line_bytes: int,
                 max_json_depth: int) -> None:
        self._read = read
        self._writer = writer
        self._max_line_bytes = max_line_bytes
        self._max_json_depth = max_json_depth
        self._lock = threading.Lock()
        self._held: list[Line] = []
        self._dispatch: Callable[[Line], None] | None = None
        self._on_end: Callable[[], None] | None = None
        self._ended = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="bridge-reader", daemon=True)
        self._thread.start()

    def hand_over(self, dispatch: Callable[[Line], None], *, on_end: Callable[[], None]) -> None:
        """Dispatch the held lines, then every later one; call `on_end` at end of input."""
        with self._lock:
            for line in self._held:
                dispatch(line)
            self._held.clear()
            self._dispatch = dispatch
            self._on_end = on_end
            ended = self._ended
        if ended:
            on_end()

    def close(self, timeout: float = _CLOSE_WAIT_S) -> None:
        """Stop dispatching: no later line is. Waits up to `timeout` s for the line being dispatched:
        its reply may be stuck behind a host that stopped reading stdout, and a SIGTERM must not
        wait on that for ever (the drain that follows has its own bound)."""
        acquired = self._lock.acquire(timeout=timeout)
        self._closed = True
        if acquired:
            self._lock.release()

    def _run(self) -> None:
        try:
            for line in read_lines(self._read, self._max_line_bytes):
                with self._lock:
                    if self._closed:
                        return
                    if self._dispatch is not None:
                        self._dispatch(line)
                    elif not self._answer_early(line):
                        self._held.append(line)
        except OSError as exc:
            logger.warning("stdin failed: %s", exc)
        except BaseException:  # the reader must not die silently: end the input instead
            logger.exception("the reader crashed")
        with self._lock:
            self._ended = True
            on_end = self._on_end
        if on_end is not None:
            on_end()

    def _answer_early(self, line: Line) -> bool:
        if isinstance(line, LineTooLong):
            return False
        reply = plain_ping_reply(line, self._max_json_depth)
        if reply is None:
            return False
        self._writer.write(reply)
        return True
