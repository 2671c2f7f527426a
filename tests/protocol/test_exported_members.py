"""The public surface of protocol/: pinned names, documented modules, and no heavy imports."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import protocol

MODULES = ["protocol.errors", "protocol.framing", "protocol.messages", "protocol.methods"]

PINNED = {
    # errors
    "PARSE_ERROR", "INVALID_REQUEST", "METHOD_NOT_FOUND", "INVALID_PARAMS", "INTERNAL_ERROR",
    "REQUEST_CANCELLED", "SERVER_BUSY", "MODEL_UNAVAILABLE", "LIMIT_EXCEEDED", "CODE_SYNTAX_ERROR",
    "CHECKPOINT_LOAD_FAILED", "SERVER_SHUTTING_DOWN", "ERRORS_BY_CODE", "JsonRpcError", "ParseError",
    "InvalidRequest", "MethodNotFound", "InvalidParams", "InternalError", "RequestCancelled", "ServerBusy",
    "ModelUnavailable", "LimitExceeded", "CodeSyntaxError", "CheckpointLoadFailed", "ServerShuttingDown",
    "error_from_wire",
    # framing
    "DEFAULT_MAX_DEPTH", "MAX_SUPPORTED_DEPTH", "decode_line", "encode_message", "id_of_line_head",
    # messages
    "JSONRPC_VERSION", "RequestId", "Request", "Notification", "Response", "ErrorResponse", "ErrorObject",
    "Message", "MessageAdapter", "parse_message", "result_response", "error_response", "is_valid_id",
    # methods
    "METHODS", "MethodSpec", "validate_params", "json_schema", "NoParams", "ClientInfo", "InitializeParams",
    "PredictParams", "EmbedParams", "ExtractFeaturesParams", "ReloadParams", "CancelParams", "ServerInfo",
    "Limits", "HeadInfo", "ModelInfoResult", "InitializeResult", "HealthResult", "SuggestedImport",
    "LikelyBug", "ModelSummary", "PredictResult", "GraphNode", "FeatureCategory", "ExtractFeaturesResult",
    "EmbedResult",
}  # fmt: skip


def test_the_package_exports_exactly_the_pinned_names() -> None:
    assert set(protocol.__all__) == PINNED
    assert all(hasattr(protocol, name) for name in protocol.__all__)


@pytest.mark.parametrize("name", MODULES)
def test_each_module_documents_itself_and_exports_what_it_defines(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__ and "leaves" in module.__doc__
    assert all(hasattr(module, member) for member in module.__all__)
    assert set(module.__all__) <= set(protocol.__all__)


def test_importing_protocol_loads_neither_torch_nor_numpy() -> None:
    script = "import sys, protocol; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert completed.stdout.strip() == "[]"
