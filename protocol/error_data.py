"""The `data` member of each error the bridge sends, as one closed pydantic model per code.

This module owns the shape of that data: which keys each code may carry, their types, and what
they mean. `protocol.errors` raises the errors (its classes take these keys as keywords, and leave
out those that are None, so every key here is optional on the wire unless a class requires it);
`protocol.methods.json_schema` publishes these models under "errors", so that a host can generate a
type for each code's data as it does for results; tests validate real error replies against them.
Codes whose errors carry no data (-32800, -32005) have no model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from protocol.errors import (
    CHECKPOINT_LOAD_FAILED,
    CODE_SYNTAX_ERROR,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    MODEL_UNAVAILABLE,
    PARSE_ERROR,
    SERVER_BUSY,
)

__all__ = [
    "ERROR_DATA",
    "LIMIT_NAMES",
    "CheckpointLoadFailedData",
    "CodeSyntaxErrorData",
    "ErrorData",
    "InternalErrorData",
    "InvalidParamsData",
    "InvalidRequestData",
    "LimitExceededData",
    "MethodNotFoundData",
    "ModelUnavailableData",
    "ParseErrorData",
    "ServerBusyData",
]

LIMIT_NAMES = ("line_bytes", "batch", "json_depth", "code_bytes", "nesting", "units", "json_integer_digits")
"""What `LimitExceeded.limit` names: the flags' limits (docs/API.md, Limits) and the parser's own."""


Count = Annotated[int, Field(ge=0)]
"""A size, a bound or a 0-based position."""
Place = Annotated[int, Field(ge=1)]
"""A 1-based line or column, as in Python's tracebacks."""


def _absent_unless_known(description: str) -> Any:
    """An optional key: left out of the wire data when unknown, never sent as null, so the schema
    states neither a null nor a default."""
    return Field(default=None, description=description, json_schema_extra=lambda schema: schema.pop("default"))


class ErrorData(BaseModel):
    """Closed, as results are: a test that validates a real error catches a key not written here."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ParseErrorData(ErrorData):
    """-32700: where the line stopped being JSON we accept."""

    position: Count | SkipJsonSchema[None] = _absent_unless_known(
        "0-based: in characters of the line for JSON that does not parse, in bytes for invalid UTF-8.")


class InvalidRequestData(ErrorData):
    """-32600: what makes the message no Request object."""

    field: str | SkipJsonSchema[None] = _absent_unless_known(
        "The member at fault, from the request down (`params`, `id`, `params.code`).")
    reason: str | SkipJsonSchema[None] = _absent_unless_known("What is wrong with it.")


class MethodNotFoundData(ErrorData):
    """-32601: the method asked for."""

    method: str | SkipJsonSchema[None] = _absent_unless_known("The method name the request sent.")


class InvalidParamsData(ErrorData):
    """-32602: which param is wrong, and how."""

    field: str | SkipJsonSchema[None] = _absent_unless_known(
        "The param at fault, from inside params (`code`, `features[3]`); `params` for all of them.")
    reason: str | SkipJsonSchema[None] = _absent_unless_known("What is wrong with it.")
    index: Count | SkipJsonSchema[None] = _absent_unless_known(
        "The position of a feature vector's bad entry.")
    expected: Count | SkipJsonSchema[None] = _absent_unless_known(
        "How many numbers a feature vector holds, for one of the wrong length.")
    maximum: Count | SkipJsonSchema[None] = _absent_unless_known(
        "How many params the method takes by position, for too many.")
    actual: Count | SkipJsonSchema[None] = _absent_unless_known("How many were sent by position.")


class InternalErrorData(ErrorData):
    """-32603: most internal errors carry no data; a reply that could not be written says where."""

    path: str | SkipJsonSchema[None] = _absent_unless_known(
        "Where in the reply a value JSON cannot carry sat (`result.embedding[1]`: NaN or infinity).")


class ServerBusyData(ErrorData):
    """-32000: the queue that is full."""

    queue_size: Count | SkipJsonSchema[None] = _absent_unless_known("The queue's bound (`--queue-size`).")


class ModelUnavailableData(ErrorData):
    """-32001: why no model can serve."""

    reason: str | SkipJsonSchema[None] = _absent_unless_known("The load error, or the state of the server.")


class LimitExceededData(ErrorData):
    """-32002: which limit was crossed, and by how much."""

    limit: str = Field(description="The limit's name (docs/API.md, Limits): today one of "
                       + ", ".join(f"`{name}`" for name in LIMIT_NAMES) + "; a string, so a later one "
                       "does not break a client generated from this schema.")
    maximum: Count = Field(description="Its bound.")
    actual: Count | SkipJsonSchema[None] = _absent_unless_known(
        "The size seen, as far as it was counted (`json_depth`: `maximum` + 1, where reading stopped); "
        "left out where the parser stops without a count (`nesting`).")
    line: Place | SkipJsonSchema[None] = _absent_unless_known(
        "1-based, where code nests past the parser's bounds and the parser says where.")
    column: Place | SkipJsonSchema[None] = _absent_unless_known("1-based, as `line`.")


class CodeSyntaxErrorData(ErrorData):
    """-32003: where the code stops parsing, as in Python's tracebacks."""

    line: Place | SkipJsonSchema[None] = _absent_unless_known("1-based.")
    column: Place | SkipJsonSchema[None] = _absent_unless_known("1-based; left out where the parser gives none.")


class CheckpointLoadFailedData(ErrorData):
    """-32004: the checkpoint `reload` could not load."""

    path: str | SkipJsonSchema[None] = _absent_unless_known("The path it was given.")
    reason: str | SkipJsonSchema[None] = _absent_unless_known("Why it could not be loaded.")


ERROR_DATA: Mapping[int, type[ErrorData]] = {
    PARSE_ERROR: ParseErrorData,
    INVALID_REQUEST: InvalidRequestData,
    METHOD_NOT_FOUND: MethodNotFoundData,
    INVALID_PARAMS: InvalidParamsData,
    INTERNAL_ERROR: InternalErrorData,
    SERVER_BUSY: ServerBusyData,
    MODEL_UNAVAILABLE: ModelUnavailableData,
    LIMIT_EXCEEDED: LimitExceededData,
    CODE_SYNTAX_ERROR: CodeSyntaxErrorData,
    CHECKPOINT_LOAD_FAILED: CheckpointLoadFailedData,
}
"""Each code whose errors carry `data`, and the model of that data."""
