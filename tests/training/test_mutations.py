"""Bug injection: each kind makes its intended change, at the labelled place, with no artefacts."""

from __future__ import annotations

import ast
import io
import random
import tokenize

import pytest

from training.mutations import BUG_KINDS, Mutant, kinds_admitted, mutants, normalise_source, one_mutant, site_counts

SOURCE = '''
def total_below(values, limit):
    """Sum values below 1 < limit, skipping None."""
    total = 0
    count = len(values)
    for i in range(1, count):
        if values[i] < limit and not values[i] is None:
            total += values[i - 2] * 2
    return max(total, limit) - divide(total, limit)
'''


def _tokens(source: str) -> list[str]:
    """Significant tokens, parentheses left out (``ast.unparse`` adds them by precedence)."""
    skipped = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [t.string for t in tokens if t.type not in skipped and t.string not in "()"]


def _count_not(source: str) -> int:
    return sum(isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not) for n in ast.walk(ast.parse(source)))


def _all_mutants() -> list[Mutant]:
    return mutants(SOURCE, rng=random.Random(0), max_per_kind=3)


def test_every_kind_applies_to_a_function_rich_in_sites():
    assert {m.kind for m in _all_mutants()} == set(BUG_KINDS)


def test_normalising_is_a_fixed_point():
    once = normalise_source(SOURCE)
    assert normalise_source(once) == once


@pytest.mark.parametrize("mutant", _all_mutants(), ids=lambda m: f"{m.kind}:{m.description}")
def test_a_mutant_parses_and_differs_from_the_clean_code(mutant: Mutant):
    clean = normalise_source(SOURCE)
    ast.parse(mutant.source)
    assert mutant.source != clean
    assert ast.dump(ast.parse(mutant.source)) != ast.dump(ast.parse(clean))


@pytest.mark.parametrize("mutant", _all_mutants(), ids=lambda m: f"{m.kind}:{m.description}")
def test_a_mutant_has_no_tell_tale_artefacts(mutant: Mutant):
    clean = normalise_source(SOURCE)
    assert normalise_source(mutant.source) == mutant.source  # same formatting as the clean side
    assert mutant.source.count("pass") == clean.count("pass")
    assert mutant.source.count("not (") <= clean.count("not (")
    assert _count_not(mutant.source) <= _count_not(clean)
    assert ast.get_docstring(ast.parse(mutant.source).body[0]) == ast.get_docstring(ast.parse(clean).body[0])


@pytest.mark.parametrize("mutant", _all_mutants(), ids=lambda m: f"{m.kind}:{m.description}")
def test_the_labelled_place_starts_the_rewritten_code(mutant: Mutant):
    after = mutant.description.split(" -> ")[1].strip("`")
    starting_there = [
        ast.unparse(node)
        for node in ast.walk(ast.parse(mutant.source))
        if (getattr(node, "lineno", None), getattr(node, "col_offset", None))
        == (mutant.line, mutant.column - 1)
    ]
    assert after in starting_there


_SINGLE_TOKEN_KINDS = (
    "wrong_binary_operator",
    "wrong_boolean_operator",
    "off_by_one",
    "wrong_literal",
    "variable_misuse",
)


@pytest.mark.parametrize("kind", _SINGLE_TOKEN_KINDS)
def test_a_single_token_rewrite_changes_exactly_one_token(kind: str):
    clean = _tokens(normalise_source(SOURCE))
    for mutant in mutants(SOURCE, rng=random.Random(1), max_per_kind=3, kinds=(kind,)):
        changed = [i for i, (a, b) in enumerate(zip(clean, _tokens(mutant.source), strict=True)) if a != b]
        assert len(changed) == 1, mutant.description


@pytest.mark.parametrize(
    ("kind", "before", "expected"),
    [
        ("wrong_comparison_operator", "def f(a, b):\n    return a < b\n", {"a <= b", "a > b"}),
        ("wrong_boolean_operator", "def f(a, b):\n    return a and b\n", {"a or b"}),
        ("swapped_arguments", "def f(a, b):\n    return g(a, b)\n", {"g(b, a)"}),
        ("swapped_operands", "def f(a, b):\n    return a - b\n", {"b - a"}),
        ("negated_condition", "def f(a, b):\n    if not a:\n        return b\n", {"a"}),
        ("negated_condition", "def f(a, b):\n    while a in b:\n        a = a\n", {"a not in b"}),
        ("off_by_one", "def f(a):\n    return a[3]\n", {"a[2]", "a[4]"}),
        ("off_by_one", "def f(a):\n    return a[-1]\n", {"a[-2]", "a[0]"}),
        ("wrong_literal", "def f(a):\n    return None\n", {"False"}),
        (
            "variable_misuse",
            "def f(a, b):\n    c = 1\n    return b + c\n",
            {"a + c", "b + a", "b + b", "c + c"},
        ),
    ],
)
def test_each_kind_makes_its_intended_rewrite(kind: str, before: str, expected: set[str]):
    made = mutants(before, rng=random.Random(0), max_per_kind=5, kinds=(kind,))
    assert made
    for mutant in made:
        assert any(e in mutant.source for e in expected), mutant.source


def test_variable_misuse_only_uses_names_bound_before_the_read():
    source = "def f(a):\n    b = a + 1\n    c = b * 2\n    return c\n"
    for mutant in mutants(source, rng=random.Random(0), max_per_kind=10, kinds=("variable_misuse",)):
        assert "b = c" not in mutant.source  # c is bound after that read


def test_order_free_calls_and_equal_operands_are_never_swapped():
    source = "def f(a, b):\n    return max(a, b) + g(a, a) + (a == b)\n"
    counts = site_counts(source)
    assert counts["swapped_arguments"] == 0
    assert counts["swapped_operands"] == 0


def test_string_constants_and_docstrings_are_never_rewritten():
    source = 'def f():\n    """1 < 2 and True"""\n    return "a" + "b"\n'
    assert mutants(source, rng=random.Random(0)) == []


def test_scope_restricts_rewrites_to_one_function():
    source = "def helper(a):\n    return a + 1\n\ndef main(b):\n    return b - 2\n"
    for mutant in mutants(source, rng=random.Random(0), max_per_kind=3, scope="main"):
        assert mutant.source.startswith("def helper(a):\n    return a + 1\n")


def test_one_mutant_is_deterministic_for_a_seed():
    first = one_mutant(SOURCE, rng=random.Random(7))
    assert first == one_mutant(SOURCE, rng=random.Random(7))
    assert first is not None


def test_code_without_sites_gives_no_mutant():
    assert one_mutant("x = 'a'\n", rng=random.Random(0)) is None


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown bug kinds"):
        mutants(SOURCE, rng=random.Random(0), kinds=("made_up",))


@pytest.mark.parametrize(("kind", "before", "idle"), [
    ("off_by_one", "def f(s, j):\n    return s.find('>', j) + 1\n", "+ 0"),
    ("off_by_one", "def f(n):\n    return n - 1\n", "- 0"),
    ("wrong_literal", "def f(x):\n    return x + 1\n", "+ 0"),
    ("off_by_one", "def f(s):\n    return s[1:]\n", "[0:]"),
    ("swapped_operands", "def f(x):\n    return 0 - x\n", "x - 0"),
    ("wrong_literal", "def f(total):\n    total += 1\n    return total\n", "+= 0"),
    ("off_by_one", "def f(n):\n    return range(1, n)\n", "range(0, n)"),
    ("wrong_literal", "def f(x):\n    return x & 1\n", "& 0"),
    ("wrong_binary_operator", "def f(p):\n    return re.compile(p, re.I | re.M)\n", "^"),
    ("wrong_binary_operator", "def f():\n    return O_RDONLY ^ O_EXCL\n", "|"),
    ("wrong_binary_operator", "def f(p):\n    return os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\n", "^"),
    ("off_by_one", "def f(xs):\n    return list(enumerate(xs, 1))\n", "enumerate(xs, 0)"),
])
def test_no_rewrite_leaves_an_operation_that_does_nothing(kind: str, before: str, idle: str):
    made = [m for seed in range(20) for m in mutants(before, rng=random.Random(seed), max_per_kind=5, kinds=(kind,))]
    assert all(idle not in m.source for m in made), [m.source for m in made]


def test_an_off_by_one_whose_one_step_would_do_nothing_gives_only_the_other():
    made = {m.source for seed in range(10) for m in mutants("def f(n):\n    return range(1, n)\n",
                                                             rng=random.Random(seed), kinds=("off_by_one",))}
    assert made == {"def f(n):\n    return range(2, n)"}


def test_and_between_flags_still_becomes_or():
    made = {m.source for seed in range(10) for m in mutants("def f():\n    return stat.S_IRUSR & stat.S_IRWXU\n",
                                                             rng=random.Random(seed), kinds=("wrong_binary_operator",))}
    assert made == {"def f():\n    return stat.S_IRUSR | stat.S_IRWXU"}


def test_or_between_a_flag_and_a_variable_still_becomes_xor():
    made = {m.source for seed in range(10) for m in mutants("def f(flags):\n    return flags | os.O_EXCL\n",
                                                             rng=random.Random(seed), kinds=("wrong_binary_operator",))}
    assert "def f(flags):\n    return flags ^ os.O_EXCL" in made


def test_an_operation_that_did_nothing_already_does_not_stop_a_rewrite_elsewhere():
    made = mutants("def f(x, n):\n    return x + 0 < n - 2\n", rng=random.Random(0), max_per_kind=5,
                   kinds=("off_by_one",))
    assert {m.source.split("return ")[1].strip() for m in made} & {"x + 0 < n - 1", "x + 0 < n - 3"}


def test_the_kinds_admitted_are_those_a_mutant_can_be_made_of():
    assert site_counts("def f(n):\n    return n + 1\n")["wrong_literal"] == 1  # a site, but...
    assert "wrong_literal" not in kinds_admitted("def f(n):\n    return n + 1\n")  # ...only `n + 0` from it
    assert {"swapped_arguments", "variable_misuse"} <= kinds_admitted("def f(a, b):\n    return g(a, b)\n")
    assert "swapped_arguments" not in kinds_admitted("def f(a):\n    return g(a)\n")
