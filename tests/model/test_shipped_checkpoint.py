"""The checkpoint shipped in the package: present, loadable without torch, trained, and current.

A change to the feature layout without retraining would make the daemon fall back to untrained
weights on every machine; this test fails first.
"""

import functools

import numpy as np
import pytest

from model.checkpoint import load_checkpoint
from model.layout import FEATURE_LAYOUT_VERSION
from model.predictor import SHIPPED_CHECKPOINT, Predictor
from model.vocabulary import BUG_KINDS


def test_the_package_ships_a_trained_checkpoint_for_the_current_feature_layout():
    checkpoint = load_checkpoint(SHIPPED_CHECKPOINT, expected_layout_version=FEATURE_LAYOUT_VERSION)
    assert checkpoint.training["trained"] is True
    assert checkpoint.vocabularies["bug_kinds"] == list(BUG_KINDS)
    assert {"when", "commit", "machine", "duration_s", "data", "metrics", "thresholds"} <= set(checkpoint.training)


def test_the_predictor_loads_the_shipped_checkpoint_when_nothing_else_is_configured(monkeypatch, tmp_path):
    monkeypatch.delenv("YANTRA_CHECKPOINT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    predictor = Predictor()
    predictor.load()
    info = predictor.info()
    assert info["trained"] is True and info["checkpoint"] == str(SHIPPED_CHECKPOINT)


@pytest.mark.parametrize("source", ["def f(xs):\n    return [x * 2 for x in xs]\n", "import os\nprint(os.sep)\n"])
def test_the_trained_model_gives_finite_probabilities(source, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    result = Predictor(SHIPPED_CHECKPOINT).predict_sources([source], include_embedding=True)[0]
    assert 0.0 <= result.confidence <= 1.0
    assert np.isfinite(result.embedding).all()


def test_the_shipped_checkpoint_carries_both_site_scorers_so_the_daemon_uses_them():
    from model.confidence import confidence_scorer_from
    from model.sites import site_model_from

    checkpoint = load_checkpoint(SHIPPED_CHECKPOINT, expected_layout_version=FEATURE_LAYOUT_VERSION)
    assert site_model_from(checkpoint.site_weights, checkpoint.training.get("bug_sites")) is not None
    scorer = confidence_scorer_from(checkpoint.confidence_weights, checkpoint.training.get("confidence_sites"))
    assert scorer is not None and scorer.weights[0] < 0  # a likelier slip means a lower confidence


def test_the_shipped_confidence_drops_when_a_comparison_is_negated(monkeypatch, tmp_path):
    # HumanEval/0's solution, and the same with its comparison turned around (a kind it sees well)
    solution = ("def has_close_elements(numbers, threshold):\n"
                "    for idx, elem in enumerate(numbers):\n"
                "        for idx2, elem2 in enumerate(numbers):\n"
                "            if idx != idx2:\n"
                "                distance = abs(elem - elem2)\n"
                "                if distance < threshold:\n"
                "                    return True\n"
                "    return False\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    predictor = Predictor(SHIPPED_CHECKPOINT)
    slipped = solution.replace("distance < threshold", "distance >= threshold")
    right, wrong = predictor.predict_sources([solution, slipped])
    assert wrong.confidence < right.confidence


@functools.cache
def _shipped() -> Predictor:
    return Predictor(SHIPPED_CHECKPOINT)


@pytest.mark.parametrize(("code", "statement"), [
    ("def f(a):\n    return copy.deepcopy(a)\n", "import copy"),
    ("def f():\n    return datetime.datetime.now()\n", "import datetime"),
    ("def f():\n    return datetime.now()\n", "from datetime import datetime"),
    ('def f(d):\n    """Unlike copy.deepcopy, one level."""\n    return copy(d)\n', "from copy import copy"),
])
def test_the_shipped_checkpoint_imports_what_the_code_reads_as_a_module(code, statement):
    assert [s.statement for s in _shipped().predict_sources([code])[0].imports][:1] == [statement]


@pytest.mark.parametrize(("code", "statement"), [
    ("def fetch(url):\n    return requests.get(url).json()\n", "import requests"),  # not `from pip._vendor ...`
    ("def f(n):\n    return numpy.zeros(n)\n", "import numpy"),  # not `from safetensors import numpy`
])
def test_a_name_read_as_a_module_gets_that_module_not_a_package_that_binds_its_namesake(code, statement):
    assert [s.statement for s in _shipped().predict_sources([code])[0].imports] == [statement]


@pytest.mark.parametrize("code", [
    "s = Session()\n",  # the table knows `from _pytest.main import Session`
    "from math import *\nprint(sqrt(2), pi, floor(1.5))\n",  # the star binds them
    "from math import \\\n    *\nprint(sqrt(2))\n",
])
def test_no_private_module_nor_another_packages_namesake_is_suggested_nor_anything_beside_a_star(code):
    assert _shipped().predict_sources([code])[0].imports == []


@pytest.mark.parametrize(("code", "statement"), [
    ("from typing import List\n\ndef f(xs: List[int]) -> Dict[str, int]:\n    return {}\n",
     "from typing import Dict"),
    ("def f():\n    import numpy as np\n    return np.zeros(3)\n\ndef g():\n    return np.ones(3)\n",
     "import numpy as np"),
    ("from os import path\n\ndef f():\n    return os.getcwd()\n", "import os"),
])
def test_a_module_imported_for_another_name_or_scope_is_still_suggested_for_an_unbound_one(code, statement):
    assert [s.statement for s in _shipped().predict_sources([code])[0].imports][:1] == [statement]


def test_a_star_in_a_comment_takes_no_suggestion_away():
    code = "# see: from helpers import *\ndef f(s):\n    return json.loads(s)\n"
    assert [s.statement for s in _shipped().predict_sources([code])[0].imports][:1] == ["import json"]
