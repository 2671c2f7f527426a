"""Start-up order, made deterministic by holding an import shut until the test lets it through.

A `sitecustomize` on PYTHONPATH blocks the first import of one module (pydantic, or numpy) on a
named pipe; the test opens the pipe when it has seen what must happen before that import finishes.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from bridge.client import BridgeClient
from tests.bridge.conftest import FUNCTION, WAIT_S, spawn_with_sitecustomize

GATE = textwrap.dedent(
    """
    import os
    import sys

    class _Gate:
        def find_spec(self, name, path=None, target=None):
            if name == os.environ["GATED_MODULE"]:
                sys.meta_path.remove(self)
                with open(os.environ["GATE_FIFO"], "rb") as gate:  # blocks until the test opens it
                    gate.read(1)
            return None

    sys.meta_path.insert(0, _Gate())
    """
)


def gated_daemon(tmp_path: Path, module: str) -> tuple[BridgeClient, Path]:
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    return spawn_with_sitecustomize(tmp_path, GATE, env={"GATED_MODULE": module, "GATE_FIFO": str(fifo)}), fifo


def open_gate(fifo: Path) -> None:
    with open(fifo, "wb") as gate:
        gate.write(b"go")


@pytest.fixture
def pydantic_held(tmp_path):
    client, fifo = gated_daemon(tmp_path, "pydantic")
    yield client, fifo
    client.close()


@pytest.fixture
def numpy_held(tmp_path):
    client, fifo = gated_daemon(tmp_path, "numpy")
    yield client, fifo
    client.close()


def test_ping_is_answered_before_the_protocol_layer_has_even_been_imported(pydantic_held):
    client, fifo = pydantic_held
    waiting = client.request("predict", {"code": FUNCTION})
    assert client.call("ping") == "pong"  # pydantic is still being imported: the early reader answered
    assert not waiting.done()
    open_gate(fifo)
    assert "confidence" in waiting.result(WAIT_S)


def test_a_prediction_sent_while_the_model_loads_waits_for_it_instead_of_failing(numpy_held):
    client, fifo = numpy_held
    waiting = client.request("predict", {"code": FUNCTION})
    health = client.call("health")
    assert health["live"] and not health["ready"]
    assert client.call("model_info")["status"] == "loading"
    assert not waiting.done()
    open_gate(fifo)
    assert "confidence" in waiting.result(WAIT_S)
    assert client.call("health")["ready"]
