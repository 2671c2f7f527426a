"""The compiled extractor (setup.py, mypyc) is current and computes exactly what its sources compute."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model.native import EXTRACTOR_MODULES, ExtractorBuild, extractor_build
from tests.model.stdlib_code import features_digest

ROOT = Path(__file__).resolve().parents[2]

_DIGEST_SCRIPT = """
from model.native import extractor_build
from tests.model.stdlib_code import features_digest
assert not extractor_build().compiled, extractor_build()
print(features_digest())
"""
_CHILD_TEST_FILES = ("tests/__init__.py", "tests/model/__init__.py", "tests/model/stdlib_code.py")
"""All the digest script imports from tests/ (stdlib_code imports nothing else from there)."""


@pytest.mark.skipif(bool(os.environ.get("YANTRA_PURE_PYTHON")) or not shutil.which("cc"),
                    reason="pure Python asked for, or no C compiler to build with")
def test_where_a_c_compiler_exists_the_install_compiled_the_extractor():
    # setup.py falls back to pure Python quietly (an install must not fail for want of speed); this
    # is where a broken compile step shows
    assert extractor_build().compiled == EXTRACTOR_MODULES


def test_a_compiled_extractor_is_built_from_the_sources_in_the_tree():
    build = extractor_build()
    assert not build.stale, build.describe()


@pytest.mark.skipif(not extractor_build().compiled, reason="the extractor is not compiled in this install")
def test_the_compiled_extractor_gives_the_same_bits_as_its_pure_python_sources(tmp_path: Path):
    shutil.copytree(ROOT / "model", tmp_path / "model", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    for name in _CHILD_TEST_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    pure = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], cwd=tmp_path, env=env, capture_output=True,
                          text=True, check=True)
    assert pure.stdout.strip() == features_digest()


def test_the_build_is_described_for_people():
    assert ExtractorBuild((), ()).describe() == "pure Python"
    assert ExtractorBuild(EXTRACTOR_MODULES, ()).describe() == "compiled with mypyc"
    stale = ExtractorBuild(EXTRACTOR_MODULES, ("model.scan",)).describe()
    assert "STALE" in stale and "model.scan" in stale and "pip install -e ." in stale
    assert "partly" in ExtractorBuild(("model.scan",), ()).describe()
