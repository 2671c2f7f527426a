"""From a decoded line to exactly one reply per request: routing, the in-flight table, cancellation.

Owns the JSON-RPC rules the protocol package leaves to its caller: batches (an empty one is one error,
an over-long one is one LIMIT_EXCEEDED, notifications inside are never answered, an all-notification
batch prints nothing), the table of in-flight requests by id, `$/cancelRequest`, and `to_wire_error`,
the one function that turns any exception into a wire error. Every queued request is answered
through `_settle` or `cancel`, which first pop it from the table, so a request is answered once even
when its result and its cancellation race; `Job.commit` pops it early, for work that cannot be
undone, and then only the job's own `finish` or `fail` answers it. What a method does and on which
thread it runs is the `Router`'s business (bridge.methods, bridge.server); bytes and framing are the
transport's.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bridge.transport import LineTooLong, Writer
from model.errors import CheckpointError, FeatureVectorError, SourceLimitError, SourceSyntaxError
from protocol.errors import (
    CheckpointLoadFailed,
    CodeSyntaxError,
    InternalError,
    InvalidParams,
    InvalidRequest,
    JsonRpcError,
    LimitExceeded,
    RequestCancelled,
)
from protocol.framing import decode_line, encode_message, id_of_line_head
from protocol.messages import Request, error_response, parse_message, result_response

__all__ = ["Dispatcher", "Job", "Lane", "Route", "Router", "to_wire_error"]

logger = logging.getLogger(__name__)

Sink = Callable[[dict[str, Any]], None]


class Lane(enum.Enum):
    """Where a method runs."""

    INLINE = "inline"
    """On the reader thread, at once: cheap methods that must never wait behind predictions."""
    QUEUED = "queued"
    """Handed to the server's workers; the reply comes later, possibly out of order."""


@dataclass(frozen=True, slots=True)
class Route:
    """A method's lane and its handler.

    INLINE handlers take the validated params and return the result. QUEUED handlers take the
    validated params and a `Job`, and must eventually call `job.finish` or `job.fail` (or see
    `job.cancelled` and drop it); they raise at once when the work cannot even be queued (busy).
    """

    lane: Lane
    handler: Callable[..., Any]


class Router(Protocol):
    """What the dispatcher needs from the methods layer: a route per method name."""

    def route(self, method: str) -> Route:
        """The route for `method`; raises MethodNotFound, or ServerShuttingDown after `shutdown`."""
        ...


def to_wire_error(exc: BaseException) -> JsonRpcError:
    """The one boundary between exceptions and JSON-RPC errors: every failure is mapped here."""
    if isinstance(exc, JsonRpcError):
        return exc
    if isinstance(exc, SourceSyntaxError):
        return CodeSyntaxError(f"Code syntax error: {exc}", line=exc.line, column=exc.column)
    if isinstance(exc, SourceLimitError):
        place = {key: value for key, value in (("line", exc.line), ("column", exc.column)) if value is not None}
        return LimitExceeded(f"Limit exceeded: {exc}", limit=exc.limit, maximum=exc.maximum, actual=exc.actual,
                             **place)
    if isinstance(exc, FeatureVectorError):
        if exc.index is not None:  # one bad entry: named as validation names one (`features[3]`)
            return InvalidParams(f"Invalid params: {exc}", field=f"features[{exc.index}]", reason=str(exc),
                                 index=exc.index)
        return InvalidParams(f"Invalid params: {exc}", field="features", reason=str(exc), expected=exc.expected)
    if isinstance(exc, CheckpointError):
        return CheckpointLoadFailed(f"Checkpoint load failed: {exc}", path=exc.path, reason=str(exc))
    logger.error("internal error", exc_info=(type(exc), exc, exc.__traceback__))
    return InternalError(f"Internal error: {type(exc).__name__}: {exc}")


def _id_key(request_id: object) -> tuple[bool, object]:
    """Table key for an id: "1" and 1 are different requests."""
    return (isinstance(request_id, str), request_id)


class Job:
    """One request (or notification) accepted for later work; settled exactly once."""

    __slots__ = ("_committed", "_dispatcher", "_sink", "cancelled", "id", "is_notification", "method", "seq")

    def __init__(self, dispatcher: Dispatcher, seq: int, method: str, request_id: object, sink: Sink | None) -> None:
        self._dispatcher = dispatcher
        self._sink = sink
        self.seq = seq
        self.method = method
        self.id = request_id
        self.is_notification = sink is None
        self.cancelled = False
        """Set when `$/cancelRequest` answered it: whoever holds the job may skip the work."""
        self._committed = False

    def commit(self) -> bool:
        """Claim the reply before it is ready, for work that cannot be undone once done (a reload's
        swap): from here on a `$/cancelRequest` finds the request finished, and `finish` or `fail`
        still answers it. False when it was cancelled first: then the work must not take effect."""
        return self._dispatcher._claim(self, commit=True)

    def finish(self, result: Any) -> None:
        self._dispatcher._settle(self, result=result, owner=True)

    def fail(self, exc: BaseException) -> None:
        self._dispatcher._settle(self, error=exc, owner=True)


class _BatchReply:
    """Collects the responses of one batch and writes them as one array when the last arrives."""

    def __init__(self, writer: Writer, expected: int) -> None:
        self._writer = writer
        self._expected = expected
        self._parts: list[bytes] = []
        self._lock = threading.Lock()

    def add(self, response: dict[str, Any]) -> None:
        part = _encode(response)[:-1]  # without its newline
        with self._lock:
            self._parts.append(part)
            if len(self._parts) < self._expected:
                return
            data = b"[" + b",".join(self._parts) + b"]\n"
        self._writer.write(data)


def _encode(response: dict[str, Any]) -> bytes:
    """Encode a response; a result that cannot be encoded becomes an internal error for its id."""
    try:
        return encode_message(response)
    except Exception as exc:
        return encode_message(error_response(response.get("id"), to_wire_error(exc)))


class Dispatcher:
    """Turns lines into calls on the router's handlers and their outcomes into replies."""

    def __init__(
        self, writer: Writer, router: Router, *, max_batch: int, max_json_depth: int, max_line_bytes: int
    ) -> None:
        self._writer = writer
        self._router = router
        self._max_batch = max_batch
        self._max_json_depth = max_json_depth
        self._max_line_bytes = max_line_bytes
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight: dict[int, Job] = {}
        self._unanswered = 0
        """Jobs registered whose reply is not yet written (a claimed job counts until it is)."""
        self._seqs_by_id: dict[tuple[bool, object], set[int]] = {}
        self._next_seq = 0

    # -- reading side ---------------------------------------------------------------------------

    def dispatch_line(self, line: bytes | LineTooLong) -> None:
        """Handle one input line: a message, a batch, or garbage (answered with an error)."""
        if isinstance(line, LineTooLong):
            error = LimitExceeded(
                f"Limit exceeded: a line of {line.size} bytes is longer than {self._max_line_bytes} bytes",
                limit="line_bytes",
                maximum=self._max_line_bytes,
                actual=line.size,
            )
            self._write_one(error_response(id_of_line_head(line.head), error))
            return
        try:
            message = decode_line(line, max_depth=self._max_json_depth)
        except Exception as exc:
            self._write_one(error_response(_error_id(exc), to_wire_error(exc)))
            return
        if isinstance(message, list):
            self._dispatch_batch(message)
        else:
            self._dispatch_message(message, self._write_one)

    def _dispatch_batch(self, items: list[object]) -> None:
        if not items:
            self._write_one(
                error_response(
                    None,
                    InvalidRequest("Invalid Request: an empty batch", reason="a batch needs at least one message"),
                )
            )
            return
        if len(items) > self._max_batch:
            error = LimitExceeded(
                f"Limit exceeded: a batch of {len(items)} messages is longer than {self._max_batch}",
                limit="batch",
                maximum=self._max_batch,
                actual=len(items),
            )
            self._write_one(error_response(None, error))
            return
        parsed: list[object] = []
        for item in items:
            try:
                parsed.append(parse_message(item))
            except Exception as exc:
                parsed.append(exc)
        answered = sum(1 for p in parsed if isinstance(p, Request | BaseException))
        sink = _BatchReply(self._writer, answered).add if answered else None
        for p in parsed:
            if isinstance(p, BaseException):
                assert sink is not None
                sink(error_response(_error_id(p), to_wire_error(p)))
            else:
                self._dispatch_parsed(p, sink)

    def _dispatch_message(self, message: object, sink: Sink) -> None:
        try:
            parsed = parse_message(message)
        except Exception as exc:
            sink(error_response(_error_id(exc), to_wire_error(exc)))
            return
        self._dispatch_parsed(parsed, sink)

    def _dispatch_parsed(self, message: Any, sink: Sink | None) -> None:
        """Run a parsed request or notification; `sink` is None only when nothing can be answered."""
        is_request = isinstance(message, Request)
        request_id = message.id if is_request else None
        reply_to = sink if is_request else None
        logger.debug("received %r (id %r, request %s)", message.method, request_id, is_request)
        job: Job | None = None
        try:
            route = self._router.route(message.method)
            if route.lane is Lane.INLINE:
                result = route.handler(message.params)
                if reply_to is not None:
                    reply_to(result_response(request_id, result))
                return
            job = self._register(message.method, request_id, reply_to)
            route.handler(message.params, job)
        except Exception as exc:
            if job is not None:
                job.fail(exc)
            elif reply_to is not None:
                reply_to(error_response(request_id, to_wire_error(exc)))
            else:
                logger.debug("notification %r failed: %s", message.method, to_wire_error(exc))

    def _write_one(self, response: dict[str, Any]) -> None:
        self._writer.write(_encode(response))

    # -- the in-flight table --------------------------------------------------------------------

    def _register(self, method: str, request_id: object, sink: Sink | None) -> Job:
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            job = Job(self, seq, method, request_id, sink)
            self._in_flight[seq] = job
            self._unanswered += 1
            if sink is not None:
                self._seqs_by_id.setdefault(_id_key(request_id), set()).add(seq)
        return job

    def _claim(self, job: Job, *, owner: bool = False, commit: bool = False, cancelling: bool = False) -> bool:
        """Remove `job` from the table; True for the one caller that may answer it. With `commit`, the
        job's owner (`owner`: its own `finish` or `fail`, never a cancel) answers it later; with
        `cancelling`, the job is marked cancelled, only if this claim wins (a committed job never is)."""
        with self._lock:
            if owner and job._committed:
                job._committed = False
                return True
            if self._in_flight.pop(job.seq, None) is None:
                return False
            job._committed = commit
            job.cancelled = cancelling
            if not job.is_notification:
                key = _id_key(job.id)
                seqs = self._seqs_by_id[key]
                seqs.discard(job.seq)
                if not seqs:
                    del self._seqs_by_id[key]
            return True

    def _answered(self) -> None:
        """The claimed job's reply is written (or dropped): only now may a drain see the table idle."""
        with self._lock:
            self._unanswered -= 1
            if not self._unanswered:
                self._idle.notify_all()

    def _settle(self, job: Job, *, result: Any = None, error: BaseException | None = None, owner: bool = False,
                cancelling: bool = False) -> bool:
        """Write the job's one reply; False when it was already answered (cancelled) or committed."""
        if not self._claim(job, owner=owner, cancelling=cancelling):
            return False  # exactly one reply per request
        logger.debug("settled %r (id %r): %s", job.method, job.id, type(error).__name__ if error else "ok")
        try:
            if job._sink is None:
                if error is not None:
                    logger.debug("notification %r failed: %s", job.method, to_wire_error(error))
            elif error is None:
                job._sink(result_response(job.id, result))
            else:
                job._sink(error_response(job.id, to_wire_error(error)))
        finally:
            self._answered()
        return True

    def cancel(self, request_id: object) -> bool:
        """Answer the in-flight request(s) with this id -32800 now; False when none is in flight."""
        with self._lock:
            jobs = [self._in_flight[seq] for seq in self._seqs_by_id.get(_id_key(request_id), ())]
        cancelled = False
        for job in jobs:
            error = RequestCancelled(f"Request cancelled: request {job.id!r} was cancelled")
            cancelled = self._settle(job, error=error, cancelling=True) or cancelled
        return cancelled

    @property
    def in_flight(self) -> int:
        """Requests accepted whose reply is not yet written."""
        with self._lock:
            return self._unanswered

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until every accepted request's reply is written; False if `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._unanswered, timeout)


def _error_id(exc: BaseException) -> object:
    """The id to echo with an error about the message itself (invalid, or nested too deep): the
    message's own id when it could be read and was valid."""
    return exc.request_id if isinstance(exc, InvalidRequest | LimitExceeded) else None
