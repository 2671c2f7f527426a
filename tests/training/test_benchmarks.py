"""The benchmarks' inputs and scripts: the large module is real code of about the size asked for; the GPU
check is valid bash."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

from training.benchmarks.large_module import large_module


def test_the_large_module_is_one_parseable_module_of_about_the_size_asked_for():
    module = large_module(0.2)
    ast.parse(module)
    assert 0.1 * 1024 * 1024 < len(module) <= 0.2 * 1024 * 1024 + 1024


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_the_gpu_check_script_is_valid_bash():
    """devices.sh runs only where a GPU is lent; at least its syntax is kept whole here."""
    script = Path(__file__).resolve().parents[2] / "training" / "benchmarks" / "devices.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
