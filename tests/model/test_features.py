"""Features of real code: every category carries signal, and the facts bugs change reach the vector."""

import ast
import re
import subprocess
import sys

import numpy as np
import pytest

from model.graph import build_graph
from model.layout import CATEGORIES, span
from tests.model.stdlib_code import stdlib_functions, stdlib_sources


@pytest.fixture(scope="module")
def function_rows_in_files() -> np.ndarray:
    rows = []
    for source in stdlib_sources():
        graph = build_graph(source)
        rows.extend(graph.features[i] for i, node in enumerate(graph.nodes) if node.kind not in ("module", "class"))
    return np.array(rows)


@pytest.fixture(scope="module")
def function_rows_as_snippets() -> np.ndarray:
    return np.array([build_graph(source).features[1] for source in stdlib_functions()])


def _varying(rows: np.ndarray, start: int, end: int) -> float:
    return float((rows[:, start:end].std(axis=0) > 0).mean())


def test_a_few_hundred_real_functions_are_tested(function_rows_in_files, function_rows_as_snippets):
    assert len(function_rows_in_files) >= 300
    assert len(function_rows_as_snippets) >= 300


def test_most_dimensions_of_every_category_but_language_vary_across_functions_in_their_files(
        function_rows_in_files):
    for name, start, end in CATEGORIES:
        if name != "language":
            assert _varying(function_rows_in_files, start, end) > 0.6, name


def test_every_category_but_language_varies_across_functions_sent_alone(function_rows_as_snippets):
    for name, start, end in CATEGORIES:
        if name != "language":
            assert _varying(function_rows_as_snippets, start, end) > 0.25, name


def test_the_language_one_hot_says_python(function_rows_as_snippets):
    language = span("language")
    expected = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    assert (function_rows_as_snippets[:, language.start: language.end] == expected).all()


def test_features_are_finite_float32_and_deterministic():
    source = stdlib_functions()[7]
    first, second = build_graph(source).features, build_graph(source).features
    assert first.dtype == np.float32
    assert np.isfinite(first).all()
    assert np.array_equal(first, second)


def test_features_do_not_depend_on_the_processs_string_hash_seed():
    code = "from model.graph import build_graph; print(build_graph('def f(a, b):\\n    return a.x + b').features.sum())"
    outputs = {
        subprocess.run([sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True,
                       text=True, check=True, timeout=60).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def _range(source: str, name: str) -> np.ndarray:
    r = span(name)
    return build_graph(source).features[1, r.start: r.end]


CLEAN = """\
def total_price(items, discount):
    total = 0
    for item in items:
        total += item.price * item.count
    if total > 100:
        total = total - discount
    return round(total, 2)
"""


@pytest.mark.parametrize(
    ("buggy", "changed_range"),
    [
        # variable misuse: `total` is read where `discount` should be, leaving a parameter unused
        (CLEAN.replace("total - discount", "total - total"), "def_use"),
        (CLEAN.replace("item.price * item.count", "item.price + item.count"), "operators"),
        (CLEAN.replace("total > 100", "total >= 100"), "operators"),
        (CLEAN.replace("round(total, 2)", "round(2, total)"), "call_arguments"),
        (CLEAN.replace("total = 0", "total = 1"), "constant_kinds"),
        (CLEAN.replace("total > 100", "total > 101"), "operator_context"),
    ],
)
def test_an_injected_bug_changes_the_features_that_describe_it(buggy, changed_range):
    assert not np.array_equal(_range(CLEAN, changed_range), _range(buggy, changed_range))


def test_a_variable_misuse_shows_as_an_unused_parameter_and_a_self_operation():
    r = span("def_use")
    clean = build_graph(CLEAN).features[1, r.start: r.end]
    buggy = build_graph(CLEAN.replace("total - discount", "total - total")).features[1, r.start: r.end]
    unused_params, self_ops = 2, 5
    assert clean[unused_params] == 0 and buggy[unused_params] > 0
    assert clean[self_ops] == 0 and buggy[self_ops] > 0


def _misuses(source: str) -> list[str]:
    """Every variant of `source` that reads one of its own variables where it read another."""
    tree = ast.parse(source)
    nodes = list(ast.walk(tree))
    own = sorted({n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                 | {n.arg for n in nodes if isinstance(n, ast.arg)})
    variants = []
    for node in [n for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in own]:
        original = node.id
        for other in own:
            if other != original:
                node.id = other
                variants.append(ast.unparse(tree))
        node.id = original
    return variants


def test_numbered_bigrams_ignore_renamed_variables_but_see_swapped_operands_and_misused_variables():
    renamed = CLEAN
    for old, new in (("items", "rows"), ("discount", "rebate"), ("total", "acc"), ("item", "row")):
        renamed = re.sub(rf"\b{old}\b", new, renamed)
    assert np.array_equal(_range(CLEAN, "canonical_bigrams"), _range(renamed, "canonical_bigrams"))
    assert not np.array_equal(_range(CLEAN, "identifier_bigrams"), _range(renamed, "identifier_bigrams"))
    swapped = CLEAN.replace("total - discount", "discount - total")
    other_callee = CLEAN.replace("round(total, 2)", "abs(total, 2)")  # not the node's own: kept by name
    for changed in (swapped, other_callee):
        assert not np.array_equal(_range(CLEAN, "canonical_bigrams"), _range(changed, "canonical_bigrams"))
    # 24 hashed dimensions: a misuse may collide with the original now and then, but rarely
    clean = _range(ast.unparse(ast.parse(CLEAN)), "canonical_bigrams")
    misuses = _misuses(CLEAN)
    seen = [not np.array_equal(clean, _range(variant, "canonical_bigrams")) for variant in misuses]
    assert len(misuses) >= 15 and np.mean(seen) >= 0.9


def test_numbered_bigrams_never_number_an_attribute_that_shares_a_variables_name():
    setter = "def set_count(self, count):\n    self.count = count\n    return self.count + count\n"
    renamed = setter.replace(", count)", ", n)").replace("= count", "= n").replace("+ count", "+ n")
    assert np.array_equal(_range(setter, "canonical_bigrams"), _range(renamed, "canonical_bigrams"))


def test_renaming_a_function_changes_only_name_dependent_ranges():
    renamed = CLEAN.replace("total_price", "sum_cost")
    a, b = build_graph(CLEAN).features[1], build_graph(renamed).features[1]
    for name in ("structural", "complexity", "temporal"):
        start, end = next((s, e) for n, s, e in CATEGORIES if n == name)
        assert np.array_equal(a[start:end], b[start:end]), name
    r = span("name_subtokens")
    assert not np.array_equal(a[r.start: r.end], b[r.start: r.end])


def test_a_form_feed_between_functions_does_not_shift_the_lines_a_later_function_is_read_from():
    # str.splitlines also ends a line at a form feed; the AST counts lines as the tokenizer does
    body = "def f(x):\n    return x + 1\n{sep}\ndef g(items):\n    # the total\n    return sum(items)  # why\n"
    with_feed = build_graph(body.format(sep="\x0c"))
    blank = build_graph(body.format(sep=""))
    assert [n.line for n in with_feed.nodes] == [n.line for n in blank.nodes]
    np.testing.assert_array_equal(with_feed.features[2], blank.features[2])


def test_source_lines_are_the_tokenizers_lines():
    from model.scan import source_lines

    assert source_lines("a\x0cb\r\nc\rd\n") == ["a\x0cb", "c", "d"]
    assert source_lines("a\n\n") == "a\n\n".splitlines() == ["a", ""]
    assert source_lines("") == []


def test_a_name_too_long_to_remember_gives_the_same_features_and_stays_out_of_every_memo():
    """Hostile code may hold million-character names; the memo tables keep short texts only."""
    import model.hashing as hashing
    import model.sites as sites

    long_name = "v_" + "a" * 100_000
    source = f"def f({long_name}):\n    return {long_name}.{long_name} + 1\n"
    first = build_graph(source).features
    assert np.array_equal(build_graph(source).features, first)  # computed again, the same
    import model.features as features
    import model.scan as scan

    def keys(table: object, depth: int = 2) -> list:  # a memo's keys, and those of the memos it holds
        if not isinstance(table, dict) or depth == 0:
            return []
        return [*table, *(key for value in table.values() for key in keys(value, depth - 1))]

    tables = [value for module in (hashing, scan, features, sites) for value in vars(module).values()]
    assert any(isinstance(table, hashing.Memo) for table in tables)  # the Memo tables are among them
    assert not any(long_name in str(key) for table in tables for key in keys(table))
