"""The JSON-RPC 2.0 envelopes: one pydantic model per kind of message, and the functions that build them.

This module owns what makes a JSON value a Request, a Notification, a Response or an ErrorResponse,
and which id an error is answered with. It leaves decoding bytes to `protocol.framing`, the params of
each method to `protocol.methods`, and batches (a JSON array of messages) to the daemon, which splits
them, answers an empty one with a single InvalidRequest, and leaves all-notification batches unanswered.

The daemon's hot path uses `parse_message` (about 3 us) and the plain-dict builders `result_response`
and `error_response`, which skip pydantic; the models document the wire and check replies in tests.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from protocol.errors import InvalidRequest, JsonRpcError

__all__ = [
    "JSONRPC_VERSION",
    "ErrorObject",
    "ErrorResponse",
    "Message",
    "MessageAdapter",
    "Notification",
    "Request",
    "RequestId",
    "Response",
    "error_response",
    "is_valid_id",
    "parse_message",
    "result_response",
]

JSONRPC_VERSION = "2.0"
"""The exact value of every message's "jsonrpc" member."""

def _one_error_for_an_id(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """A bad id is one error ("should be a string, a number or null"), not one per union member; a
    number beyond a double's range (read as infinite) cannot be echoed, so it is a bad id too."""
    try:
        checked = handler(value)
    except ValidationError:
        raise PydanticCustomError("request_id", "should be a string, a number or null") from None
    if isinstance(checked, float) and not math.isfinite(checked):
        raise PydanticCustomError("request_id", "should be a number within a double's range")
    return checked


RequestId = Annotated[
    str | int | float | None,
    WrapValidator(_one_error_for_an_id),
    Field(description="Chosen by the client and echoed exactly: a string, a number or null (never a bool)."),
]
"""A request id. JSON-RPC allows any number (fractions are discouraged, not forbidden), so floats pass."""

Params = dict[str, Any] | list[Any]
"""By-name (object) or by-position (array) params; the specification allows nothing else."""


class _Envelope(BaseModel):
    """Strict: no coercion ("1" is not 1, 1 is not "2.0", true is not an id) and no unknown members."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    jsonrpc: Literal["2.0"] = Field(description='Exactly "2.0".')


class _Call(_Envelope):
    """What Requests and Notifications share: a method and its params."""

    method: str = Field(description="Name of the method to call.")
    params: Params | SkipJsonSchema[None] = Field(
        default=None, description="An array or an object; may be left out.",
        json_schema_extra=lambda schema: schema.pop("default"),  # absent, never null: no default to state
    )

    @field_validator("params", mode="before")
    @classmethod
    def _params_present_means_structured(cls, value: object) -> object:
        if value is None:
            raise ValueError("params, when present, must be an array or an object")
        return value


class Request(_Call):
    """A call that expects exactly one reply carrying the same id."""

    id: RequestId


class Notification(_Call):
    """A call without an id: never answered, not even with an error."""


class Response(_Envelope):
    """The reply to a Request that succeeded."""

    id: RequestId
    result: Any = Field(description="What the method returned (its result model in protocol.methods).")


class ErrorObject(BaseModel):
    """The `error` member of an ErrorResponse (see protocol.errors for the codes)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    code: int = Field(description="One of the codes in protocol.errors.")
    message: str = Field(description="What went wrong, starting with the code's standard phrase.")
    data: Any = Field(default=None, description="Details that help: field, reason, line, limit, ...")


class ErrorResponse(_Envelope):
    """The reply to a Request that failed, or to a message that could not be read (then id is null)."""

    id: RequestId
    error: ErrorObject


Message = Request | Notification | Response | ErrorResponse
"""Anything that travels on the wire, one per line or inside a batch."""

MessageAdapter: TypeAdapter[Message] = TypeAdapter(Message)
"""Validates any single message; the members present decide which envelope it is."""

_MEMBER_RULES = {
    "jsonrpc": 'should be exactly "2.0"',
    "id": "should be a string, a number (within a double's range) or null",
    "method": "should be a string",
    "params": "should be an array or an object",
}


def parse_message(obj: object) -> Request | Notification:
    """A decoded JSON value -> the Request or Notification it is.

    Raises InvalidRequest for anything else; its `request_id` is the value's id when that id is
    itself valid (so the error can be matched), else None.
    """
    if not isinstance(obj, dict):
        raise InvalidRequest(
            f"Invalid Request: expected a JSON object, got {_json_type(obj)}", reason="not an object"
        )
    envelope = Request if "id" in obj else Notification
    try:
        return envelope.model_validate(obj)
    except ValidationError as exc:
        raise _invalid_request(exc, obj) from None


def result_response(id: str | int | float | None, result: object) -> dict[str, object]:
    """The reply to a request that succeeded, as a plain dict ready for encode_message."""
    return {"jsonrpc": JSONRPC_VERSION, "id": id, "result": result}


def error_response(id: str | int | float | None, error: JsonRpcError) -> dict[str, object]:
    """The reply to a request that failed, as a plain dict ready for encode_message."""
    return {"jsonrpc": JSONRPC_VERSION, "id": id, "error": error.to_error()}


def is_valid_id(value: object) -> bool:
    """Whether `value` may be a request id: a string, a number (finite) or null, never a bool."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def _invalid_request(exc: ValidationError, obj: dict[str, Any]) -> InvalidRequest:
    """The first problem pydantic found, said in the words of the specification."""
    first = exc.errors(include_url=False)[0]
    member = str(first["loc"][0]) if first["loc"] else None
    if first["type"] == "missing":
        reason = "is required"
    elif first["type"] == "extra_forbidden":
        reason = "is not a member of a Request object"
    else:
        reason = _MEMBER_RULES.get(member or "", first["msg"])
    request_id = obj.get("id")
    return InvalidRequest(
        f"Invalid Request: {member!r} {reason}" if member else f"Invalid Request: {reason}",
        field=member,
        reason=reason,
        request_id=request_id if is_valid_id(request_id) else None,
    )


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__
