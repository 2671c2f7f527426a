"""Error codes, the exception per code, and the wire error objects they render."""

from __future__ import annotations

import pytest

import protocol.errors as errors
from protocol.errors import (
    ERRORS_BY_CODE,
    CheckpointLoadFailed,
    CodeSyntaxError,
    InternalError,
    InvalidParams,
    InvalidRequest,
    JsonRpcError,
    LimitExceeded,
    MethodNotFound,
    ParseError,
    error_from_wire,
)

EXPECTED_CODES = {
    "PARSE_ERROR": -32700,
    "INVALID_REQUEST": -32600,
    "METHOD_NOT_FOUND": -32601,
    "INVALID_PARAMS": -32602,
    "INTERNAL_ERROR": -32603,
    "REQUEST_CANCELLED": -32800,
    "SERVER_BUSY": -32000,
    "MODEL_UNAVAILABLE": -32001,
    "LIMIT_EXCEEDED": -32002,
    "CODE_SYNTAX_ERROR": -32003,
    "CHECKPOINT_LOAD_FAILED": -32004,
    "SERVER_SHUTTING_DOWN": -32005,
}


@pytest.mark.parametrize(("name", "code"), EXPECTED_CODES.items())
def test_each_code_has_its_documented_number(name: str, code: int) -> None:
    assert getattr(errors, name) == code


def test_every_code_has_exactly_one_exception_class() -> None:
    assert sorted(ERRORS_BY_CODE) == sorted(EXPECTED_CODES.values())
    assert all(cls.code == code for code, cls in ERRORS_BY_CODE.items())


def test_application_codes_lie_in_the_server_error_range() -> None:
    application = [code for code in EXPECTED_CODES.values() if code > -32100]
    assert all(-32099 <= code <= -32000 for code in application)


def test_every_exception_class_is_drawn_in_the_module_docstring() -> None:
    for cls in ERRORS_BY_CODE.values():
        assert cls.__name__ in errors.__doc__
        assert str(cls.code) in errors.__doc__


def test_an_error_without_a_message_uses_the_standard_phrase() -> None:
    assert MethodNotFound().to_error() == {"code": -32601, "message": "Method not found"}
    assert str(ParseError()) == "Parse error"


def test_str_of_an_error_is_its_message() -> None:
    exc = InvalidParams("Invalid params: 'code' is required", field="code", reason="is required")
    assert str(exc) == "Invalid params: 'code' is required"


def test_keyword_attributes_become_data_and_stay_readable() -> None:
    exc = LimitExceeded(limit="json_depth", maximum=64, actual=65)
    assert (exc.limit, exc.maximum, exc.actual) == ("json_depth", 64, 65)
    assert exc.to_error() == {
        "code": -32002,
        "message": "Limit exceeded: json_depth is at most 64",
        "data": {"limit": "json_depth", "maximum": 64, "actual": 65},
    }


def test_data_leaves_out_what_is_unknown() -> None:
    exc = CodeSyntaxError("Code syntax error: invalid syntax", line=3, column=None)
    assert exc.column is None
    assert exc.to_error()["data"] == {"line": 3}


def test_an_error_without_data_renders_no_data_member() -> None:
    assert "data" not in InternalError("Internal error: boom").to_error()


def test_extra_keywords_travel_in_data() -> None:
    exc = InvalidParams("Invalid params: wrong length", field="features", expected=978)
    assert exc.to_error()["data"] == {"field": "features", "expected": 978}


def test_invalid_request_keeps_the_request_id_out_of_data() -> None:
    exc = InvalidRequest("Invalid Request: 'method' is required", field="method", request_id=7)
    assert exc.request_id == 7
    assert exc.to_error()["data"] == {"field": "method"}


def test_limit_exceeded_requires_the_limit_and_its_maximum() -> None:
    with pytest.raises(TypeError):
        LimitExceeded("too big")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "exc",
    [
        ParseError("Parse error: bad", position=3),
        InvalidRequest("Invalid Request: bad", field="id", reason="should be a string"),
        MethodNotFound("Method not found: 'x'", method="x"),
        InvalidParams("Invalid params: bad", field="code", reason="is required"),
        LimitExceeded(limit="code_bytes", maximum=10, actual=11),
        CodeSyntaxError("Code syntax error", line=1, column=5),
        CheckpointLoadFailed("Checkpoint load failed", path="/tmp/x.safetensors", reason="missing"),
        *(cls() for cls in ERRORS_BY_CODE.values() if cls is not LimitExceeded),
    ],
    ids=repr,
)
def test_a_wire_error_rebuilds_the_exception_that_rendered_it(exc: JsonRpcError) -> None:
    rebuilt = error_from_wire(exc.to_error())
    assert type(rebuilt) is type(exc)
    assert rebuilt.to_error() == exc.to_error()


def test_a_wire_error_with_an_unknown_code_keeps_its_code_and_data() -> None:
    rebuilt = error_from_wire({"code": -31999, "message": "Custom", "data": [1, 2]})
    assert type(rebuilt) is JsonRpcError
    assert rebuilt.to_error() == {"code": -31999, "message": "Custom", "data": {"data": [1, 2]}}


def test_a_wire_error_whose_data_does_not_fit_its_class_is_still_rebuilt() -> None:
    rebuilt = error_from_wire({"code": -32002, "message": "Limit exceeded", "data": {"limit": "x"}})
    assert rebuilt.code == -32002
    assert rebuilt.data == {"limit": "x"}
