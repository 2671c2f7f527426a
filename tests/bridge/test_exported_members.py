"""Each bridge module's public names are pinned, so changing the API is a deliberate act."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "bridge": ["BridgeConfig"],
    "bridge.__main__": ["main"],
    "bridge.cache": ["PredictionCache"],
    "bridge.client": ["BridgeClient", "BridgeError", "ClientState", "decode_reply"],
    "bridge.config": [
        "DEFAULT_MAX_DEPTH",
        "LOG_LEVELS",
        "MAX_SUPPORTED_DEPTH",
        "BridgeConfig",
        "auto_workers",
        "parse_args",
    ],
    "bridge.dispatcher": ["Dispatcher", "Job", "Lane", "Route", "Router", "to_wire_error"],
    "bridge.early": ["EarlyReader", "plain_ping_reply"],
    "bridge.logs": ["StderrLogSink", "configure_logging"],
    "bridge.methods": [
        "BULK_CODE_CHARS",
        "MAX_EXTRACT_NODES",
        "PROTOCOL_VERSION",
        "SERVER_NAME",
        "BridgeMethods",
        "embedding_result",
        "extraction_result",
        "prediction_result",
    ],
    "bridge.projects": ["IDLE_S", "MAX_MODULES", "MAX_PROJECTS", "REBUILD_FACTOR", "REFRESH_S", "ProjectIndexes"],
    "bridge.stopping": ["StopRequest", "install_stop_signals"],
    "bridge.server": [
        "EXIT_OK",
        "EXIT_WITHOUT_SHUTDOWN",
        "ForwardLane",
        "ForwardTask",
        "Lifecycle",
        "ModelSlot",
        "Server",
        "SlowLane",
    ],
    "bridge.transport": [
        "LINE_HEAD_BYTES", "LineTooLong", "Writer", "claim_stdout", "read_lines", "reader_of", "write_all",
    ],
    "bridge.workers": [
        "CHARACTERS_PER_SECOND", "CHUNK_DEADLINE_S", "RUN_NOW_DEADLINE_S", "PredictionWorkers", "embed_chunk",
        "extract_chunk", "new_predictor", "predict_chunk",
    ],
}


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_a_modules_public_names_are_exactly_its_all(module_name):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(EXPECTED[module_name])
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name} is in __all__ but missing"


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_every_module_opens_with_a_docstring(module_name):
    assert (importlib.import_module(module_name).__doc__ or "").strip()
