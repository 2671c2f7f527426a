"""The method table: params validation, result models, and the JSON Schema generated from them."""

from __future__ import annotations

import inspect
import json
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from protocol.error_data import ERROR_DATA, LIMIT_NAMES
from protocol.errors import ERRORS_BY_CODE, InvalidParams, LimitExceeded, MethodNotFound
from protocol.framing import decode_line, encode_message
from protocol.methods import (
    METHODS,
    CancelParams,
    EmbedParams,
    GraphNode,
    HealthResult,
    InitializeParams,
    LikelyBug,
    ModelInfoResult,
    NoParams,
    PredictParams,
    PredictResult,
    ReloadParams,
    json_schema,
    validate_params,
)
from tests.error_checks import assert_documented_error

MODEL_INFO = {
    "status": "loaded",
    "version": "graphsage-0.1.0",
    "trained": True,
    "checkpoint": "/home/u/.yantra/checkpoints/graphsage/best_model.safetensors",
    "model_size_mb": 9.4,
    "parameters": 2_450_000,
    "feature_dim": 978,
    "heads": {"confidence": {"size": 1}, "imports": {"size": 512}, "bugs": {"size": 12}},
    "device": "cpu",
    "training": {"epochs": 12, "metrics": {"auroc": 0.81}},
    "reason": None,
    "confidence_pass_rate": 0.218,
}
PREDICTION = {
    "code_suggestion": "import os\nimport json",
    "confidence": 0.87,
    "next_function": None,
    "predicted_imports": ["os", "json"],
    "potential_bugs": ["off_by_one"],
    "imports": [
        {"module": "os", "score": 0.9, "statement": "import os"},
        {"module": "json", "score": 0.4, "statement": "import json"},
    ],
    "bugs": [{"kind": "off_by_one", "score": 0.3, "line": 4, "column": None}],
    "model": {"version": "graphsage-0.1.0", "trained": True},
}

EXAMPLES: dict[str, tuple[dict[str, Any], Any]] = {
    "initialize": (
        {"client_info": {"name": "yantra", "version": "0.9"}, "notifications": []},
        {
            "server": {"name": "yantra-bridge", "version": "0.1.0"},
            "protocol_version": "1.0",
            "methods": sorted(METHODS),
            "limits": {
                "max_line_bytes": 16 << 20,
                "max_batch": 1000,
                "max_json_depth": 64,
                "max_code_bytes": 2 << 20,
                "queue_size": 4096,
            },
            "model": MODEL_INFO,
        },
    ),
    "ping": ({}, "pong"),
    "health": ({}, {"live": True, "ready": True, "trained": False, "queue_depth": 0, "uptime_s": 1.25}),
    "predict": ({"code": "def f(p):\n    return os.path.join(p)\n", "top_k": 3}, PREDICTION),
    "extract_features": (
        {"code": "x = 1\n"},
        {
            "features": [0.0, 1.5, 0.25],
            "nodes": [{"name": "<module>", "kind": "module", "line": 1, "features": [0.0, 1.5, 0.25]}],
            "categories": [{"name": "syntax", "start": 0, "end": 2}, {"name": "names", "start": 2, "end": 3}],
        },
    ),
    "embed": ({"features": [0.0, 1, 2.5] + [0.0] * 975}, {"embedding": [0.6, 0.8], "dim": 2}),
    "model_info": ({}, MODEL_INFO),
    "get_model_info": ({}, {**MODEL_INFO, "status": "loading", "version": None, "heads": {}, "reason": "loading"}),
    "reload": ({"path": "/tmp/best.safetensors"}, MODEL_INFO),
    "shutdown": ({}, None),
    "exit": ({}, None),
    "$/cancelRequest": ({"id": "req-7"}, None),
}


def test_the_table_covers_every_method_of_the_api() -> None:
    assert set(METHODS) == set(EXAMPLES)
    assert all(name == spec.name and spec.summary for name, spec in METHODS.items())


def test_every_positional_name_is_a_param_of_its_method() -> None:
    for spec in METHODS.values():
        assert set(spec.positional) <= set(spec.params.model_fields)


@pytest.mark.parametrize("method", sorted(EXAMPLES))
def test_each_params_model_survives_a_trip_through_json(method: str) -> None:
    params = validate_params(method, EXAMPLES[method][0])
    line = encode_message(params.model_dump(mode="json"))
    assert validate_params(method, decode_line(line)) == params


@pytest.mark.parametrize("method", sorted(EXAMPLES))
def test_each_result_model_survives_a_trip_through_json(method: str) -> None:
    spec = METHODS[method]
    result = spec.validate_result(EXAMPLES[method][1])
    dumped = result.model_dump(mode="json", exclude_unset=True) if isinstance(result, BaseModel) else result
    assert spec.validate_result(decode_line(encode_message({"r": dumped}))["r"]) == result


def test_a_result_model_validates_a_reply_as_the_bridge_builds_it() -> None:
    reply = decode_line(encode_message({"jsonrpc": "2.0", "id": 1, "result": PREDICTION}))
    result = PredictResult.model_validate(reply["result"])
    assert result.embedding is None
    assert result.bugs[0] == LikelyBug(kind="off_by_one", score=0.3, line=4, column=None)


@pytest.mark.parametrize(
    ("model", "value"),
    [
        (PredictResult, {**PREDICTION, "confidence": 1.5}),
        (PredictResult, {**PREDICTION, "undocumented": 1}),
        (PredictResult, {**PREDICTION, "bugs": [{"kind": "x", "score": 0.5, "line": 0, "column": None}]}),
        (PredictResult, {key: value for key, value in PREDICTION.items() if key != "next_function"}),
        (HealthResult, {"live": True, "ready": True, "trained": True, "queue_depth": -1, "uptime_s": 0.0}),
        (ModelInfoResult, {**MODEL_INFO, "status": "ready"}),
    ],
    ids=["confidence-above-1", "unknown-key", "line-0", "missing-key", "negative-queue", "unknown-status"],
)
def test_a_result_that_breaks_the_contract_is_refused(model: type[BaseModel], value: dict) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(value)


# -- validate_params ----------------------------------------------------------------------------


def test_params_by_position_are_named_in_the_methods_order() -> None:
    assert validate_params("predict", ["x = 1"]) == PredictParams(code="x = 1")
    assert validate_params("reload", ["/tmp/m.safetensors"]) == ReloadParams(path="/tmp/m.safetensors")
    assert validate_params("$/cancelRequest", [7]) == CancelParams(id=7)


@pytest.mark.parametrize("params", [None, {}, []])
def test_a_method_without_params_accepts_none_an_empty_object_or_an_empty_array(params: object) -> None:
    assert validate_params("ping", params) == NoParams()


def test_predict_defaults_are_five_results_and_no_embedding() -> None:
    params = validate_params("predict", {"code": ""})
    assert (params.top_k, params.include_embedding, params.path) == (5, False, None)


def test_an_unknown_method_is_method_not_found() -> None:
    with pytest.raises(MethodNotFound) as caught:
        validate_params("foobar", {})
    assert caught.value.method == "foobar"
    assert_documented_error(caught.value.to_error())


def test_too_many_positional_params_name_the_bound() -> None:
    with pytest.raises(InvalidParams) as caught:
        validate_params("predict", ["x = 1", 3])
    assert caught.value.data["maximum"] == 1
    assert caught.value.data["actual"] == 2
    assert_documented_error(caught.value.to_error())


def test_positional_params_for_a_by_name_only_method_are_refused() -> None:
    with pytest.raises(InvalidParams):
        validate_params("initialize", [{"name": "yantra"}])


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("predict", {"code": 1}, "code"),
        ("predict", {"code": "x", "top_k": 101}, "top_k"),
        ("predict", {"code": "x", "top_k": -1}, "top_k"),
        ("predict", {"code": "x", "top_k": "5"}, "top_k"),
        ("predict", {"code": "x", "top_k": 5.5}, "top_k"),
        ("predict", {"code": "x", "include_embedding": 1}, "include_embedding"),
        ("predict", {"code": "x", "verbose": True}, "verbose"),
        ("predict", {"features": [0.5, "1"]}, "features[1]"),
        ("predict", {"features": [0.5, float("inf")]}, "features[1]"),
        ("extract_features", {}, "code"),
        ("extract_features", {"code": None}, "code"),
        ("initialize", {"client_info": {"name": 3}}, "client_info.name"),
        ("$/cancelRequest", {"id": True}, "id"),
        ("$/cancelRequest", {"id": [1]}, "id"),
        ("$/cancelRequest", {}, "id"),
        ("ping", {"x": 1}, "x"),
    ],
)
def test_bad_params_are_invalid_params_naming_the_field_and_reason(method: str, params: dict, field: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        validate_params(method, params)
    data = caught.value.to_error()["data"]
    assert_documented_error(caught.value.to_error())
    assert data["field"] == field
    assert data["reason"]
    assert field in str(caught.value)


@pytest.mark.parametrize("params", [{}, {"code": "x", "features": [1.0]}, {"code": None}])
def test_predict_and_embed_need_exactly_one_of_code_and_features(params: dict) -> None:
    for method in ("predict", "embed"):
        with pytest.raises(InvalidParams) as caught:
            validate_params(method, params)
        assert "exactly one of `code`" in caught.value.reason


def test_features_may_be_integers_in_json() -> None:
    assert validate_params("embed", {"features": [0, 1, 2]}) == EmbedParams(features=[0.0, 1.0, 2.0])


@pytest.mark.parametrize("number", [10**309, -(10**400)])
def test_an_integer_beyond_a_floats_range_is_a_feature_too_large_named_by_its_index(number: int) -> None:
    """As the model names 1e20 (model.predictor.check_vectors), not as "not a valid number"."""
    with pytest.raises(InvalidParams) as caught:
        validate_params("embed", {"features": [0, 0, number] + [0] * 975})
    data = caught.value.to_error()["data"]
    assert_documented_error(caught.value.to_error())
    assert data == {"field": "features[2]", "index": 2, "reason": "feature 2 is larger than 1e+15 in magnitude"}
    with pytest.raises(InvalidParams) as caught:
        validate_params("embed", {"features": [0, "x"] + [0] * 976})
    assert caught.value.to_error()["data"]["index"] == 1  # every bad entry is named by its index too
    assert_documented_error(caught.value.to_error())
    with pytest.raises(InvalidParams) as caught:
        validate_params("embed", {"features": [0, 0, 0, float("inf")] + [0] * 974})  # 1e400 in JSON
    data = caught.value.to_error()["data"]
    assert_documented_error(caught.value.to_error())
    assert data == {"field": "features[3]", "index": 3, "reason": "should be a finite number"}


def test_a_short_vector_holding_such_an_integer_is_told_its_length_first_as_the_model_tells_it() -> None:
    with pytest.raises(InvalidParams) as caught:
        validate_params("predict", {"features": [10**309, 1]})
    data = caught.value.to_error()["data"]
    assert_documented_error(caught.value.to_error())
    assert data == {"field": "features", "expected": 978, "reason": "expected 978 numbers per feature vector, got 2"}


def test_notification_kinds_are_accepted_though_none_is_sent_yet() -> None:
    params = validate_params("initialize", {"notifications": ["model/status"]})
    assert params == InitializeParams(notifications=["model/status"])


# -- json_schema --------------------------------------------------------------------------------


def test_the_schema_covers_every_method_and_error_code() -> None:
    schema = json_schema()
    assert set(schema["methods"]) == set(METHODS)
    assert set(schema["errors"]) == {"-32700", "-32600", "-32601", "-32602", "-32603", "-32800"} | {
        str(code) for code in range(-32005, -31999)
    }
    assert json.loads(json.dumps(schema)) == schema


def test_a_limit_is_an_open_string_that_names_todays_limits() -> None:
    # as a bug's kind: a later limit must not break a client generated from the schema
    limit = json_schema()["$defs"]["LimitExceededData"]["properties"]["limit"]
    assert limit["type"] == "string" and "enum" not in limit
    assert all(f"`{name}`" in limit["description"] for name in LIMIT_NAMES)


def test_each_error_code_that_carries_data_has_its_schema_and_the_others_none() -> None:
    errors = json_schema()["errors"]
    for code, cls in ERRORS_BY_CODE.items():
        entry = errors[str(code)]
        assert entry["name"] == cls.__name__
        assert entry["description"].endswith(".") and "\n" not in entry["description"]  # whole sentences
        if code in ERROR_DATA:
            assert entry["data"] == {"$ref": f"#/$defs/{ERROR_DATA[code].__name__}"}
        else:
            assert "data" not in entry
            assert not _data_keywords(cls), f"{cls.__name__} takes data but documents none"


def test_every_data_keyword_of_an_error_class_is_in_its_codes_data_model() -> None:
    # the classes' keywords (request_id aside: it is the reply's id, not data) and the published models
    for code, model in ERROR_DATA.items():
        assert _data_keywords(ERRORS_BY_CODE[code]) <= set(model.model_fields), model.__name__


def test_the_error_data_schemas_refuse_an_unknown_key_a_wrong_type_and_a_missing_bound() -> None:
    schema = json_schema()
    limit = {"$ref": "#/$defs/LimitExceededData", "$defs": schema["$defs"]}
    jsonschema.validate({"limit": "batch", "maximum": 10, "actual": 11}, limit)
    for bad in ({"limit": "batch", "maximum": 10, "extra": 1}, {"limit": "batch", "maximum": "10"},
                {"limit": "batch"}, {"limit": 3, "maximum": 1}, {"limit": "batch", "maximum": 1, "line": 0}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, limit)
    assert LimitExceeded(limit="batch", maximum=10).to_error()["data"] == {"limit": "batch", "maximum": 10}


def _data_keywords(cls: type) -> set[str]:
    keywords = {name for name, parameter in inspect.signature(cls.__init__).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY}
    return keywords - {"request_id"}


def test_each_methods_positional_names_are_params_its_schema_describes() -> None:
    # the document's description: an array in `positional` order stands for the object the schema describes
    schema = json_schema()
    assert "positional" in schema["description"]
    for name, method in schema["methods"].items():
        params = schema["$defs"][method["params"]["$ref"].removeprefix("#/$defs/")]
        assert set(method["positional"]) <= set(params["properties"]), name


def test_every_reference_in_the_schema_resolves_in_the_one_document_it_prints() -> None:
    schema = json_schema()
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/")
        assert ref.removeprefix("#/$defs/") in schema["$defs"]
    assert all("$defs" not in document and "$schema" not in document for document in _all_schemas(schema))
    # each type once: a generator emits ModelInfoResult once, not once a method that returns it
    results = [schema["methods"][m]["result"] for m in ("model_info", "get_model_info", "reload")]
    assert results == [{"$ref": "#/$defs/ModelInfoResult"}] * 3


def test_every_schema_is_valid_json_schema_and_accepts_the_examples() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for document in _all_schemas(schema):
        jsonschema.Draft202012Validator.check_schema(document)
    for method, (params, result) in EXAMPLES.items():
        _validate(params, method, "params")
        _validate(result, method, "result")


def test_the_schema_refuses_what_the_models_refuse() -> None:
    with pytest.raises(jsonschema.ValidationError):
        _validate({"code": "x", "top_k": 101}, "predict", "params")
    with pytest.raises(jsonschema.ValidationError):
        _validate({**PREDICTION, "confidence": 2}, "predict", "result")
    with pytest.raises(jsonschema.ValidationError):
        _validate("ping", "ping", "result")


@pytest.mark.parametrize("method", ["predict", "embed"])
def test_the_schema_wants_exactly_one_input_of_the_right_length_as_the_daemon_does(method: str) -> None:
    vector = [0.0] * 978
    too_large = [1e16] + [0.0] * 977  # the model refuses it too (model.predictor.check_vectors)
    for refused in ({}, {"code": "x", "features": vector}, {"code": None}, {"features": [0.0] * 3},
                    {"features": too_large}):
        with pytest.raises(jsonschema.ValidationError):
            _validate(refused, method, "params")
    for accepted in ({"code": "x"}, {"features": vector}, {"code": None, "features": vector}):
        _validate(accepted, method, "params")
        validate_params(method, accepted)


def test_the_schemas_feature_count_and_bound_are_the_models() -> None:
    from model.layout import FEATURE_DIM
    from model.predictor import MAX_FEATURE_MAGNITUDE
    from protocol.methods import _FEATURE_COUNT, _FEATURE_MAGNITUDE

    assert _FEATURE_COUNT == FEATURE_DIM
    assert _FEATURE_MAGNITUDE == MAX_FEATURE_MAGNITUDE


def test_the_bug_kinds_the_schema_names_are_the_models() -> None:
    from model.vocabulary import BUG_KINDS as MODEL_KINDS
    from protocol.methods import BUG_KINDS

    assert tuple(BUG_KINDS) == ("syntax_error", *MODEL_KINDS)
    assert all(kind in LikelyBug.model_json_schema()["properties"]["kind"]["description"] for kind in BUG_KINDS)


def test_the_schemas_node_kinds_are_the_extractors() -> None:
    from model.scan import KINDS

    kinds = GraphNode.model_json_schema()["properties"]["kind"]["enum"]
    assert sorted(kinds) == sorted(KINDS)


def test_no_schema_states_a_null_default_for_a_value_that_cannot_be_null() -> None:
    # a generated host type would otherwise default a non-optional field to null
    def walk(node: object, path: str) -> list[str]:
        if isinstance(node, list):
            return [found for i, child in enumerate(node) for found in walk(child, f"{path}[{i}]")]
        if not isinstance(node, dict):
            return []
        takes_null = node.get("type") == "null" or {"type": "null"} in node.get("anyOf", []) or not (
            {"type", "anyOf", "$ref", "enum"} & set(node))  # no type at all: anything, null included
        own = [path] if "default" in node and node["default"] is None and not takes_null else []
        return own + [found for key, child in node.items() for found in walk(child, f"{path}/{key}")]

    assert walk(json_schema(), "") == []


def _validate(instance: object, method: str, part: str) -> None:
    """Validate against a method's params or result in the printed document, its refs resolved
    against the whole (a JSON pointer escapes the "/" of `$/cancelRequest`)."""
    key = method.replace("~", "~0").replace("/", "~1")
    jsonschema.validate(instance, {**json_schema(), "$ref": f"#/methods/{key}/{part}"})


def _all_schemas(schema: dict) -> list[dict]:
    documents = [entry[part] for entry in schema["methods"].values() for part in ("params", "result")]
    return documents + list(schema["envelopes"].values())


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_an_optional_param_sent_as_null_means_its_default():
    # what a host's generated types send for "not given" when every optional field is nullable
    params = validate_params("predict", {"code": "x", "features": None, "path": None,
                                         "include_embedding": None, "top_k": None})
    assert (params.include_embedding, params.top_k) == (False, 5)
    assert validate_params("initialize", {"client_info": None, "notifications": None}).notifications == []


def test_the_schema_says_null_means_the_default_where_the_daemon_takes_it():
    top_k = PredictParams.model_json_schema()["properties"]["top_k"]
    assert top_k["anyOf"][1] == {"type": "null"} and top_k["default"] == 5


def test_an_integral_number_is_an_integer_as_json_schema_says():
    assert validate_params("predict", {"code": "x", "top_k": 5.0}).top_k == 5


def test_the_feature_vector_bounds_sit_inside_the_array_branch_where_code_generators_read_them():
    features = PredictParams.model_json_schema()["properties"]["features"]
    array = next(branch for branch in features["anyOf"] if branch.get("type") == "array")
    assert array["minItems"] == array["maxItems"] == 978 and array["items"]["type"] == "number"
    assert not {"items", "minItems", "maxItems"} & set(features)
