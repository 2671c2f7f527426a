"""Shared helpers for the bridge tests: spawning the real daemon and talking to it in raw lines."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.client import BridgeClient

WAIT_S = 20.0
"""Upper bound on any single wait for the daemon (generous: the machine is shared and noisy)."""

FUNCTION = '''def mean_of(values):
    """Average of a list."""
    total = 0
    for value in values:
        total += value
    return total / len(values)
'''

USES_OS_WITHOUT_IMPORT = """def list_here():
    return os.listdir(os.getcwd())
"""


def spawn(*args: str, **kwargs: Any) -> BridgeClient:
    """A fresh daemon with the given flags (stderr discarded unless asked for)."""
    kwargs.setdefault("stderr", subprocess.DEVNULL)
    kwargs.setdefault("timeout", WAIT_S)
    return BridgeClient(args, **kwargs)


def request_line(request_id: object, method: str, params: Any = None) -> str:
    import json

    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message, ensure_ascii=False) + "\n"


def exchange(client: BridgeClient, line: str | bytes, *, replies: int = 1) -> list[Any]:
    """Send one raw line and collect the given number of unmatched replies."""
    client.send_raw(line)
    return [client.next_message(WAIT_S) for _ in range(replies)]


def assert_silent(client: BridgeClient) -> None:
    """Nothing was written for what was sent last: the next reply is the answer to a fresh ping."""
    client.send_raw(request_line("silence-probe", "ping"))
    assert client.next_message(WAIT_S) == {"jsonrpc": "2.0", "id": "silence-probe", "result": "pong"}


@pytest.fixture(scope="module")
def daemon() -> Iterator[BridgeClient]:
    """One daemon shared by a module's tests (they leave it serving and its reply queue empty)."""
    client = spawn()
    try:
        assert client.call("ping") == "pong"
        yield client
    finally:
        client.close()
