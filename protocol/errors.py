"""Every JSON-RPC error code the bridge can send, and one exception class per code.

This module owns the numbers and the shape of the wire `error` object; it leaves deciding *when* a
failure happens to the framing, message and method layers, and sending the reply to the daemon.

    JsonRpcError                 base: `code`, `message`, `data`; `to_error()` renders the wire error
    ├── ParseError               -32700  the line is not valid JSON (position)
    ├── InvalidRequest           -32600  valid JSON but not a Request object (field, reason; request_id)
    ├── MethodNotFound           -32601  no such method (method)
    ├── InvalidParams            -32602  params of the wrong shape or type (field, reason)
    ├── InternalError            -32603  a bug or an unexpected failure inside the server (path)
    ├── RequestCancelled         -32800  cancelled by `$/cancelRequest` before it finished
    ├── ServerBusy               -32000  the request queue is full (queue_size)
    ├── ModelUnavailable         -32001  no model can serve (reason)
    ├── LimitExceeded            -32002  a configured limit was crossed (limit, maximum, actual; request_id)
    ├── CodeSyntaxError          -32003  the code does not parse, for methods that need it (line, column)
    ├── CheckpointLoadFailed     -32004  `reload` could not load a checkpoint (path, reason)
    └── ServerShuttingDown       -32005  a request after `shutdown`

Keyword arguments become the error's `data` (those that are None are left out), so every error
tells the client what was wrong and where. Messages start with the standard phrase of their code
("Method not found: 'foo'"), so a client that shows only the message still shows the category.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

__all__ = [
    "CHECKPOINT_LOAD_FAILED",
    "CODE_SYNTAX_ERROR",
    "ERRORS_BY_CODE",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "LIMIT_EXCEEDED",
    "METHOD_NOT_FOUND",
    "MODEL_UNAVAILABLE",
    "PARSE_ERROR",
    "REQUEST_CANCELLED",
    "SERVER_BUSY",
    "SERVER_SHUTTING_DOWN",
    "CheckpointLoadFailed",
    "CodeSyntaxError",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "JsonRpcError",
    "LimitExceeded",
    "MethodNotFound",
    "ModelUnavailable",
    "ParseError",
    "RequestCancelled",
    "ServerBusy",
    "ServerShuttingDown",
    "error_from_wire",
]

PARSE_ERROR = -32700
"""Invalid JSON was received: not JSON, not UTF-8, a lone surrogate, or NaN/Infinity."""

INVALID_REQUEST = -32600
"""The JSON is not a valid Request object (also: an empty batch, params neither array nor object)."""

METHOD_NOT_FOUND = -32601
"""The method does not exist."""

INVALID_PARAMS = -32602
"""The params do not match the method's params model (missing, unknown or mistyped fields)."""

INTERNAL_ERROR = -32603
"""The server failed in a way the client could not have caused; the server logs the details."""

REQUEST_CANCELLED = -32800
"""The request was cancelled by `$/cancelRequest` before it finished (the LSP code)."""

SERVER_BUSY = -32000
"""The request queue is full; retry later instead of letting the queue grow without bound."""

MODEL_UNAVAILABLE = -32001
"""No model can serve the request (loading failed and no fallback is available)."""

LIMIT_EXCEEDED = -32002
"""A configured limit was crossed: line size, batch length, JSON depth, code size or nesting."""

CODE_SYNTAX_ERROR = -32003
"""The code does not parse, for methods that need a parse tree (`predict` answers a result instead)."""

CHECKPOINT_LOAD_FAILED = -32004
"""`reload` could not load the checkpoint it was given; the old model keeps serving."""

SERVER_SHUTTING_DOWN = -32005
"""The request arrived after `shutdown`; only `exit`, `ping`, `health`, `shutdown` and `$/cancelRequest`
are served then."""


class JsonRpcError(Exception):
    """A failure that the client is told about as a JSON-RPC error object.

    Subclasses fix `code` and a `title` (the standard message); keyword arguments become `data`.
    """

    code: ClassVar[int] = INTERNAL_ERROR
    title: ClassVar[str] = "Internal error"

    def __init__(self, message: str | None = None, **data: object) -> None:
        self.message = message or self.title
        super().__init__(self.message)
        self.data = {key: value for key, value in data.items() if value is not None}

    def to_error(self) -> dict[str, object]:
        """The wire `error` object: code, message, and data when there is any."""
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.data:
            error["data"] = self.data
        return error

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, data={self.data!r})"


class ParseError(JsonRpcError):
    """The line is not a JSON text we accept; `position` is where the parser stopped."""

    code = PARSE_ERROR
    title = "Parse error"

    def __init__(self, message: str | None = None, *, position: int | None = None, **data: object) -> None:
        super().__init__(message, position=position, **data)
        self.position = position


class InvalidRequest(JsonRpcError):
    """Valid JSON that is not a valid Request object.

    `request_id` is the id to answer with: the message's own id when that id is itself valid,
    else None (the specification's rule). It is not part of `data`.
    """

    code = INVALID_REQUEST
    title = "Invalid Request"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        reason: str | None = None,
        request_id: str | int | float | None = None,
        **data: object,
    ) -> None:
        super().__init__(message, field=field, reason=reason, **data)
        self.field = field
        self.reason = reason
        self.request_id = request_id


class MethodNotFound(JsonRpcError):
    """No method of that name; `method` is the name the client sent."""

    code = METHOD_NOT_FOUND
    title = "Method not found"

    def __init__(self, message: str | None = None, *, method: str | None = None, **data: object) -> None:
        super().__init__(message, method=method, **data)
        self.method = method


class InvalidParams(JsonRpcError):
    """The params do not fit the method: `field` names the offending one, `reason` says why."""

    code = INVALID_PARAMS
    title = "Invalid params"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        reason: str | None = None,
        **data: object,
    ) -> None:
        super().__init__(message, field=field, reason=reason, **data)
        self.field = field
        self.reason = reason


class InternalError(JsonRpcError):
    """The server failed; the message says what failed, never a traceback. A reply that could not be
    written (a NaN in it) carries `path`, where in the reply that value sat."""

    code = INTERNAL_ERROR
    title = "Internal error"


class RequestCancelled(JsonRpcError):
    """The request was cancelled before it finished."""

    code = REQUEST_CANCELLED
    title = "Request cancelled"


class ServerBusy(JsonRpcError):
    """The request queue is full; `queue_size` is its bound."""

    code = SERVER_BUSY
    title = "Server busy"

    def __init__(self, message: str | None = None, *, queue_size: int | None = None, **data: object) -> None:
        super().__init__(message, queue_size=queue_size, **data)
        self.queue_size = queue_size


class ModelUnavailable(JsonRpcError):
    """No model can serve; `reason` says why (the load error, or the state of the server)."""

    code = MODEL_UNAVAILABLE
    title = "Model unavailable"

    def __init__(self, message: str | None = None, *, reason: str | None = None, **data: object) -> None:
        super().__init__(message, reason=reason, **data)
        self.reason = reason


class LimitExceeded(JsonRpcError):
    """A limit was crossed: `limit` names it (e.g. "json_depth"), `maximum` is its bound.

    `actual` is the size seen, or None when counting stopped as soon as the bound was passed.
    `request_id` is the id to answer with when the message could still be read (a message nested too
    deep has one); like InvalidRequest's, it is not part of `data`. A line too long is never read
    whole: the daemon takes its id from the line's first bytes (`protocol.framing.id_of_line_head`).
    """

    code = LIMIT_EXCEEDED
    title = "Limit exceeded"

    def __init__(
        self,
        message: str | None = None,
        *,
        limit: str,
        maximum: int,
        actual: int | None = None,
        request_id: str | int | float | None = None,
        **data: object,
    ) -> None:
        if message is None:
            message = f"Limit exceeded: {limit} is at most {maximum}"
        super().__init__(message, limit=limit, maximum=maximum, actual=actual, **data)
        self.limit = limit
        self.maximum = maximum
        self.actual = actual
        self.request_id = request_id


class CodeSyntaxError(JsonRpcError):
    """The code does not parse; `line` and `column` are 1-based, as in Python's tracebacks."""

    code = CODE_SYNTAX_ERROR
    title = "Code syntax error"

    def __init__(
        self,
        message: str | None = None,
        *,
        line: int | None = None,
        column: int | None = None,
        **data: object,
    ) -> None:
        super().__init__(message, line=line, column=column, **data)
        self.line = line
        self.column = column


class CheckpointLoadFailed(JsonRpcError):
    """`reload` could not load `path`; the model that was serving keeps serving."""

    code = CHECKPOINT_LOAD_FAILED
    title = "Checkpoint load failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        path: str | None = None,
        reason: str | None = None,
        **data: object,
    ) -> None:
        super().__init__(message, path=path, reason=reason, **data)
        self.path = path
        self.reason = reason


class ServerShuttingDown(JsonRpcError):
    """After `shutdown`, only `exit`, `ping`, `health`, `shutdown` and `$/cancelRequest` are served."""

    code = SERVER_SHUTTING_DOWN
    title = "Server shutting down"


ERRORS_BY_CODE: Mapping[int, type[JsonRpcError]] = {
    cls.code: cls
    for cls in (
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
        RequestCancelled,
        ServerBusy,
        ModelUnavailable,
        LimitExceeded,
        CodeSyntaxError,
        CheckpointLoadFailed,
        ServerShuttingDown,
    )
}
"""The exception class for each code, so a client can raise what the server sent."""


def error_from_wire(error: Mapping[str, object]) -> JsonRpcError:
    """Rebuild the exception a wire `error` object describes (for clients of the bridge).

    A code this module does not know, or data that does not fit the code's class, gives a plain
    JsonRpcError that keeps the code, message and data it was sent (data that is not an object
    is kept under the key "data").
    """
    code = error.get("code")
    message = str(error.get("message") or "") or None
    raw_data = error.get("data")
    if isinstance(raw_data, Mapping):
        data = {str(key): value for key, value in raw_data.items()}
    else:
        data = {} if raw_data is None else {"data": raw_data}
    cls = ERRORS_BY_CODE.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
    if cls is not None:
        try:
            return cls(message, **data)
        except TypeError:  # data without the keywords the class requires
            pass
    exc = JsonRpcError(message, **data)
    exc.code = code if isinstance(code, int) and not isinstance(code, bool) else INTERNAL_ERROR  # type: ignore[misc]
    return exc
