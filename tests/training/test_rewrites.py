"""Semantics-preserving variants: they parse, differ, and compute what the original computes."""

from __future__ import annotations

import ast
import random

import pytest

from training.rewrites import (
    relayout,
    remove_docstrings,
    rename_locals,
    semantic_variants,
    swap_independent_statements,
)

PURE_FUNCTIONS = {
    "clipped_sum": '''
def clipped_sum(values, limit=10):
    """Sum, clipped."""
    total = 0
    step = 1
    for value in values:
        if value > limit:
            value = limit
        total += value * step
    return [t for t in [total] if t >= 0] or [-1]
''',
    "closure": '''
def closure(n):
    base = n * 2
    offset = 3
    def inner(k):
        return base + k
    return inner(offset) + sum(i for i in range(n))
''',
    "errors": '''
def errors(xs, i):
    try:
        found = xs[i]
    except IndexError as err:
        found = str(err)
    return found
''',
}
INPUTS = {
    "clipped_sum": [([1, 2, 30],), ([],), ([5, -20, 11], 5)],
    "closure": [(0,), (4,)],
    "errors": [([1, 2], 1), ([1, 2], 5)],
}


def _run(source: str, name: str, args: tuple) -> object:
    namespace: dict = {}
    exec(compile(source, "<variant>", "exec"), namespace)
    return namespace[name](*args)


@pytest.mark.parametrize("name", sorted(PURE_FUNCTIONS))
def test_variants_parse_differ_and_compute_the_same_results(name: str):
    source = PURE_FUNCTIONS[name]
    variants = semantic_variants(source, rng=random.Random(3), n=3)
    assert len(variants) == 3
    assert len(set(variants)) == 3
    for variant in variants:
        ast.parse(variant)
        assert variant != source and variant != ast.unparse(ast.parse(source))
        for args in INPUTS[name]:
            assert _run(variant, name, args) == _run(source, name, args)


def test_renaming_leaves_globals_attributes_builtins_and_closures_alone():
    tree = ast.parse(PURE_FUNCTIONS["closure"])
    assert rename_locals(tree, random.Random(0))
    text = ast.unparse(tree)
    assert "def closure(" in text and "def inner(" in text
    assert "base + " in text  # read by the nested function: kept
    assert "sum(" in text and "range(" in text


def test_renaming_skips_functions_that_inspect_their_locals():
    tree = ast.parse("def f(a):\n    b = a\n    return locals()\n")
    assert not rename_locals(tree, random.Random(0))


def test_only_independent_assignments_are_swapped():
    dependent = ast.parse("def f(a):\n    b = a + 1\n    c = b * 2\n    return c\n")
    assert not swap_independent_statements(dependent, random.Random(0))
    calls = ast.parse("def f(a):\n    b = g(a)\n    c = h(a)\n    return b, c\n")
    assert not swap_independent_statements(calls, random.Random(0))
    independent = ast.parse("def f(a):\n    b = a + 1\n    c = a * 2\n    return b, c\n")
    assert swap_independent_statements(independent, random.Random(0))
    assert ast.unparse(independent).index("c = a * 2") < ast.unparse(independent).index("b = a + 1")


def test_a_docstring_is_removed_unless_it_is_the_only_statement():
    tree = ast.parse('def f():\n    """Doc."""\n    return 1\n\ndef g():\n    """Only."""\n')
    assert remove_docstrings(tree)
    assert ast.get_docstring(tree.body[0]) is None
    assert ast.get_docstring(tree.body[1]) == "Only."


def test_relayout_keeps_the_program_and_the_text_of_multiline_strings():
    original = 'def f():\n    """Line one.\n\n    Indented text.\n    """\n    return 1\n'
    source = ast.unparse(ast.parse(original))
    wide = relayout(source, indent=8, blank_after_blocks=True)
    assert wide != source
    assert ast.dump(ast.parse(wide)) == ast.dump(ast.parse(source))


def test_variants_are_deterministic_for_a_seed():
    source = PURE_FUNCTIONS["clipped_sum"]
    assert semantic_variants(source, rng=random.Random(5)) == semantic_variants(source, rng=random.Random(5))
