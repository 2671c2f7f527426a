"""The large-module benchmark's input: real code, one module, about the size asked for."""

from __future__ import annotations

import ast

from training.benchmarks.large_module import large_module


def test_the_large_module_is_one_parseable_module_of_about_the_size_asked_for():
    module = large_module(0.2)
    ast.parse(module)
    assert 0.1 * 1024 * 1024 < len(module) <= 0.2 * 1024 * 1024 + 1024
