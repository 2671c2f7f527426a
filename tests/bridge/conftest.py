"""Shared helpers for the bridge tests: spawning the real daemon and talking to it in raw lines."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
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


@contextmanager
def serving(*args: str, **kwargs: Any) -> Iterator[BridgeClient]:
    """A fresh daemon (as `spawn` starts it) that has answered a ping; closed on the way out."""
    with spawn(*args, **kwargs) as client:
        assert client.call("ping") == "pong"
        yield client


def spawn_with_sitecustomize(
    site: Path, sitecustomize: str, *args: str, env: Mapping[str, str] | None = None, **kwargs: Any
) -> BridgeClient:
    """A fresh daemon that runs `sitecustomize` as it starts: the module is written into the folder
    `site`, which goes first on PYTHONPATH. `env` holds variables to set on top of ours."""
    (site / "sitecustomize.py").write_text(sitecustomize)
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return spawn(*args, env={**os.environ, **(env or {}), "PYTHONPATH": path}, **kwargs)


WORKERS_READY = b"prediction worker(s) ready"
"""What the daemon logs (at info level) once its prediction worker processes have started."""


def watch_stderr(client: BridgeClient, *phrases: bytes) -> tuple[threading.Event, ...]:
    """Read the daemon's stderr (it must be spawned with stderr=subprocess.PIPE) on a thread, to the end.

    One event per phrase, set when a line holds the phrase after every phrase before it has been seen.
    """
    events = tuple(threading.Event() for _ in phrases)

    def watch() -> None:
        assert client.process.stderr is not None
        for line in client.process.stderr:
            for index, (phrase, event) in enumerate(zip(phrases, events, strict=True)):
                if phrase in line and (index == 0 or events[index - 1].is_set()):
                    event.set()

    threading.Thread(target=watch, daemon=True).start()
    return events


def chunked_reader(chunks: Iterable[bytes]) -> Callable[[int], bytes]:
    """A `read(n)` that hands out the given chunks one call at a time, then end of input."""
    pending = list(chunks)

    def read(_size: int) -> bytes:
        return pending.pop(0) if pending else b""

    return read


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
    with serving() as client:
        yield client


CALLS_SLUGIFY = """def title_slug(title):
    return slugify(title)
"""
"""Code in pkg/views.py of `write_project` that needs `from pkg.helpers import slugify`."""


def write_project(root: Path) -> Path:
    """A small host project under `root` (its root): pkg/__init__.py, pkg/helpers.py defining
    `slugify`, and pkg/views.py, whose path is returned."""
    package = root / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text('import re\n\n\ndef slugify(text):\n    return re.sub(r"\\W+", "-", text)\n')
    views = package / "views.py"
    views.write_text(CALLS_SLUGIFY)
    return views


def write_project_checkpoint(path: Path) -> Path:
    """A small checkpoint whose import combiner listens to the project index alone: every module of the
    head scores sigmoid(-30) (never suggested), a module the project offers for a free name sigmoid(10).
    Tests of the project plumbing then do not depend on what the shipped checkpoint's weights are."""
    from tests.helpers import write_checkpoint

    training = {
        "trained": True,
        "thresholds": {"imports": 0.5, "bugs": 0.5},
        "import_index": {"names": {}, "weights": [0.0, 0.0, 0.0, 0.0, 20.0, 20.0, -30.0]},
    }
    return write_checkpoint(path, ["os", "json"], training=training, hidden_dims=(16,), embedding_dim=8)
