"""docs/API.md stays true: every example request is sent to the real daemon and its reply compared.

Rules for comparing a documented reply with the real one (the same rules docs/API.md states):
values are compared exactly, except what depends on the model or the moment (keys in `LOOSE`, and
every float), which is compared by shape: the same keys, the same JSON types, null standing for
"may be absent" in loose values, and list elements shaped like the documented first one (so the
number of suggested imports may differ). A list ending in "..." is shortened in the docs: the real
one is at least as long, and the items shown are compared by the rules above. "Reply: none." means
the daemon must send nothing back (after `exit`: that it exits with code 0).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bridge.client import BridgeClient
from tests.bridge.conftest import WAIT_S, assert_silent, spawn

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"

EXAMPLE = re.compile(
    r"Request:\s*```json\n(?P<request>.*?)```\s*(?:Reply:\s*```json\n(?P<reply>.*?)```|(?P<none>Reply: none\.))",
    re.DOTALL,
)

LOOSE = frozenset(
    {
        "confidence", "score", "embedding", "features", "code_suggestion", "predicted_imports",
        "potential_bugs", "imports", "bugs", "trained", "checkpoint", "training", "heads",
        "parameters", "model_size_mb", "version", "uptime_s", "queue_depth",
    }
)  # fmt: skip
"""Keys whose values depend on the model, the package version or the moment."""


def documented_examples() -> list[tuple[dict, dict | None]]:
    examples = [
        (json.loads(m["request"]), json.loads(m["reply"]) if m["reply"] else None)
        for m in EXAMPLE.finditer(DOC.read_text(encoding="utf-8"))
    ]
    assert len(examples) >= 15, "the examples in docs/API.md were not found"
    return examples


def assert_matches(documented: Any, actual: Any, path: str = "", loose: bool = False) -> None:
    where = path or "the reply"
    if loose and documented is None:
        return
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        assert set(actual) == set(documented), f"{where}: keys {sorted(actual)} != documented {sorted(documented)}"
        for key, value in documented.items():
            assert_matches(value, actual[key], f"{path}.{key}", loose or key in LOOSE)
    elif isinstance(documented, list):
        assert isinstance(actual, list), f"{where}: expected an array, got {actual!r}"
        shortened = bool(documented) and documented[-1] == "..."
        shown = documented[:-1] if shortened else documented
        if shortened:
            assert len(actual) >= len(shown), f"{where}: shorter than the documented prefix"
            pairs = zip(shown, actual, strict=False)
        elif loose:
            pairs = ((shown[0], item) for item in actual) if shown else iter(())
        else:
            assert len(actual) == len(shown), f"{where}: {len(actual)} items, documented {len(shown)}"
            pairs = zip(shown, actual, strict=True)
        for index, (doc_item, real_item) in enumerate(pairs):
            assert_matches(doc_item, real_item, f"{path}[{index}]", loose)
    elif isinstance(documented, float) or (loose and type(documented) is int):
        assert isinstance(actual, int | float) and not isinstance(actual, bool), f"{where}: {actual!r} is no number"
    elif loose:
        assert actual is None or type(actual) is type(documented), f"{where}: {actual!r} vs {documented!r}"
    else:
        assert actual == documented, f"{where}: {actual!r} != documented {documented!r}"


@pytest.fixture(scope="module")
def ready_daemon() -> BridgeClient:
    client = spawn()
    client.call("predict", {"code": "x = 1"})  # the docs show a loaded model
    yield client
    client.close()


def test_every_documented_example_is_what_the_daemon_answers(ready_daemon):
    for request, documented in documented_examples():
        ready_daemon.send(request)
        if request["method"] == "exit":  # the last example: the daemon exits (0: shutdown came first)
            assert ready_daemon.wait() == 0
        elif documented is None:
            assert_silent(ready_daemon)
        else:
            assert_matches(documented, ready_daemon.next_message(WAIT_S))


def test_every_method_has_a_documented_example():
    from protocol.methods import METHODS

    documented = {request["method"] for request, _ in documented_examples()}
    assert set(METHODS) - {"model_info"} <= documented
    assert "### model_info" in DOC.read_text(encoding="utf-8")


def test_the_comparison_rules_catch_a_wrong_example():
    with pytest.raises(AssertionError):
        assert_matches({"result": "pong"}, {"result": "ping"})
    with pytest.raises(AssertionError):
        assert_matches({"result": {"dim": 256}}, {"result": {"dim": 256, "extra": 1}})
    with pytest.raises(AssertionError):
        assert_matches({"embedding": [0.1, "..."]}, {"embedding": []})
    assert_matches({"confidence": 0.9, "imports": []}, {"confidence": 0.1, "imports": [{"module": "os"}]})
