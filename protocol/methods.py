"""The API: every method's params and result as pydantic models, and the table that names them.

This module owns what each method accepts and returns, turning raw params (by name or by position)
into a validated params model, and the JSON Schema a host generates its types from. It leaves running
the methods to the daemon, which builds result dicts directly for speed; the result models here
document those dicts and let tests check real replies (`PredictResult.model_validate(reply["result"])`).

Conventions: lines and columns are 1-based, as in Python's tracebacks; scores and confidences are
probabilities in [0, 1]; params are strict (no "5" for 5, no 1 for true) and unknown params are refused.
An optional param sent as null means its default (a host whose generated types make every optional
field nullable sends null where it means "not given"), and the schema says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ErrorDetails

from protocol.error_data import ERROR_DATA
from protocol.errors import ERRORS_BY_CODE, InvalidParams, MethodNotFound
from protocol.messages import ErrorResponse, Notification, Request, RequestId, Response

__all__ = [
    "METHODS",
    "CancelParams",
    "ClientInfo",
    "EmbedParams",
    "EmbedResult",
    "ExtractFeaturesParams",
    "ExtractFeaturesResult",
    "FeatureCategory",
    "GraphNode",
    "HeadInfo",
    "HealthResult",
    "InitializeParams",
    "InitializeResult",
    "LikelyBug",
    "Limits",
    "MethodSpec",
    "ModelInfoResult",
    "ModelSummary",
    "NoParams",
    "PredictParams",
    "PredictResult",
    "ReloadParams",
    "ServerInfo",
    "SuggestedImport",
    "json_schema",
    "validate_params",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
OneBased = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]


def _params_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Every params model's schema: an optional param whose default is not null takes null too
    (meaning that default), and a model's own `schema_extra` (e.g. a `oneOf`) is added."""
    properties = schema.get("properties", {})
    for name in _defaulted(model):
        own = properties[name]
        said = {key: own.pop(key) for key in ("title", "description", "default") if key in own}
        properties[name] = {"anyOf": [own, {"type": "null"}], **said}
    schema.update(getattr(model, "schema_extra", {}))


@cache
def _defaulted(model: type[BaseModel]) -> frozenset[str]:
    """The optional params of `model` whose default is not null: the ones where null means it."""
    return frozenset(name for name, info in model.model_fields.items()
                     if not info.is_required() and info.get_default(call_default_factory=True) is not None)


class _Params(BaseModel):
    """Params are strict and closed: a typo in a name is an error, not a silently ignored option."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, json_schema_extra=_params_schema)
    schema_extra: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(data.get(name, 0) is None for name in _defaulted(cls)):
            return {key: value for key, value in data.items() if value is not None or key not in _defaulted(cls)}
        return data


class _Result(BaseModel):
    """Results are closed too, so a test that validates a real reply catches a key the docs lack."""

    model_config = ConfigDict(strict=True, extra="forbid")


# -- params ------------------------------------------------------------------------------------


class NoParams(_Params):
    """No params: omit them, or send `{}` or `[]`."""


class ClientInfo(_Params):
    """Who is calling, for the server's logs."""

    name: str = Field(description="The client's name, e.g. 'yantra'.")
    version: str | None = Field(default=None, description="The client's version.")


class InitializeParams(_Params):
    """The optional handshake; every method also works without it."""

    client_info: ClientInfo | None = Field(default=None, description="Who is calling.")
    notifications: list[str] = Field(
        default_factory=list,
        description="Kinds of server notifications the client opts into (none by default). This "
        "version sends none, so every kind is accepted and none is sent.",
    )


BUG_KINDS = ("syntax_error", "variable_misuse", "wrong_binary_operator", "wrong_comparison_operator",
             "wrong_boolean_operator", "off_by_one", "wrong_literal", "swapped_arguments", "swapped_operands",
             "negated_condition")
"""The bug kinds the shipped checkpoint reports (model.vocabulary's, a test keeps them equal), and
`syntax_error` for code that does not parse."""
_FEATURE_COUNT = 978
"""The API's feature-vector length (model.layout's FEATURE_DIM; a test keeps the two equal). Stated
in the schema only: the loaded model checks it, and its error names the length it expects."""
_FEATURE_MAGNITUDE = 1e15
"""The largest feature magnitude the model takes (model.predictor's MAX_FEATURE_MAGNITUDE; a test
keeps the two equal), stated in the schema only as the count is."""


def _bound_feature_vector(schema: dict[str, Any]) -> None:
    """Length and magnitude bounds inside the array branch of `features`' anyOf, where code generators
    read them (beside the anyOf they made quicktype give up on the type)."""
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "array":
            branch.update(minItems=_FEATURE_COUNT, maxItems=_FEATURE_COUNT, items={
                "type": "number", "minimum": -_FEATURE_MAGNITUDE, "maximum": _FEATURE_MAGNITUDE})


class _CodeOrFeatures(_Params):
    """Exactly one input: Python source, or a feature vector the host computed."""

    # The schema says "exactly one" too, so generated host types can enforce it: each branch wants its
    # key present and not null, so `{"code": null, "features": [...]}` passes, as the daemon lets it.
    schema_extra: ClassVar[dict[str, Any]] = {"oneOf": [
        {"type": "object", "title": "code", "required": ["code"], "properties": {"code": {"type": "string"}}},
        {"type": "object", "title": "features", "required": ["features"],
         "properties": {"features": {"type": "array"}}},
    ]}

    code: str | None = Field(default=None, description="Python source to analyse.")
    features: list[FiniteFloat] | None = Field(
        default=None, description=f"The {_FEATURE_COUNT} feature numbers of a piece of code, instead of `code`.",
        json_schema_extra=_bound_feature_vector,
    )

    @model_validator(mode="after")
    def _exactly_one_input(self) -> _CodeOrFeatures:
        if (self.code is None) == (self.features is None):
            raise ValueError("give exactly one of `code` (Python source) or `features` (978 numbers)")
        return self


class PredictParams(_CodeOrFeatures):
    """What `predict` scores, and how much detail to return."""

    path: str | None = Field(
        default=None,
        description="The file the code comes from. The daemon indexes that file's project (the directory "
        "above its outermost package) in the background and suggests the project's own modules as "
        "imports; the first requests for a new project are answered without it.",
    )
    include_embedding: bool = Field(default=False, description="Add `embedding` to the result.")
    top_k: int = Field(default=5, ge=0, le=100, description="Most entries in `imports` and `bugs`.")

    @field_validator("top_k", mode="before")
    @classmethod
    def _integral_number(cls, value: Any) -> Any:
        """5.0 is an integer to JSON Schema (and to JavaScript), so it is one here."""
        return int(value) if isinstance(value, float) and value.is_integer() else value


class EmbedParams(_CodeOrFeatures):
    """What `embed` maps to a vector."""


class ExtractFeaturesParams(_Params):
    """The code whose features to return."""

    code: str = Field(description="Python source.")


class ReloadParams(_Params):
    """Where to load the model from."""

    path: str | None = Field(
        default=None, min_length=1,
        description="Checkpoint file to load; omitted: run the checkpoint search again.",
    )


class CancelParams(_Params):
    """Which request to cancel."""

    id: RequestId


# -- results -----------------------------------------------------------------------------------


class ServerInfo(_Result):
    name: str = Field(description="Always 'yantra-bridge'.")
    version: str = Field(description="The installed package's version.")


class Limits(_Result):
    """The limits this server runs with (each set by a command-line flag)."""

    max_line_bytes: OneBased = Field(description="Longest input line, in bytes.")
    max_batch: OneBased = Field(description="Most messages in one batch.")
    max_json_depth: OneBased = Field(description="Deepest nesting of arrays and objects in a message.")
    max_code_bytes: OneBased = Field(description="Largest `code` param, in UTF-8 bytes.")
    queue_size: OneBased = Field(
        description="Requests that may wait in each of the two queues; one more in a full queue is answered 'busy'.")


class HeadInfo(_Result):
    size: Count = Field(description="Vocabulary size of the head (0 for a single score).")


class ModelInfoResult(_Result):
    """The model serving requests (also `reload`'s result, and part of `initialize`'s)."""

    status: Literal["loading", "loaded", "error"]
    version: str | None = Field(description="Model version; null while loading.")
    trained: bool = Field(description="False for the untrained fallback (see `reason`).")
    checkpoint: str | None = Field(description="File the weights came from; null for none.")
    model_size_mb: float = Field(ge=0, description="Size of the weights in MiB.")
    parameters: Count = Field(description="Number of weights.")
    feature_dim: Count = Field(description="Length of a feature vector (978 once loaded).")
    heads: dict[str, HeadInfo] = Field(description="Each prediction head by name.")
    device: str = Field(description="Where the forward pass runs, e.g. 'cpu'.")
    training: dict[str, Any] = Field(description="Training metadata and metrics stored in the checkpoint.")
    reason: str | None = Field(description="Why the model is untrained or failed, or which checkpoint did not "
                               "load before another did (one asked for by path or $YANTRA_CHECKPOINT, or a "
                               "corrupt one found in the search); null otherwise.")
    confidence_pass_rate: Probability | None = Field(
        description="How often code passes its tests where `confidence` is calibrated: the "
        "checkpoint's executed samples, or the host's `--confidence-pass-rate`; null when unknown.")


class InitializeResult(_Result):
    server: ServerInfo
    protocol_version: str = Field(description="Version of this API.")
    methods: list[str] = Field(description="Every method name the server answers.")
    limits: Limits
    model: ModelInfoResult


class HealthResult(_Result):
    live: bool = Field(description="The server is answering (always true in a reply).")
    ready: bool = Field(description="A model is loaded (trained, or the untrained fallback).")
    trained: bool = Field(description="The loaded model is trained.")
    queue_depth: Count = Field(description="Requests waiting for a worker.")
    uptime_s: float = Field(ge=0, description="Seconds since the server started.")


class SuggestedImport(_Result):
    module: str = Field(description="Module the code uses without importing it.")
    score: Probability
    statement: str = Field(description="The import line to insert, e.g. 'import os'.")


class LikelyBug(_Result):
    """A likely bug: the expression it is probably in (where the model scores bug sites), else the function."""

    kind: str = Field(description=f"Bug kind: {', '.join(BUG_KINDS)}; a checkpoint may add kinds, so a host "
                                  "should show one it does not know by name.")
    score: Probability
    line: OneBased | None = Field(description="Line where the suspect expression (or function) starts, when known.")
    column: OneBased | None = Field(description="Column where it starts, when known.")


class ModelSummary(_Result):
    version: str | None = Field(description="Version of the model that answered.")
    trained: bool


class PredictResult(_Result):
    """The original host's `ModelPrediction` keys first, then the detail behind them."""

    code_suggestion: str = Field(description="The missing import lines, ready to insert; '' when none.")
    confidence: Probability = Field(description="Probability the code passes its tests, calibrated on executed "
                                    "HumanEval tests, or restated for `--confidence-pass-rate` (see model_info's "
                                    "`confidence_pass_rate`); 0 if it does not parse.")
    next_function: str | None = Field(description="Always null: no head predicts it yet.")
    predicted_imports: list[str] = Field(description="Modules of `imports`, best first.")
    potential_bugs: list[str] = Field(description="The distinct kinds of `bugs`, most likely first.")
    imports: list[SuggestedImport] = Field(description="At most `top_k`, best first.")
    bugs: list[LikelyBug] = Field(description="At most `top_k`, most likely first.")
    embedding: list[FiniteFloat] | SkipJsonSchema[None] = Field(
        default=None, description="L2-normalised embedding; present only with `include_embedding`.",
        json_schema_extra=lambda schema: schema.pop("default"),  # absent, never null: no default to state
    )
    model: ModelSummary


class GraphNode(_Result):
    name: str = Field(description="Name of the code unit ('<module>' for the module).")
    kind: Literal["module", "class", "function", "async_function", "method", "async_method", "decorated_method",
                  "nested_function"] = Field(description="Kind of unit (model.scan.KINDS; a test keeps the two equal).")
    line: OneBased = Field(description="Line where the unit starts.")
    features: list[FiniteFloat] = Field(description="The unit's 978 features.")


class FeatureCategory(_Result):
    name: str
    start: Count = Field(description="First index of the category in a feature vector.")
    end: Count = Field(description="One past its last index.")


class ExtractFeaturesResult(_Result):
    features: list[FiniteFloat] = Field(description="The 978 features of the code as a whole.")
    nodes: list[GraphNode] = Field(description="Each graph node with its own features.")
    categories: list[FeatureCategory] = Field(description="The ten named ranges of a feature vector.")


class EmbedResult(_Result):
    embedding: list[FiniteFloat] = Field(description="L2-normalised embedding.")
    dim: OneBased = Field(description="Length of `embedding`.")


# -- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """A method: its params model, its result type, and the order of its by-position params."""

    name: str
    params: type[BaseModel]
    result: type[BaseModel] | TypeAdapter[Any]
    positional: tuple[str, ...] = ()
    """Param names in order for by-position calls; empty means by name only (or none at all)."""
    summary: str = ""
    result_adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        adapter = self.result if isinstance(self.result, TypeAdapter) else TypeAdapter(self.result)
        object.__setattr__(self, "result_adapter", adapter)

    def validate_result(self, value: object) -> object:
        """Check a reply's `result` against this method's result type (raises ValidationError)."""
        return self.result_adapter.validate_python(value)


def _spec(name: str, params: type[BaseModel], result: Any, summary: str, *positional: str) -> MethodSpec:
    return MethodSpec(name, params, result, positional, summary)


_NULL = TypeAdapter(None)
_MODEL_INFO_SUMMARY = "Describe the model serving requests: status, version, size, heads, training."

METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        _spec("initialize", InitializeParams, InitializeResult, "Optional handshake: server, limits, model."),
        _spec("ping", NoParams, TypeAdapter(Literal["pong"]), "Answer 'pong' at once, even while busy."),
        _spec("health", NoParams, HealthResult, "Liveness, readiness and queue depth."),
        _spec("predict", PredictParams, PredictResult, "Confidence, missing imports, likely bugs.", "code"),
        _spec("extract_features", ExtractFeaturesParams, ExtractFeaturesResult, "Feature vectors.", "code"),
        _spec("embed", EmbedParams, EmbedResult, "An L2-normalised embedding of the code.", "code"),
        _spec("model_info", NoParams, ModelInfoResult, _MODEL_INFO_SUMMARY),
        _spec("get_model_info", NoParams, ModelInfoResult, "Alias of model_info (the original's name)."),
        _spec("reload", ReloadParams, ModelInfoResult, "Load a checkpoint without restarting.", "path"),
        _spec("shutdown", NoParams, _NULL,
              "Finish pending work; then only exit, ping, health, shutdown and $/cancelRequest are served."),
        _spec("exit", NoParams, _NULL, "Stop: exit code 0 after `shutdown`, 1 without."),
        _spec("$/cancelRequest", CancelParams, _NULL, "Cancel a pending request (answered -32800).", "id"),
    )
}
"""Every method the server answers, by name."""


def validate_params(method: str, params: dict[str, Any] | list[Any] | None) -> BaseModel:
    """Raw params of a call -> the method's params model.

    By-position params are named by the method's `positional` order. Raises MethodNotFound for an
    unknown method, InvalidParams (data: field, reason) for params that do not fit.
    """
    spec = METHODS.get(method)
    if spec is None:
        raise MethodNotFound(f"Method not found: {method!r}", method=method)
    named = _by_name(spec, params)
    try:
        return spec.params.model_validate(named)
    except ValidationError as exc:
        raise _invalid_params(method, exc, named) from None


SCHEMA_DESCRIPTION: Final = (
    "Each method's `params` is the by-name form, a JSON object. The same params may come by position "
    "instead, as a JSON array of at most as many values as `positional` names, in that order (an empty "
    "array where it names none). Omitted params take their defaults, and leaving `params` out is the "
    "same as sending `{}`."
)
"""How a host reads `methods`: the schemas describe the object form, `positional` the array form."""


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of every method's params and result, the envelopes and error codes:
    what `yantra-bridge --print-schema` prints.

    One document, shaped {"$schema", "description", "$defs", "methods": {name: {"summary", "positional", "params",
    "result"}}, "envelopes": {...}, "errors": {code: {"name", "description", "data"}}} ("data" only for
    codes whose errors carry it: `protocol.error_data`). Every named type is in
    the top-level `$defs`, once (a method's params and result are `$ref`s to theirs), and every `$ref`
    points there, so the whole document loads as one resource and a type generator emits each type
    once.
    """
    definitions: dict[str, Any] = {}
    methods = {
        name: {
            "summary": spec.summary,
            "positional": list(spec.positional),
            "params": _hoisted(_schema_of(spec.params), definitions),
            "result": _hoisted(_schema_of(spec.result_adapter), definitions),
        }
        for name, spec in METHODS.items()
    }
    envelopes = {model.__name__: _hoisted(_schema_of(model), definitions) for model in _ENVELOPES}
    errors = {str(code): _error_entry(code, definitions) for code in ERRORS_BY_CODE}
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "description": SCHEMA_DESCRIPTION,
        "$defs": dict(sorted(definitions.items())),
        "methods": methods,
        "envelopes": envelopes,
        "errors": errors,
    }


def _error_entry(code: int, definitions: dict[str, Any]) -> dict[str, Any]:
    """A code's name, its docstring's first paragraph (one line) and, where its errors carry any, its
    `data` schema."""
    cls = ERRORS_BY_CODE[code]
    paragraph = (cls.__doc__ or "").strip().split("\n\n")[0]
    entry: dict[str, Any] = {"name": cls.__name__, "description": " ".join(paragraph.split())}
    if code in ERROR_DATA:
        entry["data"] = _hoisted(_schema_of(ERROR_DATA[code]), definitions)
    return entry


def _hoisted(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` to `schema` among `definitions` under its title (inline when it has none, as `ping`'s
    "pong"), and its own `$defs` there too: pydantic writes `#/$defs/Name` refs, which then resolve
    against the whole document's root, and a type several methods share (`ModelInfoResult`) is
    defined once."""
    own = {key: value for key, value in schema.items() if key not in ("$schema", "$defs")}
    named = {**schema.get("$defs", {}), **({own["title"]: own} if "title" in own else {})}
    for name, definition in named.items():
        if definitions.setdefault(name, definition) != definition:
            raise ValueError(f"two different types are named {name!r} in the API schema")
    return {"$ref": f"#/$defs/{own['title']}"} if "title" in own else own


_ENVELOPES = (Request, Notification, Response, ErrorResponse)


def _by_name(spec: MethodSpec, params: dict[str, Any] | list[Any] | None) -> dict[str, Any]:
    if params is None:
        return {}
    if isinstance(params, dict):
        return params
    if len(params) > len(spec.positional):
        reason = f"takes at most {len(spec.positional)} params by position, got {len(params)}"
        raise InvalidParams(
            f"Invalid params: {spec.name} {reason}",
            field="params",
            reason=reason,
            maximum=len(spec.positional),
            actual=len(params),
        )
    return dict(zip(spec.positional, params, strict=False))


def _invalid_params(method: str, exc: ValidationError, named: object = None) -> InvalidParams:
    """The first problem, named by its field; the message counts the others. `named`, the params as
    validated, tells a feature vector's length."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    field_name = _field_path(first) or "params"
    reason = _reason(first)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    subject = "" if field_name == "params" else f"{field_name!r} "
    location = first["loc"]
    if location[:1] == ("features",) and len(location) == 2 and type(first["input"]) is int:
        # an integer beyond a float's range (10**309): what the model says of 1e20 in its place, in its
        # words (numbers within range reach the model's own checks, the length first)
        features = named.get("features") if isinstance(named, dict) else None
        if isinstance(features, list) and len(features) != _FEATURE_COUNT:
            reason = f"expected {_FEATURE_COUNT} numbers per feature vector, got {len(features)}"
            return InvalidParams(f"Invalid params: {reason}", field="features", reason=reason,
                                 expected=_FEATURE_COUNT)
        reason = f"feature {location[1]} is larger than {_FEATURE_MAGNITUDE:g} in magnitude"
        return InvalidParams(f"Invalid params: {reason}", field=field_name, reason=reason, index=location[1])
    entry = {"index": location[1]} if location[:1] == ("features",) and len(location) == 2 else {}
    return InvalidParams(  # a feature vector's bad entry has its `index`, as the model's own checks give it
        f"Invalid params for {method}: {subject}{reason}{more}", field=field_name, reason=reason, **entry
    )


def _field_path(error: ErrorDetails) -> str:
    """("features", 3) -> "features[3]"; ("client_info", "name") -> "client_info.name"."""
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path.lstrip(".")


def _reason(error: ErrorDetails) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        return "is not a param of this method"
    message = error["msg"].removeprefix("Value error, ")
    return message.replace("Input should", "should", 1) if message.startswith("Input should") else message


def _schema_of(source: type[BaseModel] | TypeAdapter[Any]) -> dict[str, Any]:
    schema = source.json_schema() if isinstance(source, TypeAdapter) else source.model_json_schema()
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}
