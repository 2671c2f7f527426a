"""stdout carries protocol lines only, even while a library prints from Python and from C.

The noise is injected without touching the daemon: a `sitecustomize` module on PYTHONPATH installs
an audit hook that, from the moment numpy is imported (which the daemon does in the background, after
taking stdout over), prints on every import and every compile (every `ast.parse`, so every request)
both through `print` and straight to file descriptor 1.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from bridge.client import BridgeClient
from tests.bridge.conftest import FUNCTION, WAIT_S, spawn_with_sitecustomize

NOISY_SITECUSTOMIZE = textwrap.dedent(
    """
    import os
    import sys

    _armed = []

    def _noise(event, args):
        if event == "import" and args and args[0] == "numpy":
            _armed.append(True)
        if _armed and event in ("import", "compile"):
            print("NOISE from print during", event, flush=True)
            os.write(1, b"NOISE written to fd 1\\n")

    sys.addaudithook(_noise)
    """
)


@pytest.fixture(scope="module")
def noisy_daemon(tmp_path_factory) -> BridgeClient:
    site = tmp_path_factory.mktemp("noisy-site")
    with open(site / "stderr.log", "wb") as stderr:  # a file: noise must never fill a pipe here
        client = spawn_with_sitecustomize(site, NOISY_SITECUSTOMIZE, stderr=stderr)
    client.stderr_path = site / "stderr.log"
    yield client
    client.close()


def test_noise_from_libraries_goes_to_stderr_and_stdout_stays_protocol_only(noisy_daemon):
    futures = [noisy_daemon.request("predict", {"code": FUNCTION.replace("mean_of", f"m{i}")}) for i in range(30)]
    futures.append(noisy_daemon.request("extract_features", {"code": FUNCTION}))
    for future in futures:
        future.result(WAIT_S)
    noisy_daemon.close_stdin()
    assert noisy_daemon.wait() == 0
    assert noisy_daemon.wait_stdout_closed(WAIT_S)
    stderr = noisy_daemon.stderr_path.read_bytes()
    assert b"NOISE from print" in stderr and b"NOISE written to fd 1" in stderr, "the hook never fired"
    assert len(noisy_daemon.raw_lines) == len(futures)
    for line in noisy_daemon.raw_lines:
        assert b"NOISE" not in line
        assert json.loads(line)["jsonrpc"] == "2.0"
