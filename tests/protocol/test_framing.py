"""decode_line and encode_message: the byte-level rules of one JSON text per line."""

from __future__ import annotations

import json
import math
import sys
from collections import OrderedDict
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import InternalError, InvalidRequest, LimitExceeded, ParseError
from protocol.framing import DEFAULT_MAX_DEPTH, MAX_SUPPORTED_DEPTH, decode_line, encode_message, id_of_line_head
from tests.error_checks import assert_documented_error

BIG = 123456789012345678901234567890
LONG_DIGITS = b'"pad": 1234567890123456789012'
"""A run of 19+ digits sends a line down the exact (standard library) path; tests cover both paths."""


def on_both_paths(body: bytes) -> list[bytes]:
    """The same JSON problem in an object decoded by orjson, and in one decoded by the stdlib."""
    return [b'{"x": ' + body + b"}", b'{"x": ' + body + b", " + LONG_DIGITS + b"}"]


# -- decode_line: what it accepts ---------------------------------------------------------------


def test_a_request_line_decodes_to_its_object() -> None:
    line = b'{"jsonrpc": "2.0", "method": "ping", "id": 1}\n'
    assert decode_line(line) == {"jsonrpc": "2.0", "method": "ping", "id": 1}


@pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n", b"\r"])
def test_a_line_ending_with_or_without_a_carriage_return_decodes(ending: bytes) -> None:
    assert decode_line(b"[1, 2]" + ending) == [1, 2]


def test_a_bytearray_or_memoryview_line_decodes() -> None:
    assert decode_line(bytearray(b"[1]")) == [1]
    assert decode_line(memoryview(b'{"a": 1}')) == {"a": 1}


@pytest.mark.parametrize(
    "number",
    [BIG, -BIG, 2**64, 2**64 - 1, -(2**63) - 1, -(2**63), 10**400, 9999999999999999999],
)
def test_integers_of_any_size_survive_exactly(number: int) -> None:
    value = decode_line(b'{"jsonrpc": "2.0", "id": %d, "method": "ping"}' % number)
    assert value["id"] == number
    assert type(value["id"]) is int


@pytest.mark.parametrize("sign", [b"", b"-"])
def test_an_integer_past_the_interpreter_s_digit_limit_is_a_limit_not_a_crash(sign: bytes) -> None:
    digits = sys.get_int_max_str_digits() + 1
    with pytest.raises(LimitExceeded) as caught:
        decode_line(b'{"id": ' + sign + b"9" * digits + b"}")
    assert caught.value.data == {"limit": "json_integer_digits", "maximum": digits - 1, "actual": digits}
    assert_documented_error(caught.value.to_error())
    assert decode_line(b"[" + sign + b"9" * (digits - 1) + b"]")[0] == int(sign.decode() + "9" * (digits - 1))


def test_a_long_digit_run_inside_a_string_stays_a_string() -> None:
    assert decode_line(b'{"id": "12345678901234567890123"}') == {"id": "12345678901234567890123"}


def test_floats_on_the_exact_path_are_the_same_doubles() -> None:
    assert decode_line(b"[0.1, 1e308, -2.5e-300, " + b"1" * 25 + b"]")[:3] == [0.1, 1e308, -2.5e-300]


def test_escaped_surrogate_pairs_decode_on_both_paths() -> None:
    for line in on_both_paths(b'"\\ud83d\\ude00"'):
        assert decode_line(line)["x"] == "\N{GRINNING FACE}"


def test_nesting_exactly_at_the_bound_is_accepted() -> None:
    line = b"[" * DEFAULT_MAX_DEPTH + b"]" * DEFAULT_MAX_DEPTH
    assert decode_line(line) is not None


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = "[{" * 600 + '\\"'
    for line in on_both_paths(json.dumps(text).encode()):
        assert decode_line(line)["x"] == text


# -- decode_line: what it refuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b'{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
        b"",
        b"   ",
        b"{",
        b"[1,]",
        b"{'a': 1}",
        b'"\x01"',
        b"\xef\xbb\xbf{}",
        b"{} {}",
    ],
)
def test_text_that_is_not_one_json_value_is_a_parse_error(line: bytes) -> None:
    with pytest.raises(ParseError):
        decode_line(line)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_the_non_finite_tokens_are_parse_errors_on_both_paths(literal: bytes) -> None:
    for line in on_both_paths(literal):
        with pytest.raises(ParseError) as caught:
            decode_line(line)
        assert caught.value.position in (6, 7)  # at the token, or past its sign; on the exact path too
        assert_documented_error(caught.value.to_error())


@pytest.mark.parametrize(("literal", "value"), [(b"1e400", math.inf), (b"-1e999", -math.inf), (b"1e-400", 0.0)])
def test_a_number_beyond_a_double_is_valid_json_and_reads_as_the_double_it_rounds_to(literal, value) -> None:
    for line in on_both_paths(literal):
        assert decode_line(line)["x"] == value  # the members refuse infinity, each with its own error


@pytest.mark.parametrize("escape", [b'"\\ud800"', b'"\\udc00x"', b'"a\\ud800\\u0041"', b'{"\\udfff": 1}'])
def test_lone_surrogate_escapes_are_parse_errors_on_both_paths(escape: bytes) -> None:
    for line in on_both_paths(escape):
        with pytest.raises(ParseError) as caught:
            decode_line(line)
        assert caught.value.position is not None  # the exact path scans for it
        assert_documented_error(caught.value.to_error())


@pytest.mark.parametrize(("line", "field"), [
    (b'{"jsonrpc": "2.0", "id": 7, "method": "predict", "params": {"code": "\\ud800"}}', "params.code"),
    (b'{"jsonrpc": "2.0", "id": 7, "method": "predict", "params": {"features": [1, "\\udc00"]}}',
     "params.features[1]"),
    (b'{"jsonrpc": "2.0", "id": 7, "method": "ping", "params": {"\\ud800": 1}}', "params"),
    (b'{"jsonrpc": "2.0", "id": 7, "method": "ping", "": "\\ud800"}', '[""]'),  # a value, under the name ""
    (b'{"jsonrpc": "2.0", "id": 7, "method": "ping", "\\ud800": 1}', None),  # a name of the message itself
])
def test_a_lone_surrogate_in_a_message_with_a_valid_id_is_an_invalid_request_with_that_id(line, field):
    for each in (line, line[:-1] + b", " + LONG_DIGITS + b"}"):  # orjson's path, then the standard library's
        with pytest.raises(InvalidRequest) as caught:
            decode_line(each)
        assert caught.value.request_id == 7 and caught.value.field == field
        assert_documented_error(caught.value.to_error())


def test_the_text_of_an_escaped_backslash_is_not_taken_for_the_high_half_of_a_pair():
    line = b'{"a": "\\\\ud800\\udc00"}'  # a backslash, the letters ud800, then a lone low half
    for each in (line, line[:-1] + b", " + LONG_DIGITS + b"}"):
        with pytest.raises(ParseError) as caught:
            decode_line(each)
        assert caught.value.position == line.index(b"\\udc00")
        assert_documented_error(caught.value.to_error())


def test_a_lone_surrogate_without_an_id_to_echo_stays_a_parse_error():
    for line in (b'{"jsonrpc": "2.0", "method": "ping", "params": {"x": "\\ud800"}}',  # a notification
                 b'{"jsonrpc": "2.0", "id": "\\udc00", "method": "ping"}',  # an id that is no text
                 b'[{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": ["\\ud800"]}]'):  # a batch
        with pytest.raises(ParseError):
            decode_line(line)


BIG_LITERAL = b"1234567890123456789012"
"""An integer beyond 64 bits: a line holding one takes the exact path."""


@pytest.mark.parametrize(
    ("line", "at"),
    [
        (b"[" + b"1" * 400 + b", NaN]", b"NaN"),
        (b"[1e400, NaN, " + BIG_LITERAL + b"]", b"NaN"),
        (b'[1e400, "\\ud800", ' + BIG_LITERAL + b"]", b"\\ud800"),
        (b'["\\ud83d\\ude00", "a\\udc00", ' + BIG_LITERAL + b"]", b"\\udc00\""),
        (b'["NaN", -Infinity, ' + BIG_LITERAL + b"]", b"-Inf"),
    ],
    ids=["after-a-long-integer", "after-an-overflow", "surrogate-after-an-overflow", "low-half-alone",
         "not-in-a-string"],
)
def test_on_the_exact_path_a_parse_error_points_at_what_it_names(line: bytes, at: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        decode_line(line)
    assert caught.value.position == line.index(at)
    assert_documented_error(caught.value.to_error())


@pytest.mark.parametrize("raw", [b'"\xff"', b'"\xc3"', b'"\xed\xa0\x80"', b'"\xf8\x88\x80\x80\x80"'])
def test_invalid_utf8_is_a_parse_error_at_its_byte_on_both_paths(raw: bytes) -> None:
    for line in on_both_paths(raw):
        with pytest.raises(ParseError, match="invalid UTF-8 at byte 7") as caught:
            decode_line(line)
        assert caught.value.position == 7  # '{"x": "' is 7 bytes
        assert_documented_error(caught.value.to_error())


def test_a_raw_control_character_is_named_once_with_where_it_is_on_both_paths() -> None:
    for line in on_both_paths(b'"a\tb"'):
        with pytest.raises(ParseError) as caught:
            decode_line(line)
        message = str(caught.value.to_error()["message"])
        assert "control character" in message and message.endswith(" at character 8")  # '{"x": "a' is 8
        assert " at at " not in message


def test_a_parse_error_says_where_the_parser_stopped() -> None:
    with pytest.raises(ParseError) as caught:
        decode_line(b'{"a": tru}')
    assert caught.value.position is not None
    assert caught.value.to_error()["data"]["position"] == caught.value.position
    assert_documented_error(caught.value.to_error())


def nested(levels: int, kind: str) -> bytes:
    return b"[" * levels + b"]" * levels if kind == "array" else b'{"a":' * levels + b"1" + b"}" * levels


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("levels", [DEFAULT_MAX_DEPTH + 1, 1025, 100_000])
def test_nesting_past_the_bound_is_a_limit_error_without_recursion(kind: str, levels: int) -> None:
    for line in on_both_paths(nested(levels, kind)):
        with pytest.raises(LimitExceeded) as caught:
            decode_line(line)
        assert caught.value.limit == "json_depth"
        assert caught.value.maximum == DEFAULT_MAX_DEPTH
        assert caught.value.actual == DEFAULT_MAX_DEPTH + 1  # the depth where it first went past
        assert_documented_error(caught.value.to_error())


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_a_flood_of_unclosed_openers_is_a_limit_error_on_both_paths(opener: bytes) -> None:
    for line in (opener * 100_000, b"[" + LONG_DIGITS[8:] + b"," + opener * 100_000):
        with pytest.raises(LimitExceeded):
            decode_line(line)


def test_a_smaller_depth_bound_is_honoured() -> None:
    assert decode_line(b"[[[1]]]", max_depth=3) == [[[1]]]
    with pytest.raises(LimitExceeded) as caught:
        decode_line(b"[[[[1]]]]", max_depth=3)
    assert caught.value.actual == 4
    assert_documented_error(caught.value.to_error())


@pytest.mark.parametrize("bound", [0, -1, MAX_SUPPORTED_DEPTH + 1])
def test_a_depth_bound_outside_the_supported_range_is_refused(bound: int) -> None:
    with pytest.raises(ValueError, match="max_depth"):
        decode_line(b"[]", max_depth=bound)


def test_the_deepest_supported_bound_decodes_on_both_paths() -> None:
    deep = b"[" * MAX_SUPPORTED_DEPTH + b"]" * MAX_SUPPORTED_DEPTH
    assert decode_line(deep, max_depth=MAX_SUPPORTED_DEPTH) is not None
    inner = MAX_SUPPORTED_DEPTH - 1
    exact = b"[" + LONG_DIGITS.split(b": ")[1] + b"," + b"[" * inner + b"]" * inner + b"]"
    assert decode_line(exact, max_depth=MAX_SUPPORTED_DEPTH)[0] == 1234567890123456789012


# -- encode_message -----------------------------------------------------------------------------


def test_a_message_encodes_to_one_compact_line() -> None:
    line = encode_message({"jsonrpc": "2.0", "id": 1, "result": {"a": [1, 2.5, None, True, "é"]}})
    assert line == '{"jsonrpc":"2.0","id":1,"result":{"a":[1,2.5,null,true,"é"]}}\n'.encode()


def test_newlines_and_carriage_returns_in_strings_are_escaped() -> None:
    line = encode_message({"code": "a\nb\rc\u2028d"})
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert b"\r" not in line
    assert decode_line(line) == {"code": "a\nb\rc\u2028d"}


@pytest.mark.parametrize("big_id", [False, True], ids=["orjson", "stdlib (an id beyond 64 bits)"])
def test_unicode_line_breaks_in_strings_are_escaped_so_no_line_splitter_breaks_a_reply(big_id: bool) -> None:
    text = "a\u2028b\u2029c\x85d \u2014 \u00e9"  # the em dash shares their first two bytes: kept raw
    message = {"jsonrpc": "2.0", "id": 10**30 if big_id else text, "result": {"why": text}}
    line = encode_message(message)
    assert len(line.decode("utf-8").splitlines()) == 1  # str.splitlines honours all three
    assert b"\\u2028" in line and b"\\u2029" in line and b"\\u0085" in line
    assert "\u2014 \u00e9".encode() in line
    assert json.loads(line) == message


def test_a_batch_of_messages_encodes_to_one_line() -> None:
    assert encode_message([{"id": 1}, {"id": 2}]) == b'[{"id":1},{"id":2}]\n'


@pytest.mark.parametrize("number", [BIG, -BIG, 2**64, -(2**63) - 1])
def test_big_integers_are_written_exactly(number: int) -> None:
    line = encode_message({"jsonrpc": "2.0", "id": number, "result": [1.5, "x"]})
    assert line == b'{"jsonrpc":"2.0","id":%d,"result":[1.5,"x"]}\n' % number


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_with_the_path_to_them(bad: float) -> None:
    message = {"jsonrpc": "2.0", "id": 1, "result": {"confidence": 0.5, "embedding": [0.1, bad], "x": None}}
    with pytest.raises(InternalError) as caught:
        encode_message(message)
    assert caught.value.data == {"path": "result.embedding[1]"}
    assert_documented_error(caught.value.to_error())


def test_nan_is_refused_on_the_big_integer_path_too() -> None:
    with pytest.raises(InternalError) as caught:
        encode_message({"id": BIG, "result": {"scores": [{"score": math.nan}]}})
    assert caught.value.data == {"path": "result.scores[0].score"}
    assert_documented_error(caught.value.to_error())


def test_finite_numbers_that_overflow_a_sum_are_not_refused() -> None:
    assert decode_line(encode_message({"x": [1e308, 1e308], "y": None})) == {"x": [1e308, 1e308], "y": None}


def test_a_float_subclass_and_a_mapping_that_is_not_a_dict_encode() -> None:
    class Score(float):
        pass

    assert encode_message(MappingProxyType({"s": Score(0.25)})) == b'{"s":0.25}\n'
    assert encode_message(OrderedDict(b=1, a=2)) == b'{"b":1,"a":2}\n'


@pytest.mark.parametrize(
    "value",
    [{"x": object()}, {"x": "lone \ud800"}, {"x": {1, 2}}],
    ids=["object", "lone-surrogate", "set"],
)
def test_values_json_cannot_carry_are_an_internal_error(value: dict) -> None:
    with pytest.raises(InternalError):
        encode_message(value)


def test_a_circular_reply_is_an_internal_error_not_a_hang() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(InternalError):
        encode_message({"x": loop})


# -- properties ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=8), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_any_json_value_survives_encoding_and_decoding_on_one_line(value: object) -> None:
    line = encode_message({"v": value})
    assert line.endswith(b"\n") and b"\n" not in line[:-1] and b"\r" not in line
    assert decode_line(line) == {"v": value}


json_ish_bytes = st.binary(max_size=100) | st.text(
    alphabet='[]{}",:-+.0123456789eE\\u \r\ntruefalsnNIiy\ud800\x00', max_size=60
).map(lambda text: text.encode("utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None)
@given(data=json_ish_bytes)
def test_arbitrary_bytes_decode_to_a_value_that_round_trips_or_raise_a_protocol_error(data: bytes) -> None:
    try:
        value = decode_line(data)
    except (ParseError, LimitExceeded):
        return
    assert decode_line(encode_message({"v": value})) == {"v": value}


@pytest.mark.parametrize("extra", ['"code": "1234567890123456789"', '"x": 1e400', '"n": 1'])
def test_a_message_too_deep_carries_its_own_id_on_every_decoding_path(extra):
    # a run of 19 digits or a number beyond a double sends the line to the standard library's decoder
    line = ('{"jsonrpc": "2.0", "id": "a", "method": "ping", "params": {' + extra + ', "a": [[[[[[[[[1]]]]]]]]]}}')
    with pytest.raises(LimitExceeded) as caught:
        decode_line(line.encode(), max_depth=8)
    assert caught.value.limit == "json_depth" and caught.value.request_id == "a"
    assert_documented_error(caught.value.to_error())


@pytest.mark.parametrize(("id_text", "extra", "expected"), [
    ('"a"', '"x": 1e400', None),  # orjson cannot read it, and the standard library's parser recurses
    ("7", '"code": "1234567890123456789"', 7),  # a run of digits that orjson reads well enough here
    ("1.5", '"n": 12345678901234567890', 1.5),
    (str(BIG), '"n": 1', None),  # orjson would round it: null, never another number
    ('"a"', '"n": 1', "a"),
])
def test_a_line_past_the_deepest_supported_bound_is_read_for_its_id_as_orjson_reads_any_line(
        id_text, extra, expected):
    line = '{"id": ' + id_text + ", " + extra + ', "a": ' + "[" * 600 + "]" * 600 + "}"
    with pytest.raises(LimitExceeded) as caught:
        decode_line(line.encode(), max_depth=8)
    assert caught.value.request_id == expected
    assert_documented_error(caught.value.to_error())


def test_a_line_past_orjsons_depth_gets_no_id_on_either_path():
    for extra in ('"n": 1', '"n": 12345678901234567890'):
        line = '{"id": "a", ' + extra + ', "a": ' + "[" * 1100 + "]" * 1100 + "}"
        with pytest.raises(LimitExceeded) as caught:
            decode_line(line.encode(), max_depth=8)
        assert caught.value.request_id is None
        assert_documented_error(caught.value.to_error())


# -- id_of_line_head: the id of a line cut at the size limit ---------------------------------------


@pytest.mark.parametrize(("head", "expected"), [
    (b'{"jsonrpc": "2.0", "id": 12, "method": "predict", "params": {"code": "def f(', 12),
    (b'  {  "id" : "x" , "meth', "x"),
    (b'{"a": [1, 2, {"b": "}"}], "id": 99, "p', 99),
    (b'{"id": 123456789012345678901234567890, "p', BIG),
    (b'{"id": 1.5, "p', 1.5),
    (b'{"id": "a\xc3\xa9b", "x": "\xc3', "a\u00e9b"),  # a character split by the cut is dropped
    (b'{"id": 1, "id": 2, "p', 2),  # the last one, as decoding the whole line gives
    (b'{"id": 3}', 3), (b'{"\\u0069d": 4, "p', 4), (b'{"id": 5, "met', 5),
    (b'{"id": 6,, "p', 6),  # the id the host wrote, though what follows is not JSON
])
def test_the_id_of_a_cut_line_is_read_from_its_head(head, expected):
    assert id_of_line_head(head) == expected


@pytest.mark.parametrize("head", [
    b'{"id": 1234',  # its digits may go on past the cut
    b'{"id": 1.', b'{"id": 1e', b'{"id": 2.5E', b'{"id": -0.', b'{"id": 5, "id": 1.', b'{"id": 12 ',
    b'{"id": 7x', b'{"id": 5 "p', b'{"id": 5, "i', b'{"id": 5, "\\u00',  # not JSON, or a later "id" cut
    b'{"id": "ab',
    b'{"params": {"code": "x", "id": 5',  # not the top level, and cut before any top-level id
    b'[{"id": 1, "method": "ping"}, {"id": 2',  # a batch
    b'{"id": true, "p', b'{"id": {"a": 1}, "p', b'{"id": 1, "id": null, "p',  # not valid, or the last is null
    b'{"id": NaN, "p', b'{"id": 1e400, "p', b'{"id": "\\ud800", "p',  # not a number, or not text
    b'{"id": "a\xff", "p', b"\xef\xbb", b"", b"xyz", b'{"id" 1, "p', b'{"x": 1 "id": 2, "p',
])
def test_a_cut_line_without_a_whole_valid_top_level_id_gives_none(head):
    assert id_of_line_head(head) is None


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()


@given(st.dictionaries(st.sampled_from(["jsonrpc", "id", "method", "params"]),
                       st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)), max_size=4),
       st.sampled_from([", ", ",", " , "]))
@settings(max_examples=300, deadline=None)
def test_wherever_the_cut_an_id_read_from_a_head_is_the_whole_lines(message, separator):
    line = json.dumps(message, separators=(separator, ": ")).encode()
    whole = decode_line(line)
    for cut in range(len(line) + 1):
        found = id_of_line_head(line[:cut])
        assert found is None or (found == whole.get("id") and type(found) is type(whole.get("id"))), line[:cut]
