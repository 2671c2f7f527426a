"""The JSON-RPC envelopes: classifying a decoded value, and building replies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from protocol.errors import InvalidRequest, MethodNotFound
from protocol.framing import decode_line, encode_message
from protocol.messages import (
    ErrorObject,
    ErrorResponse,
    MessageAdapter,
    Notification,
    Request,
    Response,
    error_response,
    is_valid_id,
    parse_message,
    result_response,
)
from tests.error_checks import assert_documented_error

BIG = 123456789012345678901234567890


def call(**members: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "method": "ping", **members}


@pytest.mark.parametrize("request_id", ["1", "", 0, -7, BIG, 1.5, None])
def test_a_request_keeps_its_id_exactly(request_id: object) -> None:
    message = parse_message(call(id=request_id))
    assert isinstance(message, Request)
    assert message.id == request_id
    assert type(message.id) is type(request_id)


def test_a_message_without_an_id_is_a_notification() -> None:
    message = parse_message(call(params=[1, 2]))
    assert isinstance(message, Notification)
    assert (message.method, message.params) == ("ping", [1, 2])


@pytest.mark.parametrize("params", [{"a": 1}, [1, "x"], {}, []])
def test_params_by_name_or_by_position_are_kept_as_sent(params: object) -> None:
    assert parse_message(call(id=1, params=params)).params == params


def test_omitted_params_are_none() -> None:
    assert parse_message(call(id=1)).params is None


@pytest.mark.parametrize("request_id", [True, False, {}, {"a": 1}, [], [1]])
def test_a_bool_object_or_array_id_is_refused_and_answered_with_a_null_id(request_id: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_message(call(id=request_id))
    assert caught.value.field == "id"
    assert caught.value.request_id is None
    assert_documented_error(caught.value.to_error())


@pytest.mark.parametrize("params", ["bar", 3, True, None])
def test_params_that_are_neither_array_nor_object_are_refused_and_the_id_echoed(params: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_message(call(id="7", params=params))
    assert caught.value.field == "params"
    assert caught.value.request_id == "7"
    assert_documented_error(caught.value.to_error())


@pytest.mark.parametrize("version", [2.0, "2", "1.0", None, " 2.0"])
def test_the_jsonrpc_member_must_be_exactly_the_string_2_0(version: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_message({"jsonrpc": version, "method": "ping", "id": 1})
    assert caught.value.field == "jsonrpc"
    assert caught.value.request_id == 1
    assert_documented_error(caught.value.to_error())


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"method": "ping", "id": 1}, "jsonrpc"),
        ({"jsonrpc": "2.0", "id": 1}, "method"),
        ({"jsonrpc": "2.0", "method": 1, "params": "bar"}, "method"),
        ({"jsonrpc": "2.0", "method": "ping", "id": 1, "param": {}}, "param"),
    ],
)
def test_a_missing_mistyped_or_unknown_member_is_named(message: dict, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_message(message)
    assert caught.value.field == field
    assert caught.value.to_error()["data"]["field"] == field
    assert_documented_error(caught.value.to_error())


@pytest.mark.parametrize("value", [1, "x", None, [], [1], True])
def test_a_value_that_is_not_an_object_is_an_invalid_request(value: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_message(value)
    assert caught.value.request_id is None
    assert_documented_error(caught.value.to_error())


def test_a_result_response_is_a_plain_dict_ready_to_encode() -> None:
    assert result_response(BIG, {"ok": True}) == {"jsonrpc": "2.0", "id": BIG, "result": {"ok": True}}
    assert encode_message(result_response(BIG, 19)) == b'{"jsonrpc":"2.0","id":%d,"result":19}\n' % BIG


def test_an_error_response_carries_the_rendered_error() -> None:
    reply = error_response("1", MethodNotFound("Method not found: 'x'", method="x"))
    assert reply == {
        "jsonrpc": "2.0",
        "id": "1",
        "error": {"code": -32601, "message": "Method not found: 'x'", "data": {"method": "x"}},
    }


@pytest.mark.parametrize(
    ("value", "valid"),
    [("a", True), (1, True), (1.5, True), (None, True), (True, False), ([], False), ({}, False)],
)
def test_is_valid_id_accepts_strings_numbers_and_null_only(value: object, valid: bool) -> None:
    assert is_valid_id(value) is valid


@pytest.mark.parametrize(
    "model",
    [
        Request(jsonrpc="2.0", id=BIG, method="predict", params={"code": "x = 1\n"}),
        Request(jsonrpc="2.0", id=None, method="ping"),
        Notification(jsonrpc="2.0", method="$/cancelRequest", params={"id": 1}),
        Response(jsonrpc="2.0", id="a", result={"x": [1.5]}),
        Response(jsonrpc="2.0", id=1, result=None),
        ErrorResponse(jsonrpc="2.0", id=None, error=ErrorObject(code=-32700, message="Parse error")),
        ErrorResponse(jsonrpc="2.0", id=2, error=ErrorObject(code=-32602, message="m", data={"field": "c"})),
    ],
    ids=repr,
)
def test_each_envelope_survives_a_trip_through_json(model: BaseModel) -> None:
    line = encode_message(model.model_dump(exclude_unset=True))
    assert type(model).model_validate(decode_line(line)) == model
    assert MessageAdapter.validate_python(decode_line(line)) == model


def test_a_response_cannot_carry_both_result_and_error() -> None:
    both = {"jsonrpc": "2.0", "id": 1, "result": 1, "error": {"code": 1, "message": "m"}}
    with pytest.raises(ValidationError):
        MessageAdapter.validate_python(both)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
member_values = json_scalars | st.lists(json_scalars, max_size=3) | st.dictionaries(st.text(max_size=3), json_scalars)
candidate_messages = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2.0]) | member_values,
        "method": st.sampled_from(["ping", "predict"]) | member_values,
        "id": member_values,
        "params": member_values,
        "extra": member_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(obj=candidate_messages)
def test_parse_message_accepts_exactly_what_the_envelope_models_accept(obj: dict) -> None:
    try:
        expected = MessageAdapter.validate_python(obj)
    except ValidationError:
        expected = None
    try:
        parsed = parse_message(obj)
    except InvalidRequest as exc:
        assert not isinstance(expected, Request | Notification)
        assert exc.request_id == (obj.get("id") if is_valid_id(obj.get("id")) else None)
    else:
        assert parsed == expected
